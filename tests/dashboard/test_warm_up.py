"""The dashboard compiles its pages' templates when it starts, not on first use."""

from __future__ import annotations

from flask import Flask

from dashboard import warm_up


def test_warm_up_compiles_every_page_template(app: Flask) -> None:
    env = app.jinja_env
    pages = {name for name in env.list_templates() if name.endswith(".html")}
    assert {"base.html", "reports/index.html", "wallboard/index.html"} <= pages
    assert env.cache is not None
    cached_before = {key[1] for key in env.cache}
    assert not pages <= cached_before
    assert warm_up(app) == len(pages)
    assert pages <= {key[1] for key in env.cache}
