"""Schema migrations, applied in order and recorded in `_sqlite_migrations`.

Rules: a migration that has shipped is never edited; a schema change is a new step. A
migration is frozen history: it imports nothing of the live application (whose functions
change), only libraries, and carries its own copy of any logic it needs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("wishes")


def _search_words(row: dict) -> str:
    """0003's copy of a wish's search text: its text, reason, location and tags cut by jieba's
    search mode. (The app's own tokenizer also normalises and knows the hospital's words; it
    indexes every wish written or changed after the upgrade.)"""
    import json

    import jieba

    parts = [row["text"] or "", row["reason"] or "", row["location"] or ""]
    parts += json.loads(row["tags"] or "[]")
    return " ".join(w for w in jieba.cut_for_search(" ".join(parts)) if w.strip())


def _hospital_day(stamp: str) -> str:
    """0005's copy of the hospital's date of a stored UTC timestamp (`YYYY-MM-DD HH:MM:SS`)."""
    zone = current_app.config["WISHES_TIMEZONE"] if has_app_context() else "Asia/Shanghai"
    moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).date().isoformat()


@migrations(name="0001_organisation_and_wishes")
def organisation_and_wishes(db: Database) -> None:
    db.table("general_branches").create(
        {"code": str, "name": str, "active": int, "sort_order": int},
        pk="code",
        not_null={"name"},
        defaults={"active": 1, "sort_order": 0},
    )
    db.table("branches").create(
        {
            "code": str,
            "name": str,
            "general_branch_code": str,
            "scope": str,
            "active": int,
            "sort_order": int,
        },
        pk="code",
        not_null={"name", "general_branch_code"},
        defaults={"active": 1, "sort_order": 0, "scope": ""},
        foreign_keys=[("general_branch_code", "general_branches", "code")],
    )
    db.table("departments").create(
        {"code": str, "name": str, "kind": str, "active": int, "sort_order": int},
        pk="code",
        not_null={"name", "kind"},
        defaults={"active": 1, "sort_order": 0},
    )
    db.table("wishes").create(
        {
            "id": int,
            "tracking_code": str,
            "text": str,
            "reason": str,
            "department_code": str,
            "location": str,
            "patient_name": str,
            "phone": str,
            "contact_consent": int,
            "channel": str,
            "state": str,
            "branch_code": str,
            "router_branch_code": str,
            "router_confidence": float,
            "router_suggestions": str,
            "router_model": str,
            "tags": str,
            "claimant_kind": str,
            "claimant_name": str,
            "fulfilment_note": str,
            "decline_reason": str,
            "patient_confirmed": int,
            "created_at": str,
            "updated_at": str,
            "routed_at": str,
            "claimed_at": str,
            "fulfilled_at": str,
            "closed_at": str,
        },
        pk="id",
        not_null={"tracking_code", "text", "state", "channel", "created_at", "updated_at"},
        defaults={"contact_consent": 0, "reason": "", "location": ""},
        foreign_keys=[
            ("department_code", "departments", "code"),
            ("branch_code", "branches", "code"),
            ("router_branch_code", "branches", "code"),
        ],
    )
    wishes = db.table("wishes")
    wishes.create_index(["tracking_code"], unique=True)
    wishes.create_index(["state", "created_at"])
    wishes.create_index(["branch_code", "state", "created_at"])
    wishes.create_index(["created_at"])
    db.table("wish_events").create(
        {
            "id": int,
            "wish_id": int,
            "at": str,
            "action": str,
            "from_state": str,
            "to_state": str,
            "branch_code": str,
            "actor_kind": str,
            "actor_label": str,
            "reason": str,
            "data": str,
        },
        pk="id",
        not_null={"wish_id", "at", "action", "actor_kind"},
        foreign_keys=[("wish_id", "wishes", "id"), ("branch_code", "branches", "code")],
    )
    db.table("wish_events").create_index(["wish_id", "id"])
    db.table("wish_events").create_index(["at"])


@migrations(name="0002_staff_users")
def staff_users(db: Database) -> None:
    db.table("users").create(
        {
            "id": int,
            "username": str,
            "display_name": str,
            "password_hash": str,
            "role": str,
            "branch_code": str,
            "active": int,
            "created_at": str,
            "last_login_at": str,
        },
        pk="id",
        not_null={"username", "role", "created_at"},
        defaults={"active": 1, "display_name": ""},
        foreign_keys=[("branch_code", "branches", "code")],
    )
    db.table("users").create_index(["username"], unique=True)
    # Who acted on a wish, and who holds a personal claim, now point at real accounts.
    db.table("wish_events").add_column("actor_user_id", int, fk="users", fk_col="id")
    db.table("wishes").add_column("claimant_user_id", int, fk="users", fk_col="id")
    db.table("wish_events").create_index(["actor_user_id"])


@migrations(name="0003_claim_board_accounts_audit")
def claim_board_accounts_audit(db: Database) -> None:
    wishes = db.table("wishes")
    # Who pressed "claim" (whatever name the claim carries): the board's "my claims".
    wishes.add_column("claimed_by_user_id", int, fk="users", fk_col="id")
    wishes.add_column("fulfilment_photo", str)
    # The wish, reason and tags cut into words by jieba: FTS5 cannot split Chinese itself.
    wishes.add_column("search_text", str)
    wishes.create_index(["state", "routed_at"])
    wishes.create_index(["state", "claimed_at"])
    wishes.create_index(["claimed_by_user_id"])
    wishes.enable_fts(["search_text"], create_triggers=True)
    if wishes.count:
        for row in list(db.query("SELECT id, text, reason, location, tags FROM wishes")):
            wishes.update(row["id"], {"search_text": _search_words(row)})

    users = db.table("users")
    users.add_column("must_change_password", int, not_null_default=0)
    users.add_column("password_changed_at", str)

    # One row per staff login; the cookie holds only a random token whose hash is stored here,
    # so logging out, a password change or deactivation really ends a session.
    db.table("staff_sessions").create(
        {
            "id": int,
            "token_hash": str,
            "user_id": int,
            "created_at": str,
            "last_seen_at": str,
            "ended_at": str,
        },
        pk="id",
        not_null={"token_hash", "user_id", "created_at", "last_seen_at"},
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("staff_sessions").create_index(["token_hash"], unique=True)
    db.table("staff_sessions").create_index(["user_id"])

    db.table("login_attempts").create(
        {"id": int, "at": str, "username": str, "address": str, "succeeded": int},
        pk="id",
        not_null={"at", "username", "address", "succeeded"},
    )
    db.table("login_attempts").create_index(["username", "at"])
    db.table("login_attempts").create_index(["address", "at"])

    db.table("audit_events").create(
        {
            "id": int,
            "at": str,
            "action": str,
            "actor_user_id": int,
            "actor_label": str,
            "address": str,
            "subject_kind": str,
            "subject_id": str,
            "detail": str,
        },
        pk="id",
        not_null={"at", "action"},
    )
    db.table("audit_events").create_index(["at"])
    db.table("audit_events").create_index(["action", "at"])
    db.table("audit_events").create_index(["subject_kind", "subject_id"])
    # Append-only: the database itself refuses to change or remove an audit record.
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )

    db.table("notifications").create(
        {
            "id": int,
            "kind": str,
            "dedupe_key": str,
            "wish_id": int,
            "branch_code": str,
            "message": str,
            "created_at": str,
            "attempts": int,
            "next_attempt_at": str,
            "delivered_at": str,
            "failed_at": str,
            "last_error": str,
        },
        pk="id",
        not_null={"kind", "dedupe_key", "message", "created_at", "next_attempt_at"},
        defaults={"attempts": 0},
        foreign_keys=[("wish_id", "wishes", "id"), ("branch_code", "branches", "code")],
    )
    db.table("notifications").create_index(["dedupe_key"], unique=True)
    db.table("notifications").create_index(["delivered_at", "failed_at", "next_attempt_at"])


@migrations(name="0004_board_indexes")
def board_indexes(db: Database) -> None:
    """Measured by benchmarks/board.py at 100k wishes: a branch's newest wishes without a sort
    (15.6 → 0.1 ms), and the overdue counts of every staff page read from indexes (12 → 3 ms)."""
    wishes = db.table("wishes")
    wishes.create_index(["branch_code", "created_at"])
    for clock in ("routed_at", "created_at", "claimed_at"):
        wishes.create_index(["state", clock, "branch_code"])
    for clock in ("routed_at", "created_at", "claimed_at"):
        # The wider indexes above serve every query these served.
        db.execute(f"DROP INDEX IF EXISTS idx_wishes_state_{clock}")


@migrations(name="0005_questionnaires_and_figures")
def questionnaires_and_figures(db: Database) -> None:
    """Questionnaires with versions, anonymous responses, and the daily tallies the dashboard
    reads: a year of a million responses is summed from tallies, never from the answers."""
    db.table("questionnaires").create(
        {"id": int, "slug": str, "created_at": str, "published_version_id": int},
        pk="id",
        not_null={"slug", "created_at"},
    )
    db.table("questionnaires").create_index(["slug"], unique=True)
    db.table("questionnaire_versions").create(
        {
            "id": int,
            "questionnaire_id": int,
            "number": int,
            "definition": str,  # JSON: titles and questions (wishes/questionnaires/definition.py)
            "created_at": str,
            "created_by": str,
            "published_at": str,
        },
        pk="id",
        not_null={"questionnaire_id", "number", "definition", "created_at"},
        foreign_keys=[("questionnaire_id", "questionnaires", "id")],
    )
    db.table("questionnaire_versions").create_index(["questionnaire_id", "number"], unique=True)
    db.table("responses").create(
        {
            "id": int,
            # Drawn when the form is shown: a double click, a refresh or the back button
            # sends the same one again, and the unique index keeps the second copy out.
            "submission_id": str,
            "questionnaire_id": int,
            "version_id": int,
            "department_code": str,
            "channel": str,
            "submitted_at": str,
            "local_day": str,  # the hospital's calendar day, for weeks, months and quarters
            "comment_tags": str,
        },
        pk="id",
        not_null={"submission_id", "questionnaire_id", "version_id", "submitted_at", "local_day"},
        foreign_keys=[
            ("questionnaire_id", "questionnaires", "id"),
            ("version_id", "questionnaire_versions", "id"),
            ("department_code", "departments", "code"),
        ],
    )
    db.table("responses").create_index(["submission_id"], unique=True)
    db.table("responses").create_index(["questionnaire_id", "local_day"])
    db.table("answers").create(
        {
            "id": int,
            "response_id": int,
            "question_key": str,
            "value": int,  # a rating (scale 5) or a likelihood to recommend (scale 10)
            "scale": int,
            "option": str,  # the key of a chosen option; one row per option chosen
            "text": str,
        },
        pk="id",
        not_null={"response_id", "question_key"},
        foreign_keys=[("response_id", "responses", "id")],
    )
    db.table("answers").create_index(["response_id"])
    db.table("answers").create_index(["question_key", "response_id"])

    # Daily tallies, kept by triggers so that every way of storing a response keeps them true.
    db.table("response_days").create(
        {"questionnaire_id": int, "day": str, "department_code": str, "n": int},
        pk=("questionnaire_id", "day", "department_code"),
    )
    db.table("answer_days").create(
        {
            "questionnaire_id": int,
            "question_key": str,
            "option": str,  # '' for a scale question
            "day": str,
            "department_code": str,  # '' when the patient chose none
            "n": int,
            "total": int,
            "total_sq": int,
            "top": int,  # 4–5 of 5; promoters (9–10) of 10
            "bottom": int,  # 1–2 of 5; detractors (0–6) of 10
        },
        pk=("questionnaire_id", "question_key", "option", "day", "department_code"),
    )
    db.execute(
        """
        CREATE TRIGGER responses_tally AFTER INSERT ON responses BEGIN
          INSERT INTO response_days (questionnaire_id, day, department_code, n)
          VALUES (new.questionnaire_id, new.local_day, coalesce(new.department_code, ''), 1)
          ON CONFLICT DO UPDATE SET n = n + 1;
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER answers_tally AFTER INSERT ON answers
        WHEN new.value IS NOT NULL OR new.option IS NOT NULL BEGIN
          INSERT INTO answer_days
            (questionnaire_id, question_key, option, day, department_code,
             n, total, total_sq, top, bottom)
          SELECT r.questionnaire_id, new.question_key, coalesce(new.option, ''), r.local_day,
                 coalesce(r.department_code, ''), 1,
                 coalesce(new.value, 0), coalesce(new.value * new.value, 0),
                 CASE WHEN new.scale = 5 THEN new.value >= 4
                      WHEN new.scale = 10 THEN new.value >= 9 ELSE 0 END,
                 CASE WHEN new.scale = 5 THEN new.value <= 2
                      WHEN new.scale = 10 THEN new.value <= 6 ELSE 0 END
          FROM responses r WHERE r.id = new.response_id
          ON CONFLICT DO UPDATE SET n = n + 1, total = total + excluded.total,
            total_sq = total_sq + excluded.total_sq, top = top + excluded.top,
            bottom = bottom + excluded.bottom;
        END
        """
    )

    # Wishes: the hospital's day, and the two waits the dashboard reports, kept by triggers so
    # that percentiles are read off an index in order instead of sorting a year of wishes.
    wishes = db.table("wishes")
    wishes.add_column("local_day", str)
    wishes.add_column("claim_minutes", int)  # routed (open on the board) → claimed
    wishes.add_column("fulfil_minutes", int)  # submitted → fulfilled
    waits = """
          UPDATE wishes SET
            claim_minutes = CAST(round((julianday(new.claimed_at) - julianday(new.routed_at))
                                       * 1440) AS INTEGER),
            fulfil_minutes = CAST(round((julianday(new.fulfilled_at)
                                         - julianday(new.created_at)) * 1440) AS INTEGER)
          WHERE id = new.id;
    """
    db.execute(
        f"CREATE TRIGGER wishes_waits AFTER UPDATE OF claimed_at, fulfilled_at ON wishes "
        f"BEGIN {waits} END"
    )
    db.execute(
        f"CREATE TRIGGER wishes_waits_on_insert AFTER INSERT ON wishes "
        f"WHEN new.claimed_at IS NOT NULL OR new.fulfilled_at IS NOT NULL BEGIN {waits} END"
    )
    if wishes.count:
        for row in list(db.query("SELECT id, created_at FROM wishes")):
            wishes.update(row["id"], {"local_day": _hospital_day(row["created_at"])})
        db.execute("UPDATE wishes SET claimed_at = claimed_at")  # fires the trigger above
    for wait in ("claim_minutes", "fulfil_minutes"):
        wishes.create_index([wait, "local_day", "department_code"])
        wishes.create_index(["branch_code", wait, "local_day", "department_code"])
    wishes.create_index(
        [
            "local_day",
            "branch_code",
            "department_code",
            "state",
            "router_branch_code",
            "claim_minutes",
        ]
    )

    db.table("wish_tag_days").create(
        {"day": str, "tag": str, "n": int},
        pk=("day", "tag"),
    )
    db.table("wish_tag_days").create_index(["tag", "day"])
    db.execute(
        """
        CREATE TRIGGER wishes_tag_tally AFTER INSERT ON wishes
        WHEN new.tags IS NOT NULL AND new.local_day IS NOT NULL BEGIN
          INSERT INTO wish_tag_days (day, tag, n)
          SELECT new.local_day, value, 1 FROM json_each(new.tags) WHERE true
          ON CONFLICT DO UPDATE SET n = n + 1;
        END
        """
    )
    if wishes.count:
        db.execute(
            """
            INSERT INTO wish_tag_days (day, tag, n)
            SELECT w.local_day, t.value, count(*) FROM wishes w, json_each(w.tags) t
            WHERE w.tags IS NOT NULL GROUP BY 1, 2
            """
        )


@migrations(name="0006_rate_limits")
def rate_limits(db: Database) -> None:
    """Request counters per address and time window, shared by every worker process."""
    db.table("rate_limits").create(
        {"name": str, "key": str, "window": int, "n": int},
        pk=("name", "key", "window"),
    )
    db.table("rate_limits").create_index(["window"])


@migrations(name="0007_search_index_follows_search_text")
def search_index_follows_search_text(db: Database) -> None:
    """Re-index a wish only when its search text changes, not on every state change.

    The trigger sqlite-utils' `enable_fts` made ran on any UPDATE: each claim rewrote the
    wish's index entry, and an UPDATE made by another AFTER INSERT trigger (the waits of a
    wish inserted already claimed) ran before the insert's own index entry existed, deleting
    an entry that was not there and corrupting the FTS5 index.
    """
    db.execute("DROP TRIGGER IF EXISTS wishes_au")
    db.execute(
        """
        CREATE TRIGGER wishes_au AFTER UPDATE OF search_text ON wishes BEGIN
          INSERT INTO wishes_fts (wishes_fts, rowid, search_text)
            VALUES ('delete', old.rowid, old.search_text);
          INSERT INTO wishes_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
        END
        """
    )


@migrations(name="0008_wish_events_append_only")
def wish_events_append_only(db: Database) -> None:
    """A wish's history is evidence, like the audit log: the database refuses to rewrite it."""
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER wish_events_no_{verb.lower()} BEFORE {verb} ON wish_events "
            "BEGIN SELECT RAISE(ABORT, 'wish_events is append-only'); END"
        )


