"""What keeps pages flat as the wishes grow from thousands to a million (docs/performance.md).

Each fix found by benchmarks/load.py is held here by what can be asserted without a clock:
the tallies agree with the rows they count, a query plan reads an index range and stops, a
search reads a bounded number of matches, /ping never opens the database.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import numpy
import pytest
from conftest import login, routed_to

from wishes import lifecycle
from wishes.board import store as board
from wishes.dashboard import figures
from wishes.deadlines import Deadlines, overdue_for_navigation
from wishes.lifecycle import Actor, ClaimantKind, WishEntry

STAFF = Actor("staff", "党员小王", None)
BRANCHES = ["pediatrics", "logistics", "catering", "nursing"]


def _submit(db, text="想借一个轮椅", branch="logistics", at=None, confident=True):
    route = routed_to(branch, 0.9 if confident else 0.3, ["轮椅"], confident)
    return lifecycle.submit(db, WishEntry(text=text, channel="phone"), route, branch, at=at)


def _plan(db, sql, params=()) -> list[str]:
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]


def _tallied(db) -> dict[tuple[str, str], int]:
    rows = db.execute("SELECT branch_code, state, n FROM wish_state_counts WHERE n != 0")
    return {(b, s): n for b, s, n in rows.fetchall()}


def _counted(db) -> dict[tuple[str, str], int]:
    rows = db.execute(
        "SELECT coalesce(branch_code, ''), state, count(*) FROM wishes GROUP BY 1, 2"
    ).fetchall()
    return {(b, s): n for b, s, n in rows}


def test_state_tallies_follow_every_move_of_every_wish(db):
    rng = random.Random(7)
    ids = [
        _submit(db, branch=rng.choice(BRANCHES), confident=rng.random() < 0.7)["id"]
        for _ in range(40)
    ]
    for wish_id in ids:
        state = db.execute("SELECT state FROM wishes WHERE id = ?", [wish_id]).fetchone()[0]
        if state == "triage":
            if rng.random() < 0.5:
                continue  # left waiting for triage
            lifecycle.triage(db, wish_id, rng.choice(BRANCHES), STAFF)
        move = rng.choice(["claim", "fulfil", "decline", "reroute", "hand_back", "stay"])
        if move == "stay":
            continue
        if move == "decline":
            lifecycle.decline(db, wish_id, STAFF, "超出服务范围")
            continue
        if move == "reroute":
            row = db.execute("SELECT branch_code FROM wishes WHERE id = ?", [wish_id]).fetchone()
            elsewhere = next(b for b in BRANCHES if b != row[0])
            lifecycle.reroute(db, wish_id, elsewhere, STAFF, "更合适")
            continue
        lifecycle.claim(db, wish_id, STAFF, ClaimantKind.BRANCH, "支部")
        if move == "fulfil":
            lifecycle.fulfil(db, wish_id, STAFF, "已送到")
            lifecycle.follow_up(db, wish_id, STAFF, True)
        elif move == "hand_back":
            lifecycle.hand_back(db, wish_id, STAFF, "人手不够")
    assert _tallied(db) == _counted(db)
    assert len({state for _, state in _counted(db)}) >= 5


def test_the_board_counts_states_from_the_tallies_unless_other_filters_narrow_it(db):
    for i in range(6):
        _submit(db, branch=BRANCHES[i % 2])
    now = datetime.now(UTC)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    for query in (board.BoardQuery(), board.BoardQuery(branch="pediatrics", states=("open",))):
        page = board.board_page(db, query, Deadlines(), now)
        expected = db.execute(
            "SELECT state, count(*) FROM wishes WHERE ? IS NULL OR branch_code = ? GROUP BY 1",
            [query.branch, query.branch],
        ).fetchall()
        assert page.counts == dict(expected)
    assert not [s for s in statements if "GROUP BY w.state" in s]
    statements.clear()
    board.board_page(db, board.BoardQuery(overdue=True), Deadlines(), now)
    assert [s for s in statements if "GROUP BY w.state" in s]  # a filter the tallies lack
    db.conn.set_trace_callback(None)


def test_a_search_reads_the_newest_matches_only_and_says_so(client, db, staff, monkeypatch):
    monkeypatch.setattr(board, "SEARCH_LIMIT", 3)
    start = datetime(2026, 3, 1, 8, tzinfo=UTC)
    codes = [
        _submit(
            db, f"想借一个轮椅 {i}", at=(start + timedelta(hours=i)).strftime("%Y-%m-%d %H:%M:%S")
        )["tracking_code"]
        for i in range(5)
    ]
    page = board.board_page(db, board.BoardQuery(text="轮椅"), Deadlines(), datetime.now(UTC))
    assert page.capped and page.total == 3
    assert [row["tracking_code"] for row in page.rows] == codes[:1:-1]  # the newest three
    few = board.board_page(db, board.BoardQuery(text=codes[0]), Deadlines(), datetime.now(UTC))
    assert not few.capped and [row["tracking_code"] for row in few.rows] == [codes[0]]
    login(client, "manager")
    html = client.get("/board?branch=all&q=轮椅").get_data(as_text=True)
    assert "匹配的心愿超过 3 条" in html


def test_the_search_walks_the_word_index_newest_first_and_stops(db):
    query = board.BoardQuery(text="轮椅 孩子", branch="pediatrics", overdue=True)
    found, params, _ = board.search_found(query, Deadlines(), datetime.now(UTC))
    plan = _plan(db, found + " SELECT id FROM found", params)
    first_scan = next(line for line in plan if line.startswith(("SCAN", "SEARCH")))
    assert first_scan.startswith("SCAN f VIRTUAL TABLE"), plan  # the words, then each wish
    assert "SEARCH w USING INTEGER PRIMARY KEY (rowid=?)" in plan
    assert not [line for line in plan if "TEMP B-TREE FOR ORDER BY" in line], plan


def test_wait_percentiles_read_each_branchs_range_of_days_and_match_numpy(db):
    rng = random.Random(3)
    start = datetime(2026, 3, 2, 2, tzinfo=UTC)
    claims: dict[str, list[int]] = {}
    for i in range(60):
        branch = BRANCHES[i % 3]
        created = start + timedelta(hours=i)
        wish = _submit(db, branch=branch, at=created.strftime("%Y-%m-%d %H:%M:%S"))
        minutes = rng.randint(5, 3000)
        claims.setdefault(branch, []).append(minutes)
        claimed = (created + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")
        lifecycle.claim(db, wish["id"], STAFF, ClaimantKind.BRANCH, "支部", at=claimed)
    filters = figures.Filters(date(2026, 3, 1), date(2026, 3, 31), "week", None, None, 1)
    waits = figures._wish_figures(db, filters).waits["claim_minutes"]
    for branch, minutes in claims.items():
        for name, p in (("median", 50), ("p90", 90)):
            assert waits[branch][name] == pytest.approx(numpy.percentile(minutes, p) / 60)
    every = [m for found in claims.values() for m in found]
    assert waits[figures.HOSPITAL]["p90"] == pytest.approx(numpy.percentile(every, 90) / 60)


def test_the_wish_figures_read_each_branchs_range_once_in_day_order(app, db):
    """Counts, totals, trend and waits: one seek per branch to its range of days on a covering
    index, read in day order (no sort, no table look-up), and nothing else reads the wishes."""
    _submit(db, at="2026-03-02 02:00:00")
    filters = figures.Filters(date(2026, 1, 1), date(2026, 12, 31), "month", "ward-a", None, 1)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    with app.test_request_context():  # computed once per request
        figures.wish_trend(db, filters)
        figures.wish_totals(db, filters)
    db.conn.set_trace_callback(None)
    branches = db.execute("SELECT count(*) FROM branches").fetchone()[0]
    reads = [s for s in statements if "FROM wishes" in s]
    assert len(reads) == branches + 1  # every branch, and the wishes without one
    for sql in reads:
        plan = _plan(db, sql)
        assert plan == [
            "SEARCH wishes USING COVERING INDEX idx_wishes_branch_code_local_day_figures "
            + ("(branch_code=? AND local_day>? AND local_day<?)")
        ], plan


def test_ping_answers_without_opening_the_database(app, monkeypatch):
    import wishes.storage

    def refuse(*args, **kwargs):
        raise AssertionError("/ping opened the database")

    monkeypatch.setattr(wishes.storage, "connect", refuse)
    answer = app.test_client().get("/ping")
    assert answer.status_code == 200 and answer.get_data(as_text=True) == "ok"


def test_the_navigations_overdue_counts_are_reused_until_a_wish_changes_or_a_minute_passes(db):
    long_ago = (datetime.now(UTC) - timedelta(hours=30)).strftime("%Y-%m-%d %H:%M:%S")
    first = _submit(db, branch="pediatrics", at=long_ago)
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(seconds=1)
    limits = Deadlines()
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)

    def counted(at):
        statements.clear()
        counts = overdue_for_navigation(db, limits, at)
        return counts, any("GROUP BY 1" in s for s in statements)

    assert counted(now) == ({"pediatrics": 1}, True)
    assert counted(now + timedelta(seconds=30)) == ({"pediatrics": 1}, False)  # reused
    _submit(db, branch="logistics", at=long_ago)  # a change: its events are new
    assert counted(now + timedelta(seconds=40)) == ({"pediatrics": 1, "logistics": 1}, True)
    lifecycle.claim(db, first["id"], STAFF, ClaimantKind.BRANCH, "支部")
    assert counted(now + timedelta(seconds=45)) == ({"logistics": 1}, True)
    assert counted(now + timedelta(seconds=55))[1] is False
    assert counted(now + timedelta(minutes=1))[1] is True  # the minute turned
    db.conn.set_trace_callback(None)


def test_a_notification_round_takes_the_write_lock_only_for_new_reminders(db):
    from wishes.notifications.worker import queue_overdue

    long_ago = (datetime.now(UTC) - timedelta(hours=30)).strftime("%Y-%m-%d %H:%M:%S")
    for branch in BRANCHES:
        _submit(db, branch=branch, at=long_ago)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    assert queue_overdue(db, Deadlines(), datetime.now(UTC)) == len(BRANCHES)
    assert "BEGIN IMMEDIATE" in statements
    statements.clear()
    assert queue_overdue(db, Deadlines(), datetime.now(UTC)) == 0  # all reminded already
    assert "BEGIN IMMEDIATE" not in statements
    db.conn.set_trace_callback(None)
