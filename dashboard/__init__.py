"""The dashboard: one Flask app, one blueprint per audience, on the line's database.

What lives here:

* ``app``: ``create_app``, which builds the app explicitly (no import side effects):
  database context, login, CSRF, translations, the role guard, security headers, error
  pages, and the blueprints, registered by plain import;
* ``options``: ``DashboardOptions``, everything the dashboard takes from the
  configuration; ``secret``: the session secret (file, environment, or generated once);
* ``db``: the engine, sessions and line settings as views reach them during a request;
  ``roles``: who may open which view; ``i18n``: French first, English on request;
* the blueprints: ``auth`` (login, home, language), ``status``, ``reports`` (with
  ``charts``), ``console``, ``admin`` (a package, one module per topic), ``research``,
  ``audit``; templates/, static/, reports_static/ and translations/ beside them.

What it may import: ``ivr`` (the call flow's pure types) and ``store`` (every read and
write of the database goes through its functions; views build no queries). Never
``ivr211`` (the composition root, which builds ``DashboardOptions`` from the
configuration: ``ivr211.dashboard_options``) nor another adapter (``listener``,
``agi_scripts``, ``research``). ``ivr211 dashboard`` serves the app with waitress.
"""

from __future__ import annotations

from dashboard.app import NAV_ITEMS, create_app, warm_up
from dashboard.options import DashboardOptions
from dashboard.secret import SecretKeyError, load_secret_key

__all__ = [
    "NAV_ITEMS",
    "DashboardOptions",
    "SecretKeyError",
    "create_app",
    "load_secret_key",
    "warm_up",
]
