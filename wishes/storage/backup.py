"""`wishes backup` and `wishes restore`: a consistent copy of the live data, and its return.

A full backup (`backup_archive`, a .tar) holds the database copied as below, the files the app
keeps beside it (fulfilment photos, assessment evidence: FILE_FOLDERS) and a manifest of their
checksums; a restore from one checks every file and puts the folders back too. A bare database
file (`backup_database`) is still made and restored as before.

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
import dataclasses
import fcntl
import hashlib
import io
import json
import os
import shutil
import socket
import sqlite3
import stat
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlite_utils import Database

from .. import audit, privacy
from . import BUSY_TIMEOUT_MS, connect, database_path, record_backup_run, upgrade, utcnow
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


# ---- full backups: the database and the files beside it -------------------------------------

# The folders of WISHES_DATA_DIR holding what the app keeps outside the database: fulfilment
# photos (the board) and assessment evidence (the assessment), each a flat folder of files
# under random names that the database points at. Everything else there is made again
# (jieba-cache), short-lived (uploads/, setup-workbook) or left out on purpose (secret_key).
FILE_FOLDERS = ("photos", "attachments")
ARCHIVE_SUFFIX = ".tar"
ARCHIVE_DATABASE = "wishes.db"
MANIFEST = "manifest.json"
ARCHIVE_FORMAT = 1


@dataclass(frozen=True)
class Archive:
    """A full backup: one tar file holding the database's snapshot, the files and a manifest."""

    path: Path
    size: int
    database: Snapshot
    files: int
    seconds: float = 0.0


@dataclass(frozen=True)
class Unpacked:
    """A full backup checked and unpacked into a folder beside the live data."""

    folder: Path
    database: Snapshot
    files: int
    made_at: str


def is_archive(path: Path) -> bool:
    """A full backup (a tar file) rather than a bare database file."""
    with open(path, "rb") as handle:
        if handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER:
            return False
    return tarfile.is_tarfile(path)


def kept_files(data_dir: Path) -> list[tuple[str, Path]]:
    """(name in the archive, path) of each file of FILE_FOLDERS, folder by folder."""
    found = []
    for folder in FILE_FOLDERS:
        root = data_dir / folder
        if root.is_dir():
            found += [
                (f"{folder}/{path.name}", path)
                for path in sorted(root.iterdir())
                if path.is_file() and not path.is_symlink()
            ]
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
    tar.addfile(info, io.BytesIO(data))


def backup_archive(data_dir: Path, target: Path, *, force: bool = False) -> Archive:
    """Write a full backup of DATA_DIR to TARGET: the database as of one commit (as
    `backup_database` copies it), then every file of FILE_FOLDERS, then a manifest listing
    them with their sizes and SHA-256. A file that appears after the database was copied may
    be in the archive without a row pointing at it; that does no harm."""
    started = time.perf_counter()
    if target.is_dir():
        raise BackupError(f"{target} is a folder: give the backup file's name")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such folder")
    if target.exists() and not force:
        raise BackupError(f"{target} exists: pass --force to overwrite it")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    temporary = _temporary_beside(target, ".tmp")
    try:
        database = backup_database(data_dir / ARCHIVE_DATABASE, staging / ARCHIVE_DATABASE)
        listed = []
        with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(database.path, arcname=ARCHIVE_DATABASE)
            for name, path in kept_files(data_dir):
                try:
                    digest = _sha256(path)
                    info = tar.gettarinfo(path, arcname=name)
                    with open(path, "rb") as handle:
                        tar.addfile(info, handle)
                except FileNotFoundError:  # removed since it was listed
                    continue
                listed.append({"name": name, "size": info.size, "sha256": digest})
            manifest = {
                "app": MIGRATION_SET,
                "format": ARCHIVE_FORMAT,
                "made_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                "migrations": database.migrations,
                "rows": database.row_counts,
                "files": listed,
            }
            _add_bytes(tar, MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode())
        _fsync(temporary)
        _place(temporary, target, overwrite=force)
    except (OSError, tarfile.TarError) as error:
        raise BackupError(f"backup to {target} failed: {error}") from error
    finally:
        _discard(temporary)
        shutil.rmtree(staging, ignore_errors=True)
    return Archive(
        target,
        target.stat().st_size,
        dataclasses.replace(database, path=target),
        len(listed),
        time.perf_counter() - started,
    )


