"""Questionnaires, their versions and the responses to them (tables of migration 0005).

A published version is frozen: patients answered exactly what it says. Editing after
publication works on a new draft version, so old responses keep the questions they answered.

A version is a draft, the published one, or superseded (published once, then replaced): its
state is read inside the transaction that edits or publishes it and checked there against
VERSION_MOVES (the wishes.states idiom). Refusals carry codes; `words` says them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlite_utils import Database

from ..clock import local_day, today
from ..states import Transitions
from ..storage import inserted_id, transaction, utcnow
from . import definition as definitions


class QuestionnaireError(ValueError):
    """A change that cannot be made: `code` says why (words.REFUSALS), `detail` fills it in."""

    def __init__(self, code: str, **detail: Any) -> None:
        self.code = code
        self.detail = detail
        super().__init__(code)


class VersionState(StrEnum):
    DRAFT = "draft"  # not published yet: edited in place
    PUBLISHED = "published"  # the version patients answer now (one per questionnaire)
    SUPERSEDED = "superseded"  # published once, replaced since; its responses keep it


class VersionMove(StrEnum):
    EDIT = "edit"  # rewrite the wording
    PUBLISH = "publish"  # make it the one patients answer (a superseded one again, too)


# Publishing one version supersedes the one published before it, in the same transaction.

VERSION_MOVES: Transitions[VersionState, VersionMove] = Transitions(
    {
        VersionMove.EDIT: ([VersionState.DRAFT], VersionState.DRAFT),
        VersionMove.PUBLISH: (
            [VersionState.DRAFT, VersionState.SUPERSEDED],
            VersionState.PUBLISHED,
        ),
    }
)


@dataclass(frozen=True)
class Version:
    id: int
    questionnaire_id: int
    number: int
    definition: dict[str, Any]
    published_at: str | None
    responses: int = 0

    @property
    def questions(self) -> list[dict[str, Any]]:
        return self.definition["questions"]

    @property
    def slug(self) -> str:
        return self.definition["slug"]


def _version(row: dict[str, Any]) -> Version:
    return Version(
        id=row["id"],
        questionnaire_id=row["questionnaire_id"],
        number=row["number"],
        definition=json.loads(row["definition"]),
        published_at=row["published_at"],
        responses=row.get("responses", 0),
    )


def _version_or_none(row: dict[str, Any] | None) -> Version | None:
    return None if row is None else _version(row)


# Patient pages read a version without counting its responses (a million rows at scale);
# the admin's list of versions counts them, from an index (migration 0010).
_VERSION_SQL = "SELECT v.* FROM questionnaire_versions v"
_VERSION_WITH_COUNT_SQL = """
    SELECT v.*, (SELECT count(*) FROM responses r WHERE r.version_id = v.id) AS responses
    FROM questionnaire_versions v
"""


def questionnaire(db: Database, slug: str) -> dict[str, Any] | None:
    rows = db.query("SELECT * FROM questionnaires WHERE slug = ?", [slug])
    return next(iter(rows), None)


def questionnaires(db: Database) -> list[dict[str, Any]]:
    """Every questionnaire with its live version's title, latest version and response count."""
    return list(
        db.query(
            """
            SELECT q.*, live.number AS live_number, live.definition AS live_definition,
                   latest.number AS latest_number, latest.definition AS latest_definition,
                   (SELECT coalesce(sum(n), 0) FROM response_days d
                     WHERE d.questionnaire_id = q.id) AS responses
            FROM questionnaires q
            LEFT JOIN questionnaire_versions live ON live.id = q.published_version_id
            JOIN questionnaire_versions latest ON latest.id = (
                SELECT max(id) FROM questionnaire_versions WHERE questionnaire_id = q.id)
            ORDER BY q.id
            """
        )
    )


def live_version(db: Database, slug: str) -> Version | None:
    """The version patients answer now, or None when the questionnaire is not published."""
    rows = db.query(
        _VERSION_SQL + " JOIN questionnaires q ON q.published_version_id = v.id WHERE q.slug = ?",
        [slug],
    )
    return _version_or_none(next(iter(rows), None))


def version(db: Database, version_id: int) -> Version | None:
    rows = db.query(_VERSION_SQL + " WHERE v.id = ?", [version_id])
    return _version_or_none(next(iter(rows), None))


