"""Patients' names and phone numbers erased when they are no longer needed: by the background
worker a set time after the wish is closed, and on a patient's request by the administrator
(the page and `wishes erase-patient`); each erasure audited, the wish itself kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import login, page_token, routed_to

from wishes import hospital, lifecycle
from wishes.lifecycle import Actor, WishEntry
from wishes.notifications.worker import run_once
from wishes.storage import connect, database_path

PHONE = "13812345678"
OFFICE = Actor("staff", "triager")
CLOSED = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def _wish(db, name="王女士", phone=PHONE, text="想借一个充电宝给手机充电", closed=None):
    entry = WishEntry(text, "phone", patient_name=name, phone=phone, contact_consent=True)
    wish = lifecycle.submit(
        db, entry, routed_to("logistics"), "logistics", at="2026-05-30 08:00:00"
    )
    if closed is not None:
        lifecycle.decline(
            db, wish["id"], OFFICE, "医院暂时无法提供", at=closed.strftime("%Y-%m-%d %H:%M:%S")
        )
    return wish


def _row(db, wish):
    return db["wishes"].get(wish["id"])


def _erasures(db) -> list[dict]:
    rows = db.query("SELECT * FROM audit_events WHERE action = 'patient_data_erased' ORDER BY id")
    return [{**row, "detail": json.loads(row["detail"])} for row in rows]


def test_the_worker_erases_name_and_phone_180_days_after_the_wish_is_closed(app, db):
    old = _wish(db, closed=CLOSED)
    recent = _wish(db, name="李大爷", phone="13900001111", closed=CLOSED + timedelta(days=30))
    still_open = _wish(db, name="小刘妈妈", phone="13700002222")
    history = [e["action"] for e in lifecycle.history(db, old["id"])]

    run_once(app, now=CLOSED + timedelta(days=179))
    assert _row(db, old)["phone"] == PHONE  # not yet

    run_once(app, now=CLOSED + timedelta(days=180, minutes=1))
    erased = _row(db, old)
    assert (erased["patient_name"], erased["phone"]) == (None, None)
    assert erased["personal_data_erased_at"] == "2026-11-28 08:01:00"
    # The wish itself stays: its text, state, decline reason and history.
    assert (erased["text"], erased["state"], erased["decline_reason"]) == (
        "想借一个充电宝给手机充电",
        "declined",
        "医院暂时无法提供",
    )
    assert [e["action"] for e in lifecycle.history(db, old["id"])] == history
    for other in (recent, still_open):
        assert _row(db, other)["phone"] is not None and _row(db, other)["patient_name"]

    [event] = _erasures(db)
    assert (event["subject_kind"], event["subject_id"]) == ("wish", str(old["id"]))
    assert event["detail"] == {
        "tracking_code": old["tracking_code"],
        "erased": ["patient_name", "phone"],
        "reason": "retention",
    }
    assert PHONE not in json.dumps(event, ensure_ascii=False)
    assert "王女士" not in json.dumps(event, ensure_ascii=False)

    run_once(app, now=CLOSED + timedelta(days=181))  # nothing more to erase, nothing audited
    assert len(_erasures(db)) == 1


def test_the_retention_period_is_set_on_the_settings_page(app, db, staff):
    wish = _wish(db, closed=CLOSED)
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/settings")
    assert "个人信息保存期限" in page.get_data(as_text=True)
    saved = client.post(
        "/admin/settings",
        data={
            "setting": "WISHES_PERSONAL_DATA_DAYS",
            "value": "30",
            "csrf_token": page_token(page),
        },
    )
    assert saved.status_code == 302
    run_once(app, now=CLOSED + timedelta(days=31))
    assert _row(db, wish)["phone"] is None


def test_a_wish_left_without_name_or_phone_has_nothing_to_erase(app, db):
    _wish(db, name="", phone="", closed=CLOSED)
    run_once(app, now=CLOSED + timedelta(days=365))
    assert _erasures(db) == []


def test_the_administrator_erases_a_patients_data_found_by_phone_number(app, db, staff):
    first = _wish(db, closed=CLOSED)
    second = _wish(db, text="晚上病房太冷，想要一床厚被子")
    other = _wish(db, name="李大爷", phone="13900001111")
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/personal-data")
    assert page.status_code == 200
    found = client.post(
        "/admin/personal-data",
        data={"typed": "138 1234 5678", "csrf_token": page_token(page)},
    )
    html = found.get_data(as_text=True)
    assert first["tracking_code"] in html and second["tracking_code"] in html
    assert other["tracking_code"] not in html
    assert PHONE not in html and "138****5678" in html  # masked on the page too

    erased = client.post(
        f"/admin/personal-data/{second['id']}/erase", data={"csrf_token": page_token(found)}
    )
    assert erased.status_code == 302
    assert (_row(db, second)["patient_name"], _row(db, second)["phone"]) == (None, None)
    assert _row(db, first)["phone"] == PHONE  # only the one chosen
    assert _row(db, second)["text"] == "晚上病房太冷，想要一床厚被子"
    [event] = _erasures(db)
    assert (event["actor_label"], event["detail"]["reason"]) == ("admin", "request")
    assert event["detail"]["tracking_code"] == second["tracking_code"]
    flashed = client.get("/admin/personal-data").get_data(as_text=True)
    assert f"已删除心愿 {second['tracking_code']} 的患者称呼、电话" in flashed

    board = client.get(f"/board/wishes/{second['id']}").get_data(as_text=True)
    assert "患者的称呼和电话已于" in board


def test_a_lookup_by_tracking_code_finds_the_wish(app, db, staff):
    wish = _wish(db)
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/personal-data")
    found = client.post(
        "/admin/personal-data",
        data={"typed": wish["tracking_code"].lower(), "csrf_token": page_token(page)},
    )
    assert f"/admin/personal-data/{wish['id']}/erase" in found.get_data(as_text=True)


@pytest.mark.parametrize("visitor", ["triager", "manager", "secretary_a"])
def test_only_the_administrator_may_erase(app, db, staff, visitor):
    wish = _wish(db)
    client = app.test_client()
    login(client, visitor)
    assert client.get("/admin/personal-data").status_code == 403
    assert client.post(f"/admin/personal-data/{wish['id']}/erase").status_code in (400, 403)
    assert _row(db, wish)["phone"] == PHONE


def test_erase_patient_command_by_tracking_code(app, db, runner):
    wish = _wish(db)
    other = _wish(db)  # same phone: only the code given is erased
    result = runner.invoke(args=["erase-patient", wish["tracking_code"], "--yes"])
    assert result.exit_code == 0, result.output
    assert f"erased from {wish['tracking_code']}: patient_name, phone" in result.output
    assert PHONE not in result.output and "138****5678" in result.output
    assert _row(db, wish)["phone"] is None and _row(db, other)["phone"] == PHONE
    [event] = _erasures(db)
    assert event["actor_label"] == "wishes erase-patient"

    again = runner.invoke(args=["erase-patient", wish["tracking_code"], "--yes"])
    assert again.exit_code == 0 and "nothing to erase" in again.output
    unknown = runner.invoke(args=["erase-patient", "ZZZZZZZ", "--yes"])
    assert unknown.exit_code == 1


def test_erase_patient_command_by_phone_erases_every_wish_with_it(app, db, runner):
    wishes = [_wish(db), _wish(db, name="")]
    result = runner.invoke(args=["erase-patient", "+86 138-1234-5678", "--yes"])
    assert result.exit_code == 0, result.output
    assert all(_row(db, wish)["phone"] is None for wish in wishes)
    erased = sorted(e["detail"]["erased"] for e in _erasures(db))
    assert erased == [["patient_name", "phone"], ["phone"]]


def test_personal_data_is_kept_180_days_after_closing_by_default(app):
    with app.app_context():
        assert hospital.value("WISHES_PERSONAL_DATA_DAYS") == 180


def test_a_restore_does_not_bring_back_what_a_patient_asked_to_erase(app, db, runner, tmp_path):
    app.config["WISHES_BIND"] = "127.0.0.1:9"  # nothing listens: no server is in the way
    asked = _wish(db)
    kept = _wish(db, name="李大爷", phone="13900001111")
    backup = tmp_path / "before.tar"
    assert runner.invoke(args=["backup", str(backup)]).exit_code == 0
    assert runner.invoke(args=["erase-patient", asked["tracking_code"], "--yes"]).exit_code == 0

    result = runner.invoke(args=["restore", "--yes", str(backup)])
    assert result.exit_code == 0, result.output
    assert "erased again the name and phone of 1 wish(es)" in result.output
    with connect(database_path(app)) as restored:
        assert restored["wishes"].get(asked["id"])["phone"] is None
        assert restored["wishes"].get(kept["id"])["phone"] == "13900001111"
        [event] = _erasures(restored)
        assert event["actor_label"] == "wishes restore"