@migrations(name="0009_dashboard_covering_indexes")
def dashboard_covering_indexes(db: Database) -> None:
    """Measured by benchmarks/dashboard.py at 1M responses: a year of tallies and of tags is
    read from covering indexes in day order instead of looking up each row."""
    db.table("answer_days").create_index(
        [
            "questionnaire_id",
            "option",
            "day",
            "question_key",
            "department_code",
            "n",
            "total",
            "total_sq",
            "top",
            "bottom",
        ]
    )
    db.table("wish_tag_days").create_index(["day", "tag", "n"])


@migrations(name="0010_responses_by_version")
def responses_by_version(db: Database) -> None:
    """The admin's list of versions counts each version's responses from an index."""
    db.table("responses").create_index(["version_id"])


@migrations(name="0011_branch_assessment")
def branch_assessment(db: Database) -> None:
    """The branches' 五化 assessment: scheme versions, rounds, scores and their evidence, and
    which departments each branch serves (their patients' satisfaction scores the branch)."""
    db.table("branch_departments").create(
        {"branch_code": str, "department_code": str},
        pk=("branch_code", "department_code"),
        foreign_keys=[
            ("branch_code", "branches", "code"),
            ("department_code", "departments", "code"),
        ],
    )
    db.table("assessment_schemes").create(
        {"id": int, "slug": str, "name": str, "created_at": str},
        pk="id",
        not_null={"slug", "name", "created_at"},
    )
    db.table("assessment_schemes").create_index(["slug"], unique=True)
    db.table("assessment_scheme_versions").create(
        {
            "id": int,
            "scheme_id": int,
            "number": int,
            "definition": str,  # JSON checked by wishes/assessment/scheme.py
            "created_at": str,
            "created_by": str,
        },
        pk="id",
        not_null={"scheme_id", "number", "definition", "created_at"},
        foreign_keys=[("scheme_id", "assessment_schemes", "id")],
    )
    db.table("assessment_scheme_versions").create_index(["scheme_id", "number"], unique=True)
    db.table("assessment_rounds").create(
        {
            "id": int,
            "name": str,
            "first_day": str,  # the period whose wishes and answers the computed items count
            "last_day": str,
            "scheme_version_id": int,
            "stage": str,  # self · inspection · published
            "created_at": str,
            "created_by": str,
            "published_at": str,
        },
        pk="id",
        not_null={"name", "first_day", "last_day", "scheme_version_id", "stage", "created_at"},
        foreign_keys=[("scheme_version_id", "assessment_scheme_versions", "id")],
    )
    db.table("assessment_rounds").create_index(["last_day"])
    db.table("assessment_round_branches").create(
        {"round_id": int, "branch_code": str},
        pk=("round_id", "branch_code"),
        foreign_keys=[("round_id", "assessment_rounds", "id"), ("branch_code", "branches", "code")],
    )
    db.table("assessment_scores").create(
        {
            "round_id": int,
            "branch_code": str,
            "item_key": str,
            # The branch secretary's self-assessment.
            "self_points": float,
            "self_note": str,
            "self_by": str,
            "self_at": str,
            # The inspection: confirmed (same points) or changed with a reason.
            "points": float,
            "reason": str,
            "inspected_by": str,
            "inspected_at": str,
            # A computed item's figure and count, frozen when the round is published.
            "figure": float,
            "count": int,
        },
        pk=("round_id", "branch_code", "item_key"),
        foreign_keys=[("round_id", "assessment_rounds", "id"), ("branch_code", "branches", "code")],
    )
    db.table("assessment_attachments").create(
        {
            "id": int,
            "round_id": int,
            "branch_code": str,
            "item_key": str,
            "filename": str,  # as uploaded, shown to staff
            "stored_name": str,  # random, under WISHES_DATA_DIR/attachments
            "content_type": str,
            "size": int,
            "uploaded_by": str,
            "uploaded_at": str,
        },
        pk="id",
        not_null={"round_id", "branch_code", "item_key", "stored_name", "uploaded_at"},
        foreign_keys=[("round_id", "assessment_rounds", "id"), ("branch_code", "branches", "code")],
    )
    db.table("assessment_attachments").create_index(["round_id", "branch_code", "item_key"])
    # A branch's wishes in a period, with everything the computed items count, from one index.
    db.table("wishes").create_index(
        ["branch_code", "local_day", "state", "claim_minutes", "patient_confirmed", "routed_at"],
        index_name="idx_wishes_assessment",
    )


