"""The administrator's pages: hours, holidays, closures, the override, the destination
directory and its numbers, the line's options, the consent notice of the research box,
and the users.

Every change goes through a change function of ``store.linesettings`` (which bumps the
settings version in the same transaction), ``store.accounts`` or ``store.navigators``,
in one short write transaction. The FastAGI server re-reads the settings when their
version moves and rewrites the AstDB mirror, and the listener pushes the same values to
Asterisk as dialplan globals within seconds, so a change takes effect without a dialplan
edit or a reload; only a new short code needs a dialplan extension.

Forms are Flask-WTF (CSRF on every POST) and are validated twice: the form checks the
shape of each field with a French message, the change function checks the meaning
(unknown destination, duplicate code...) and its refusal is shown as it is. After a
change the page redirects (POST/redirect/GET) and shows the line's state read afresh.

One module per topic, each adding its views to the one blueprint ``admin`` (endpoints
``admin.<view>``): ``overview`` (the admin home), ``hours``, ``holidays``, ``closures``,
``override``, ``destinations``, ``line``, ``consent``, ``users``; their forms are in
``forms``, and what every page shares (the blueprint, the page frame, the shape of a
posted form) in ``pages``. Importing this package imports every topic, so ``bp`` has
all the views.
"""

from __future__ import annotations

from dashboard.admin import (
    closures,
    consent,
    destinations,
    holidays,
    hours,
    line,
    override,
    overview,
    users,
)
from dashboard.admin.pages import ADMIN, bp, page

#: The topics; importing them added their views to ``bp``.
TOPICS = (overview, hours, holidays, closures, override, destinations, line, consent, users)

__all__ = ["ADMIN", "TOPICS", "bp", "page"]
