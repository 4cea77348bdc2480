"""Our own thin FastAGI layer over asyncio streams, and the adapter that runs the call flow.

panoramisk's ``fast_agi`` mis-reads replies after a ``HANGUP`` line or a ``520`` usage
block (../shared/asterisk/transcripts/3-panoramisk-*), so the wire is handled here:
``protocol`` (header and reply lines), ``channel`` (typed commands, hang-ups as
``ChannelHungUp``), ``runner`` (``ivr.flow.CallFlow`` on a channel), ``server`` (FastAGI),
``classic`` (stdin/stdout AGI) and ``simulate`` (a terminal call through the real server).

An adapter: it may import the call flow (``ivr``) and storage (``store``), and today needs
only the call flow; never another adapter nor ``ivr211``. The line settings come from a
zero-argument source it is given (classic AGI loads its default,
``ivr211.agi:line_settings``, by name).
"""