@migrations(name="0013_english_names")
def english_names(db: Database) -> None:
    """English names of branches and departments, for the patient pages in English (the
    Traditional names are converted from the Chinese ones)."""
    for table in ("branches", "departments"):
        db.table(table).add_column("name_en", str)


@migrations(name="0014_state_counts_and_day_figures")
def state_counts_and_day_figures(db: Database) -> None:
    """Counts per branch and state kept by triggers, and the dashboard's waits by day
    (docs/performance.md).

    The board shows a count per state on every page; counted from the wishes, the whole
    hospital's tabs read every wish (1M wishes: a scan of 1M index entries per page view).
    Read from `wish_state_counts` they cost a dozen rows however many wishes there are
    (`branch_code` is '' for wishes waiting for triage). Indexes: the dashboard's wish figures
    and "my claims" on the board (see below).
    """
    db.execute(
        """CREATE TABLE wish_state_counts (
             branch_code TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL,
             PRIMARY KEY (branch_code, state)) WITHOUT ROWID"""
    )
    plus = """INSERT INTO wish_state_counts (branch_code, state, n)
                VALUES (coalesce(new.branch_code, ''), new.state, 1)
                ON CONFLICT DO UPDATE SET n = n + 1;"""
    minus = """UPDATE wish_state_counts SET n = n - 1
                WHERE branch_code = coalesce(old.branch_code, '') AND state = old.state;"""
    db.execute(f"CREATE TRIGGER wishes_state_count_insert AFTER INSERT ON wishes BEGIN {plus} END")
    db.execute(
        "CREATE TRIGGER wishes_state_count_update AFTER UPDATE OF state, branch_code ON wishes "
        "WHEN old.state IS NOT new.state OR old.branch_code IS NOT new.branch_code "
        f"BEGIN {minus} {plus} END"
    )
    db.execute(f"CREATE TRIGGER wishes_state_count_delete AFTER DELETE ON wishes BEGIN {minus} END")
    db.execute(
        """INSERT INTO wish_state_counts (branch_code, state, n)
           SELECT coalesce(branch_code, ''), state, count(*) FROM wishes GROUP BY 1, 2"""
    )

    # The dashboard's wish figures read each branch's range of days from one covering index,
    # in day order. Through the wait-ordered indexes each percentile walked every wish of all
    # time whatever the range; three of them are read by nothing any more.
    db.table("wishes").create_index(
        [
            "branch_code",
            "local_day",
            "department_code",
            "state",
            "router_branch_code",
            "claim_minutes",
            "fulfil_minutes",
        ],
        index_name="idx_wishes_branch_code_local_day_figures",
    )
    # (The branch, fulfil_minutes index stays: the assessment reads its medians off it.)
    for index in (
        "claim_minutes_local_day_department_code",
        "fulfil_minutes_local_day_department_code",
        "branch_code_claim_minutes_local_day_department_code",
    ):
        db.execute(f"DROP INDEX idx_wishes_{index}")

    # "My claims" (in the member's branch) counts its states and pages in date order off one
    # covering index: the fill of benchmarks/load.py gives a member 90,000 claims, counted in
    # 230 ms with a table look-up each, 7 ms from this index.
    db.table("wishes").create_index(["claimed_by_user_id", "state", "created_at", "branch_code"])
    db.execute("DROP INDEX idx_wishes_claimed_by_user_id")


