"""SQL for the assessment tables: scheme versions, rounds and their stages, scores, evidence.

A round is scored against one scheme version. Editing a version that a round has used makes a
new version, so a round's rubric never changes under it. Every score and every stage change is
recorded in the audit log (`assessment_*` actions) in the same transaction as the change.

A round's stage is read inside the write transaction of whatever depends on it (a move, a
score, an upload) and checked there against the tables of `stages`: a score never lands after
the round it belongs to was published. Refusals are `AssessmentError`s and `IllegalMove`s with
codes; `words` says them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlite_utils import Database

from .. import audit
from ..glossary import assessment as words
from ..storage import inserted_id, transaction, utcnow
from . import scheme as schemes
from .stages import CLOSED, NEEDS_REASON, OPEN_FOR, ROUND_MOVES, RoundMove, Stage, Work

DEFAULT_SLUG = "wuhua"


class AssessmentError(ValueError):
    """A refused change: `code` says why (words.REFUSALS), `detail` fills in the words."""

    def __init__(self, code: str, **detail: Any) -> None:
        self.code = code
        self.detail = detail
        super().__init__(code)


@dataclass(frozen=True)
class SchemeVersion:
    id: int
    scheme_id: int
    number: int
    definition: dict[str, Any]
    created_at: str
    created_by: str

    def item(self, key: str) -> dict[str, Any] | None:
        return next(
            (i for a in self.definition["areas"] for i in a["items"] if i["key"] == key), None
        )

    @property
    def items(self) -> list[dict[str, Any]]:
        return [item for area in self.definition["areas"] for item in area["items"]]


@dataclass(frozen=True)
class Round:
    id: int
    name: str
    first_day: date
    last_day: date
    stage: Stage
    scheme: SchemeVersion
    branch_codes: tuple[str, ...] = field(default_factory=tuple)
    published_at: str | None = None

    @property
    def stage_label(self) -> str:
        return words.STAGES[self.stage]

    @property
    def published(self) -> bool:
        return self.stage is Stage.PUBLISHED

    def open_for(self, work: Work) -> bool:
        """Whether the stage this round was read in takes `work` (the store checks again)."""
        return work in OPEN_FOR[self.stage]

    @property
    def moves(self) -> list[RoundMove]:
        """The moves the office may make from the stage this round was read in."""
        return ROUND_MOVES.moves_from(self.stage)

    @property
    def days(self) -> tuple[str, str]:
        return self.first_day.isoformat(), self.last_day.isoformat()


def _audit(db: Database, action: str, who: audit.Who, subject: str, **detail: Any) -> None:
    audit.record(db, action, who, subject_kind="assessment", subject_id=subject, detail=detail)


# ---- schemes ------------------------------------------------------------------------------


def _version(row: dict[str, Any] | None) -> SchemeVersion | None:
    if row is None:
        return None
    return SchemeVersion(
        row["id"],
        row["scheme_id"],
        row["number"],
        json.loads(row["definition"]),
        row["created_at"],
        row["created_by"] or "",
    )


def scheme_version(db: Database, version_id: int) -> SchemeVersion | None:
    rows = db.query("SELECT * FROM assessment_scheme_versions WHERE id = ?", [version_id])
    return _version(next(iter(rows), None))


def _existing(version: SchemeVersion | None, key: object) -> SchemeVersion:
    """A version that is there unless the database is broken: one just written in this
    transaction, or a round's own (a foreign key)."""
    if version is None:
        raise LookupError(key)
    return version


def latest_version(db: Database, slug: str = DEFAULT_SLUG) -> SchemeVersion | None:
    rows = db.query(
        """SELECT v.* FROM assessment_scheme_versions v
           JOIN assessment_schemes s ON s.id = v.scheme_id
           WHERE s.slug = ? ORDER BY v.number DESC LIMIT 1""",
        [slug],
    )
    return _version(next(iter(rows), None))


def scheme_versions(db: Database, slug: str = DEFAULT_SLUG) -> list[dict[str, Any]]:
    """Every version of a scheme, newest first, with the rounds that use it."""
    return list(
        db.query(
            """SELECT v.id, v.number, v.created_at, v.created_by,
                      (SELECT count(*) FROM assessment_rounds r
                       WHERE r.scheme_version_id = v.id) AS rounds
               FROM assessment_scheme_versions v JOIN assessment_schemes s ON s.id = v.scheme_id
               WHERE s.slug = ? ORDER BY v.number DESC""",
            [slug],
        )
    )


