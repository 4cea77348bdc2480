"""The 211 line's deployment: configuration, storage, line settings and the ``ivr211`` CLI.

``ivr`` holds the call flow (no I/O); this package is the edge that reads the
configuration and the database once and hands typed values down.
"""
