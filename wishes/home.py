"""The front door: `/` sends phones to the wish form's welcome; `/healthz` and `/ping` for
monitors."""

from __future__ import annotations

from flask import Blueprint, render_template

from .storage import get_db

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    return render_template("home.html", layout="layouts/phone.html")


@bp.get("/healthz")
def health():
    get_db().execute("SELECT 1")
    return {"status": "ok"}


@bp.get("/ping")
def ping():
    """Liveness without the database: the process answers. The load benchmark's bare route."""
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}
