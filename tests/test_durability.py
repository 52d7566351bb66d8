"""Durability: `wishes backup` and `wishes restore`, and a server killed amid submissions."""

import http.client
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import urlencode

import pytest
from markupsafe import escape

from wishes import create_app, lifecycle, settings
from wishes.organisation import store as organisation
from wishes.storage import connect, database_path, migrations, transaction
from wishes.storage.backup import backup_database, our_migrations

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app(app):
    # Nothing listens here, so restore does not mistake another server on :8000 for ours.
    app.config["WISHES_BIND"] = f"127.0.0.1:{free_port()}"
    return app


def texts(path):
    with closing(sqlite3.connect(path)) as conn:
        return sorted(text for (text,) in conn.execute("SELECT text FROM wishes"))


def wish_count(path):
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT count(*) FROM wishes").fetchone()[0]


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


# ---- backup and restore -------------------------------------------------------------------


def test_restore_brings_back_the_backed_up_wishes_and_drops_later_ones(
    app, db, runner, submit_wish, tmp_path
):
    before = [
        "想借一个充电宝给手机充电",
        "晚上病房太冷，想要一床厚被子",
        "希望有人推轮椅陪老人去做检查",
    ]
    later = ["想要一份今天的报纸", "希望护士站能借到吹风机"]
    for text in before:
        assert submit_wish(text=text).status_code == 302
    backup = tmp_path / "backups" / "wishes-monday.db"
    backup.parent.mkdir()

    result = runner.invoke(args=["backup", str(backup)])
    assert result.exit_code == 0, result.output
    assert f"to {backup}: " in result.output and "integrity_check ok" in result.output
    assert "wishes 3," in result.output and "wish_events 3," in result.output
    assert re.search(r"in \d+\.\d\d s", result.output)
    assert leftovers(backup.parent) == []
    assert not Path(f"{backup}-wal").exists()  # one self-contained file

    for text in later:
        assert submit_wish(text=text).status_code == 302
    live = database_path(app)
    # `db` (this test's connection) keeps the later wishes in the live -wal: restore must not
    # let that -wal be replayed into the restored file.
    assert Path(f"{live}-wal").stat().st_size > 0

    result = runner.invoke(args=["restore", "--yes", str(backup)])
    assert result.exit_code == 0, result.output
    assert texts(live) == sorted(before)
    with connect(live) as fresh:
        assert fresh.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        [kept] = live.parent.glob("wishes.db.before-restore-*")
        assert f"kept the previous database as {kept}" in result.output
        assert texts(kept) == sorted(before + later)
        restored = fresh.execute("SELECT action, subject_id FROM audit_events").fetchall()
        assert ("database_restored", str(backup)) in restored
        for wish in fresh.query("SELECT id, tracking_code, text FROM wishes"):
            assert [e["action"] for e in lifecycle.history(fresh, wish["id"])] == ["submit"]
            page = app.test_client().get(f"/t/{wish['tracking_code']}").get_data(as_text=True)
            assert str(escape(wish["text"])) in page
    assert leftovers(live.parent) == [".migrate.lock"]

    # The app goes on writing into the restored database.
    assert submit_wish(text="想借一本书看看").status_code == 302
    assert wish_count(live) == len(before) + 1


def test_backup_refuses_to_overwrite_a_file_unless_forced(app, runner, submit_wish, tmp_path):
    submit_wish()
    target = tmp_path / "wishes-backup.db"
    target.write_bytes(b"last week's backup")

    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 1
    assert "exists: pass --force to overwrite it" in result.output
    assert target.read_bytes() == b"last week's backup"
    assert leftovers(tmp_path) == []

    result = runner.invoke(args=["backup", "--force", str(target)])
    assert result.exit_code == 0, result.output
    assert wish_count(target) == 1