@migrations(name="0015_organisation_units")
def organisation_units(db: Database) -> None:
    """The organisation managed in the app (docs/organisation.md): each unit's campus, English
    and typed Traditional names, a merged branch's successor, and the routing map's rows.

    Units are never deleted once anything names them: a unit leaves the pickers by `active = 0`
    and keeps its name for history. `name_hant` NULL means "converted from `name` by OpenCC".
    """
    db.table("general_branches").add_column("name_en", str)
    for table in ("general_branches", "branches", "departments"):
        db.table(table).add_column("name_hant", str)
    db.table("departments").add_column("campus", str)
    # A unit is a department or a ward (the workbook's `kind`); the first demo data also said
    # outpatient and medtech, which nothing read.
    db.execute(
        "UPDATE departments SET kind = 'department' WHERE kind NOT IN ('department', 'ward')"
    )
    branches = db.table("branches")
    branches.add_column("merged_into", str, fk="branches", fk_col="code")
    branches.add_column("merged_at", str)
    # The hospital's routing map (a need's category, optionally per department or ward, to
    # the branch that handles it), kept as rows in workbook order until routing reads it.
    db.table("routing").create(
        {"id": int, "category": str, "department_code": str, "branch_code": str},
        pk="id",
        not_null={"category", "branch_code"},
        foreign_keys=[
            ("department_code", "departments", "code"),
            ("branch_code", "branches", "code"),
        ],
    )
    db.execute(
        "CREATE UNIQUE INDEX idx_routing_category_department "
        "ON routing (category, coalesce(department_code, ''))"
    )
    db.table("routing").create_index(["branch_code"])


