"""One SQLite file, opened through sqlite-utils with the same pragmas everywhere.

A connection belongs to one request at a time (flaskr's `get_db` on `g`) or to one command,
so no connection is ever used by two threads at once or carried across a fork. Between
requests a worker keeps its connections open (`Pool`): a new connection parses the whole
schema on its first statement, which cost more than a whole `/ping` request. Writes that
belong together go through `transaction()`, which queues writers at the `WriteGate` and then
takes the write lock up front (BEGIN IMMEDIATE) so that two writers never deadlock half-way
through.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext
from sqlite_utils import Database

from .migrations import migrations

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
# BEGIN IMMEDIATE waits BUSY_TIMEOUT_MS for the write lock; after that, try this many times more.
LOCK_RETRIES = 2
# SQLite before 3.51.3 has a rare WAL race between concurrent writers (docs/durability.md).
WAL_RACE_FIXED_IN = (3, 51, 3)


def utcnow() -> str:
    """The current time as stored in every table: UTC, `YYYY-MM-DD HH:MM:SS`."""
    return datetime.now(UTC).strftime(TIMESTAMP_FORMAT)


def connect(path: str | Path, *, check_same_thread: bool = True) -> Database:
    """Open the database with WAL, foreign keys, a busy timeout and full fsync on commit.

    `synchronous=FULL`: a wish whose tracking code the patient has been shown must survive
    a power cut, and the volume (hundreds of writes a day) makes the extra fsync free.
    `check_same_thread=False` only for the pool, which hands a connection to one thread at a time.
    """
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=check_same_thread
    )
    db = Database(conn)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    db.write_gate = WriteGate.of(path)
    return db


class WriteGate:
    """Where the app's writers to one database file queue for their turn, before BEGIN IMMEDIATE.

    SQLite's busy timeout makes a writer that finds the lock taken sleep 1, 2, 5, 10 … 100 ms
    between looks, and nothing wakes it when the lock is free: under 20 concurrent patients
    a submission waited up to 0.7 s (p99) for a lock held about a millisecond at a time
    (docs/performance.md). Here the threads of a process queue on a lock that wakes the next one
    at once, and the one at the head takes a file lock (flock) shared with the other gunicorn
    workers, waiting in the kernel, which wakes it when the lock is let go; then BEGIN IMMEDIATE
    almost never waits. Writers that do not pass here (a backup, a shell) still meet SQLite's
    own lock and busy timeout.

    The file lock is waited for without a deadline: it is held only by a writer of this app
    inside `turn`, for one transaction, whose statements are bounded by SQLite's busy timeout,
    and the kernel lets it go when its process ends. Polling it every 0.5 ms instead kept waking
    the waiting worker and cost about a sixth of the wishes posted a second at 20 clients
    (docs/performance.md).

    Writers that can share a transaction go through `together` (group commit): one writer
    runs the work of all those that arrived while the previous transaction was committing, in
    one transaction with one fsync.
    """

    _gates: dict[str, WriteGate] = {}
    _gates_lock = threading.Lock()

    def __init__(self, lock_path: str) -> None:
        self.lock_path = lock_path
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._batch = threading.Condition()
        self._queued: list[_Job] = []
        self._leading = False

    @classmethod
    def of(cls, path: str | Path) -> WriteGate | None:
        """The gate of a database file (one per process), or None for a memory database."""
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            return None
        key = os.path.realpath(path)
        with cls._gates_lock:
            if key not in cls._gates:
                cls._gates[key] = cls(key + ".lock")
            return cls._gates[key]

    @classmethod
    def _forget_all(cls) -> None:
        """After a fork: the child has none of the parent's threads, locks or open files."""
        cls._gates = {}
        cls._gates_lock = threading.Lock()

    def _file(self) -> int | None:
        if self._fd is None:
            try:
                self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:  # a read-only folder: SQLite's own lock still serialises writers
                return None
        return self._fd

    @contextmanager
    def turn(self, timeout: float) -> Iterator[None]:
        if not self._threads.acquire(timeout=timeout):
            raise sqlite3.OperationalError("database is locked (waiting for another writer)")
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # releases the GIL while it waits
            try:
                yield
            finally:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def together(self, db: Database, work: Callable[[Database], T], timeout: float) -> T:
        """`work(db)` committed in one transaction with the work of this process's other
        writers that queued meanwhile.

        The first writer to find no transaction being assembled leads: it takes the gate and
        runs every queued work on its own connection, each inside a savepoint (an error undoes
        that work alone and is raised in its own thread), then commits once. The others wait
        until it has committed: none of them returns before its rows are on disk. Under load,
        one fsync and one gate turn serve every submission that arrived during the last
        commit; alone, a writer leads its own transaction at once.
        """
        job = _Job(work)
        with self._batch:
            self._queued.append(job)
            while self._leading and not job.done:
                self._batch.wait()
            if not job.done:
                self._leading = True
                batch, self._queued = self._queued, []
        if not job.done:
            try:
                self._commit(db, batch, timeout)
            finally:
                with self._batch:
                    self._leading = False
                    self._batch.notify_all()
        if job.error is not None:
            raise job.error
        return job.result

    def _commit(self, db: Database, batch: list[_Job], timeout: float) -> None:
        try:
            with self.turn(timeout):
                self._run(db, batch)
        except BaseException as error:  # nothing was committed: every writer hears why
            for job in batch:
                job.result, job.error = None, job.error or error
            if not isinstance(error, Exception):
                raise
        finally:
            for job in batch:
                job.done = True

    @staticmethod
    def _run(db: Database, batch: list[_Job]) -> None:
        _begin_immediate(db.conn)
        try:
            for job in batch:
                db.conn.execute("SAVEPOINT together")
                try:
                    job.result = job.work(db)
                except Exception as error:  # that work's own: undone, raised to it
                    db.conn.execute("ROLLBACK TO together")
                    job.error = error
                db.conn.execute("RELEASE together")
            db.conn.commit()
        except BaseException:
            db.conn.rollback()
            raise


