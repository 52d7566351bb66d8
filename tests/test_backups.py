"""Backups that hold everything a restore needs, made on the administrator's schedule by the
background worker, kept to the last N, each run shown on the settings page; and the restore
drill of docs/durability.md: back up, restore into a fresh data dir, find everything again."""

from __future__ import annotations

import io
import os
import socket
import tarfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import login, page_token

from wishes import audit, create_app, hospital
from wishes.assessment import store as assessment
from wishes.notifications.worker import run_once
from wishes.organisation import store as organisation
from wishes.storage import connect, database_path

PDF = b"%PDF-1.7 sign-in sheet of the October branch meeting"
JPEG = b"\xff\xd8\xff\xe0" + b"a fulfilment photo" * 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _app(data_dir: Path, **more):
    app = create_app(
        {
            "TESTING": True,
            "WISHES_DATA_DIR": str(data_dir),
            "WISHES_MODELS_DIR": str(data_dir.parent / "models"),
            # Nothing listens here, so restore does not take another server for ours.
            "WISHES_BIND": f"127.0.0.1:{_free_port()}",
            **more,
        }
    )
    return app


@pytest.fixture
def app(tmp_path):
    app = _app(tmp_path / "data")
    with connect(database_path(app)) as db:
        organisation.load_organisation(db, organisation.read_organisation_file())
    return app


def _texts(app) -> list[str]:
    with connect(database_path(app)) as db:
        return sorted(row["text"] for row in db.query("SELECT text FROM wishes"))


def _evidence(app, staff) -> dict:
    """A secretary's evidence file uploaded through the assessment page, as the row says."""
    with connect(database_path(app)) as db:
        assessment.ensure_default(db)
        round_id = assessment.create_round(
            db, "2026 年 10 月", date(2026, 10, 1), date(2026, 10, 31), ["pediatrics"], audit.Who()
        )
    client = app.test_client()
    login(client, "secretary_a")
    page = f"/assessment/rounds/{round_id}/branches/pediatrics"
    response = client.post(
        f"{page}/items/three_meetings/attachments",
        data={"csrf_token": page_token(client.get(page)), "file": (io.BytesIO(PDF), "签到表.pdf")},
    )
    assert response.status_code == 302
    with connect(database_path(app)) as db:
        return next(db.query("SELECT * FROM assessment_attachments"))


def test_the_restore_drill_brings_back_wishes_and_evidence_into_a_fresh_data_dir(
    app, staff, submit_wish, tmp_path
):
    for text in ("想借一个充电宝给手机充电", "晚上病房太冷，想要一床厚被子"):
        assert submit_wish(text=text).status_code == 302
    evidence = _evidence(app, staff)
    photos = Path(app.config["WISHES_DATA_DIR"]) / "photos"
    photos.mkdir()
    (photos / "1-0123456789abcdef.jpeg").write_bytes(JPEG)
    archive = tmp_path / "backups" / "wishes-drill.tar"
    archive.parent.mkdir()

    made = app.test_cli_runner().invoke(args=["backup", str(archive)])
    assert made.exit_code == 0, made.output
    assert "2 photos and evidence files" in made.output
    assert archive.stat().st_mode & 0o777 == 0o600  # it holds patients' phone numbers

    fresh = _app(tmp_path / "fresh")  # another machine: an empty data dir
    restored = fresh.test_cli_runner().invoke(args=["restore", "--yes", str(archive)])
    assert restored.exit_code == 0, restored.output
    assert (
        _texts(fresh) == _texts(app) == ["想借一个充电宝给手机充电", "晚上病房太冷，想要一床厚被子"]
    )
    data = Path(fresh.config["WISHES_DATA_DIR"])
    assert (data / "attachments" / evidence["stored_name"]).read_bytes() == PDF
    assert (data / "photos" / "1-0123456789abcdef.jpeg").read_bytes() == JPEG
    # The restored app serves the evidence from the restored row and file.
    client = fresh.test_client()
    login(client, "secretary_a")
    download = client.get(f"/assessment/attachments/{evidence['id']}")
    try:
        assert download.status_code == 200 and download.data == PDF
    finally:
        download.close()
    assert not [p.name for p in data.iterdir() if p.name.startswith(".restore-")]