def ensure_default(db: Database) -> SchemeVersion:
    """The shipped 五化 scheme as version 1, once (first start and `wishes demo`)."""
    found = latest_version(db)
    if found:
        return found
    default = schemes.load_default()
    with transaction(db):
        scheme_id = (
            db.table("assessment_schemes")
            .insert({"slug": DEFAULT_SLUG, "name": default["name"], "created_at": utcnow()})
            .last_pk
        )
        db.table("assessment_scheme_versions").insert(
            {
                "scheme_id": scheme_id,
                "number": 1,
                "created_at": utcnow(),
                "created_by": "system",
                "definition": json.dumps(default, ensure_ascii=False),
            }
        )
    return _existing(latest_version(db), DEFAULT_SLUG)


def _in_use(db: Database, version_id: int) -> bool:
    rows = db.query(
        "SELECT 1 FROM assessment_rounds WHERE scheme_version_id = ? LIMIT 1", [version_id]
    )
    return next(iter(rows), None) is not None


def save_scheme(db: Database, data: Any, who: audit.Who) -> SchemeVersion:
    """Store an edited scheme: in place while no round has used the latest version, else as a
    new version, so rounds keep the rubric they were scored on. Raises SchemeError."""
    definition = schemes.parse(data)
    text = json.dumps(definition, ensure_ascii=False)
    with transaction(db):
        latest = latest_version(db) or ensure_default(db)
        if latest.definition == definition:
            return latest
        if _in_use(db, latest.id):
            version_id = inserted_id(
                db.table("assessment_scheme_versions").insert(
                    {
                        "scheme_id": latest.scheme_id,
                        "number": latest.number + 1,
                        "definition": text,
                        "created_at": utcnow(),
                        "created_by": who.label,
                    }
                )
            )
        else:
            version_id = latest.id
            db.table("assessment_scheme_versions").update(
                version_id, {"definition": text, "created_at": utcnow(), "created_by": who.label}
            )
        saved = _existing(scheme_version(db, version_id), version_id)
        _audit(db, "assessment_scheme_saved", who, f"scheme:{saved.number}", version=saved.number)
    return saved


# ---- rounds -------------------------------------------------------------------------------


def _round(db: Database, row: dict[str, Any]) -> Round:
    codes = tuple(
        r["branch_code"]
        for r in db.query(
            """SELECT rb.branch_code FROM assessment_round_branches rb
               JOIN branches b ON b.code = rb.branch_code
               JOIN general_branches g ON g.code = b.general_branch_code
               WHERE rb.round_id = ? ORDER BY g.sort_order, b.sort_order""",
            [row["id"]],
        )
    )
    return Round(
        row["id"],
        row["name"],
        date.fromisoformat(row["first_day"]),
        date.fromisoformat(row["last_day"]),
        Stage(row["stage"]),
        _existing(scheme_version(db, row["scheme_version_id"]), row["scheme_version_id"]),
        codes,
        row["published_at"],
    )


def get_round(db: Database, round_id: int) -> Round | None:
    row = next(iter(db.query("SELECT * FROM assessment_rounds WHERE id = ?", [round_id])), None)
    return _round(db, row) if row else None


def rounds(db: Database, *, published_only: bool = False) -> list[Round]:
    """Newest period first."""
    where = f"WHERE stage = '{Stage.PUBLISHED}'" if published_only else ""
    sql = f"SELECT * FROM assessment_rounds {where} ORDER BY last_day DESC, id DESC"
    return [_round(db, row) for row in db.query(sql)]


def previous_round(db: Database, current: Round) -> Round | None:
    """The latest published round that ended before this one began (for "how it moved")."""
    rows = db.query(
        """SELECT * FROM assessment_rounds WHERE stage = 'published' AND last_day < ?
           ORDER BY last_day DESC, id DESC LIMIT 1""",
        [current.first_day.isoformat()],
    )
    row = next(iter(rows), None)
    return _round(db, row) if row else None


