"""The AMI listener: the only process that talks to the Asterisk Manager Interface.

It follows channels and bridges, turns transfer events into transfer records
(interpret, then write), and executes the navigators' actions sent to it through
the command table.

What lives here: the link (``ami``, over ``ami_wire``), the pure readers that conclude
transfer facts (``interpreter`` from the event stream, ``cel`` and ``reconcile`` from
Asterisk's CEL file, one ``outcome`` rule for both), the navigators' actions
(``actions``, ``action_types``, ``legs``), the live presence tracker (``live``), the
callers' call records and the navigators' activity (``calls``, pure, written by
``callwriter`` with its own spool), the
line's values pushed to Asterisk (``pbxvalues``), the record writer and its spool
(``writer``, ``spool``), the process that puts them together (``service``) and the
reader of the lab's recordings (``transcripts``).

An adapter: it imports the call flow (``ivr``) and storage (``store``), never another
adapter nor ``ivr211``, which builds its options and runs it (``ivr211.listen``); work
that runs beside it, such as the research box's sweeper, joins it as a companion
(``service.Companion``).
"""
