"""Patient pages for answering a questionnaire: one page for the phone (`/s/…`) and the kiosk
(`/kiosk/s/…`), and its thank-you page."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import audiences, drafts, organisation, ratelimit
from ..audiences import AreaBlueprint, Audience
from ..clock import today
from ..storage import get_db
from . import comments, store
from .definition import flat_questions
from .forms import AnswerForm, answer_form

bp = AreaBlueprint("survey", __name__, audience=Audience.PHONE)
kiosk = AreaBlueprint(
    "survey_kiosk", __name__, audience=Audience.KIOSK, area="survey", url_prefix="/kiosk"
)


# A matrix's items, each a rating of its own, for the staff's page of one response.
bp.app_template_filter("flat_questions")(flat_questions)


def _live(slug: str) -> store.Version:
    version = store.live_version(get_db(), slug)
    if version is None:
        abort(404)
    return version


def _closed_page(slug: str):
    """A questionnaire outside its open days: said plainly, in the patient's language."""
    found = store.questionnaire(get_db(), slug)
    if found is None or store.open_on(found, today().isoformat()):
        return None
    return render_template(
        "questionnaires/closed.html",
        layout=audiences.current().layout,
        opens_on=found["opens_on"],
        closes_on=found["closes_on"],
    )


def render_answer_page(
    form: AnswerForm,
    version: store.Version,
    action: str,
    preview: bool = False,
    status: int | None = None,
):
    """The answering page, in the layout of the page's audience, every answer in place. A
    submission with a mistake is shown by the GET it redirects to (wishes/drafts.py); 400 when
    it could not be carried there."""
    if form.csrf_token.errors:
        form.form_errors.append(_("页面停留太久已过期，您的选择都还在，请再点一次提交。"))
    status = status or (400 if form.errors and request.method == "POST" else 200)
    page = render_template(
        "questionnaires/answer.html",
        form=form,
        version=version,
        action=action,
        preview=preview,
        today_iso=today().isoformat(),  # the latest day a date question takes
    )
    return page, status


@kiosk.route("/s/<slug>", methods=["GET", "POST"])
@bp.route("/s/<slug>", methods=["GET", "POST"])
def answer(slug: str):
    db = get_db()
    version = _live(slug)
    if (closed := _closed_page(slug)) is not None:
        return closed  # a form posted before it closed stores nothing either
    draft = drafts.take()
    form = answer_form(
        version, organisation.departments(db), formdata=draft.formdata if draft else None
    )
    if draft and draft.check:
        form.validate()  # the messages of the submission that brought the patient back here
    elif request.method == "GET" and not draft and (ward := request.args.get("dept")):
        for question, field in form.question_fields():
            if question["type"] == "department" and ward in dict(field.choices):
                field.data = ward
    if drafts.switching_language():  # every answer comes along into the other language
        return drafts.back_to_form(form, check=False) or render_answer_page(
            form, version, request.path, status=200
        )
    valid = form.validate_on_submit()  # once: it checks every answer and the CSRF token
    if valid and form.newly_shown():
        # No script on the page: an answer showed a follow-up question the patient has not
        # seen yet. Back to the form once, with the question shown and nothing lost.
        return drafts.back_to_form(form, check=False) or render_answer_page(
            form, version, request.path, status=200
        )
    if valid:
        if wait := ratelimit.wait_for("answer"):
            form.form_errors.append(ratelimit.form_refusal(wait))
            return render_answer_page(form, version, request.path, status=429)
        comment = form.comment()
        reading = comments.read(comment)
        store.store_response(
            db,
            version,
            store.answers_from(version, form.answers()),
            submission_id=form.submission_id.data,
            department_code=form.department_code(),
            channel=audiences.current().value,
            comment_tags=reading.tags,
            comment_sentiment=reading.sentiment,
            comment_category=reading.category,
        )
        comments.offer_as_wish(comment)
        return redirect(url_for(".thanks", slug=slug))
    if request.method == "POST":  # a mistake: shown by this page's GET (post/redirect/get)
        return drafts.back_to_form(form, check=True) or render_answer_page(
            form, version, request.path
        )
    return render_answer_page(form, version, request.path)


@kiosk.get("/s/<slug>/thanks")
@bp.get("/s/<slug>/thanks")
def thanks(slug: str):
    version = _live(slug)
    came_from: dict[str, Any] = {"from": "survey"}  # `from` is a Python keyword
    return render_template(
        "questionnaires/thanks.html",
        version=version,
        wish_text=comments.comment_offered(),
        wish_url=url_for(audiences.twin("intake.wish_form"), **came_from),
    )