def _saved_version(db: Database, version_id: int) -> Version:
    """The version just written: it is there unless the write broke."""
    found = version(db, version_id)
    if found is None:
        raise LookupError(version_id)
    return found


def versions(db: Database, questionnaire_id: int) -> list[Version]:
    rows = db.query(
        _VERSION_WITH_COUNT_SQL + " WHERE v.questionnaire_id = ? ORDER BY v.number DESC",
        [questionnaire_id],
    )
    return [_version(row) for row in rows]


def latest_version(db: Database, questionnaire_id: int) -> Version:
    return versions(db, questionnaire_id)[0]


def state_of(db: Database, version: Version) -> VersionState:
    """The version's state as stored now: inside a transaction, as it will stay till commit."""
    live = db.execute(
        "SELECT published_version_id FROM questionnaires WHERE id = ?", [version.questionnaire_id]
    ).fetchone()
    if live and live[0] == version.id:
        return VersionState.PUBLISHED
    published_at = db.execute(
        "SELECT published_at FROM questionnaire_versions WHERE id = ?", [version.id]
    ).fetchone()[0]
    return VersionState.DRAFT if published_at is None else VersionState.SUPERSEDED


def questions_over_versions(db: Database, questionnaire_id: int) -> list[dict[str, Any]]:
    """Every question ever asked, in the wording patients answered last: the newest published
    version's first, a draft's only for a question no published version has (the dashboard
    never shows wording patients have not seen). Figures follow keys across versions. A
    matrix is listed as its items, each a rating ("care.food": definitions.flat_questions),
    for the dashboard's figures, the responses' filters and their downloads."""
    seen: dict[str, dict[str, Any]] = {}
    rows = db.execute(
        "SELECT definition FROM questionnaire_versions WHERE questionnaire_id = ? "
        "ORDER BY published_at IS NULL, number DESC",
        [questionnaire_id],
    )
    for (definition,) in rows:
        for question in definitions.flat_questions(json.loads(definition)):
            seen.setdefault(question["key"], question)
    return list(seen.values())


def _check_keys_keep_their_type(db: Database, questionnaire_id: int, new: dict) -> None:
    """A key keeps its question type across versions: trends and tallies follow the key."""
    earlier: dict[str, str] = {}
    for old in versions(db, questionnaire_id):
        for question in old.questions:
            earlier.setdefault(question["key"], question["type"])
    for question in new["questions"]:
        was = earlier.get(question["key"])
        if was and was != question["type"]:
            raise QuestionnaireError("key_changes_type", key=question["key"], was=was)


def create(db: Database, definition: dict[str, Any], by: str) -> int:
    """A new questionnaire with its first (draft) version; returns the questionnaire id."""
    definition = definitions.parse(definition)
    now = utcnow()
    with transaction(db):
        if questionnaire(db, definition["slug"]):
            raise QuestionnaireError("slug_taken", slug=definition["slug"])
        qid = inserted_id(
            db.table("questionnaires").insert({"slug": definition["slug"], "created_at": now})
        )
        db.table("questionnaire_versions").insert(
            {
                "questionnaire_id": qid,
                "number": 1,
                "definition": definitions.dumps(definition),
                "created_at": now,
                "created_by": by,
            }
        )
    return qid


def save_draft(db: Database, questionnaire_id: int, definition: dict[str, Any], by: str) -> Version:
    """Write `definition` to the draft version, opening a new draft if the latest is not one
    (published, or superseded) as it stands inside this transaction: a version published
    meanwhile keeps its wording."""
    definition = definitions.parse(definition)
    now = utcnow()
    with transaction(db):
        latest = latest_version(db, questionnaire_id)
        if definition["slug"] != latest.slug:
            raise QuestionnaireError("slug_fixed")
        _check_keys_keep_their_type(db, questionnaire_id, definition)
        body = definitions.dumps(definition)
        if VERSION_MOVES.allows(VersionMove.EDIT, state_of(db, latest)):
            db.table("questionnaire_versions").update(
                latest.id, {"definition": body, "created_at": now, "created_by": by}
            )
            version_id = latest.id
        else:
            version_id = inserted_id(
                db.table("questionnaire_versions").insert(
                    {
                        "questionnaire_id": questionnaire_id,
                        "number": latest.number + 1,
                        "definition": body,
                        "created_at": now,
                        "created_by": by,
                    }
                )
            )
    return _saved_version(db, version_id)


