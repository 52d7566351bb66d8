"""`wishes backup` and `wishes restore`: a consistent copy of the live database, and its return.

A backup is taken with SQLite's online backup API in one step: the copy is one read transaction,
so it is the database as of one commit, however many requests write meanwhile (in WAL mode a
reader never blocks a writer). The copy is written beside its destination under a temporary
name, checked with `PRAGMA integrity_check`, made a single self-contained file (rollback journal,
no `-wal` beside it) and renamed into place.

A restore checks that the file is a database of this app, copies and upgrades it beside the live
database, keeps the live one as `wishes.db.before-restore-<UTC timestamp>` and renames the copy
over it. It is meant for a stopped server; see `docs/durability.md` for how a running one is
detected.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import sqlite3
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlite_utils import Database

from .. import audit
from . import BUSY_TIMEOUT_MS, connect, database_path, upgrade
from .migrations import migrations

SQLITE_HEADER = b"SQLite format 3\x00"
# Files SQLite keeps beside a database. A leftover `-wal` or `-journal` beside a *different*
# database file is replayed into it on the next open and corrupts it, so they go with the file.
SIDECARS = ("-wal", "-shm", "-journal")
MIGRATION_SET = migrations.name
# The lock `storage.prepare` holds while a starting server migrates: a restore holds it too.
MIGRATE_LOCK = ".migrate.lock"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message tells the operator why."""


@dataclass(frozen=True)
class Snapshot:
    """What a database file holds: its size, rows per table and applied migrations."""

    path: Path
    size: int
    row_counts: dict[str, int]
    migrations: list[str]
    seconds: float = 0.0


@dataclass(frozen=True)
class RestoreReport:
    restored: Snapshot
    upgraded_with: list[str]
    kept: Path | None
    warnings: list[str] = field(default_factory=list)


# ---- inspecting a database ------------------------------------------------------------------


def our_migrations() -> list[str]:
    """The names of this version's migrations, in order."""
    with Database(memory=True) as empty:
        return [m.name for m in migrations.pending(empty)]


def row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows in each ordinary table, in creation order (FTS tables and bookkeeping left out)."""
    tables = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY rowid"
    ).fetchall()
    virtual = [name for name, sql in tables if (sql or "").upper().startswith("CREATE VIRTUAL")]
    counts = {}
    for name, _sql in tables:
        if name == migrations.migrations_table or any(
            name == v or name.startswith(f"{v}_") for v in virtual
        ):
            continue
        quoted = name.replace('"', '""')
        counts[name] = conn.execute(f'SELECT count(*) FROM "{quoted}"').fetchone()[0]
    return counts


def applied_migrations(conn: sqlite3.Connection) -> list[str] | None:
    """Our migrations applied to this database, in order; None without a migrations table."""
    table = migrations.migrations_table
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
    ).fetchone():
        return None
    rows = conn.execute(
        f"SELECT name FROM {table} WHERE migration_set = ? ORDER BY rowid", [MIGRATION_SET]
    )
    return [name for (name,) in rows]


def check_integrity(conn: sqlite3.Connection, what: str) -> None:
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as error:  # too damaged to be checked at all
        problems = [str(error)]
    if problems != ["ok"]:
        raise BackupError(f"{what} fails PRAGMA integrity_check: " + "; ".join(problems[:5]))


def _snapshot(conn: sqlite3.Connection, path: Path, seconds: float = 0.0) -> Snapshot:
    return Snapshot(
        path, path.stat().st_size, row_counts(conn), applied_migrations(conn) or [], seconds
    )


@contextlib.contextmanager
def _open(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    """A plain connection (no pragma that writes) with the app's busy timeout."""
    if read_only:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000
        )
    else:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        yield conn
    finally:
        conn.close()


def inspect_backup(path: Path) -> Snapshot:
    """Check that PATH is an intact database of this app that this version can upgrade."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    with open(path, "rb") as handle:
        if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{path} is not a SQLite database")
    try:
        with _open(path, read_only=True) as conn:
            check_integrity(conn, str(path))
            applied = applied_migrations(conn)
            if not applied:
                raise BackupError(
                    f"{path} is not a database of this app (no {MIGRATION_SET!r} migrations in "
                    f"{migrations.migrations_table})"
                )
            ours = our_migrations()
            if applied != ours[: len(applied)]:
                unknown = [name for name in applied if name not in ours]
                raise BackupError(
                    f"{path} has migrations this version does not have "
                    f"({', '.join(unknown) or 'in another order'}): "
                    "it was made by another (newer?) version of the app"
                )
            return _snapshot(conn, path)
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} cannot be read as a SQLite database: {error}") from error


# ---- files ------------------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_sidecars(path: Path) -> None:
    for suffix in SIDECARS:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _temporary_beside(path: Path, suffix: str) -> Path:
    """An empty file in PATH's folder (so that a rename onto PATH is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)
    _remove_sidecars(path)


