"""The front door: `/` sends phones to the wish form's welcome, and `/healthz` for monitors."""

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