def publish(db: Database, questionnaire_id: int, version_id: int) -> Version:
    """Make a version the one patients answer; it is frozen from now on, and the one they
    answered before is superseded. Raises IllegalMove for the version already published."""
    with transaction(db):
        chosen = version(db, version_id)
        if chosen is None or chosen.questionnaire_id != questionnaire_id:
            raise QuestionnaireError("no_such_version")
        if not chosen.questions:  # a new questionnaire's draft starts empty
            raise QuestionnaireError("no_questions")
        VERSION_MOVES.target(VersionMove.PUBLISH, state_of(db, chosen), chosen)
        if chosen.published_at is None:
            db.table("questionnaire_versions").update(version_id, {"published_at": utcnow()})
        db.table("questionnaires").update(questionnaire_id, {"published_version_id": version_id})
    return _saved_version(db, version_id)


def import_definition(db: Database, data: Any, by: str) -> tuple[int, Version]:
    """Import a definition: a new questionnaire, or a new draft of the one with its slug."""
    definition = definitions.parse(data)
    existing = questionnaire(db, definition["slug"])
    if existing is None:
        qid = create(db, definition, by)
        return qid, latest_version(db, qid)
    return existing["id"], save_draft(db, existing["id"], definition, by)


def ensure_default(db: Database) -> int:
    """The default satisfaction questionnaire, created and published once."""
    default = definitions.load_default()
    found = questionnaire(db, default["slug"])
    if found:
        return found["id"]
    qid = create(db, default, "system")
    publish(db, qid, latest_version(db, qid).id)
    return qid


# --- Responses -------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    question_key: str
    value: int | None = None
    scale: int | None = None
    option: str | None = None
    text: str | None = None


def _option_keys(question: dict[str, Any]) -> set[str]:
    return {option["key"] for option in question["options"]}


def answers_from(version: Version, data: dict[str, Any]) -> list[Answer]:
    """Answer rows from validated form data keyed by question key (blank answers dropped)."""
    rows: list[Answer] = []
    for question in version.questions:
        key, kind, value = question["key"], question["type"], data.get(question["key"])
        if value in (None, "", []) or kind == "department":
            continue
        if kind in definitions.SCALES:
            rows.append(Answer(key, value=int(value), scale=definitions.SCALES[kind]))
        elif kind == "single" and value in _option_keys(question):
            rows.append(Answer(key, option=value))
        elif kind == "multiple":
            # Each real option once: a repeated or blank checkbox value is not another answer.
            chosen = dict.fromkeys(c for c in value if c in _option_keys(question))
            rows.extend(Answer(key, option=choice) for choice in chosen)
        elif kind == "text":
            rows.append(Answer(key, text=value))
        elif kind == "number":
            rows.append(Answer(key, value=int(value)))
        elif kind == "date":  # checked by the form: a real day, not after today
            rows.append(Answer(key, text=value.isoformat() if isinstance(value, date) else value))
        elif kind == "matrix":  # one rating row per item rated, keyed "care.food"
            size = definitions.SCALES["rating"]
            for item in question["items"]:
                rated = value.get(item["key"])
                if rated is not None and 1 <= int(rated) <= size:
                    rows.append(Answer(f"{key}.{item['key']}", value=int(rated), scale=size))
    return rows


def store_response(
    db: Database,
    version: Version,
    answers: list[Answer],
    *,
    submission_id: str,
    department_code: str | None,
    channel: str,
    comment_tags: list[str] | None = None,
    comment_sentiment: str | None = None,
    comment_category: str | None = None,
    at: str | None = None,
) -> tuple[int, bool]:
    """Store one response with its answers; (id, False) when this submission was already stored."""
    at = at or utcnow()
    try:
        with transaction(db):
            response_id = inserted_id(
                db.table("responses").insert(
                    {
                        "submission_id": submission_id,
                        "questionnaire_id": version.questionnaire_id,
                        "version_id": version.id,
                        "department_code": department_code or None,
                        "channel": channel,
                        "submitted_at": at,
                        "local_day": local_day(at),
                        "comment_tags": json.dumps(comment_tags or [], ensure_ascii=False),
                        "comment_sentiment": comment_sentiment,
                        "comment_category": comment_category,
                    }
                )
            )
            db.table("answers").insert_all(
                {
                    "response_id": response_id,
                    "question_key": a.question_key,
                    "value": a.value,
                    "scale": a.scale,
                    "option": a.option,
                    "text": a.text,
                }
                for a in answers
            )
    except sqlite3.IntegrityError as error:
        if "submission_id" not in str(error):
            raise
        row = db.execute(
            "SELECT id FROM responses WHERE submission_id = ?", [submission_id]
        ).fetchone()
        return row[0], False
    return response_id, True