def create_round(
    db: Database, name: str, first: date, last: date, branch_codes: list[str], who: audit.Who
) -> int:
    """A new round in self-assessment, on the latest version of the scheme."""
    if last < first:
        raise AssessmentError("last_day_before_first")
    if not branch_codes:
        raise AssessmentError("no_branches")
    with transaction(db):
        version = latest_version(db) or ensure_default(db)
        round_id = inserted_id(
            db.table("assessment_rounds").insert(
                {
                    "name": name,
                    "first_day": first.isoformat(),
                    "last_day": last.isoformat(),
                    "scheme_version_id": version.id,
                    "stage": Stage.SELF,
                    "created_at": utcnow(),
                    "created_by": who.label,
                }
            )
        )
        db.table("assessment_round_branches").insert_all(
            {"round_id": round_id, "branch_code": code} for code in branch_codes
        )
        _audit(
            db,
            "assessment_round_created",
            who,
            str(round_id),
            name=name,
            first=first.isoformat(),
            last=last.isoformat(),
            branches=len(branch_codes),
            scheme_version=version.number,
        )
    return round_id


def _stage_now(db: Database, round_id: int) -> Stage:
    """The round's stage as stored now: call it inside the transaction that depends on it."""
    row = db.execute("SELECT stage FROM assessment_rounds WHERE id = ?", [round_id]).fetchone()
    if row is None:
        raise AssessmentError("no_such_round")
    return Stage(row[0])


def _check_open(db: Database, current: Round, work: Work | None, *, evidence: bool = False) -> None:
    """Refuse `work` (a score, or with `evidence` a file) unless the round's stage takes it;
    evidence for no work in particular, unless the stage takes any."""
    stage = _stage_now(db, current.id)
    if work in OPEN_FOR[stage] if work else OPEN_FOR[stage]:
        return
    if not evidence and work is not None:
        raise AssessmentError(CLOSED[work])
    if stage is Stage.PUBLISHED:
        raise AssessmentError("uploads_closed")
    raise AssessmentError("evidence_closed", stage=stage)


def move(
    db: Database,
    current: Round,
    move: RoundMove,
    who: audit.Who,
    reason: str = "",
    snapshot: dict[str, dict[str, tuple[float | None, int]]] | None = None,
) -> Stage:
    """Make one of the office's moves (stages.ROUND_MOVES) from the stage the round is in
    now; returns the stage it leads to. Publishing freezes the computed items' figures
    (`snapshot`: branch → item key → (figure, count)), so later wishes never change a
    published result. Raises IllegalMove, or AssessmentError for a backward move without a
    reason."""
    move = RoundMove(move)
    reason = reason.strip()
    with transaction(db):
        now = _stage_now(db, current.id)
        to = ROUND_MOVES.target(move, now, current.id)
        if move in NEEDS_REASON and not reason:
            raise AssessmentError("move_needs_reason")
        changes: dict[str, Any] = {"stage": to}
        if to is Stage.PUBLISHED:
            changes["published_at"] = utcnow()
            for branch, items in (snapshot or {}).items():
                for key, (figure, count) in items.items():
                    db.table("assessment_scores").upsert(
                        {
                            "round_id": current.id,
                            "branch_code": branch,
                            "item_key": key,
                            "figure": figure,
                            "count": count,
                        },
                        pk=("round_id", "branch_code", "item_key"),
                    )
        elif now is Stage.PUBLISHED:
            changes["published_at"] = None
        db.table("assessment_rounds").update(current.id, changes)
        _audit(
            db,
            "assessment_stage_changed",
            who,
            str(current.id),
            to=to,
            **{"from": now},
            reason=reason,
        )
    return to


# ---- scores -------------------------------------------------------------------------------


def scores(db: Database, round_id: int, branch_code: str | None = None) -> dict:
    """(branch, item key) → the stored row, with `inspector`: the name colleagues know the
    inspector by (the display name; `inspected_by` keeps the login name)."""
    sql = """SELECT s.*, coalesce(nullif(u.display_name, ''), s.inspected_by) AS inspector
             FROM assessment_scores s LEFT JOIN users u ON u.username = s.inspected_by
             WHERE s.round_id = ?"""
    params: list[Any] = [round_id]
    if branch_code:
        sql, params = sql + " AND s.branch_code = ?", [*params, branch_code]
    return {(row["branch_code"], row["item_key"]): row for row in db.query(sql, params)}


