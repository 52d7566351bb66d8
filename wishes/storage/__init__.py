"""One SQLite file, opened through sqlite-utils with the same pragmas everywhere.

A connection belongs to one request (flaskr's `get_db` on `g`, closed at teardown) or to one
command. Writes that belong together go through `transaction()`: BEGIN IMMEDIATE takes the
write lock up front, waiting for it under SQLite's busy timeout, so that two writers never
deadlock half-way through.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext
from sqlite_utils import Database
from sqlite_utils.db import Table

from .migrations import migrations

BUSY_TIMEOUT_MS = 5000
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
# SQLite before 3.51.3 has a rare WAL race between concurrent writers (docs/durability.md).
WAL_RACE_FIXED_IN = (3, 51, 3)


def utcnow() -> str:
    """The current time as stored in every table: UTC, `YYYY-MM-DD HH:MM:SS`."""
    return datetime.now(UTC).strftime(TIMESTAMP_FORMAT)


def connect(path: str | Path) -> Database:
    """Open the database with WAL, foreign keys, a busy timeout and full fsync on commit.

    `synchronous=FULL`: a wish whose tracking code the patient has been shown must survive
    a power cut, and the volume (hundreds of writes a day) makes the extra fsync free.
    """
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
    db = Database(conn)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return db


def keep_private(path: Path) -> None:
    """Patients' wishes and phone numbers: the database and its WAL files readable by the
    app's own user only (0600), as the backups are, whatever the umask made them."""
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        with suppress(FileNotFoundError):
            os.chmod(path.with_name(name), 0o600)


def inserted_id(table: Table) -> int:
    """The id of the row `table.insert(...)` just wrote (sqlite-utils types `last_pk` as
    optional: it is None only before any insert)."""
    if table.last_pk is None:
        raise LookupError(table.name)
    return int(table.last_pk)


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """Run a group of writes as one transaction holding the write lock from its start.

    BEGIN IMMEDIATE waits for another writer under the busy timeout; inside an open
    transaction, the writes go into a savepoint of it instead.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.conn.rollback()
        raise
    else:
        db.conn.commit()


def sqlite_warning(version: tuple[int, int, int] = sqlite3.sqlite_version_info) -> str | None:
    """What the operator should know about the linked SQLite, or None."""
    if version >= WAL_RACE_FIXED_IN:
        return None
    found = ".".join(map(str, version))
    return (
        f"SQLite {found} predates 3.51.3, which fixes a rare WAL race between concurrent "
        "writers; take nightly backups (`wishes backup`) and see docs/durability.md"
    )


def database_path(app: Flask | None = None) -> Path:
    app = app or current_app
    return Path(app.config["WISHES_DATA_DIR"]) / "wishes.db"


def get_db() -> Database:
    """The current request's connection, opened on first use and closed at its teardown."""
    if "db" not in g:
        g.db = connect(database_path())
    return g.db


def close_db(_error: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def upgrade(db: Database) -> list[str]:
    """Apply every pending migration; return the names applied."""
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending


def schema_is_current(db: Database) -> bool:
    return not migrations.pending(db)


# ---- the record of backups (table `backup_runs`) ---------------------------------------------


def record_backup_run(db: Database, run: dict[str, Any]) -> None:
    """Append one backup's outcome (a row made by `backup.run_row`)."""
    with transaction(db):
        db.table("backup_runs").insert(run)


def backup_runs(db: Database, limit: int = 10) -> list[dict[str, Any]]:
    """The latest backups, scheduled or by command, newest first: the settings page's list."""
    return list(db.query("SELECT * FROM backup_runs ORDER BY id DESC LIMIT ?", [limit]))


def last_scheduled_backup(db: Database) -> dict[str, Any] | None:
    """The latest scheduled backup, made or failed: one attempt per scheduled time."""
    rows = db.query(
        "SELECT * FROM backup_runs WHERE trigger = 'schedule' ORDER BY started_at DESC LIMIT 1"
    )
    return next(iter(rows), None)


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the database, or upgrade an existing one to the latest schema."""
    path = database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with connect(path) as db:
        applied = upgrade(db)
        for migration in migrations.applied(db):
            click.echo(f"  {migration.name}  (applied {migration.applied_at[:19]} UTC)")
    click.echo(
        f"{path}: " + (f"applied {', '.join(applied)}" if applied else "schema is up to date")
    )


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)


def prepare(app: Flask) -> None:
    """Create or upgrade the schema at start, one process at a time (workers start together)."""
    path = database_path(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with connect(path) as db:
            applied = upgrade(db)
        keep_private(path)
    if applied:
        app.logger.info("database %s: applied %s", path, ", ".join(applied))


__all__ = [
    "BUSY_TIMEOUT_MS",
    "TIMESTAMP_FORMAT",
    "backup_runs",
    "close_db",
    "connect",
    "database_path",
    "get_db",
    "init_app",
    "init_db_command",
    "last_scheduled_backup",
    "migrations",
    "prepare",
    "record_backup_run",
    "schema_is_current",
    "sqlite_warning",
    "transaction",
    "upgrade",
    "utcnow",
]
