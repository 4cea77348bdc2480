"""Storage: everything that reads or writes the line's database.

Engine and sessions (``db``), the tables (``models`` and the modules that add their
own), Alembic migrations, the line settings (seed, load, change), accounts, navigators,
the listener's command table, live state, transfer records (``facts`` is what every
source concludes, ``transfers`` writes and reads them), research-box records and the
report queries. It imports only the call flow (``ivr``); the adapters (FastAGI,
listener, research box, dashboard) and ``ivr211`` build on it.
"""
