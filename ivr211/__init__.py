"""The composition root: the 211 line's deployment put together, and the ``ivr211`` CLI.

What lives here: the configuration (``config``: one TOML file and the environment, read
once), its mapping onto each package's own options (``wiring`` for the FastAGI server,
the AMI link and the research box's ingest; ``notify_options``; ``dashboard_options``),
the CLI (``cli/``, one module per command group), the entry points that run a package
(``listen``: the listener process with the research box's sweeper beside it; ``agi``:
classic AGI's default settings source), supervision of the child processes
(``supervise``), port checks (``ports``) and the retention of personal data
(``retention``).

It may import every floor below it: the call flow (``ivr``), storage (``store``) and the
adapters (``agi_scripts``, ``listener``, ``research``, ``dashboard``). Nothing imports it:
classic AGI names ``ivr211.agi:line_settings`` as a string and loads it by name.
"""
