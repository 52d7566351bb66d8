"""The first run: an empty database leads to /setup, unlocked by the code on the console."""

from __future__ import annotations

import re

import pytest
from conftest import csrf_token, page_token

from wishes import create_app
from wishes.hospital import setup
from wishes.storage import connect, database_path

PASSWORD_ADMIN = "晚霞 over the river 7"
PASSWORD_OFFICE = "星星 under the bridge 9"


@pytest.fixture
def fresh(tmp_path):
    """An app on an empty database, and the set-up code `wishes serve` would print."""
    app = create_app(
        {
            "TESTING": True,
            "WISHES_DATA_DIR": str(tmp_path / "data"),
            "WISHES_MODELS_DIR": str(tmp_path / "models"),
        }
    )
    with connect(database_path(app)) as db:
        code = setup.new_code(db)
    return app, code


def _unlock(client, code):
    return client.post(
        "/setup/code", data={"code": code, "csrf_token": csrf_token(client, "/setup")}
    )


@pytest.mark.parametrize("path", ["/", "/login", "/board", "/kiosk"])
def test_a_fresh_database_leads_every_page_to_setup(fresh, path):
    app, _code = fresh
    response = app.test_client().get(path)
    assert (response.status_code, response.location) == (302, "/setup")


def test_the_setup_page_asks_for_the_code_and_refuses_a_wrong_one(fresh):
    app, _code = fresh
    client = app.test_client()
    assert "设置码" in client.get("/setup").get_data(as_text=True)
    response = _unlock(client, "WRONG-CODE1")
    assert response.status_code == 400
    assert "设置码不对" in response.get_data(as_text=True)
    # the steps stay locked
    response = client.post(
        "/setup/organisation",
        data={"action": "demo", "csrf_token": csrf_token(client, "/setup")},
    )
    assert response.status_code == 403


def test_the_code_printed_by_wishes_serve_opens_setup_and_a_new_one_replaces_it(fresh):
    app, code = fresh
    client = app.test_client()
    assert _unlock(client, code.lower()).status_code == 302
    assert "第 1 步" in client.get("/setup").get_data(as_text=True)
    result = app.test_cli_runner().invoke(args=["setup-code"])
    assert result.exit_code == 0, result.output
    new = re.search(r"set-up code: (\S+)", result.output).group(1)
    assert new != code
    assert "第 1 步" not in client.get("/setup").get_data(as_text=True)  # the old code is gone
    assert _unlock(app.test_client(), code).status_code == 400


def test_setup_through_the_pages_with_the_demo_organisation_leaves_no_fake_data(fresh):
    app, code = fresh
    client = app.test_client()
    _unlock(client, code)
    page = client.get("/setup")
    response = client.post(
        "/setup/hospital",
        data={
            "name": "第一人民医院",
            "name_hant": "",
            "name_en": "First People's Hospital",
            "public_url": "http://10.2.3.4:8000",
            "csrf_token": page_token(page),
        },
    )
    assert response.status_code == 302
    page = client.get("/setup")
    assert "第 2 步" in page.get_data(as_text=True)
    response = client.post(
        "/setup/organisation", data={"action": "demo", "csrf_token": page_token(page)}
    )
    assert response.status_code == 302
    page = client.get("/setup")
    assert "第 3 步" in page.get_data(as_text=True)
    fields = {
        "admin_username": "admin",
        "admin_password": PASSWORD_ADMIN,
        "admin_confirm": PASSWORD_ADMIN,
        "office_username": "office",
        "office_name": "党建办小王",
        "office_password": PASSWORD_OFFICE,
        "office_confirm": "not the same",
        "csrf_token": page_token(page),
    }
    assert client.post("/setup/accounts", data=fields).status_code == 400
    response = client.post("/setup/accounts", data={**fields, "office_confirm": PASSWORD_OFFICE})
    assert (response.status_code, response.location) == (302, "/login")

    # set-up is gone, and the hospital works with what was set up, nothing else
    assert client.get("/setup").status_code == 404
    form = app.test_client().get("/w/new").get_data(as_text=True)
    assert "第一人民医院" in form
    assert "儿科" in form  # the demo organisation's departments in the picker
    with connect(database_path(app)) as db:
        assert db.table("wishes").count == 0
        assert db.table("responses").count == 0
        users = {row["username"]: row["role"] for row in db.query("SELECT * FROM users")}
        assert users == {"admin": "admin", "office": "triager"}
        assert not setup.pending(db) and setup.code_hash(db) is None
        actions = [row["action"] for row in db.query("SELECT action FROM audit_events")]
        assert "setup_finished" in actions
    login = app.test_client()
    response = login.post(
        "/login",
        data={
            "username": "office",
            "password": PASSWORD_OFFICE,
            "csrf_token": csrf_token(login, "/login"),
        },
    )
    assert response.status_code == 302 and response.location == "/board"