def response_answers(db: Database, response_id: int) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM answers WHERE response_id = ? ORDER BY id", [response_id]))


# ---- individual responses -------------------------------------------------------------------

RESPONSES_PER_PAGE = 50


@dataclass(frozen=True)
class ResponseFilter:
    """Which responses of one questionnaire: days by the hospital's calendar, a department,
    a version, and one question's answer (a scale value, an option's key, or words of a text)."""

    first: str | None = None  # YYYY-MM-DD
    last: str | None = None
    department: str | None = None
    version_id: int | None = None
    question: str = ""
    answer: str = ""

    def where(self, questionnaire_id: int) -> tuple[str, dict[str, Any]]:
        clauses = ["r.questionnaire_id = :qid"]
        params: dict[str, Any] = {"qid": questionnaire_id}
        for name, clause in (
            ("first", "r.local_day >= :first"),
            ("last", "r.local_day <= :last"),
            ("department", "r.department_code = :department"),
            ("version_id", "r.version_id = :version_id"),
        ):
            if getattr(self, name) is not None:
                clauses.append(clause)
                params[name] = getattr(self, name)
        if self.question and self.answer:
            clauses.append(
                """EXISTS (SELECT 1 FROM answers f WHERE f.response_id = r.id
                   AND f.question_key = :question AND (f.option = :answer
                   OR CAST(f.value AS TEXT) = :answer OR instr(f.text, :answer) > 0))"""
            )
            params.update(question=self.question, answer=self.answer)
        return " AND ".join(clauses), params


_RESPONSE_COLUMNS = """r.id, r.submitted_at, r.channel, r.department_code, d.name AS department,
    v.number AS version, r.comment_sentiment"""
_RESPONSE_SOURCE = """responses r JOIN questionnaire_versions v ON v.id = r.version_id
    LEFT JOIN departments d ON d.code = r.department_code"""


