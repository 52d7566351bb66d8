"""Patient pages for writing a wish: the kiosk (welcome, form, thank-you) and the phone form."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from .. import ratelimit
from ..organisation import store as organisation
from ..questionnaires import store as questionnaires
from ..questionnaires.views import comment_for_wish_form
from ..storage import get_db
from .forms import WishForm
from .receive import receive

bp = Blueprint("intake", __name__)

KIOSK_LAYOUT = "layouts/kiosk.html"
PHONE_LAYOUT = "layouts/phone.html"


def _form() -> WishForm:
    form = WishForm()
    form.set_departments(organisation.departments(get_db()))
    if request.method == "GET":
        # A questionnaire comment the patient chose to send on as a wish.
        form.text.data = comment_for_wish_form() or form.text.data
    return form


def _render_form(form: WishForm, layout: str, action: str, status: int | None = None):
    status = status or (400 if form.errors else 200)
    if form.csrf_token.errors:
        form.form_errors.append(_("页面停留太久已过期，您写的内容都还在，请再点一次提交。"))
    return render_template("intake/wish_form.html", form=form, layout=layout, action=action), status


@bp.get("/kiosk")
def kiosk_welcome():
    slug = current_app.config["WISHES_KIOSK_QUESTIONNAIRE"]
    survey = slug and questionnaires.live_version(get_db(), slug)
    return render_template(
        "intake/kiosk_welcome.html", layout=KIOSK_LAYOUT, survey_slug=slug if survey else None
    )


@bp.route("/kiosk/wish", methods=["GET", "POST"])
def kiosk_wish():
    form = _form()
    if form.validate_on_submit():
        if wait := ratelimit.wait_for("wish"):
            form.form_errors.append(ratelimit.form_refusal(wait))
            return _render_form(form, KIOSK_LAYOUT, url_for("intake.kiosk_wish"), 429)
        wish = receive(get_db(), form, channel="kiosk")
        # Shown once: the next patient at this kiosk cannot bring it back with a refresh.
        session["kiosk_code"] = wish["tracking_code"]
        return redirect(url_for("intake.kiosk_thanks"))
    return _render_form(form, KIOSK_LAYOUT, url_for("intake.kiosk_wish"))


@bp.get("/kiosk/thanks")
def kiosk_thanks():
    code = session.pop("kiosk_code", None)
    if code is None:
        return redirect(url_for("intake.kiosk_welcome"))
    return render_template("intake/thanks.html", layout=KIOSK_LAYOUT, code=code)


@bp.route("/w/new", methods=["GET", "POST"])
def phone_wish():
    form = _form()
    ward = request.args.get("dept")
    if request.method == "GET" and ward in dict(form.department.choices):
        form.department.data = ward
    if form.validate_on_submit():
        if wait := ratelimit.wait_for("wish"):
            form.form_errors.append(ratelimit.form_refusal(wait))
            return _render_form(form, PHONE_LAYOUT, url_for("intake.phone_wish"), 429)
        wish = receive(get_db(), form, channel="phone")
        flash(_("心愿已收到，请记下您的查询码。"), "success")
        return redirect(url_for("tracking.wish_status", code=wish["tracking_code"]))
    return _render_form(form, PHONE_LAYOUT, url_for("intake.phone_wish"))