def test_setup_can_skip_the_organisation(fresh):
    app, code = fresh
    client = app.test_client()
    _unlock(client, code)
    with connect(database_path(app)) as db:
        setup.move_to(db, setup.Step.ORGANISATION)
    page = client.get("/setup")
    response = client.post(
        "/setup/organisation", data={"action": "skip", "csrf_token": page_token(page)}
    )
    assert response.status_code == 302
    with connect(database_path(app)) as db:
        assert setup.step(db) is setup.Step.ACCOUNTS
        assert db.table("departments").count == 0


def test_a_hospital_with_an_organisation_or_accounts_has_no_setup(app, client):
    # conftest's app has the demo organisation: not a fresh install
    assert client.get("/setup").status_code == 404
    assert client.get("/").status_code == 200


def test_wishes_serve_prints_a_code_on_an_empty_database_and_not_with_a_chosen_password(
    fresh, monkeypatch
):
    from wishes import commands

    app, _code = fresh
    monkeypatch.setattr(commands.serving, "serve", lambda *args, **kwargs: None)
    monkeypatch.setattr(commands.serving, "prepare", lambda app: app)
    app.extensions["wishes.router"].refresh = lambda: object()  # no training in a test
    result = app.test_cli_runner().invoke(args=["serve"])
    assert result.exit_code == 0, result.output
    assert "set-up code:" in result.output and "first administrator" not in result.output
    app.config["WISHES_ADMIN_PASSWORD"] = "a long chosen password 42"
    result = app.test_cli_runner().invoke(args=["serve"])
    assert "set-up code:" not in result.output
    with connect(database_path(app)) as db:
        assert not setup.pending(db)


def test_guessing_the_code_is_slowed_down(fresh):
    app, code = fresh
    client = app.test_client()
    answers = [_unlock(client, f"WRONG-{n:05d}").status_code for n in range(11)]
    assert answers == [400] * 10 + [429]
    assert _unlock(client, code).status_code == 429  # even the right code waits


def test_setup_imports_a_workbook_after_a_preview(fresh, tmp_path):
    import io

    from wishes.organisation import store as organisation
    from wishes.organisation import workbook
    from wishes.storage import connect as open_db

    with open_db(tmp_path / "other.db") as other:
        from wishes.storage import upgrade

        upgrade(other)
        organisation.load_organisation(other, organisation.read_organisation_file())
        data = workbook.to_json(workbook.export_rows(other)).encode()
    app, code = fresh
    client = app.test_client()
    _unlock(client, code)
    with connect(database_path(app)) as db:
        setup.move_to(db, setup.Step.ORGANISATION)
    page = client.get("/setup")
    preview = client.post(
        "/setup/organisation",
        data={
            "action": "upload",
            "workbook": (io.BytesIO(data), "hospital.json"),
            "csrf_token": page_token(page),
        },
    )
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "确认导入" in html
    with connect(database_path(app)) as db:
        assert db.table("departments").count == 0  # nothing before the confirmation
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([^"]+)"', html).group(1)
    response = client.post(
        "/setup/organisation",
        data={"action": "confirm", "fingerprint": fingerprint, "csrf_token": page_token(page)},
    )
    assert response.status_code == 302
    with connect(database_path(app)) as db:
        assert db.table("departments").count > 0
        assert setup.step(db) is setup.Step.ACCOUNTS
    assert not list((tmp_path / "data").glob("setup-workbook*"))  # the upload is not kept


def test_a_workbook_with_problems_is_refused_with_its_reasons(fresh):
    import io

    app, code = fresh
    client = app.test_client()
    _unlock(client, code)
    with connect(database_path(app)) as db:
        setup.move_to(db, setup.Step.ORGANISATION)
    page = client.get("/setup")
    response = client.post(
        "/setup/organisation",
        data={
            "action": "upload",
            "workbook": (io.BytesIO(b"not a workbook"), "hospital.xlsx"),
            "csrf_token": page_token(page),
        },
    )
    assert response.status_code == 400
    assert "工作簿不能导入" in response.get_data(as_text=True)