def test_a_stale_wal_beside_an_overwritten_backup_is_not_replayed_into_it(
    app, runner, submit_wish, tmp_path
):
    target = tmp_path / "wishes-backup.db"
    with closing(sqlite3.connect(target)) as old:
        old.execute("PRAGMA journal_mode=WAL")
        old.execute("PRAGMA wal_autocheckpoint=0")
        old.execute("CREATE TABLE wishes (text)")
        old.execute("INSERT INTO wishes VALUES ('an older database')")
        old.commit()
        shutil.copy(f"{target}-wal", tmp_path / "stale-wal")
    # Closing checkpointed and deleted that -wal; put it back, now stale, beside the file.
    shutil.copy(tmp_path / "stale-wal", f"{target}-wal")
    submit_wish(text="想借个轮椅")

    result = runner.invoke(args=["backup", "--force", str(target)])
    assert result.exit_code == 0, result.output
    assert texts(target) == ["想借个轮椅"]
    with closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_backup_taken_while_another_connection_keeps_writing_is_one_consistent_moment(
    app, tmp_path
):
    """A writer commits batches of wishes; batch 6 stays open, and written to, across the backup."""
    batch_size, long_batch = 5, 6
    written = [0] * 12  # rows written in each batch
    committed: list[int] = []  # sizes of the committed batches, in order
    long_batch_open = threading.Event()
    backup_done = threading.Event()
    failure: list[BaseException] = []

    def add(db, batch):
        entry = lifecycle.WishEntry(text=f"第{batch}批 第{written[batch]}个心愿", channel="phone")
        lifecycle.submit(db, entry, None)
        written[batch] += 1

    def writer():
        try:
            with connect(database_path(app)) as db:
                for batch in range(12):
                    with transaction(db):
                        for _ in range(batch_size):
                            add(db, batch)
                        if batch == long_batch:
                            long_batch_open.set()  # inside an open write transaction
                            while not backup_done.is_set():
                                add(db, batch)
                                time.sleep(0.002)
                            add(db, batch)  # and once more after the backup, then commit
                    committed.append(written[batch])
        except BaseException as error:
            failure.append(error)
            long_batch_open.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert long_batch_open.wait(30)
    batches_before = len(committed)
    # The writer holds batch 6 open until the backup has returned: a backup that waited for
    # the writer's lock would fail with "locked" after the busy timeout, never return here.
    copy = backup_database(database_path(app), tmp_path / "copy.db")
    still_open = len(committed) == long_batch
    backup_done.set()
    thread.join(30)
    assert not failure, failure
    assert batches_before == long_batch
    assert still_open, "the writer's transaction was not open across the backup"
    assert len(committed) == 12 and committed[long_batch] > batch_size

    with closing(sqlite3.connect(copy.path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        per_batch = dict(
            conn.execute(
                "SELECT CAST(substr(text, 2, instr(text, '批') - 2) AS INTEGER), count(*) "
                "FROM wishes GROUP BY 1"
            ).fetchall()
        )
        # Exactly the batches committed before the backup, each whole; the open one absent.
        assert per_batch == {batch: batch_size for batch in range(long_batch)}
        events = conn.execute("SELECT count(*) FROM wish_events WHERE action = 'submit'")
        assert events.fetchone()[0] == sum(per_batch.values())
        indexed = conn.execute("SELECT count(*) FROM wishes_fts").fetchone()[0]
        assert indexed == sum(per_batch.values())
    assert copy.row_counts["wishes"] == long_batch * batch_size


def _other_apps_database(path):
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices (total) VALUES (12.5)")


def _other_sqlite_utils_app(path):
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("CREATE TABLE _sqlite_migrations (migration_set TEXT, name TEXT, applied_at)")
        conn.execute("INSERT INTO _sqlite_migrations VALUES ('blog', '0001_posts', 'x')")


def _newer_version_of_ours(path, backup):
    shutil.copy(backup, path)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
            "VALUES ('wishes', '0999_from_the_future', '2027-01-01')"
        )


def _damaged_copy_of_ours(path, backup):
    shutil.copy(backup, path)
    size = path.stat().st_size
    with open(path, "r+b") as handle:  # scribble over every page but the schema's
        for offset in range(4096, size, 4096):
            handle.seek(offset + 8)
            handle.write(b"\xff" * 64)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p, b: p.write_text("wish,branch\n想要吹风机,logistics\n"),
            "is not a SQLite database",
        ),
        (lambda p, b: p.write_bytes(b""), "is not a SQLite database"),
        (lambda p, b: _other_apps_database(p), "is not a database of this app"),
        (lambda p, b: _other_sqlite_utils_app(p), "is not a database of this app"),
        (_newer_version_of_ours, "migrations this version does not have (0999_from_the_future)"),
        (_damaged_copy_of_ours, "integrity_check"),
    ],
    ids=["csv", "empty", "another-app", "another-sqlite-utils-app", "newer-version", "damaged"],
)
def test_restore_refuses_a_file_that_is_not_an_intact_database_of_this_app(
    app, runner, submit_wish, tmp_path, make, message
):
    submit_wish(text="这条心愿必须留下")
    backup = tmp_path / "ours.db"
    assert runner.invoke(args=["backup", str(backup)]).exit_code == 0
    candidate = tmp_path / "candidate.db"
    make(candidate, backup)

    result = runner.invoke(args=["restore", "--yes", str(candidate)])
    assert result.exit_code == 1
    assert message in result.output
    live = database_path(app)
    assert texts(live) == ["这条心愿必须留下"]
    assert not list(live.parent.glob("*before-restore*"))


