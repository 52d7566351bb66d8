"""The hospital's settings edited by the administrator: stored in the database, effective in
every worker, overridden by the environment, and the print pages' warning."""

from __future__ import annotations

import pytest
from conftest import login, page_token

from wishes import create_app
from wishes.glossary.staff import AUDIT_EVENTS
from wishes.hospital import EDITABLE
from wishes.settings import SETTINGS_BY_NAME
from wishes.storage import connect, database_path


def _config(data_dir, **more):
    return {
        "TESTING": True,
        "WISHES_DATA_DIR": str(data_dir),
        "WISHES_MODELS_DIR": str(data_dir.parent / "models"),
        **more,
    }


def _save(client, name, value):
    page = client.get("/admin/settings")
    return client.post(
        "/admin/settings",
        data={"setting": name, "value": value, "csrf_token": page_token(page)},
    )


def test_every_editable_setting_is_declared_once_in_settings_py():
    assert all(editable.name in SETTINGS_BY_NAME for editable in EDITABLE)
    assert "hospital_setting_changed" in AUDIT_EVENTS


def test_the_hospital_name_and_qr_address_change_in_another_worker_too(app, staff, tmp_path):
    other = create_app(_config(tmp_path / "data"))  # a second worker on the same file
    client = app.test_client()
    login(client, "admin")
    assert _save(client, "WISHES_HOSPITAL_NAME", "第一人民医院").status_code == 302
    assert _save(client, "WISHES_HOSPITAL_NAME_EN", "First People's Hospital").status_code == 302
    assert _save(client, "WISHES_PUBLIC_URL", "http://10.2.3.4:8000").status_code == 302
    patient = other.test_client()
    assert "第一人民医院" in patient.get("/w/new").get_data(as_text=True)
    assert "First People&#39;s Hospital" in patient.get("/w/new?lang=en").get_data(as_text=True)
    card = patient.get("/cards/clinic-hall?lang=zh_Hans").get_data(as_text=True)
    assert "http://10.2.3.4:8000/w/new?dept=clinic-hall" in card
    assert "二维码可能在患者手机上打不开" not in card
    with connect(database_path(app)) as db:
        events = list(
            db.query("SELECT * FROM audit_events WHERE action = ?", ["hospital_setting_changed"])
        )
        assert [e["subject_id"] for e in events] == [
            "WISHES_HOSPITAL_NAME",
            "WISHES_HOSPITAL_NAME_EN",
            "WISHES_PUBLIC_URL",
        ]
        row = db.execute(
            "SELECT changed_by FROM hospital_settings WHERE name = 'WISHES_PUBLIC_URL'"
        ).fetchone()
        assert row[0] == "admin"


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("WISHES_CLAIM_HOURS", "0", "请填写正整数"),
        ("WISHES_ROUTER_THRESHOLD", "1.5", "0 到 1 之间"),
        ("WISHES_PUBLIC_URL", "10.2.3.4:8000", "http://"),
        ("WISHES_HOSPITAL_NAME", " ", "请填写医院名称"),
    ],
)
def test_a_value_that_cannot_be_used_is_refused_in_chinese(app, staff, name, value, error):
    client = app.test_client()
    login(client, "admin")
    response = _save(client, name, value)
    assert response.status_code == 400
    assert error in response.get_data(as_text=True)
    with connect(database_path(app)) as db:
        assert db.table("hospital_settings").count == 0


def test_the_deadlines_and_the_threshold_are_read_from_the_page(app, staff):
    from flask import g

    from wishes import hospital

    client = app.test_client()
    login(client, "admin")
    _save(client, "WISHES_CLAIM_HOURS", "48")
    _save(client, "WISHES_ROUTER_THRESHOLD", "0.8")
    with app.test_request_context():
        assert hospital.value("WISHES_CLAIM_HOURS") == 48
        assert hospital.value("WISHES_ROUTER_THRESHOLD") == 0.8
        assert "hospital_settings" in g  # read once per request
    with app.app_context():  # outside a request (the notification worker)
        assert hospital.value("WISHES_CLAIM_HOURS") == 48


def test_an_environment_override_shows_and_cannot_be_changed(tmp_path):
    from wishes.accounts import store
    from wishes.organisation import store as organisation

    app = create_app(_config(tmp_path / "data", WISHES_HOSPITAL_NAME="环境医院"))
    with connect(database_path(app)) as db:
        organisation.load_organisation(db, organisation.read_organisation_file())
        store.create_user(db, "admin", "correct horse battery", "admin")
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "由环境变量 WISHES_HOSPITAL_NAME 设定，此处修改不生效" in page
    assert 'id="WISHES_HOSPITAL_NAME-value" name="value"' in page
    field = page.split('id="WISHES_HOSPITAL_NAME-value"', 1)[1].split(">", 1)[0]
    assert "disabled" in field
    response = _save(client, "WISHES_HOSPITAL_NAME", "页面医院")
    assert response.status_code == 400
    assert "环境医院" in client.get("/w/new").get_data(as_text=True)


@pytest.mark.parametrize(
    "address",
    ["", "http://127.0.0.1:8000", "http://localhost", "http://0.0.0.0:8000", "http://[::1]:8000"],
)
def test_print_pages_warn_when_the_public_address_is_unset_or_this_machine(app, staff, address):
    client = app.test_client()
    login(client, "admin")
    if address:
        assert _save(client, "WISHES_PUBLIC_URL", address).status_code == 302
    for path in ("/cards", "/cards/clinic-hall"):
        html = client.get(path).get_data(as_text=True)
        assert "二维码可能在患者手机上打不开" in html
        assert "/admin/settings" in html and "WISHES_PUBLIC_URL" in html


def test_only_the_administrator_may_open_the_settings(app, staff):
    client = app.test_client()
    login(client, "triager")
    assert client.get("/admin/settings").status_code == 403


def test_the_notification_worker_reads_the_webhook_and_deadlines_from_the_page(app, db):
    from wishes import hospital
    from wishes.deadlines import Deadlines
    from wishes.notifications.notifier import WebhookNotifier, notifier_from_config

    with app.app_context():
        hospital.change(
            db, "WISHES_NOTIFY_WEBHOOK_URL", "http://10.9.9.9/hook", user_id=None, label="t"
        )
        hospital.change(db, "WISHES_FULFIL_DAYS", "3", user_id=None, label="t")
    with app.app_context():  # as the worker's round does: no request, its own connection
        config = hospital.config(db)
        assert isinstance(notifier_from_config(config), WebhookNotifier)
        assert Deadlines.from_config(config).fulfil_days == 3
