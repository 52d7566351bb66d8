"""The board's reads: filtered, searched, sorted and paged wishes, counts, overdue figures.

Every query here is one SQL statement over indexed columns; nothing loops over rows in
Python, so the board stays fast with hundreds of thousands of wishes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from ..deadlines import OVERDUE_SQL, Deadlines, overdue_params
from ..measures import COUNTED
from ..search import fts_query

PER_PAGE = 25

# name -> ORDER BY clause; `id` breaks ties so paging is stable.
SORTS = {
    "newest": "w.created_at DESC, w.id DESC",
    "oldest": "w.created_at ASC, w.id ASC",
    "updated": "w.updated_at DESC, w.id DESC",
    "confidence": "w.router_confidence IS NULL, w.router_confidence ASC, w.id DESC",
}


@dataclass(frozen=True)
class BoardQuery:
    """What the board is asked to show; every field is optional."""

    branch: str | None = None
    states: tuple[str, ...] = ()
    overdue: bool = False
    claimed_by: int | None = None
    created_from: str | None = None  # YYYY-MM-DD, the hospital's calendar day
    created_to: str | None = None  # inclusive
    counted: str = ""  # the wishes an assessment figure counts (measures.COUNTED)
    unhappy: bool = False  # a patient's low answer waits for the office's follow-up
    text: str = ""
    sort: str = "newest"
    page: int = 1
    per_page: int = PER_PAGE


@dataclass
class BoardPage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int
    counts: dict[str, int] = field(default_factory=dict)
    search_terms: str | None = None
    capped: bool = False  # a search that matched more than SEARCH_LIMIT wishes

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _where(query: BoardQuery, deadlines: Deadlines, now: datetime, *, with_states: bool):
    """The filters other than the search text, as SQL over `wishes w`."""
    clauses: list[str] = []
    params: dict[str, Any] = overdue_params(deadlines, now)
    if query.branch:
        clauses.append("w.branch_code = :branch")
        params["branch"] = query.branch
    if with_states and query.states:
        names = [f":state{i}" for i in range(len(query.states))]
        clauses.append(f"w.state IN ({', '.join(names)})")
        params.update({name[1:]: state for name, state in zip(names, query.states, strict=True)})
    if query.overdue:
        clauses.append(OVERDUE_SQL)
    if query.claimed_by is not None:
        clauses.append("w.claimed_by_user_id = :claimed_by")
        params["claimed_by"] = query.claimed_by
    # By the hospital's calendar day, as the dashboard and the assessment count.
    if query.created_from:
        clauses.append("w.local_day >= :created_from")
        params["created_from"] = query.created_from
    if query.created_to:
        clauses.append("w.local_day <= :created_to")
        params["created_to"] = query.created_to
    if query.counted in COUNTED:
        clauses.append(COUNTED[query.counted])
    if query.unhappy:
        clauses.append("w.follow_up_due_at IS NOT NULL")  # idx_wishes_follow_up_due
    return (" AND ".join(clauses) or "1"), params


# A search reads at most this many matching wishes, the newest first: a word in every fifth
# wish ("孩子") would otherwise make each search read and sort a fifth of all wishes (1M
# wishes: 2 s). Past it the board says "1000+" and asks for another word.
SEARCH_LIMIT = 1000


def _tallied_counts(db: Database, branch: str | None) -> dict[str, int]:
    """Wishes per state from `wish_state_counts` (kept by triggers): a dozen rows, not a scan."""
    only = "WHERE branch_code = ?" if branch else ""
    sql = f"""SELECT state, sum(n) AS n FROM wish_state_counts {only}
              GROUP BY state HAVING sum(n) > 0"""
    return {row["state"]: row["n"] for row in db.query(sql, [branch] if branch else [])}


def follow_up_due_count(db: Database) -> int:
    """Wishes a patient's low answer sent back to the office, still waiting for its follow-up
    (a partial index: as many rows as wait)."""
    sql = "SELECT count(*) FROM wishes WHERE follow_up_due_at IS NOT NULL"
    return db.execute(sql).fetchone()[0]


def any_wishes(db: Database) -> bool:
    """Whether the hospital has had a single wish yet: the board's empty page says what comes
    first when it has not."""
    return bool(_tallied_counts(db, None))


def _mergeable(alias: str = "") -> str:
    """A wish that may still be merged, or linked as similar: open (lifecycle.MERGEABLE) and not
    merged itself. Without an alias, the words of idx_wishes_similar_candidates' condition."""
    at = f"{alias}." if alias else ""
    return (
        f"{at}merged_into_id IS NULL AND {at}state IN ('triage', 'open', 'claimed', 'in_progress')"
    )


def _linked(wish_id: str) -> str:
    """The wishes linked to `wish_id` (an SQL expression) as similar, with their score: from
    both ends of each pair, each end by its index."""
    return f"""(SELECT other_id AS id, score FROM similar_wishes WHERE wish_id = {wish_id}
                UNION ALL SELECT wish_id, score FROM similar_wishes WHERE other_id = {wish_id})"""