@migrations(name="0016_staff_phone_and_directory")
def staff_phone_and_directory(db: Database) -> None:
    """A staff member's phone number (optional; shown masked, revealed only on purpose and
    audited), and where an account signs in: `local` (a password kept here) or `directory`
    (the hospital's LDAP or Active Directory checks the password; no local password)."""
    users = db.table("users")
    users.add_column("phone", str)
    users.add_column("source", str, not_null_default="local")


@migrations(name="0017_hospital_settings")
def hospital_settings(db: Database) -> None:
    """Settings the administrator edits in the app (the hospital's name, public address,
    deadlines…; `wishes/hospital/`), one row per setting with who changed it and when, as
    typed (parsed when read). The first run's state is kept here too (`setup_state`,
    `setup_code_hash`): rows no page lists."""
    db.table("hospital_settings").create(
        {
            "name": str,
            "value": str,
            "changed_by_user_id": int,
            "changed_by": str,
            "changed_at": str,
        },
        pk="name",
        not_null={"name", "value", "changed_at"},
    )


# 0018's copy of the demo hospital's routing map (wishes/organisation/default.json, `routing`).
_DEMO_MAP = {
    "logistics": ("daily_items", "room_repairs", "mobility", "parking"),
    "catering": ("meals", "drinking_water"),
    "outpatient": ("appointments", "visit_guidance"),
    "medtech": ("exams", "reports"),
    "pharmacy": ("medication",),
    "finance": ("fees_insurance",),
    "nursing": ("nursing_care",),
    "pediatrics": ("child_joy", "newborn_care"),
    "volunteer": ("companionship", "errands"),
    "office": ("praise", "complaints", "info_channels"),
}


