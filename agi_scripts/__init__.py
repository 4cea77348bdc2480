"""Our own thin FastAGI layer over asyncio streams, and the adapter that runs the call flow.

panoramisk's ``fast_agi`` mis-reads replies after a ``HANGUP`` line or a ``520`` usage
block (../shared/asterisk/transcripts/3-panoramisk-*), so the wire is handled here:
``protocol`` (header and reply lines), ``channel`` (typed commands, hang-ups as
``ChannelHungUp``), ``runner`` (``ivr.flow.CallFlow`` on a channel), ``server`` (FastAGI),
``classic`` (stdin/stdout AGI) and ``simulate`` (a terminal call through the real server).
"""