# The board's "相似 N": the mergeable wishes linked to `w`.
SIMILAR_COUNT_SQL = f"""(SELECT count(*) FROM {_linked("w.id")} AS s
                          JOIN wishes o ON o.id = s.id WHERE {_mergeable("o")})"""


def _page_rows(
    db: Database, source: str, where: str, order: str, params: dict, with_: str = ""
) -> list[dict]:
    # Page over ids first (an index walk), then fetch only the page's rows: a deep page costs
    # what the first does (100k wishes, last page: 126 ms → 1 ms).
    return [
        _decoded(row)
        for row in db.query(
            f"""{with_}
                SELECT w.id, w.tracking_code, w.text, w.state, w.branch_code, w.channel,
                       w.department_code, w.location, w.created_at, w.routed_at, w.claimed_at,
                       w.router_confidence, w.tags, w.category, w.claimant_kind, w.claimant_name,
                       w.claimed_by_user_id, {OVERDUE_SQL} AS overdue, w.merged_into_id,
                       {SIMILAR_COUNT_SQL} AS similar_count,
                       (SELECT count(*) FROM wishes m WHERE m.merged_into_id = w.id) AS merged,
                       b.name AS branch_name, d.name AS department_name
                FROM (SELECT w.id FROM {source} WHERE {where}
                      ORDER BY {order} LIMIT :limit OFFSET :offset) AS page
                JOIN wishes w ON w.id = page.id
                LEFT JOIN branches b ON b.code = w.branch_code
                LEFT JOIN departments d ON d.code = w.department_code
                ORDER BY {order}""",
            params,
        )
    ]


def board_page(db: Database, query: BoardQuery, deadlines: Deadlines, now: datetime) -> BoardPage:
    """One page of the board, the total it is a page of, and a count per state."""
    if query.text:
        return _search_page(db, query, deadlines, now)
    where, params = _where(query, deadlines, now, with_states=False)
    unfiltered = BoardQuery(
        branch=query.branch,
        states=query.states,
        sort=query.sort,
        page=query.page,
        per_page=query.per_page,
    )
    if query == unfiltered:  # only a branch (or none) and a state: the tallies hold the counts
        counts = _tallied_counts(db, query.branch)
    else:
        sql = f"SELECT w.state, count(*) AS n FROM wishes w WHERE {where} GROUP BY w.state"
        counts = {row["state"]: row["n"] for row in db.query(sql, params)}
    selected = query.states or tuple(counts)
    total = sum(counts.get(state, 0) for state in selected)
    where, params = _where(query, deadlines, now, with_states=True)
    page = max(1, query.page)
    params.update(limit=query.per_page, offset=(page - 1) * query.per_page)
    order = SORTS.get(query.sort, SORTS["newest"])
    rows = _page_rows(db, "wishes w", where, order, params)
    return BoardPage(rows, total, page, query.per_page, counts)


def search_found(
    query: BoardQuery, deadlines: Deadlines, now: datetime
) -> tuple[str, dict, str | None]:
    """`WITH found (id) AS (…)`: the newest SEARCH_LIMIT matches that pass the other filters
    (not the state: the tabs count every state), and the wish whose tracking code was typed."""
    match = fts_query(query.text)
    code = "".join(ch for ch in query.text.upper() if ch.isalnum())
    where, params = _where(query, deadlines, now, with_states=False)
    params.update(match=match or '""', code=code, cap=SEARCH_LIMIT)
    # CROSS JOIN keeps the index of words as the outer loop, in its order, so that the LIMIT
    # ends the reading; the tracking code is one more look-up by its unique index.
    found = f"""WITH found (id) AS (
                  SELECT id FROM (
                    SELECT w.id FROM wishes_fts f CROSS JOIN wishes w ON w.id = f.rowid
                    WHERE wishes_fts MATCH :match AND {where}
                    ORDER BY f.rowid DESC LIMIT :cap)
                  UNION SELECT w.id FROM wishes w WHERE w.tracking_code = :code AND {where})"""
    return found, params, match


def _search_page(db: Database, query: BoardQuery, deadlines: Deadlines, now: datetime) -> BoardPage:
    """A page of the wishes matching the search words (or the tracking code typed).

    The matches are read newest first (FTS5 walks its index in descending rowid order, and a
    wish's id grows with its submission) with the filters other than state applied on the
    way, and reading stops at SEARCH_LIMIT: counts, sorting and paging then work on those.
    """
    found, params, match = search_found(query, deadlines, now)
    counts = {
        row["state"]: row["n"]
        for row in db.query(
            f"""{found} SELECT w.state, count(*) AS n FROM found JOIN wishes w ON w.id = found.id
                GROUP BY w.state""",
            params,
        )
    }
    selected = query.states or tuple(counts)
    total = sum(counts.get(state, 0) for state in selected)
    state_where, state_params = _where(
        BoardQuery(states=query.states), deadlines, now, with_states=True
    )
    page = max(1, query.page)
    params.update(state_params, limit=query.per_page, offset=(page - 1) * query.per_page)
    order = SORTS.get(query.sort, SORTS["newest"])
    source = "found JOIN wishes w ON w.id = found.id"
    rows = _page_rows(db, source, state_where, order, params, with_=found)
    capped = sum(counts.values()) >= SEARCH_LIMIT
    return BoardPage(rows, total, page, query.per_page, counts, match, capped=capped)


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    row["tags"] = json.loads(row["tags"]) if row.get("tags") else []
    if "router_suggestions" in row:
        row["router_suggestions"] = json.loads(row["router_suggestions"] or "[]")
    return row