def test_a_restore_keeps_the_files_it_replaces_beside_them(app, staff, tmp_path):
    _evidence(app, staff)
    archive = tmp_path / "wishes.tar"
    assert app.test_cli_runner().invoke(args=["backup", str(archive)]).exit_code == 0
    attachments = Path(app.config["WISHES_DATA_DIR"]) / "attachments"
    (attachments / "1-later.pdf").write_bytes(b"%PDF- uploaded after the backup")

    result = app.test_cli_runner().invoke(args=["restore", "--yes", str(archive)])
    assert result.exit_code == 0, result.output
    assert "1-later.pdf" not in {p.name for p in attachments.iterdir()}
    [kept] = attachments.parent.glob("attachments.before-restore-*")
    assert f"kept the previous files as {kept}" in result.output
    assert (kept / "1-later.pdf").exists()


def test_a_backup_into_a_folder_is_a_full_archive_and_a_db_path_still_the_database_alone(
    app, submit_wish, tmp_path
):
    submit_wish()
    folder = tmp_path / "backups"
    folder.mkdir()
    result = app.test_cli_runner().invoke(args=["backup", str(folder)])
    assert result.exit_code == 0, result.output
    [archive] = folder.glob("wishes-*.tar")
    with tarfile.open(archive) as tar:
        assert {"wishes.db", "manifest.json"} <= set(tar.getnames())
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "only.db")])
    assert result.exit_code == 0, result.output
    assert "not in this file: 0 photos and evidence files" in result.output
    assert (tmp_path / "only.db").read_bytes().startswith(b"SQLite format 3\x00")


def test_restore_refuses_an_archive_whose_evidence_file_was_altered(app, staff, tmp_path):
    evidence = _evidence(app, staff)
    archive = tmp_path / "wishes.tar"
    assert app.test_cli_runner().invoke(args=["backup", str(archive)]).exit_code == 0
    altered = tmp_path / "altered.tar"
    with tarfile.open(archive) as source, tarfile.open(altered, "w") as target:
        for member in source.getmembers():
            body = source.extractfile(member).read()
            if member.name.startswith("attachments/"):
                body = body.replace(b"October", b"November")
            target.addfile(member, io.BytesIO(body))

    result = app.test_cli_runner().invoke(args=["restore", "--yes", str(altered)])
    assert result.exit_code == 1
    assert f"attachments/{evidence['stored_name']} is damaged" in result.output


# ---- the schedule -------------------------------------------------------------------------


def _at(local: str) -> datetime:
    """A moment given in the hospital's time (Asia/Shanghai, UTC+8)."""
    return datetime.fromisoformat(local).replace(tzinfo=UTC) - timedelta(hours=8)


def _set(app, name, value):
    with app.app_context(), connect(database_path(app)) as db:
        hospital.change(db, name, value, user_id=None, label="admin")


def _runs(app) -> list[dict]:
    with connect(database_path(app)) as db:
        return list(db.query("SELECT * FROM backup_runs ORDER BY id"))