@migrations(name="0018_wish_categories")
def wish_categories(db: Database) -> None:
    """Each wish's category of need (wishes/needs.toml): the router predicts it, staff confirm
    or correct it, and the routing map turns it into a branch. Wishes stored before have none
    until `wishes categorise` gives them one. A database made by the demo, whose routing map
    is still empty, gets the demo's map, which routes as its branch model did."""
    db.table("wishes").add_column("category", str)
    db.table("wishes").create_index(["category", "created_at"])
    branches = {row[0] for row in db.execute("SELECT code FROM branches WHERE active = 1")}
    empty = db.execute("SELECT count(*) FROM routing").fetchone()[0] == 0
    if empty and set(_DEMO_MAP) <= branches:
        db.table("routing").insert_all(
            {"category": category, "department_code": None, "branch_code": branch}
            for branch, categories in _DEMO_MAP.items()
            for category in categories
        )


@migrations(name="0019_correction_reviews")
def correction_reviews(db: Database) -> None:
    """The office's review of one account's category corrections in one week (%Y-%W) beyond
    the weekly number the router learns from unreviewed (lifecycle.corrected_labels)."""
    db.table("correction_reviews").create(
        {
            "actor_user_id": int,
            "week": str,
            "reviewed_by_user_id": int,
            "reviewed_by": str,
            "reviewed_at": str,
        },
        pk=("actor_user_id", "week"),
        not_null={"actor_user_id", "week", "reviewed_at"},
    )


@migrations(name="0020_search_words_version")
def search_words_version(db: Database) -> None:
    """Which dictionary cut the stored search words, as the database's user_version: 1 for
    wishes stored before jieba's dictionary lost its rarest words (the serving app cuts them
    again once: search.reindex_if_needed), 2 (the trimmed dictionary) for a database that has
    no wish yet."""
    has_wishes = db.execute("SELECT 1 FROM wishes LIMIT 1").fetchone() is not None
    db.execute(f"PRAGMA user_version = {1 if has_wishes else 2}")


