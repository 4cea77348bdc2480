"""Storage: everything that reads or writes the line's database.

- ``db``: engines, sessions, migrations (``migrations/``, run by ``db.upgrade``);
- ``models``: the declarative ``Base``, the ``UTCDateTime`` column and the tables of the
  line settings, navigators, transfer records and the listener's command and status
  rows; ``accounts``, ``live`` and ``voicemail`` declare their own tables on that
  ``Base``, and ``tables`` lists every table in one place (the schema's metadata);
- ``rows``: the update-or-insert of one keyed row and the UPDATE row count they share;
- ``linesettings/``: the line settings split by job (rules, seed, load, change,
  directory, dialplan checks), re-exported by the package;
- ``accounts`` (dashboard users and their sessions), ``login_throttle`` (logging in and
  the locks after failed logins), ``heartbeats`` (the services' last signs of life),
  ``navigators`` (navigator accounts, the listener's status row), ``commands`` (the
  listener's command table and its one table of command kinds), ``live`` (the live state
  the listener mirrors);
- ``facts`` (what every source concludes about a transfer), ``transfers`` (writing and
  reading transfer records), ``reports/`` (the managers' report queries and exports);
- ``voicemail`` (research-box records and the audit log), ``files`` (durable files).

It imports only the call flow (``ivr``); the adapters (FastAGI, listener, research box,
dashboard) and ``ivr211`` build on it. Views and services do not build queries: every
read and write of the database is a function here.
"""
