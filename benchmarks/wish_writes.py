"""How many wishes a second the database itself takes: the write path alone, without HTTP.

`benchmarks/load.py` measures wishes posted to the production server against its bare `/ping`
route. This measures the part of a submission that cannot run in parallel: storing the wish
(`lifecycle.submit`: the row, its search index and tallies through the schema's triggers, its
two events and its notification, committed with `synchronous=FULL`), one writer at a time at
the write gate. Nothing else runs: the wishes are routed before the clock starts, no page is
rendered, no request parsed.

It copies a fill of `benchmarks/load.py` (kept under --data-root/w<N>) and stores wishes for
half of --seconds untimed (the fill's bulk-built indexes have full pages that the first wishes
split). Then, for --seconds each, --processes processes × --threads threads (the server's
default: 2 workers × 4 threads), each thread with its own connection, submit wishes back to
back, in four ways:

- `together`: as the app stores them (`storage.write_together`: writers that queue while a
  transaction commits share the next one);
- `one by one`: each wish in its own transaction (the app before group commit);
- `one thread`: a single writer, no contention: the cost of one wish's transaction;
- `no fsync`: as `together` but at `synchronous=NORMAL`, which the app does not do (a wish
  whose code the patient was shown must survive a power cut): what durability costs.

It prints wishes per second for each (after checking that as many wishes were stored as were
submitted), and the best rate as a share of the `/ping` rate of the last `load.py` run of the
same size, if there is one (of the durable ways only).

    .venv/bin/python benchmarks/wish_writes.py [--wishes 100000] [--data-root /tmp/perf-data]
        [--processes 2] [--threads 4] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

from load import RESULT, copy_data

from wishes import create_app, lifecycle, storage
from wishes.storage import connect


def decisions(data_dir: Path, count: int = 200) -> list[tuple[lifecycle.WishEntry, object]]:
    """Wishes from the corpus, routed by the bundled router before any clock starts."""
    from board import read_corpus

    os.environ["WISHES_DATA_DIR"] = str(data_dir)
    app = create_app()
    texts = [text for text, _label in read_corpus()]
    picked = random.Random(0).sample(texts, count)
    with app.app_context():
        from wishes import routing

        return [
            (lifecycle.WishEntry(text=text, channel="phone", location="3 床"), routing.route(text))
            for text in picked
        ]


@contextmanager
def one_by_one():
    """Each wish in a transaction of its own, as before group commit."""
    original = lifecycle.write_together

    def alone(db, work):
        with storage.transaction(db):
            return work(db)

    lifecycle.write_together = alone
    try:
        yield
    finally:
        lifecycle.write_together = original


def writer_process(
    db_path: Path, wishes, threads: int, seconds: float, alone: bool, relaxed: bool, out
) -> None:
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def run(number: int) -> None:
        db = connect(db_path, check_same_thread=False)
        if relaxed:
            db.execute("PRAGMA synchronous=NORMAL")  # not what the app does: no fsync a commit
        rng = random.Random(number)
        start.wait()
        while time.monotonic() < stop_at[0]:
            entry, route = rng.choice(wishes)
            lifecycle.submit(db, entry, route)
            counts[number] += 1
        db.close()

    with one_by_one() if alone else nullcontext():
        workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        stop_at[0] = time.monotonic() + seconds
        start.wait()
        for worker in workers:
            worker.join()
    out.put(sum(counts))


def measure(
    db_path: Path, wishes, processes: int, threads: int, seconds: float, alone: bool, relaxed: bool
) -> float:
    with connect(db_path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = db.execute("SELECT count(*) FROM wishes").fetchone()[0]
    out = multiprocessing.Queue()
    started = time.perf_counter()
    children = [
        multiprocessing.Process(
            target=writer_process,
            args=(db_path, wishes, threads, seconds, alone, relaxed, out),
        )
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    total = sum(out.get() for _ in children)
    for child in children:
        child.join()
    elapsed = time.perf_counter() - started
    with connect(db_path) as db:
        stored = db.execute("SELECT count(*) FROM wishes").fetchone()[0] - before
    if stored != total:
        raise SystemExit(f"{total} submissions returned but {stored} wishes stored")
    return total / min(elapsed, seconds + 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wishes", type=int, default=100000, help="which load.py fill")
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/perf-data"))
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    source = args.data_root / f"w{args.wishes}"
    if not (source / "wishes.db").exists():
        raise SystemExit(f"no fill at {source}: run benchmarks/load.py --wishes {args.wishes}")
    run_dir = args.data_root / "writes"
    copy_data(source, run_dir)
    wishes = decisions(run_dir)
    db_path = run_dir / "wishes.db"
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; fill of {args.wishes:,}")
    # The fill's indexes were built in bulk, their pages packed full: the first few thousand
    # wishes split pages that a hospital's own database, grown one wish at a time, has room in.
    measure(db_path, wishes, args.processes, args.threads, args.seconds / 2, False, False)
    rows = []
    for name, processes, threads, alone, relaxed in (
        ("together", args.processes, args.threads, False, False),
        ("one by one", args.processes, args.threads, True, False),
        ("one thread", 1, 1, True, False),
        ("no fsync", args.processes, args.threads, False, True),
    ):
        rate = measure(db_path, wishes, processes, threads, args.seconds, alone, relaxed)
        if not relaxed:
            rows.append((name, rate))
        print(
            f"  {name:<11} {processes} × {threads}: {rate:7.0f} wishes/s, "
            f"{1000 / rate * processes * threads:5.2f} ms a wish per writer",
            flush=True,
        )
    result = args.data_root / f"{RESULT[:-5]}-w{args.wishes}.json"
    if result.exists():
        ping = json.loads(result.read_text(encoding="utf-8"))["throughput"]["ping"]["per_second"]
        best = max(rate for _name, rate in rows)
        print(
            f"  best: {best:.0f} wishes/s = {best / ping:.1%} of the {ping:,.0f} /ping/s "
            f"of the last load.py run at this size"
        )
    print(f"  load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