def _scored_item(current: Round, branch_code: str, item_key: str, points: float) -> dict:
    if branch_code not in current.branch_codes:
        raise AssessmentError("branch_not_in_round")
    item = current.scheme.item(item_key)
    if item is None:
        raise AssessmentError("item_not_in_scheme")
    if item["scoring"] == "computed":
        raise AssessmentError("item_is_computed")
    if not 0 <= points <= item["points"]:
        raise AssessmentError("points_out_of_range", most=item["points"])
    return item


def self_assess(
    db: Database,
    current: Round,
    branch_code: str,
    item_key: str,
    points: float,
    note: str,
    who: audit.Who,
) -> None:
    """The branch secretary's own score for a manual item, with a note on the evidence;
    only while the round is in self-assessment."""
    key = {"round_id": current.id, "branch_code": branch_code, "item_key": item_key}
    with transaction(db):
        _check_open(db, current, Work.SELF_ASSESS)
        _scored_item(current, branch_code, item_key, points)
        before = scores(db, current.id, branch_code).get((branch_code, item_key), {})
        db.table("assessment_scores").upsert(
            {
                **key,
                "self_points": points,
                "self_note": note,
                "self_by": who.label,
                "self_at": utcnow(),
            },
            pk=("round_id", "branch_code", "item_key"),
        )
        _audit(
            db,
            "assessment_self_scored",
            who,
            f"{current.id}:{branch_code}:{item_key}",
            points=points,
            before=before.get("self_points"),
        )


def inspect(
    db: Database,
    current: Round,
    branch_code: str,
    item_key: str,
    points: float,
    reason: str,
    who: audit.Who,
) -> None:
    """The inspection team's score: confirming the self-assessment needs nothing more, any
    other score (or one where the branch gave none) needs a reason. Only while the round is
    in inspection: a score racing the publication is saved before it or refused."""
    reason = reason.strip()
    with transaction(db):
        _check_open(db, current, Work.INSPECT)
        _scored_item(current, branch_code, item_key, points)
        before = scores(db, current.id, branch_code).get((branch_code, item_key), {})
        if points != before.get("self_points") and not reason:
            raise AssessmentError("change_needs_reason")
        db.table("assessment_scores").upsert(
            {
                "round_id": current.id,
                "branch_code": branch_code,
                "item_key": item_key,
                "points": points,
                "reason": reason,
                "inspected_by": who.label,
                "inspected_at": utcnow(),
            },
            pk=("round_id", "branch_code", "item_key"),
        )
        _audit(
            db,
            "assessment_inspected",
            who,
            f"{current.id}:{branch_code}:{item_key}",
            points=points,
            self_points=before.get("self_points"),
            before=before.get("points"),
            reason=reason,
        )


# ---- evidence -----------------------------------------------------------------------------


def attachments(db: Database, round_id: int, branch_code: str) -> dict[str, list[dict]]:
    """Item key → its attachments, oldest first."""
    out: dict[str, list[dict]] = {}
    for row in db.query(
        """SELECT * FROM assessment_attachments WHERE round_id = ? AND branch_code = ?
           ORDER BY id""",
        [round_id, branch_code],
    ):
        out.setdefault(row["item_key"], []).append(row)
    return out


def attachment(db: Database, attachment_id: int) -> dict[str, Any] | None:
    rows = db.query("SELECT * FROM assessment_attachments WHERE id = ?", [attachment_id])
    return next(iter(rows), None)


def add_attachment(
    db: Database,
    current: Round,
    branch_code: str,
    item_key: str,
    file: dict[str, Any],
    who: audit.Who,
    work: Work | None = None,
) -> int:
    """Record an uploaded file already saved under its random `stored_name`, as evidence for
    `work` (a secretary's during self-assessment, the team's during inspection; None: any
    stage before publication)."""
    with transaction(db):
        _check_open(db, current, work, evidence=True)
        if branch_code not in current.branch_codes or current.scheme.item(item_key) is None:
            raise AssessmentError("no_such_item")
        attachment_id = inserted_id(
            db.table("assessment_attachments").insert(
                {
                    "round_id": current.id,
                    "branch_code": branch_code,
                    "item_key": item_key,
                    "uploaded_by": who.label,
                    "uploaded_at": utcnow(),
                    **file,
                }
            )
        )
        _audit(
            db,
            "assessment_attachment_added",
            who,
            f"{current.id}:{branch_code}:{item_key}",
            filename=file["filename"],
            size=file["size"],
        )
    return attachment_id
