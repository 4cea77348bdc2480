"""The research voicemail box: moving each message from Asterisk's spool into storage
(``ingest``, reading app_voicemail's ``message_info`` file) and telling the research team
a message arrived (``notify``).

An adapter: it imports the call flow (``ivr``) and storage (``store``), never another
adapter nor ``ivr211``, which hands it its options (``IngestOptions``, ``NotifyOptions``)
and runs its sweeper beside the listener.
"""