@migrations(name="0021_backup_runs_and_personal_data_erasure")
def backup_runs_and_personal_data_erasure(db: Database) -> None:
    """Each backup the worker (or `wishes backup`) made or failed to make, for the settings
    page; and when a wish's personal data (the patient's name and phone) was erased, with a
    partial index over the closed wishes that still hold some, which the worker's erasure
    round reads."""
    db.table("backup_runs").create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "trigger": str,  # schedule · command
            "path": str,
            "size": int,
            "files": int,  # files of photos/ and attachments/ in the archive
            "outcome": str,  # ok · failed
            "error": str,
            "removed": int,  # older backups removed by the retention rule
        },
        pk="id",
        not_null={"started_at", "trigger", "outcome"},
    )
    db.table("backup_runs").create_index(["trigger", "started_at"])
    db.table("wishes").add_column("personal_data_erased_at", str)
    db.execute(
        "CREATE INDEX idx_wishes_personal_data_closed ON wishes (closed_at) "
        "WHERE patient_name IS NOT NULL OR phone IS NOT NULL"
    )


@migrations(name="0022_kiosk_devices")
def kiosk_devices(db: Database) -> None:
    """Kiosks the administrator registered (wishes/kiosks): the hash of each one's cookie
    token, so the public forms can count a kiosk's submissions apart from its address."""
    db.table("kiosk_devices").create(
        {
            "id": int,
            "name": str,
            "token_hash": str,
            "registered_by": int,
            "registered_at": str,
            "revoked_at": str,
        },
        pk="id",
        not_null={"name", "token_hash", "registered_at"},
        foreign_keys=[("registered_by", "users", "id")],
    )
    db.table("kiosk_devices").create_index(["token_hash"], unique=True)


@migrations(name="0023_comment_readings")
def comment_readings(db: Database) -> None:
    """How each response's free-text comment reads: its sentiment (negative, neutral,
    positive) and its need category (questionnaires/comments.py); empty without a comment."""
    db.table("responses").add_column("comment_sentiment", str)
    db.table("responses").add_column("comment_category", str)


@migrations(name="0024_questionnaire_open_days")
def questionnaire_open_days(db: Database) -> None:
    """When patients may answer a questionnaire: its first and last day (the hospital's
    calendar, both optional: open from publication, open until closed)."""
    db.table("questionnaires").add_column("opens_on", str)
    db.table("questionnaires").add_column("closes_on", str)


@migrations(name="0025_thanks_passed_on")
def thanks_passed_on(db: Database) -> None:
    """Praise in a comment, passed on by the Party-building office to the people praised:
    when and by whom; a partial index over the praise still waiting, which the office's
    page and its count in the navigation read."""
    db.table("responses").add_column("thanks_passed_on_at", str)
    db.table("responses").add_column("thanks_passed_on_by", str)
    db.execute(
        "CREATE INDEX idx_responses_thanks_waiting ON responses (id) "
        "WHERE comment_sentiment = 'positive' AND comment_category = 'praise' "
        "AND thanks_passed_on_at IS NULL"
    )


@migrations(name="0026_patient_texts_and_event_webhooks")
def patient_texts_and_event_webhooks(db: Database) -> None:
    """Texts to patients and webhooks out, through the one outbox (`notifications`).

    A wish keeps the language its patient wrote it in (a text is in that language; wishes
    stored before have none: Simplified Chinese), the token of the link in a text that stops
    further texts, and when the patient used it. A notification may carry a payload frozen
    at the change (a webhook's JSON), and every delivery attempt is a row of its own (when,
    HTTP status, error) for the administrator's delivery log."""
    wishes = db.table("wishes")
    wishes.add_column("language", str)
    wishes.add_column("texts_stop_token", str)
    wishes.add_column("texts_stopped_at", str)
    db.table("notifications").add_column("payload", str)
    db.table("notification_attempts").create(
        {
            "id": int,
            "notification_id": int,
            "at": str,
            "ok": int,
            "status": int,  # the HTTP status, when there was an answer
            "error": str,
        },
        pk="id",
        not_null={"notification_id", "at", "ok"},
        foreign_keys=[("notification_id", "notifications", "id")],
    )
    db.table("notification_attempts").create_index(["notification_id", "id"])
    db.table("notifications").create_index(["kind", "id"])