class _Job:
    """One writer's work waiting for a group commit, and what came of it."""

    __slots__ = ("work", "result", "error", "done")

    def __init__(self, work: Callable[[Database], Any]) -> None:
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False


os.register_at_fork(after_in_child=WriteGate._forget_all)

# How long a writer queues at the gate before giving up as SQLite would have.
GATE_TIMEOUT_SECONDS = BUSY_TIMEOUT_MS / 1000 * (1 + LOCK_RETRIES)


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """Run a group of writes as one transaction holding the write lock from its start."""
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    gate = getattr(db, "write_gate", None)
    with gate.turn(GATE_TIMEOUT_SECONDS) if gate else _no_gate():
        _begin_immediate(db.conn)
        try:
            yield db
        except BaseException:
            db.conn.rollback()
            raise
        else:
            db.conn.commit()


def write_together(db: Database, work: Callable[[Database], T]) -> T:
    """Run `work(db)` in a write transaction, sharing it (and its fsync) with other writers of
    this process that arrive at the same moment: see `WriteGate.together`.

    `work` must use only the connection it is given (another thread's, when that one leads)
    and be safe to run inside a savepoint. Inside an open transaction, or without a gate
    (a memory database), it runs at once in its own.
    """
    gate = getattr(db, "write_gate", None)
    if gate is None or db.conn.in_transaction:
        with transaction(db):
            return work(db)
    return gate.together(db, work, GATE_TIMEOUT_SECONDS)


@contextmanager
def _no_gate() -> Iterator[None]:
    yield


def _begin_immediate(conn: sqlite3.Connection) -> None:
    for attempt in range(LOCK_RETRIES + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == LOCK_RETRIES:
                raise


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


class Pool:
    """Open connections to one database file, each lent to one request at a time.

    A new connection reads and parses the schema (81 tables, indexes and triggers) on its first
    statement: 0.5–0.8 ms, more than a whole `/ping` request costs (docs/performance.md). Kept
    open, a connection costs that once. A connection comes back without a transaction (one
    left open is rolled back), is never shared across a fork (a child starts with an empty
    pool) and is dropped when the file was replaced (`wishes restore`).
    """

    SIZE = 16  # far above a worker's threads: what is over it is closed

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._idle: list[tuple[Database, int]] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _inode(self) -> int | None:
        try:
            return os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    def take(self) -> Database:
        inode = self._inode()
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's connections stay its own
                self._idle, self._pid = [], os.getpid()
            while self._idle:
                db, its_inode = self._idle.pop()
                if its_inode == inode:
                    return db
                db.close()  # the file was replaced since
        db = connect(self.path, check_same_thread=False)
        db.pool_inode = self._inode()
        return db

    def give_back(self, db: Database) -> None:
        if db.conn.in_transaction:
            db.conn.rollback()
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < self.SIZE:
                self._idle.append((db, getattr(db, "pool_inode", None)))
                return
        db.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for db, _inode in idle:
            db.close()


POOL = "wishes.pool"


def get_db() -> Database:
    """The current request's connection, lent by the app's pool on first use."""
    if "db" not in g:
        pool = current_app.extensions.get(POOL)
        g.db = pool.take() if pool else connect(database_path())
    return g.db


def close_db(_error: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is None:
        return
    pool = current_app.extensions.get(POOL)
    if pool:
        pool.give_back(db)
    else:
        db.close()


def upgrade(db: Database) -> list[str]:
    """Apply every pending migration; return the names applied."""
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending


def schema_is_current(db: Database) -> bool:
    return not migrations.pending(db)


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
    app.extensions[POOL] = Pool(database_path(app))
    app.teardown_appcontext(close_db)


def prepare(app: Flask) -> None:
    """Create or upgrade the schema at start, one process at a time (workers start together)."""
    import fcntl

    path = database_path(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with connect(path) as db:
            applied = upgrade(db)
    if applied:
        app.logger.info("database %s: applied %s", path, ", ".join(applied))