def _place(temporary: Path, target: Path, *, overwrite: bool) -> None:
    """Rename TEMPORARY to TARGET atomically; without OVERWRITE never replace an existing file."""
    if overwrite:
        # A -wal or -journal left beside the old file would be replayed into the new one.
        _remove_sidecars(target)
        os.replace(temporary, target)
    else:
        try:
            os.link(temporary, target)  # fails if TARGET exists, even if made a moment ago
        except FileExistsError:
            raise BackupError(f"{target} exists: pass --force to overwrite it") from None
        except OSError:  # a file system without hard links
            if target.exists():
                raise BackupError(f"{target} exists: pass --force to overwrite it") from None
            os.replace(temporary, target)
        else:
            temporary.unlink()
    _fsync(target.parent)


def _copy_database(source: sqlite3.Connection, temporary: Path) -> sqlite3.Connection:
    """Copy SOURCE into TEMPORARY in one step (one consistent snapshot); return the copy open."""
    copy = sqlite3.connect(temporary)
    try:
        source.backup(copy)  # pages=-1: every page within one read transaction
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
    except BaseException:
        copy.close()
        raise
    return copy


# ---- backup -----------------------------------------------------------------------------------


def backup_database(source: Path, target: Path, *, force: bool = False) -> Snapshot:
    """Copy the database at SOURCE to TARGET, consistently, while it may be in use."""
    started = time.perf_counter()
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if target.is_dir():
        raise BackupError(f"{target} is a folder: give the backup file's name")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such folder")
    if target.exists():
        if not force:
            raise BackupError(f"{target} exists: pass --force to overwrite it")
        if target.samefile(source):
            raise BackupError(f"{target} is the live database")
    temporary = _temporary_beside(target, ".tmp")
    try:
        with _open(source) as live:
            copy = _copy_database(live, temporary)
        try:
            check_integrity(copy, "the copy")
            snapshot = _snapshot(copy, temporary)
        finally:
            copy.close()
        _fsync(temporary)
        _place(temporary, target, overwrite=force)
    except sqlite3.Error as error:
        raise BackupError(f"backup of {source} failed: {error}") from error
    finally:
        _discard(temporary)
    return Snapshot(
        target,
        target.stat().st_size,
        snapshot.row_counts,
        snapshot.migrations,
        time.perf_counter() - started,
    )


# ---- restore ----------------------------------------------------------------------------------


def server_signs(database: Path, bind: str) -> list[str]:
    """Reasons to think a server is using DATABASE (empty when none is seen).

    Two looks, both cheap and both only hints: whether anything accepts a connection at
    WISHES_BIND, and (on Linux) whether another process has the database or its -wal/-shm open.
    """
    signs = []
    if _accepts_connections(bind):
        signs.append(f"something accepts connections at {bind} (WISHES_BIND)")
    for pid, name in _processes_holding(database):
        signs.append(f"process {pid} ({name}) has {database.name} open")
    return signs


def _accepts_connections(bind: str) -> bool:
    try:
        if bind.startswith("unix:"):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(0.5)
                sock.connect(bind[len("unix:") :])
            return True
        host, _, port = bind.rpartition(":")
        host = host.strip("[]")
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


def _processes_holding(database: Path) -> list[tuple[int, str]]:
    names = {str(database.resolve()) + suffix for suffix in ("", "-wal", "-shm")}
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        pid = int(fd_dir.parent.name)
        if pid == os.getpid():
            continue
        try:
            if any(os.readlink(fd) in names for fd in fd_dir.iterdir()):
                comm = (fd_dir.parent / "comm").read_text().strip()
                found.append((pid, comm))
        except OSError:  # gone, or another user's process
            continue
    return found


def _same_owner_and_mode(path: Path, like: Path) -> None:
    """Give PATH LIKE's permissions (and owner, when allowed) so the server can still open it."""
    status = like.stat()
    os.chmod(path, stat.S_IMODE(status.st_mode))
    with contextlib.suppress(PermissionError):
        os.chown(path, status.st_uid, status.st_gid)


