"""The front door: `/` sends phones to the wish form's welcome; `/healthz` and `/ping` for
monitors."""

from __future__ import annotations

from flask import render_template

from .audiences import AreaBlueprint, Audience
from .storage import get_db

bp = AreaBlueprint("home", __name__, audience=Audience.PHONE)
# Monitors, not people: no page, no language, nothing to keep from a cache.
monitoring = AreaBlueprint("monitoring", __name__, audience=Audience.SERVICE)


@bp.get("/")
def index():
    return render_template("home.html")


@monitoring.get("/healthz")
def health():
    get_db().execute("SELECT 1")
    return {"status": "ok"}


@monitoring.get("/ping")
def ping():
    """Liveness without the database: the process answers. The load benchmark's bare route."""
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}