@migrations(name="0027_wish_ratings")
def wish_ratings(db: Database) -> None:
    """Did it help? The patient's one answer about a fulfilled wish (issue 19, item 2): 1–5,
    an optional comment (the patient's words, kept as the wish's own text is), the page's
    language and audience, and the page's submission id (a double submit stores once). A low
    answer (1–2) puts the wish on the Party-building office's follow-up list until the office
    records the follow-up: `wishes.follow_up_due_at`, with a partial index over the waiting
    ones, which the list and its count in the navigation read."""
    db.execute(
        """CREATE TABLE wish_ratings (
               wish_id INTEGER PRIMARY KEY REFERENCES wishes(id),
               rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
               comment TEXT NOT NULL DEFAULT '',
               language TEXT NOT NULL,
               channel TEXT NOT NULL,
               submission_id TEXT NOT NULL,
               rated_at TEXT NOT NULL
           )"""
    )
    db.table("wishes").add_column("follow_up_due_at", str)
    db.execute(
        "CREATE INDEX idx_wishes_follow_up_due ON wishes (follow_up_due_at) "
        "WHERE follow_up_due_at IS NOT NULL"
    )


@migrations(name="0028_api_tokens")
def api_tokens(db: Database) -> None:
    """Personal access tokens of the JSON API (wishes/accounts/tokens.py): each one's SHA-256
    (the token itself is shown once and never stored), the first characters that name it on
    the account page, its scopes (`read`, `write`), when it expires, was revoked and last used."""
    db.table("api_tokens").create(
        {
            "id": int,
            "user_id": int,
            "name": str,
            "token_hash": str,
            "prefix": str,
            "scopes": str,  # space-separated: read · write
            "created_at": str,
            "created_by": str,
            "expires_at": str,
            "revoked_at": str,
            "last_used_at": str,
        },
        pk="id",
        not_null={"user_id", "name", "token_hash", "prefix", "scopes", "created_at", "expires_at"},
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("api_tokens").create_index(["token_hash"], unique=True)
    db.table("api_tokens").create_index(["user_id"])


@migrations(name="0029_similar_wishes_and_merging")
def similar_wishes_and_merging(db: Database) -> None:
    """Similar wishes (issue 19, item 3): the pairs found when a wish arrives (the same need:
    category, department, similar words, within 30 days), each once (`wish_id` < `other_id`)
    with its score; and the wish a duplicate was merged into, whose state it follows from then
    on (lifecycle.merge), with a partial index over the merged ones."""
    db.execute(
        """CREATE TABLE similar_wishes (
               wish_id INTEGER NOT NULL REFERENCES wishes(id),
               other_id INTEGER NOT NULL REFERENCES wishes(id),
               score REAL NOT NULL,
               found_at TEXT NOT NULL,
               PRIMARY KEY (wish_id, other_id),
               CHECK (wish_id < other_id)
           ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX idx_similar_wishes_other ON similar_wishes (other_id)")
    db.execute("ALTER TABLE wishes ADD COLUMN merged_into_id INTEGER REFERENCES wishes(id)")
    db.execute(
        "CREATE INDEX idx_wishes_merged_into ON wishes (merged_into_id) "
        "WHERE merged_into_id IS NOT NULL"
    )
    db.execute(
        "CREATE INDEX idx_wishes_similar_candidates ON wishes (category, created_at) "
        "WHERE merged_into_id IS NULL AND state IN ('triage', 'open', 'claimed', 'in_progress')"
    )


@migrations(name="0030_staff_coordination")
def staff_coordination(db: Database) -> None:
    """Staff coordinate (issue 19, item 4): the member of the branch a secretary assigned a
    claimed wish to; internal notes on a wish (staff only); every staff member's inbox (a new
    wish for my branch, assigned to me, overdue, sent back by the patient) and, per kind,
    whether it also goes out to the branch's webhook, whose address each branch may have."""
    db.execute("ALTER TABLE wishes ADD COLUMN assigned_user_id INTEGER REFERENCES users(id)")
    db.table("wishes").add_column("assigned_at", str)
    db.execute(
        "CREATE INDEX idx_wishes_assigned ON wishes (assigned_user_id) "
        "WHERE assigned_user_id IS NOT NULL"
    )
    db.table("branches").add_column("webhook_url", str)
    db.execute(
        """CREATE TABLE wish_notes (
               id INTEGER PRIMARY KEY,
               wish_id INTEGER NOT NULL REFERENCES wishes(id),
               user_id INTEGER REFERENCES users(id),
               author TEXT NOT NULL,
               text TEXT NOT NULL,
               created_at TEXT NOT NULL
           )"""
    )
    db.execute("CREATE INDEX idx_wish_notes_wish ON wish_notes (wish_id, id)")
    db.execute(
        """CREATE TABLE inbox (
               id INTEGER PRIMARY KEY,
               user_id INTEGER NOT NULL REFERENCES users(id),
               wish_id INTEGER NOT NULL REFERENCES wishes(id),
               kind TEXT NOT NULL,
               dedupe_key TEXT NOT NULL,
               created_at TEXT NOT NULL,
               read_at TEXT,
               UNIQUE (user_id, dedupe_key)
           )"""
    )
    db.execute("CREATE INDEX idx_inbox_user ON inbox (user_id, id)")
    db.execute("CREATE INDEX idx_inbox_unread ON inbox (user_id) WHERE read_at IS NULL")
    db.execute(
        """CREATE TABLE inbox_webhook_kinds (
               user_id INTEGER NOT NULL REFERENCES users(id),
               kind TEXT NOT NULL,
               PRIMARY KEY (user_id, kind)
           ) WITHOUT ROWID"""
    )
