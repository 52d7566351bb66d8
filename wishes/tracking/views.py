"""Tracking pages: a lookup box and the state and history of one wish, in patient words.

The tracking code is the only key: the page shows that wish alone, never the patient's
name or phone, and never a staff member's personal data. Once the wish is fulfilled the page
asks its one question (issue 19, item 2): the first answer stands, since whoever holds the code
answers for the patient, and a low answer the office acted on must not be undone by a second.
"""

from __future__ import annotations

import contextlib

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import audiences, drafts, glossary, i18n, lifecycle, organisation, ratelimit
from ..audiences import AreaBlueprint, Audience
from ..storage import get_db
from .forms import COMMENT_MAX, RatingForm

bp = AreaBlueprint("tracking", __name__, audience=Audience.PHONE)
kiosk = AreaBlueprint(
    "tracking_kiosk", __name__, audience=Audience.KIOSK, area="tracking", url_prefix="/kiosk"
)


@kiosk.get("/t")
@bp.get("/t")
def lookup():
    typed = request.args.get("code", "")
    if typed:
        code = lifecycle.normalise_tracking_code(typed)
        if code:
            return redirect(url_for(".wish_status", code=code))
    return render_template("tracking/lookup.html", typed=typed)


@kiosk.route("/t/<code>", methods=["GET", "POST"])
@bp.route("/t/<code>", methods=["GET", "POST"])
def wish_status(code: str):
    """The wish's state and history; once fulfilled, the patient's one question (POST: the
    answer, then back here, post/redirect/get, where the page thanks them)."""
    db = get_db()
    normalised = lifecycle.normalise_tracking_code(code)
    wish = lifecycle.find_by_tracking_code(db, normalised)
    if wish is None:
        return render_template("tracking/unknown.html", code=code), 404
    here = url_for(".wish_status", code=wish["tracking_code"])
    rating = lifecycle.rating_of(db, wish["id"])
    if rating is not None or wish["state"] not in lifecycle.RATEABLE:
        # Answered already (the first answer stands: a page open twice stores one), or not
        # fulfilled yet: a POST stores nothing, and the page shows why.
        if request.method == "POST":
            return redirect(here, 303)
        return _page(db, wish, rating)
    draft = drafts.take()
    form = RatingForm() if draft is None else RatingForm(formdata=draft.formdata)
    form.fresh()
    if draft and draft.check:
        form.validate()  # the messages of the answer that brought the patient back here
    if drafts.switching_language():  # the answer comes along into the other language
        return drafts.back_to_form(form, check=False) or _page(db, wish, None, form)
    if request.method != "POST":
        return _page(db, wish, None, form)
    if not form.validate_on_submit():
        return drafts.back_to_form(form, check=True) or _page(db, wish, None, form, 400)
    if wait := ratelimit.wait_for("rating"):
        form.form_errors.append(ratelimit.form_refusal(wait))
        return _page(db, wish, None, form, 429)
    # Answered from another page meanwhile, or no longer fulfilled: the page says which.
    with contextlib.suppress(lifecycle.IllegalMove):
        lifecycle.rate(
            db,
            wish["id"],
            int(form.rating.data),
            form.comment.data or "",
            language=i18n.language(),
            channel=audiences.current().value,
            submission_id=form.submission_id.data,
        )
    return redirect(here, 303)


def _page(db, wish: dict, rating: dict | None, form: RatingForm | None = None, status=200):
    if form is not None and form.csrf_token.errors:
        form.form_errors.append(_("页面停留太久已过期，您的选择都还在，请再点一次提交。"))
    events = lifecycle.history(db, wish["id"])
    page = render_template(
        "tracking/status.html",
        wish=wish,
        events=events,
        branch_names=i18n.unit_names(organisation.branches(db, active_only=False)),
        claimant=_claimant(db, wish),
        rating=rating,
        form=form,
        rating_words=glossary.RATING_WORDS,
        low_rating=lifecycle.LOW_RATING,
        comment_max=COMMENT_MAX,
        patients=lifecycle.group_size(db, wish),
    )
    return page, status


def _claimant(db, wish: dict) -> str:
    """Who claimed the wish, as the patient reads it: a branch or department by its name in
    the page's language (the wish keeps the Chinese name it had when claimed), a person as
    their name is written."""
    kind, name = wish.get("claimant_kind"), wish.get("claimant_name") or ""
    if kind == lifecycle.ClaimantKind.BRANCH:
        units = organisation.branches(db, active_only=False)
    elif kind == lifecycle.ClaimantKind.DEPARTMENT:
        units = organisation.departments(db, active_only=False)
    else:
        return name
    unit = next((u for u in units if u["name"] == name), None)
    return i18n.unit_name(unit) if unit else i18n.unit_name({"name": name})