@contextlib.contextmanager
def _migrate_lock(database: Path) -> Iterator[None]:
    """Hold the lock a starting server takes to migrate, so none starts half-way through."""
    with open(database.parent / MIGRATE_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _keep_current(database: Path, stamp: str) -> tuple[Path, list[str]]:
    """Copy the live database aside; a damaged one is copied byte for byte with its -wal."""
    kept = database.with_name(f"{database.name}.before-restore-{stamp}")
    for n in range(2, 100):
        if not kept.exists():
            break
        kept = database.with_name(f"{database.name}.before-restore-{stamp}-{n}")
    try:
        backup_database(database, kept)
        return kept, []
    except BackupError as error:
        shutil.copy2(database, kept)
        wal = Path(f"{database}-wal")
        if wal.exists() and wal.stat().st_size:
            shutil.copy2(wal, f"{kept}-wal")
        return kept, [
            f"the current database could not be copied cleanly ({error}): "
            f"kept its files as they were"
        ]


def restore_database(
    backup: Path, database: Path, *, inspected: bool = False, now: datetime | None = None
) -> RestoreReport:
    """Replace DATABASE with the backup at BACKUP (upgraded), keeping the current one aside.

    INSPECTED: the caller has just checked BACKUP with `inspect_backup` (which reads every page).
    """
    started = time.perf_counter()
    if not inspected:
        inspect_backup(backup)
    if database.exists() and database.samefile(backup):
        raise BackupError(f"{backup} is the live database")
    database.parent.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    temporary = _temporary_beside(database, ".restore")
    try:
        with _open(backup, read_only=True) as source:
            _copy_database(source, temporary).close()
        with connect(temporary) as db:  # the app's own connection: WAL, foreign keys
            upgraded_with = upgrade(db)
            db.execute("PRAGMA journal_mode=DELETE")
            if upgraded_with:
                check_integrity(db.conn, "the upgraded copy")
            restored = _snapshot(db.conn, temporary)
        _fsync(temporary)
        with _migrate_lock(database):
            kept, warnings = None, list[str]()
            if database.exists():
                _same_owner_and_mode(temporary, database)
                kept, warnings = _keep_current(database, stamp)
            # The live -wal belongs to the old file (its contents are in the kept copy): it must
            # not be replayed into the restored one.
            _place(temporary, database, overwrite=True)
    except sqlite3.Error as error:
        raise BackupError(f"restore from {backup} failed: {error}") from error
    finally:
        _discard(temporary)
    snapshot = Snapshot(
        database,
        database.stat().st_size,
        restored.row_counts,
        restored.migrations,
        time.perf_counter() - started,
    )
    return RestoreReport(snapshot, upgraded_with, kept, warnings)


# ---- commands ---------------------------------------------------------------------------------


def _size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB ({size:,} bytes)"


def _counts(snapshot: Snapshot) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in snapshot.row_counts.items())


def _refuse_if_served(database: Path, force: bool) -> None:
    signs = server_signs(database, current_app.config["WISHES_BIND"])
    if signs and not force:
        raise click.ClickException(
            "a server seems to be using the database: "
            + "; ".join(signs)
            + ". Stop `wishes serve` and try again (or pass --force if you are sure)."
        )


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@with_appcontext
def backup_command(path: Path, force: bool) -> None:
    """Copy the live database to PATH, consistently, while the server runs."""
    try:
        snapshot = backup_database(database_path(), path, force=force)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"backed up {database_path()} to {path}: {_size(snapshot.size)} "
        f"in {snapshot.seconds:.2f} s; integrity_check ok"
    )
    click.echo(f"  rows: {_counts(snapshot)}")
    click.echo(f"  schema: {len(snapshot.migrations)} migrations, last {snapshot.migrations[-1]}")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Restore even though a server seems to be running.")
@with_appcontext
def restore_command(path: Path, yes: bool, force: bool) -> None:
    """Replace the database with the backup at PATH; the current one is kept beside it.

    Stop `wishes serve` first.
    """
    database = database_path()
    _refuse_if_served(database, force)
    try:
        incoming = inspect_backup(path)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"{path}: {_size(incoming.size)}, integrity_check ok, "
        f"{len(incoming.migrations)} of {len(our_migrations())} migrations"
    )
    click.echo(f"  rows: {_counts(incoming)}")
    if not yes:
        click.confirm(
            f"Replace {database} with it? (the current one is kept beside it)", abort=True
        )
        _refuse_if_served(database, force)  # again: the question may have waited a while
    try:
        report = restore_database(path, database, inspected=True)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if report.kept:
        click.echo(f"kept the previous database as {report.kept}")
    if report.upgraded_with:
        click.echo(f"upgraded with {', '.join(report.upgraded_with)}")
    with connect(database) as restored:
        # Recorded in the restored database, whose own history now continues from the backup.
        audit.record(
            restored,
            "database_restored",
            audit.Who(label="wishes restore"),
            subject_kind="backup",
            subject_id=str(path),
            detail={"kept": str(report.kept or "")},
        )
    click.echo(f"restored {path} to {database} in {report.restored.seconds:.2f} s")


COMMANDS = (backup_command, restore_command)