def test_restore_upgrades_a_backup_made_by_an_older_version(app, runner, tmp_path):
    old = tmp_path / "old.db"
    names = our_migrations()
    with connect(old) as db:
        migrations.apply(db, stop_before=names[1])
    result = runner.invoke(args=["restore", "--yes", str(old)])
    assert result.exit_code == 0, result.output
    assert f"upgraded with {', '.join(names[1:])}" in result.output
    with closing(sqlite3.connect(database_path(app))) as conn:
        applied = [n for (n,) in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY rowid")]
    assert applied == names


def test_restore_refuses_while_a_server_answers_at_its_address(app, runner, tmp_path):
    backup = tmp_path / "b.db"
    assert runner.invoke(args=["backup", str(backup)]).exit_code == 0
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        app.config["WISHES_BIND"] = f"127.0.0.1:{listening.getsockname()[1]}"
        result = runner.invoke(args=["restore", "--yes", str(backup)])
        assert result.exit_code == 1
        assert "a server seems to be using the database" in result.output
        assert "Stop `wishes serve`" in result.output
        assert not list(database_path(app).parent.glob("*before-restore*"))

        result = runner.invoke(args=["restore", "--yes", "--force", str(backup)])
        assert result.exit_code == 0, result.output


def test_restore_refuses_while_another_process_has_the_database_open(app, runner, tmp_path):
    backup = tmp_path / "b.db"
    assert runner.invoke(args=["backup", str(backup)]).exit_code == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
            "c.execute('SELECT 1 FROM wishes'); print('open', flush=True); sys.stdin.read()",
            str(database_path(app)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "open\n"
        result = runner.invoke(args=["restore", "--yes", str(backup)])
        assert result.exit_code == 1
        assert f"process {holder.pid} (python" in result.output
    finally:
        holder.communicate("")


def test_restore_asks_before_replacing_the_database(app, runner, submit_wish, tmp_path):
    backup = tmp_path / "b.db"
    assert runner.invoke(args=["backup", str(backup)]).exit_code == 0
    submit_wish()
    result = runner.invoke(args=["restore", str(backup)], input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert wish_count(database_path(app)) == 1


# ---- the kill test --------------------------------------------------------------------------

CLIENTS = 8
KILL_AFTER_ACKNOWLEDGED = 200
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class Phone:
    """One patient's phone: its own cookies, real HTTP, a new connection for each request."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method, path, form=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        headers = {"Connection": "close"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=form and urlencode(form), headers=headers)
            response = conn.getresponse()
            page = response.read().decode("utf-8")
            for cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, value = cookie.split(";", 1)[0].partition("=")
                self.cookies[name] = value
            return response.status, response.headers, page
        finally:
            conn.close()


def wish_text(client: int, n: int) -> str:
    """Texts unlike each other: Chinese, digits, markup characters, a line break, up to 500."""
    body = f"{client}号床第{n}个心愿：想借一个充电宝 & 一本《读者》<谢谢>\n护士站见"
    return body + "麻烦了" * ((client * 37 + n * 11) % 150)


def server_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHES_")}
    env.update(
        WISHES_DATA_DIR=str(tmp_path / "data"),
        WISHES_MODELS_DIR=str(tmp_path / "models"),
        WISHES_BIND=f"127.0.0.1:{port}",
    )
    if any(setting.name == "WISHES_RATE_LIMIT_FACTOR" for setting in settings.SETTINGS):
        # All the clients share one address: limits far above the test's pace, still counted.
        env["WISHES_RATE_LIMIT_FACTOR"] = "1000"
    return env


def start_server(env, log):
    """`wishes serve` itself, in a process group of its own (the server and the notifier)."""
    return subprocess.Popen(
        [str(BIN / "wishes"), "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until_serving(server, port, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"wishes serve exited ({server.returncode}):\n{log_path.read_text()}")
        try:
            if Phone(port).request("GET", "/healthz")[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    pytest.fail(f"wishes serve did not answer within {timeout} s:\n{log_path.read_text()}")


def stop_server(server, signal_number=signal.SIGTERM):
    try:
        os.killpg(server.pid, signal_number)
    except ProcessLookupError:
        return
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def wait_until_port_is_free(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return
        time.sleep(0.05)
    pytest.fail(f"port {port} still answers after the server was killed")


def test_every_acknowledged_wish_survives_the_server_being_killed(tmp_path):
    started = time.monotonic()
    port = free_port()
    env = server_env(tmp_path, port)
    # The hospital's organisation, so the router (trained by `wishes serve` on first start)
    # sends confident wishes to branches and queues their notifications in the same transaction.
    setup = create_app(
        {"WISHES_DATA_DIR": env["WISHES_DATA_DIR"], "WISHES_MODELS_DIR": env["WISHES_MODELS_DIR"]}
    )
    live = database_path(setup)
    with connect(live) as db:
        organisation.load_organisation(db, organisation.read_organisation_file())
    log_path = tmp_path / "serve.log"
    log = open(log_path, "a")  # noqa: SIM115 - closed in finally
    server = start_server(env, log)
    try:
        wait_until_serving(server, port, log_path)
        first_start = time.monotonic() - started

        acknowledged: list[tuple[str, str]] = []  # (tracking code, text sent)
        shown = failed_at_kill = 0
        problems: list[str] = []
        lock = threading.Lock()
        killed = threading.Event()

        def patient(client):
            nonlocal shown, failed_at_kill
            phone = Phone(port)
            for n in range(10_000):
                text = wish_text(client, n)
                try:
                    status, _, page = phone.request("GET", "/w/new")
                    form = {
                        "text": text,
                        "department": "",
                        "location": f"{client}床",
                        "csrf_token": TOKEN.search(page).group(1),
                    }
                    status, headers, page = phone.request("POST", "/w/new", form)
                    if status != 302:
                        problems.append(f"POST /w/new answered {status}")
                        continue
                    location = headers["Location"]
                    with lock:
                        acknowledged.append((location.rsplit("/", 1)[-1], text))
                    status, _, page = phone.request("GET", location)
                    if status == 200 and str(escape(text)) in page:
                        with lock:
                            shown += 1
                except (OSError, http.client.HTTPException, AttributeError) as error:
                    if not killed.is_set():
                        problems.append(f"before the kill: {error!r}")
                        continue
                    with lock:
                        failed_at_kill += 1
                    return

        patients = [threading.Thread(target=patient, args=(i,)) for i in range(CLIENTS)]
        submitting = time.monotonic()
        for thread in patients:
            thread.start()
        while len(acknowledged) < KILL_AFTER_ACKNOWLEDGED and time.monotonic() - submitting < 20:
            time.sleep(0.01)
        killed.set()
        os.killpg(server.pid, signal.SIGKILL)  # the server and the notifier
        server.wait()
        for thread in patients:
            thread.join(30)
        submit_seconds = time.monotonic() - submitting
        assert not problems, problems[:5]
        assert len(acknowledged) >= 50, "too few wishes were acknowledged to prove anything"
        wait_until_port_is_free(port)

        server = start_server(env, log)
        wait_until_serving(server, port, log_path)
        with connect(live) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            stored = {row["tracking_code"]: row for row in db.query("SELECT * FROM wishes")}
            lost = [code for code, _ in acknowledged if code not in stored]
            altered = [
                code
                for code, text in acknowledged
                if code in stored and stored[code]["text"] != text
            ]
            without_event = db.execute(
                "SELECT count(*) FROM wishes w WHERE NOT EXISTS "
                "(SELECT 1 FROM wish_events e WHERE e.wish_id = w.id AND e.action = 'submit')"
            ).fetchone()[0]
        assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged wishes lost: {lost}"
        assert not altered, f"{len(altered)} acknowledged wishes altered: {altered}"
        assert without_event == 0
        phone = Phone(port)
        for code, text in acknowledged:  # what the patient sees after the restart
            status, _, page = phone.request("GET", f"/t/{code}")
            assert status == 200 and str(escape(text)) in page, code
        status, _, page = phone.request("GET", "/w/new")
        form = {
            "text": wish_text(99, 0),
            "department": "",
            "csrf_token": TOKEN.search(page).group(1),
        }
        status, _, _ = phone.request("POST", "/w/new", form)
        assert status == 302, "the restarted server does not take wishes"

        print(
            f"\nkill test: {len(acknowledged)} wishes acknowledged by {CLIENTS} clients in "
            f"{submit_seconds:.1f} s ({shown} tracking pages shown, {failed_at_kill} requests "
            f"cut by SIGKILL, {len(stored)} wishes stored); checked {len(acknowledged)}, "
            f"lost {len(lost)}, altered {len(altered)}; first start {first_start:.1f} s, "
            f"whole test {time.monotonic() - started:.1f} s"
        )
    finally:
        stop_server(server)
        log.close()