def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Why an archive member is not one a backup of this app holds (None: it is)."""
    if not member.isfile():
        return "not a plain file"
    if member.name in (ARCHIVE_DATABASE, MANIFEST):
        return None
    folder, _, name = member.name.partition("/")
    if folder not in FILE_FOLDERS or not name or "/" in name or name.startswith("."):
        return "not a file this app keeps"
    return None


@contextlib.contextmanager
def unpacked_archive(archive: Path, data_dir: Path) -> Iterator[Unpacked]:
    """Check that ARCHIVE is a full backup of this app and unpack it into a folder in DATA_DIR
    (so that its folders can be renamed into place); the folder is removed afterwards."""
    data_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    try:
        try:
            with tarfile.open(archive, "r:") as tar:
                members = tar.getmembers()
                for member in members:
                    if problem := _member_problem(member):
                        raise BackupError(f"{archive}: {member.name!r}: {problem}")
                names = {member.name for member in members}
                if not {ARCHIVE_DATABASE, MANIFEST} <= names:
                    raise BackupError(f"{archive} is not a backup of this app (no {MANIFEST})")
                tar.extractall(folder, filter="data")
        except (tarfile.TarError, OSError) as error:
            raise BackupError(f"{archive} cannot be read as a backup: {error}") from error
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            listed = {entry["name"]: entry for entry in manifest["files"]}
            made_at = str(manifest["made_at"])
        except (ValueError, KeyError, TypeError) as error:
            raise BackupError(f"{archive}: its {MANIFEST} cannot be read ({error})") from None
        if manifest.get("app") != MIGRATION_SET:
            raise BackupError(f"{archive} is not a backup of this app")
        files = names - {ARCHIVE_DATABASE, MANIFEST}
        if files != set(listed):
            raise BackupError(f"{archive}: its files are not the ones its {MANIFEST} lists")
        for name in sorted(files):
            if _sha256(folder / name) != listed[name]["sha256"]:
                raise BackupError(f"{archive}: {name} is damaged (its SHA-256 differs)")
        database = inspect_backup(folder / ARCHIVE_DATABASE)
        yield Unpacked(folder, database, len(files), made_at)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def restore_files(unpacked: Unpacked, data_dir: Path, stamp: str) -> list[Path]:
    """Put the archive's folders in place of the live ones, keeping each live folder that
    holds anything as `<folder>.before-restore-<stamp>`; return those kept."""
    kept = []
    for folder in FILE_FOLDERS:
        live, incoming = data_dir / folder, unpacked.folder / folder
        incoming.mkdir(exist_ok=True)  # the backup had none: the restored data has none
        if live.is_dir() and not any(live.iterdir()):
            live.rmdir()
        elif live.exists():
            aside = data_dir / f"{folder}.before-restore-{stamp}"
            for n in range(2, 100):
                if not aside.exists():
                    break
                aside = data_dir / f"{folder}.before-restore-{stamp}-{n}"
            os.rename(live, aside)
            kept.append(aside)
        os.rename(incoming, live)
    _fsync(data_dir)
    return kept


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


# ---- the record of backups -------------------------------------------------------------------


def archive_name(now: datetime) -> str:
    """A full backup's file name, by its UTC time so that the names sort in time order."""
    return now.astimezone(UTC).strftime("wishes-%Y%m%d-%H%M%S.tar")


def run_row(
    trigger: str,
    started_at: str,
    path: Path,
    *,
    archive: Archive | None = None,
    size: int | None = None,
    error: str = "",
    removed: int = 0,
) -> dict[str, Any]:
    """One row of `backup_runs`: made (ARCHIVE, or SIZE of a database-only copy) or failed."""
    made = archive is not None or size is not None
    return {
        "started_at": started_at,
        "finished_at": utcnow(),
        "trigger": trigger,
        "path": str(path),
        "size": archive.size if archive else size,
        "files": archive.files if archive else None,
        "outcome": "ok" if made else "failed",
        "error": error[:500],
        "removed": removed,
    }


def _files_note(data_dir: Path) -> str:
    count = len(kept_files(data_dir))
    return (
        f"  not in this file: {count:,} photos and evidence files ({', '.join(FILE_FOLDERS)}/ in "
        f"{data_dir}); a PATH ending in {ARCHIVE_SUFFIX}, or a folder, holds them too"
    )


def _record(trigger: str, started_at: str, path: Path, **outcome: Any) -> None:
    with connect(database_path()) as db:
        record_backup_run(db, run_row(trigger, started_at, path, **outcome))


