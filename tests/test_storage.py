import sqlite3

import pytest

from wishes import create_app, lifecycle
from wishes.storage import connect, migrations, upgrade


def test_upgrade_from_the_first_migration_keeps_the_data(tmp_path):
    names = [m.name for m in migrations._migrations]
    with connect(tmp_path / "old.db") as db:
        migrations.apply(db, stop_before=names[1])
        assert [m.name for m in migrations.applied(db)] == names[:1]
        db["general_branches"].insert({"code": "g", "name": "门诊医技总支"})
        db["branches"].insert({"code": "b", "name": "门诊党支部", "general_branch_code": "g"})
        db["wishes"].insert(
            {
                "tracking_code": "ABC2345",
                "text": "想借个轮椅",
                "state": "open",
                "channel": "kiosk",
                "branch_code": "b",
                "created_at": "2026-01-01 08:00:00",
                "updated_at": "2026-01-01 08:00:00",
            }
        )
        db["wish_events"].insert(
            {"wish_id": 1, "at": "2026-01-01 08:00:00", "action": "submit", "actor_kind": "patient"}
        )

    with connect(tmp_path / "old.db") as db:
        applied = upgrade(db)
        assert applied == names[1:]
        assert [m.name for m in migrations.applied(db)] == names
        wish = lifecycle.find_by_tracking_code(db, "ABC2345")
        assert wish["text"] == "想借个轮椅" and wish["branch_code"] == "b"
        assert wish["claimant_user_id"] is None
        assert lifecycle.history(db, 1)[0]["action"] == "submit"
        assert upgrade(db) == []


def test_database_runs_in_wal_with_foreign_keys(app, db):
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_a_wish_cannot_point_at_a_branch_that_does_not_exist(db):
    import pytest

    with pytest.raises(sqlite3.IntegrityError):
        db["wishes"].insert(
            {
                "tracking_code": "XYZ2345",
                "text": "测试",
                "state": "open",
                "channel": "kiosk",
                "branch_code": "nowhere",
                "created_at": "x",
                "updated_at": "x",
            }
        )


def test_secret_key_is_generated_once_and_kept_in_the_data_dir(tmp_path):
    config = {"WISHES_DATA_DIR": str(tmp_path / "data")}
    first = create_app(config)
    second = create_app(config)
    key_file = tmp_path / "data" / "secret_key"
    assert key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert first.secret_key == second.secret_key == key_file.read_text().strip()
    assert len(first.secret_key) >= 64


def test_init_db_reports_the_schema(runner):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0
    assert "0001_organisation_and_wishes" in result.output
    assert "schema is up to date" in result.output


def test_the_search_index_stays_sound_when_wishes_change_and_arrive_already_claimed(db):
    """A wish inserted already claimed (an import, a benchmark fill) fires the waits trigger;
    state changes must not rewrite, or break, the wish's search entry."""
    from wishes.search import index_text

    for number in range(3):
        row = {"text": f"需要轮椅 {number}", "reason": "", "location": "", "tags": None}
        db["wishes"].insert(
            {
                "tracking_code": f"ABCDEF{number}",
                "text": row["text"],
                "state": "claimed",
                "channel": "phone",
                "created_at": "2026-03-01 02:00:00",
                "updated_at": "2026-03-01 05:00:00",
                "routed_at": "2026-03-01 02:00:00",
                "claimed_at": "2026-03-01 05:00:00",
                "local_day": "2026-03-01",
                "search_text": index_text(row),
            }
        )
    db.execute("UPDATE wishes SET state = 'fulfilled', fulfilled_at = '2026-03-02 02:00:00'")
    db.execute("INSERT INTO wishes_fts (wishes_fts) VALUES ('integrity-check')")
    found = db.execute("SELECT count(*) FROM wishes_fts WHERE wishes_fts MATCH '轮椅'").fetchone()
    assert found[0] == 3
    assert [r[0] for r in db.execute("SELECT claim_minutes FROM wishes")] == [180, 180, 180]


def test_an_old_sqlite_is_named_at_start():
    from wishes.storage import sqlite_warning

    assert "3.40.1 predates 3.51.3" in sqlite_warning((3, 40, 1))
    assert sqlite_warning((3, 51, 3)) is None and sqlite_warning((3, 54, 1)) is None


