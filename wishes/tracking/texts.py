"""The link in a patient's text that stops further texts about that wish (`/t/<code>/stop`).

Opening the link changes nothing (phones and chat apps open links to preview them): the page
asks, and only its button (a POST carrying the link's token) stops the texts.
"""

from __future__ import annotations

import secrets

from flask import abort, render_template, request
from wtforms import HiddenField

from .. import lifecycle, notifications
from ..audiences import AreaBlueprint, Audience
from ..pageform import PageForm
from ..storage import get_db, utcnow

bp = AreaBlueprint("texts", __name__, audience=Audience.PHONE)


class StopForm(PageForm):
    k = HiddenField()


def _wish_for(code: str, token: str) -> dict:
    """The wish whose stop link this is; 404 for any other code or token (nothing to learn)."""
    wish = lifecycle.find_by_tracking_code(get_db(), lifecycle.normalise_tracking_code(code))
    kept = (wish or {}).get("texts_stop_token") or ""
    if wish is None or not kept or not secrets.compare_digest(kept, token):
        abort(404)
    return wish


@bp.route("/t/<code>/stop", methods=["GET", "POST"])
def stop(code: str):
    form = StopForm()
    token = (request.method == "POST" and form.k.data) or request.args.get("k") or ""
    wish = _wish_for(code, token)
    stopped = bool(wish["texts_stopped_at"])
    if request.method == "POST" and form.validate_on_submit() and not stopped:
        stopped = notifications.stop_texts(get_db(), wish["tracking_code"], token, utcnow())
    form.k.data = token
    return render_template("tracking/stop_texts.html", wish=wish, form=form, stopped=stopped)
