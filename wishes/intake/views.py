"""Patient pages for writing a wish: one form for the phone (`/w/new`) and the kiosk
(`/kiosk/wish`), and the kiosk's welcome and thank-you pages."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from .. import audiences, drafts, hospital, organisation, questionnaires, ratelimit
from ..audiences import AreaBlueprint, Audience
from ..storage import get_db
from .forms import WishForm
from .receive import receive

bp = AreaBlueprint("intake", __name__, audience=Audience.PHONE)
kiosk = AreaBlueprint("intake_kiosk", __name__, audience=Audience.KIOSK, area="intake")

# The kiosk keeps a new tracking code here until its thank-you page shows it, once.
KIOSK_CODE = "kiosk_code"


def _form(audience: Audience, draft: drafts.Draft | None) -> WishForm:
    form = WishForm(formdata=draft.formdata) if draft else WishForm()
    form.set_departments(organisation.departments(get_db()))
    if draft and draft.check:
        form.validate()  # the messages of the submission that brought the patient back here
    elif request.method == "GET" and not draft:
        # A questionnaire comment the patient chose to send on as a wish.
        form.text.data = questionnaires.comment_for_wish_form() or form.text.data
        # A bedside card opens the phone's form with its ward chosen (the kiosk is no ward).
        ward = request.args.get("dept")
        if not audience.shared_screen and ward in dict(form.department.choices):
            form.department.data = ward
    return form


def _render_form(form: WishForm, status: int | None = None):
    status = status or (400 if form.errors and request.method == "POST" else 200)
    if form.csrf_token.errors:
        form.form_errors.append(_("页面停留太久已过期，您写的内容都还在，请再点一次提交。"))
    action = url_for(".wish_form")
    return render_template("intake/wish_form.html", form=form, action=action), status


def _received(audience: Audience, code: str):
    """Where the patient goes once the wish is stored.

    At the kiosk the code is shown once on a page of its own, so the next patient cannot bring
    it back with a refresh; a phone is the patient's own: it goes on to the wish's tracking page.
    """
    if audience.shared_screen:
        session[KIOSK_CODE] = code
        return redirect(url_for(".thanks"))
    flash(_("心愿已收到，请记下您的查询码。"), "success")
    return redirect(url_for("tracking.wish_status", code=code))


@kiosk.get("/kiosk")
def welcome():
    slug = hospital.value("WISHES_KIOSK_QUESTIONNAIRE")
    survey = slug and questionnaires.open_now(get_db(), slug)
    return render_template("intake/kiosk_welcome.html", survey_slug=slug if survey else None)


@kiosk.route("/kiosk/wish", methods=["GET", "POST"])
@bp.route("/w/new", methods=["GET", "POST"])
def wish_form():
    audience = audiences.current()
    form = _form(audience, drafts.take())
    if drafts.switching_language():  # everything typed comes along into the other language
        return drafts.back_to_form(form, check=False) or _render_form(form, 200)
    if form.validate_on_submit():
        if wait := ratelimit.wait_for("wish"):
            form.form_errors.append(ratelimit.form_refusal(wait))
            return _render_form(form, 429)
        wish = receive(get_db(), form, channel=audience.value)
        return _received(audience, wish["tracking_code"])
    if request.method == "POST":  # a mistake: shown by this page's GET (post/redirect/get)
        return drafts.back_to_form(form, check=True) or _render_form(form)
    return _render_form(form)


@kiosk.get("/kiosk/thanks")
def thanks():
    code = session.pop(KIOSK_CODE, None)
    if code is None:
        return redirect(url_for(".welcome"))
    return render_template("intake/thanks.html", code=code)
