"""The 211 call flow: schedule, menus and decisions, with no I/O at all.

Time, line settings and the caller's data are inputs; the adapters in
``agi_scripts`` (Asterisk FastAGI) and later Twilio execute the actions.
"""
