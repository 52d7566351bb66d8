"""Patient pages for answering a questionnaire: the phone (`/s/…`) and the kiosk."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from .. import ratelimit
from ..organisation import store as organisation
from ..storage import get_db
from . import comments, store
from .forms import AnswerForm, answer_form

bp = Blueprint("survey", __name__)

KIOSK_LAYOUT = "layouts/kiosk.html"
PHONE_LAYOUT = "layouts/phone.html"
# What the thank-you page may offer: a comment that reads like a wish, to be written as one.
COMMENT_AS_WISH = "comment_as_wish"


def _live(slug: str) -> store.Version:
    version = store.live_version(get_db(), slug)
    if version is None:
        abort(404)
    return version


def render_answer_page(
    form: AnswerForm,
    version: store.Version,
    layout: str,
    action: str,
    preview: bool = False,
    status: int | None = None,
):
    """The answering page; 400 with every answer still in place when something is missing."""
    if form.csrf_token.errors:
        form.form_errors.append(_("页面停留太久已过期，您的选择都还在，请再点一次提交。"))
    status = status or (400 if form.errors else 200)
    page = render_template(
        "questionnaires/answer.html",
        form=form,
        version=version,
        layout=layout,
        action=action,
        preview=preview,
    )
    return page, status


def _answer(slug: str, layout: str, channel: str, thanks: str):
    db = get_db()
    version = _live(slug)
    form = answer_form(version, organisation.departments(db))
    if request.method == "GET" and (ward := request.args.get("dept")):
        for question, field in form.question_fields():
            if question["type"] == "department" and ward in dict(field.choices):
                field.data = ward
    if form.validate_on_submit():
        if wait := ratelimit.wait_for("answer"):
            form.form_errors.append(ratelimit.form_refusal(wait))
            return render_answer_page(form, version, layout, request.path, status=429)
        comment = form.comment()
        store.store_response(
            db,
            version,
            store.answers_from(version, form.answers()),
            submission_id=form.submission_id.data,
            department_code=form.department_code(),
            channel=channel,
            comment_tags=comments.tags(comment),
        )
        session[COMMENT_AS_WISH] = comment if comments.reads_like_wish(comment) else ""
        return redirect(url_for(thanks, slug=slug))
    return render_answer_page(form, version, layout, request.path)


def _thanks(slug: str, layout: str, wish_endpoint: str):
    version = _live(slug)
    return render_template(
        "questionnaires/thanks.html",
        version=version,
        layout=layout,
        wish_text=session.get(COMMENT_AS_WISH, ""),
        wish_url=url_for(wish_endpoint, **{"from": "survey"}),
    )


@bp.route("/s/<slug>", methods=["GET", "POST"])
def phone_answer(slug: str):
    return _answer(slug, PHONE_LAYOUT, "phone", "survey.phone_thanks")


@bp.get("/s/<slug>/thanks")
def phone_thanks(slug: str):
    return _thanks(slug, PHONE_LAYOUT, "intake.phone_wish")


@bp.route("/kiosk/s/<slug>", methods=["GET", "POST"])
def kiosk_answer(slug: str):
    return _answer(slug, KIOSK_LAYOUT, "kiosk", "survey.kiosk_thanks")


@bp.get("/kiosk/s/<slug>/thanks")
def kiosk_thanks(slug: str):
    return _thanks(slug, KIOSK_LAYOUT, "intake.kiosk_wish")


def comment_for_wish_form() -> str:
    """The comment a patient chose to turn into a wish (once; the next patient gets a blank)."""
    if request.args.get("from") != "survey":
        return ""
    return session.pop(COMMENT_AS_WISH, "") or ""
