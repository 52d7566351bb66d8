"""Whom each page is for, as its blueprint declares it: layout, error page, language and
caching follow from that declaration, and the kiosk and the phone share their views."""

import re
from urllib.parse import urlsplit

import pytest
from conftest import csrf_token, login
from flask import Blueprint, Flask

from wishes import audiences
from wishes.audiences import AreaBlueprint, Audience

# Each page the kiosk and the phone both offer: (the phone's endpoint, the kiosk's).
TWINS = [
    ("intake.wish_form", "intake_kiosk.wish_form"),
    ("tracking.lookup", "tracking_kiosk.lookup"),
    ("tracking.wish_status", "tracking_kiosk.wish_status"),
    ("survey.answer", "survey_kiosk.answer"),
    ("survey.thanks", "survey_kiosk.thanks"),
]


def _layout(html: str) -> str:
    return re.search(r'<body class="([^"]*)"', html).group(1)


def test_every_route_says_whom_it_serves(app):
    for rule in app.url_map.iter_rules():
        assert isinstance(audiences.of_endpoint(app, rule.endpoint), Audience), rule.rule
    for name, blueprint in app.blueprints.items():
        assert isinstance(blueprint, AreaBlueprint), f"{name} does not declare its audience"


def test_an_app_with_a_page_that_does_not_say_whom_it_serves_does_not_start():
    app = Flask(__name__)
    undeclared = Blueprint("undeclared", __name__)
    undeclared.add_url_rule("/somewhere", "page", lambda: "")
    app.register_blueprint(undeclared)
    with pytest.raises(audiences.UndeclaredAudience, match="undeclared.page"):
        audiences.init_app(app)


@pytest.mark.parametrize(("phone", "kiosk"), TWINS)
def test_the_kiosk_and_the_phone_show_the_same_page_each_for_its_screen(app, phone, kiosk):
    assert app.view_functions[phone] is app.view_functions[kiosk]
    assert audiences.of_endpoint(app, phone) is Audience.PHONE
    assert audiences.of_endpoint(app, kiosk) is Audience.KIOSK


def test_printed_qr_codes_still_open_the_same_addresses(app):
    rules = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()}
    assert rules["intake.wish_form"] == "/w/new"
    assert rules["intake_kiosk.wish_form"] == "/kiosk/wish"
    assert rules["intake_kiosk.welcome"] == "/kiosk"
    assert rules["intake_kiosk.thanks"] == "/kiosk/thanks"
    assert rules["tracking.wish_status"] == "/t/<code>"
    assert rules["tracking_kiosk.wish_status"] == "/kiosk/t/<code>"
    assert rules["survey.answer"] == "/s/<slug>"
    assert rules["survey_kiosk.thanks"] == "/kiosk/s/<slug>/thanks"


def _new_round(client) -> int:
    data = {
        "name": "本季度",
        "first_day": "2026-10-01",
        "last_day": "2026-12-31",
        "branches": ["pediatrics", "logistics"],
        "csrf_token": csrf_token(client, "/assessment/rounds/new"),
    }
    created = client.post("/assessment/rounds/new", data=data)
    assert created.status_code == 302, created.get_data(as_text=True)[:500]
    return int(urlsplit(created.location).path.rsplit("/", 1)[1])


def test_assessment_pages_and_exports_are_not_kept_by_the_browser(client, staff):
    login(client, "triager")
    round_id = _new_round(client)
    for path in (
        "/assessment",
        "/assessment/rounds/new",
        f"/assessment/rounds/{round_id}",
        f"/assessment/rounds/{round_id}/export.csv",
        f"/assessment/rounds/{round_id}/export.xlsx",
        f"/assessment/rounds/{round_id}/branches/pediatrics",
        "/admin/assessment/scheme",
        "/corridor",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/kiosk",
        "/kiosk/wish",
        "/w/new",
        "/t",
        "/kiosk/t",
        "/cards",
        "/login",
        "/no-such-page",
        "/kiosk/no-such-page",
        "/assessment/no-such-page",
    ],
)
def test_no_page_is_kept_by_the_browser(client, path):
    assert client.get(path).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/healthz", "/ping", "/static/css/app.css"])
def test_files_and_monitors_have_no_language_and_may_be_cached(client, path):
    response = client.get(path + "?lang=en")
    response.close()  # a static file is streamed from disk
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert "lang=" not in response.headers.get("Set-Cookie", "")
    assert "Accept-Language" not in response.headers.get("Vary", "")


def test_a_missing_assessment_page_looks_like_the_other_staff_pages(client, staff):
    login(client, "triager")
    for path in ("/assessment/no-such-page", "/assessment/rounds/999999", "/corridor/nope"):
        response = client.get(path + "?lang=en")
        html = response.get_data(as_text=True)
        assert response.status_code == 404, path
        assert _layout(html) == "staff", path
        assert "没有找到这个页面" in html  # staff pages are in Chinese, whatever was chosen
        assert response.headers["Cache-Control"] == "no-store"


def test_a_missing_admin_page_looks_like_a_staff_page_even_logged_out(client):
    html = client.get("/admin/no-such-page").get_data(as_text=True)
    assert _layout(html) == "staff" and "没有找到这个页面" in html


def test_a_missing_kiosk_page_shows_the_kiosk_error_page_that_starts_over(client):
    response = client.get("/kiosk/no-such-page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert _layout(html) == "kiosk"
    assert "js/kiosk.js" in html and 'href="/kiosk"' in html


def test_a_missing_page_elsewhere_shows_the_patients_phone_layout(client):
    for path in ("/no-such-page", "/w/no-such-page", "/s/no-such-survey"):
        response = client.get(path + "?lang=en")
        html = response.get_data(as_text=True)
        assert response.status_code == 404, path
        assert _layout(html) == "phone", path
        assert "Page not found" in html, path  # in the language the patient chose


def test_a_kiosk_questionnaire_thanks_goes_back_to_the_kiosk(client, db):
    from wishes.questionnaires import store as questionnaires

    slug = questionnaires.live_version(db, _default_slug(db)).slug
    kiosk = client.get(f"/kiosk/s/{slug}/thanks").get_data(as_text=True)
    phone = client.get(f"/s/{slug}/thanks").get_data(as_text=True)
    assert _layout(kiosk) == "kiosk" and 'class="button button-ghost" href="/kiosk"' in kiosk
    assert _layout(phone) == "phone" and 'class="button button-ghost" href="/"' in phone


def _default_slug(db) -> str:
    from wishes.questionnaires import store as questionnaires

    qid = questionnaires.ensure_default(db)
    return questionnaires.latest_version(db, qid).slug


def test_an_unknown_code_at_the_kiosk_is_looked_up_again_at_the_kiosk(client):
    kiosk = client.get("/kiosk/t/2345678").get_data(as_text=True)
    phone = client.get("/t/2345678").get_data(as_text=True)
    assert 'action="/kiosk/t"' in kiosk and _layout(kiosk) == "kiosk"
    assert 'action="/t"' in phone and _layout(phone) == "phone"


def test_a_questionnaire_preview_is_shown_inside_the_staff_pages(client, db, staff):
    from wishes.questionnaires import store as questionnaires

    qid = questionnaires.ensure_default(db)
    vid = questionnaires.latest_version(db, qid).id
    login(client, "triager")
    html = client.get(f"/admin/questionnaires/{qid}/versions/{vid}/preview").get_data(as_text=True)
    assert _layout(html) == "staff"