def test_the_worker_backs_up_once_a_day_at_the_set_time_and_keeps_the_last_n(app, staff, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    _set(app, "WISHES_BACKUP_TIME", "02:30")
    _set(app, "WISHES_BACKUP_DIR", str(folder))
    _set(app, "WISHES_BACKUP_KEEP", "2")
    _evidence(app, staff)
    # What a backup killed half-way (the server stopped mid-copy) left a day ago.
    leftover = folder / ".wishes-20261129-183000.tar.x1y2z3.tmp"
    leftover.write_bytes(b"half an archive")
    os.utime(leftover, (time.time() - 86400, time.time() - 86400))

    rounds = [
        "2026-12-01 01:00",  # the server starts: yesterday's 02:30 was missed, made now
        "2026-12-01 01:01",  # nothing due
        "2026-12-01 02:29",
        "2026-12-01 02:30",  # today's
        "2026-12-01 14:00",
        "2026-12-02 02:31",  # the next day's: the first one is now beyond the last 2
    ]
    for moment in rounds:
        run_once(app, now=_at(moment))

    runs = _runs(app)
    assert [run["started_at"] for run in runs] == [
        "2026-11-30 17:00:00",
        "2026-11-30 18:30:00",
        "2026-12-01 18:31:00",
    ]
    assert all(run["outcome"] == "ok" and run["trigger"] == "schedule" for run in runs)
    assert [run["files"] for run in runs] == [1, 1, 1]
    assert [run["removed"] for run in runs] == [0, 0, 1]
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == [Path(runs[1]["path"]).name, Path(runs[2]["path"]).name]
    assert all(Path(run["path"]).parent == folder for run in runs)

    # Keeping one keeps the newest, never removes it.
    _set(app, "WISHES_BACKUP_KEEP", "1")
    run_once(app, now=_at("2026-12-03 02:30"))
    assert sorted(p.name for p in folder.iterdir()) == [Path(_runs(app)[-1]["path"]).name]

    # The administrator sees each run.
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/settings").get_data(as_text=True)
    assert page.count('class="backup-ok"') == 4
    assert Path(runs[2]["path"]).name in page
    assert 'id="backup-failed"' not in page


def test_no_scheduled_backup_when_the_time_is_left_empty(app):
    _set(app, "WISHES_BACKUP_TIME", "")
    run_once(app, now=_at("2026-12-01 03:00"))
    assert _runs(app) == []


def test_a_failed_backup_is_recorded_and_shown_to_the_administrator(app, staff, tmp_path):
    missing = tmp_path / "unmounted-disk"  # a folder that was given must exist
    _set(app, "WISHES_BACKUP_DIR", str(missing))
    run_once(app, now=_at("2026-12-01 03:00"))
    run_once(app, now=_at("2026-12-01 03:01"))  # one attempt per scheduled time

    [run] = _runs(app)
    assert run["outcome"] == "failed" and "no such folder" in run["error"]
    assert not missing.exists()
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'id="backup-failed"' in page and "no such folder" in page
    assert 'class="backup-failed"' in page


def test_a_failed_backup_by_command_is_recorded_too(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "nowhere" / "x.tar")])
    assert result.exit_code == 1
    [run] = _runs(app)
    assert (run["trigger"], run["outcome"]) == ("command", "failed")


@pytest.mark.parametrize(
    ("name", "typed", "problem"),
    [
        ("WISHES_BACKUP_TIME", "25:00", "24 小时制"),
        ("WISHES_BACKUP_TIME", "2点半", "24 小时制"),
        ("WISHES_BACKUP_DIR", "backups", "绝对路径"),
        ("WISHES_BACKUP_KEEP", "0", "正整数"),
    ],
)
def test_the_schedule_is_set_on_the_settings_page_and_checked(app, staff, name, typed, problem):
    client = app.test_client()
    login(client, "admin")

    def save(value):
        page = client.get("/admin/settings")
        data = {"setting": name, "value": value, "csrf_token": page_token(page)}
        return client.post("/admin/settings", data=data)

    refused = save(typed)
    assert refused.status_code == 400 and problem in refused.get_data(as_text=True)
    assert (
        save(
            {"WISHES_BACKUP_DIR": "/srv/backups", "WISHES_BACKUP_TIME": "3:05"}.get(name, "3")
        ).status_code
        == 302
    )
    with app.app_context():
        assert (
            hospital.value(name)
            == {
                "WISHES_BACKUP_TIME": "03:05",
                "WISHES_BACKUP_DIR": "/srv/backups",
                "WISHES_BACKUP_KEEP": 3,
            }[name]
        )