@click.command("backup")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@with_appcontext
def backup_command(path: Path, force: bool) -> None:
    """Back up the live database, consistently, while the server runs.

    PATH ending in .tar: a full backup, the database with the photos and evidence files (what
    `wishes restore` needs to bring everything back). PATH a folder: the same, as
    wishes-<UTC time>.tar in it. Any other PATH: the database alone, as one SQLite file.
    """
    data_dir = Path(current_app.config["WISHES_DATA_DIR"])
    started_at = utcnow()
    if path.is_dir():
        path = path / archive_name(datetime.now(UTC))
    try:
        if path.name.endswith(ARCHIVE_SUFFIX):
            archive = backup_archive(data_dir, path, force=force)
            snapshot = archive.database
        else:
            snapshot = backup_database(database_path(), path, force=force)
    except BackupError as error:
        _record("command", started_at, path, error=str(error))
        raise click.ClickException(str(error)) from None
    if path.name.endswith(ARCHIVE_SUFFIX):
        _record("command", started_at, path, archive=archive)
        click.echo(
            f"backed up {data_dir} to {path}: {_size(archive.size)} in {archive.seconds:.2f} s; "
            f"database integrity_check ok; {archive.files:,} photos and evidence files"
        )
    else:
        _record("command", started_at, path, size=snapshot.size)
        click.echo(
            f"backed up {database_path()} to {path}: {_size(snapshot.size)} "
            f"in {snapshot.seconds:.2f} s; integrity_check ok"
        )
    click.echo(f"  rows: {_counts(snapshot)}")
    click.echo(f"  schema: {len(snapshot.migrations)} migrations, last {snapshot.migrations[-1]}")
    if not path.name.endswith(ARCHIVE_SUFFIX):
        click.echo(_files_note(data_dir))


def _confirm(database: Path, force: bool) -> None:
    click.confirm(f"Replace {database} with it? (the current one is kept beside it)", abort=True)
    _refuse_if_served(database, force)  # again: the question may have waited a while


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Restore even though a server seems to be running.")
@with_appcontext
def restore_command(path: Path, yes: bool, force: bool) -> None:
    """Replace the database with the backup at PATH; the current one is kept beside it.

    A full backup (.tar) brings back the photos and evidence files too; the current folders
    are kept beside them. Stop `wishes serve` first.
    """
    database = database_path()
    data_dir = database.parent
    _refuse_if_served(database, force)
    now = datetime.now(UTC)
    try:
        if is_archive(path):
            with unpacked_archive(path, data_dir) as unpacked:
                _show(
                    path,
                    unpacked.database,
                    f"; made {unpacked.made_at} UTC; {unpacked.files:,} photos and evidence files",
                )
                if not yes:
                    _confirm(database, force)
                report = restore_database(unpacked.database.path, database, inspected=True, now=now)
                kept_folders = restore_files(unpacked, data_dir, now.strftime("%Y%m%d-%H%M%S"))
        else:
            incoming = inspect_backup(path)
            _show(path, incoming, "")
            if not yes:
                _confirm(database, force)
            report = restore_database(path, database, inspected=True, now=now)
            kept_folders = None
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if report.kept:
        click.echo(f"kept the previous database as {report.kept}")
    if report.upgraded_with:
        click.echo(f"upgraded with {', '.join(report.upgraded_with)}")
    for folder in kept_folders or ():
        click.echo(f"kept the previous files as {folder}")
    if kept_folders is None:
        click.echo(
            f"photos and evidence files ({', '.join(FILE_FOLDERS)}/ in {data_dir}) left as they "
            "were: this backup is a database file only"
        )
    actor = audit.Who(label="wishes restore")
    with connect(database) as restored:
        # Recorded in the restored database, whose own history now continues from the backup.
        audit.record(
            restored,
            "database_restored",
            actor,
            subject_kind="backup",
            subject_id=str(path),
            detail={"kept": str(report.kept or "")},
        )
        if report.kept:
            # A patient's request to erase their data outlives the backup that still holds it.
            again = 0
            try:
                with _open(report.kept, read_only=True) as kept:
                    again = privacy.erase_requested_again(restored, Database(kept), actor)
            except sqlite3.Error as error:
                click.echo(
                    f"warning: the previous database's audit log cannot be read ({error}): "
                    "make again by hand the erasures patients asked for since this backup",
                    err=True,
                )
            if again:
                click.echo(
                    f"erased again the name and phone of {again} wish(es) whose patients asked "
                    "for it after this backup was made (audited)"
                )
    click.echo(f"restored {path} to {database} in {report.restored.seconds:.2f} s")


def _show(path: Path, incoming: Snapshot, more: str) -> None:
    click.echo(
        f"{path}: {_size(path.stat().st_size)}, integrity_check ok, "
        f"{len(incoming.migrations)} of {len(our_migrations())} migrations{more}"
    )
    click.echo(f"  rows: {_counts(incoming)}")


COMMANDS = (backup_command, restore_command)