def test_a_writer_waits_for_the_lock_and_gives_up_with_sqlites_error(app):
    """A writer that cannot get the lock within the busy timeout gives up with SQLite's own
    error (the request answers with the error page, nothing half-written); once the lock is
    free, the same connection writes."""
    import wishes.storage as storage

    path = storage.database_path(app)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    db = storage.connect(path)
    db.execute("PRAGMA busy_timeout = 50")
    with pytest.raises(sqlite3.OperationalError, match="locked"), storage.transaction(db):
        db.execute("INSERT INTO general_branches (code, name) VALUES ('no', 'x')")
    assert not db.conn.in_transaction
    holder.execute("ROLLBACK")
    with storage.transaction(db):
        db.execute("INSERT INTO general_branches (code, name) VALUES ('x', 'x')")
    assert db.execute("SELECT count(*) FROM general_branches WHERE code = 'x'").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM general_branches WHERE code = 'no'").fetchone()[0] == 0


def test_a_writer_waits_for_another_writers_commit_within_the_busy_timeout(app):
    """BEGIN IMMEDIATE waits under SQLite's busy timeout: a writer that finds the lock taken
    writes as soon as the other one commits."""
    import threading

    import wishes.storage as storage

    path = storage.database_path(app)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO general_branches (code, name) VALUES ('first', 'x')")
    threading.Timer(0.2, lambda: holder.execute("COMMIT")).start()
    db = storage.connect(path)
    with storage.transaction(db):
        db.execute("INSERT INTO general_branches (code, name) VALUES ('second', 'x')")
    codes = {row[0] for row in db.execute("SELECT code FROM general_branches")}
    assert {"first", "second"} <= codes


def test_a_request_never_inherits_another_requests_transaction(app):
    """Each request opens its own connection and closes it at teardown: writes a request left
    uncommitted are gone, and the next request starts outside any transaction."""
    import wishes.storage as storage

    with app.app_context():
        first = storage.get_db()
        first.conn.execute("BEGIN IMMEDIATE")
        first.conn.execute("INSERT INTO general_branches (code, name) VALUES ('half', 'x')")
    with app.app_context():
        again = storage.get_db()
        assert again is not first and not again.conn.in_transaction
        assert (
            again.execute("SELECT count(*) FROM general_branches WHERE code = 'half'").fetchone()[0]
            == 0
        )


def test_a_replaced_database_file_is_opened_afresh(app, tmp_path):
    """After the file is swapped (a restore), requests read the new file, not the old inode."""
    import shutil

    import wishes.storage as storage

    path = storage.database_path(app)
    with app.app_context():
        old = storage.get_db()
        old.execute("SELECT 1").fetchone()
    copy = tmp_path / "copy.db"
    with connect(path) as db:
        db.conn.execute("VACUUM INTO ?", [str(copy)])
    with connect(copy) as db:
        db.execute("INSERT INTO general_branches (code, name) VALUES ('new', 'x')")
        db.conn.commit()
    shutil.move(copy, path)
    with app.app_context():
        fresh = storage.get_db()
        assert fresh is not old
        assert (
            fresh.execute("SELECT count(*) FROM general_branches WHERE code = 'new'").fetchone()[0]
            == 1
        )


def test_writers_in_many_threads_all_commit(app):
    """Threads writing at once, each on its own connection, all commit, one at a time."""
    import threading

    import wishes.storage as storage

    path = storage.database_path(app)

    def write(n):
        db = connect(path)
        with storage.transaction(db):
            db.execute("INSERT INTO general_branches (code, name) VALUES (?, 'x')", [f"t{n}"])
        db.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with connect(path) as db:
        assert (
            db.execute("SELECT count(*) FROM general_branches WHERE code LIKE 't%'").fetchone()[0]
            == 12
        )


def test_a_tracking_code_already_taken_is_drawn_again(db, monkeypatch):
    entry = lifecycle.WishEntry(text="想要一本书", channel="phone")
    first = lifecycle.submit(db, entry, None)
    drawn = iter([first["tracking_code"], "ZZZZZZZ"])
    monkeypatch.setattr(lifecycle, "new_tracking_code", lambda: next(drawn))
    second = lifecycle.submit(db, entry, None)
    assert second["tracking_code"] == "ZZZZZZZ"
    assert db["wishes"].get(second["id"])["tracking_code"] == "ZZZZZZZ"
    assert (
        db.execute("SELECT count(*) FROM wish_events WHERE wish_id = ?", [second["id"]]).fetchone()[
            0
        ]
        == 1
    )