def response_page(
    db: Database, questionnaire_id: int, chosen: ResponseFilter, page: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of responses, newest first, each with its answers; and how many match."""
    where, params = chosen.where(questionnaire_id)
    total = db.execute(f"SELECT count(*) FROM responses r WHERE {where}", params).fetchone()[0]
    params.update(n=RESPONSES_PER_PAGE, skip=(max(page, 1) - 1) * RESPONSES_PER_PAGE)
    rows = list(
        db.query(
            f"""SELECT {_RESPONSE_COLUMNS} FROM {_RESPONSE_SOURCE} WHERE {where}
                ORDER BY r.id DESC LIMIT :n OFFSET :skip""",
            params,
        )
    )
    _attach_answers(db, rows)
    return rows, total


def responses_matching(
    db: Database, questionnaire_id: int, chosen: ResponseFilter
) -> list[dict[str, Any]]:
    """Every matching response with its answers, oldest first (for the downloads)."""
    where, params = chosen.where(questionnaire_id)
    rows = list(
        db.query(
            f"SELECT {_RESPONSE_COLUMNS} FROM {_RESPONSE_SOURCE} WHERE {where} ORDER BY r.id",
            params,
        )
    )
    _attach_answers(db, rows)
    return rows


def one_response(db: Database, questionnaire_id: int, response_id: int) -> dict[str, Any] | None:
    rows = list(
        db.query(
            f"""SELECT {_RESPONSE_COLUMNS}, v.definition FROM {_RESPONSE_SOURCE}
                WHERE r.id = ? AND r.questionnaire_id = ?""",
            [response_id, questionnaire_id],
        )
    )
    _attach_answers(db, rows)
    return rows[0] if rows else None


def _attach_answers(db: Database, rows: list[dict[str, Any]]) -> None:
    """row["answers"]: question key → a number, a text, or a list of option keys."""
    by_id = {row["id"]: row for row in rows}
    for row in rows:
        row["answers"] = {}
    for start in range(0, len(rows), 500):  # SQLite's limit on bound values, with room
        ids = list(by_id)[start : start + 500]
        marks = ", ".join("?" * len(ids))
        for answer in db.query(
            f"""SELECT response_id, question_key, value, option, text FROM answers
                WHERE response_id IN ({marks}) ORDER BY id""",
            ids,
        ):
            answers = by_id[answer["response_id"]]["answers"]
            key = answer["question_key"]
            if answer["option"] is not None:
                answers.setdefault(key, []).append(answer["option"])
            else:
                answers[key] = answer["value"] if answer["value"] is not None else answer["text"]


def unread_comments(db: Database, limit: int) -> list[tuple[int, str]]:
    """(response id, comment) of responses whose comment has no reading yet (stored before
    comments were read), oldest first."""
    return [
        (row[0], row[1])
        for row in db.execute(
            """SELECT r.id, group_concat(a.text, ' ') FROM responses r
               JOIN answers a ON a.response_id = r.id AND a.text IS NOT NULL AND a.text != ''
               WHERE r.comment_sentiment IS NULL
               GROUP BY r.id ORDER BY r.id LIMIT ?""",
            [limit],
        )
    ]


def set_comment_reading(db: Database, response_id: int, sentiment: str, category: str | None):
    db.execute(
        "UPDATE responses SET comment_sentiment = ?, comment_category = ? WHERE id = ?",
        [sentiment, category, response_id],
    )


def open_on(questionnaire: dict[str, Any], day: str) -> bool:
    """Whether patients may answer on `day` (YYYY-MM-DD): within its open days, if it has any."""
    first, last = questionnaire.get("opens_on"), questionnaire.get("closes_on")
    return (not first or first <= day) and (not last or day <= last)


def set_open_days(db: Database, questionnaire_id: int, first: str | None, last: str | None):
    with transaction(db):
        db.table("questionnaires").update(
            questionnaire_id, {"opens_on": first or None, "closes_on": last or None}
        )


def open_now(db: Database, slug: str) -> bool:
    """Published and within its open days today: patients may answer it now."""
    found = questionnaire(db, slug)
    return bool(found and found["published_version_id"] and open_on(found, today().isoformat()))


# Praise in comments, for the office to pass on (the partial index of migration 0025).
_PRAISE = "r.comment_sentiment = 'positive' AND r.comment_category = 'praise'"


def thanks(db: Database, *, waiting: bool, page: int) -> tuple[list[dict[str, Any]], int]:
    """A page of praise comments, newest first: still to pass on, or passed on; and how many."""
    state = "r.thanks_passed_on_at IS NULL" if waiting else "r.thanks_passed_on_at IS NOT NULL"
    where = f"{_PRAISE} AND {state}"
    total = db.execute(f"SELECT count(*) FROM responses r WHERE {where}").fetchone()[0]
    rows = list(
        db.query(
            f"""SELECT r.id, r.submitted_at, r.department_code, d.name AS department,
                       r.thanks_passed_on_at, r.thanks_passed_on_by,
                       (SELECT group_concat(a.text, ' ') FROM answers a
                        WHERE a.response_id = r.id AND a.text != '') AS comment
                FROM responses r LEFT JOIN departments d ON d.code = r.department_code
                WHERE {where} ORDER BY r.id DESC LIMIT ? OFFSET ?""",
            [RESPONSES_PER_PAGE, (max(page, 1) - 1) * RESPONSES_PER_PAGE],
        )
    )
    return rows, total


def thanks_waiting(db: Database) -> int:
    return db.execute(
        f"SELECT count(*) FROM responses r WHERE {_PRAISE} AND r.thanks_passed_on_at IS NULL"
    ).fetchone()[0]


def pass_on_thanks(db: Database, response_id: int, by: str) -> bool:
    """Mark one praise passed on; False when it is not praise or was passed on already."""
    with transaction(db):
        cursor = db.execute(
            f"""UPDATE responses AS r SET thanks_passed_on_at = ?, thanks_passed_on_by = ?
                WHERE r.id = ? AND {_PRAISE} AND r.thanks_passed_on_at IS NULL""",
            [utcnow(), by, response_id],
        )
    return cursor.rowcount == 1