def wish_detail(db: Database, wish_id: int, deadlines: Deadlines, now: datetime) -> dict | None:
    """One wish with its branch, department and overdue flag, for the wish page."""
    rows = list(
        db.query(
            f"""SELECT w.*, {OVERDUE_SQL} AS overdue, b.name AS branch_name,
                       d.name AS department_name, rb.name AS router_branch_name
                FROM wishes w
                LEFT JOIN branches b ON b.code = w.branch_code
                LEFT JOIN branches rb ON rb.code = w.router_branch_code
                LEFT JOIN departments d ON d.code = w.department_code
                WHERE w.id = :id""",
            {"id": wish_id, **overdue_params(deadlines, now)},
        )
    )
    return _decoded(rows[0]) if rows else None


def timeline(db: Database, wish_id: int) -> list[dict[str, Any]]:
    """A wish's events with the acting staff member's name, oldest first."""
    return [
        {**row, "data": json.loads(row["data"]) if row["data"] else {}}
        for row in db.query(
            """SELECT e.*, u.display_name AS actor_name, u.username AS actor_username,
                      b.name AS branch_name
               FROM wish_events e
               LEFT JOIN users u ON u.id = e.actor_user_id
               LEFT JOIN branches b ON b.code = e.branch_code
               WHERE e.wish_id = ? ORDER BY e.id""",
            [wish_id],
        )
    ]


# ---- similar wishes, merged wishes, notes ---------------------------

# How far back a new wish looks for open wishes with the same need, and at most how many.
SIMILAR_DAYS = 30
SIMILAR_CANDIDATES = 300


def similar_candidates(db: Database, wish: dict[str, Any], since: str) -> list[tuple[int, str]]:
    """(id, text) of the open, unmerged wishes with the wish's category and department (none
    for none) created since `since`, newest first (idx_wishes_similar_candidates)."""
    sql = f"""SELECT id, text FROM wishes
              WHERE category = ? AND department_code IS ? AND created_at >= ? AND id != ?
                AND {_mergeable()}
              ORDER BY created_at DESC LIMIT ?"""
    params = [wish["category"], wish["department_code"], since, wish["id"], SIMILAR_CANDIDATES]
    return [(row[0], row[1]) for row in db.execute(sql, params)]


def link_similar(db: Database, wish_id: int, found: list[tuple[int, float]], at: str) -> None:
    """Store each pair once, the smaller id first."""
    db.conn.executemany(
        "INSERT OR IGNORE INTO similar_wishes (wish_id, other_id, score, found_at)"
        " VALUES (?, ?, ?, ?)",
        [(min(wish_id, other), max(wish_id, other), score, at) for other, score in found],
    )


def similar_to(db: Database, wish_id: int) -> list[dict[str, Any]]:
    """The open, unmerged wishes linked to this one, most similar first: what may be merged."""
    return list(
        db.query(
            f"""SELECT w.id, w.tracking_code, w.text, w.state, w.branch_code, w.created_at,
                       s.score, b.name AS branch_name
                FROM {_linked(":id")} AS s
                JOIN wishes w ON w.id = s.id
                LEFT JOIN branches b ON b.code = w.branch_code
                WHERE {_mergeable("w")}
                ORDER BY s.score DESC, w.id""",
            {"id": wish_id},
        )
    )


def merged_into(db: Database, wish_id: int) -> list[dict[str, Any]]:
    """The wishes merged into this one (each a patient who asked for the same)."""
    return list(
        db.query(
            "SELECT id, tracking_code, text, created_at FROM wishes WHERE merged_into_id = ?"
            " ORDER BY id",
            [wish_id],
        )
    )


def add_note(
    db: Database, wish_id: int, user_id: int | None, author: str, text: str, at: str
) -> dict[str, Any]:
    """An internal note: staff only, never on a patient's page or in the API's public part."""
    note = {"wish_id": wish_id, "user_id": user_id, "author": author, "text": text}
    cursor = db.execute(
        "INSERT INTO wish_notes (wish_id, user_id, author, text, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [*note.values(), at],
    )
    return {"id": cursor.lastrowid, **note, "created_at": at}


def notes(db: Database, wish_id: int) -> list[dict[str, Any]]:
    sql = "SELECT * FROM wish_notes WHERE wish_id = ? ORDER BY id"
    return list(db.query(sql, [wish_id]))
