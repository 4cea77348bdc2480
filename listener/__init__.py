"""The AMI listener: the only process that talks to the Asterisk Manager Interface.

It follows channels and bridges, turns transfer events into transfer records
(interpret, then write), and executes the navigators' actions sent to it through
the command table.

What lives here: the link (``ami``, over ``ami_wire``), the pure readers that conclude
transfer facts (``interpreter`` from the event stream, its handlers grouped by job in
``channelevents``, ``consultations`` and ``referrals`` over ``channeltables``; ``cel`` and
``reconcile`` from Asterisk's CEL file read by ``celrows``, one ``outcome`` rule for
both), the navigators' actions (``actions``, ``action_types``, ``legs``) and their
commands from the dashboard (``commandrunner``), the live presence tracker (``live``),
the callers' call records and the navigators' activity (``calls``, pure; ``headers``
reads the numbers of the events for both), the line's values pushed to Asterisk
(``pbxvalues``), the spool writers of transfer facts and of call facts, each with its
spool (``writer``, ``callwriter``, ``spool``), the process that puts them together
(``service``, with ``retry`` for its writes SQLite refuses for a moment) and the reader
of the lab's recordings (``transcripts``).

An adapter: it imports the call flow (``ivr``) and storage (``store``), never another
adapter nor ``ivr211``, which builds its options and runs it (``ivr211.listen``); work
that runs beside it, such as the research box's sweeper, joins it as a companion
(``service.Companion``).
"""
