"""Every page of the app, derived from the app's own URL map, for the browser crawl.

Each GET rule of `create_app().url_map` becomes one or more URLs: a rule without arguments is
taken as it is; a rule's arguments are filled from `BY_ENDPOINT` (a whole set of values for
that endpoint) or else `BY_ARGUMENT` (values per argument name), read from the live demo
database. A GET rule that neither fills fails the crawl with its name: add a sample here.

Each URL is visited by the first visitor it answers 200 to, trying a sample's preferred
visitor first, then anonymous, then staff from the least to the most privileged; a URL that
answers no visitor 200 fails the crawl too. A page reached only through a form (the kiosk's
thank-you page) has a `RECIPES` entry that walks there. `BAD_INPUT` lists the pages a form
with a mistake comes back to (400), and `NOT_FOUND` the pages a wrong address gets (404): the
crawl checks them too, allowing exactly that answer and Chromium's console line about it.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from wishes.dashboard.views import TABLES
from wishes.vendor import FILES

from .conftest import Server

# Who visits: "anon" is a patient (kiosk or phone); the rest are the demo's staff accounts.
VISITORS = ("anon", "member", "secretary", "member2", "triager", "inspector", "manager", "admin")

# The board's page for one wish in each state, seen by someone who may act on it then.
STATE_VISITOR = {
    "triage": "triager",
    "open": "member",
    "claimed": "secretary",
    "in_progress": "member",
    "fulfilled": "triager",
    "followed_up": "manager",
    "declined": "admin",
}
# The patient's tracking page in the states that read differently.
TRACKED_STATES = ("triage", "open", "fulfilled", "declined")
# An assessment round's pages in each stage, seen by who works on it then.
STAGE_VISITOR = {"self": "secretary", "inspection": "inspector", "published": "member"}


@dataclass(frozen=True)
class Sample:
    values: dict[str, Any]
    visitor: str | None = None  # tried first
    note: str = ""


def _wishes_by_state(server: Server) -> dict[str, Any]:
    rows = server.rows(
        "SELECT state, min(id) AS id, min(tracking_code) AS code FROM wishes "
        "WHERE branch_code = 'pediatrics' OR state = 'triage' GROUP BY state"
    )
    return {row["state"]: row for row in rows}


def _questionnaire(server: Server) -> dict[str, Any]:
    row = server.rows(
        "SELECT q.id AS qid, q.slug, max(v.id) AS vid, v.definition FROM questionnaires q "
        "JOIN questionnaire_versions v ON v.questionnaire_id = q.id "
        "WHERE q.slug = 'satisfaction'"
    )[0]
    key = json.loads(row["definition"])["questions"][0]["key"]
    return {"qid": row["qid"], "slug": row["slug"], "vid": row["vid"], "key": key}


def _rounds(server: Server) -> list[Any]:
    return server.rows("SELECT id, stage FROM assessment_rounds ORDER BY id")


def _static_files(app) -> list[str]:
    root = Path(app.static_folder)
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


# Values per argument name: server -> samples of that one argument.
BY_ARGUMENT: dict[str, Callable[[Server], list[Sample]]] = {
    "wish_id": lambda s: [
        Sample({"wish_id": row["id"]}, STATE_VISITOR[state], state)
        for state, row in sorted(_wishes_by_state(s).items())
    ],
    "code": lambda s: [
        Sample({"code": _wishes_by_state(s)[state]["code"]}, "anon", state)
        for state in TRACKED_STATES
    ],
    "ward": lambda s: [
        Sample({"ward": s.rows("SELECT min(code) AS code FROM departments")[0]["code"]})
    ],
    "slug": lambda s: [Sample({"slug": _questionnaire(s)["slug"]})],
    "qid": lambda s: [Sample({"qid": _questionnaire(s)["qid"]})],
    "vid": lambda s: [Sample({"vid": _questionnaire(s)["vid"]})],
    "key": lambda s: [Sample({"key": _questionnaire(s)["key"]})],
    "round_id": lambda s: [
        Sample({"round_id": r["id"]}, "triager", r["stage"]) for r in _rounds(s)
    ],
    "number": lambda s: [
        Sample({"number": r["number"]}, "triager")
        for r in s.rows("SELECT DISTINCT number FROM assessment_scheme_versions ORDER BY number")
    ],
    "user_id": lambda s: [
        Sample({"user_id": s.rows("SELECT id FROM users WHERE username = 'member2'")[0]["id"]})
    ],
    "response_id": lambda s: [
        Sample(
            {
                "response_id": s.rows(
                    "SELECT max(r.id) AS id FROM responses r JOIN questionnaires q "
                    "ON q.id = r.questionnaire_id WHERE q.slug = 'satisfaction'"
                )[0]["id"]
            },
            "manager",
        )
    ],
}


# Whole sets of values for endpoints whose arguments mean something of their own.
def _texts_stop(server: Server) -> list[Sample]:
    """The link in a patient's text: the wish's code and its stop key (`k`, in the query)."""
    rows = server.rows(
        "SELECT tracking_code, texts_stop_token FROM wishes "
        "WHERE texts_stop_token IS NOT NULL ORDER BY id LIMIT 1"
    )
    return [Sample({"code": r["tracking_code"], "k": r["texts_stop_token"]}) for r in rows]


# Endpoints whose samples carry query arguments besides the rule's own.
WITH_QUERY = {"texts.stop"}

BY_ENDPOINT: dict[str, Callable[[Server, Any], list[Sample]]] = {
    "texts.stop": lambda s, app: _texts_stop(s),
    "static": lambda s, app: [Sample({"filename": name}) for name in _static_files(app)],
    "vendor.asset": lambda s, app: [Sample({"name": name}) for name in FILES],
    "dashboard.export": lambda s, app: [
        Sample({"name": name, "fmt": fmt}, "manager") for name in TABLES for fmt in ("csv", "xlsx")
    ],
    "questionnaire_admin.responses_download": lambda s, app: [
        Sample({"qid": _questionnaire(s)["qid"], "fmt": fmt}, "manager")
        for fmt in ("csv", "xlsx", "sav")
    ],
    # A branch's score sheet in every round: its stage decides who fills in what.
    "assessment.branch": lambda s, app: [
        Sample({"round_id": r["id"], "code": "pediatrics"}, STAGE_VISITOR[r["stage"]], r["stage"])
        for r in _rounds(s)
    ],
    "assessment.report": lambda s, app: [
        Sample({"round_id": r["id"], "code": "pediatrics"}, "triager", r["stage"])
        for r in _rounds(s)
    ],
    "assessment.export": lambda s, app: [
        Sample({"round_id": r["id"], "fmt": fmt}, "triager")
        for r in _rounds(s)
        for fmt in ("csv", "xlsx")
    ],
    "assessment.attachment": lambda s, app: [
        Sample({"attachment_id": row["id"]}, "secretary", "evidence")
        for row in s.rows("SELECT max(id) AS id FROM assessment_attachments")
        if row["id"] is not None
    ],
    # a wish in each state, and the wish the demo's office merged into another
    "board.wish_page": lambda s, app: (
        BY_ARGUMENT["wish_id"](s)
        + [
            Sample({"wish_id": row["id"]}, "secretary", "a merged wish")
            for row in s.rows("SELECT id FROM wishes WHERE merged_into_id IS NOT NULL LIMIT 1")
        ]
    ),
    "board.photo": lambda s, app: [
        Sample({"wish_id": row["id"]}, "member", "a fulfilled wish's photo")
        for row in s.rows("SELECT max(id) AS id FROM wishes WHERE fulfilment_photo IS NOT NULL")
        if row["id"] is not None
    ],
    # Issue 17: one unit of each kind on its own page.
    "organisation.unit_page": lambda s, app: [
        Sample(
            {"kind": kind, "code": s.rows(f"SELECT min(code) AS code FROM {table}")[0]["code"]},
            "triager",
            kind,
        )
        for kind, table in (
            ("general_branch", "general_branches"),
            ("branch", "branches"),
            ("department", "departments"),
        )
    ],
}


@dataclass
class Target:
    """One URL of one GET rule, who should see it, and what the page should answer.

    With a `recipe`, `url` is where the visit starts and the recipe walks on from there (fills
    a form, sends it); the page checked is the one it ends on.
    """

    rule: str
    endpoint: str
    url: str
    visitor: str | None = None
    note: str = ""
    recipe: Callable[[Page], None] | None = None
    expect: int = 200

    @property
    def label(self) -> str:
        return f"{self.url}" + (f" ({self.note})" if self.note else "")


@dataclass
class Plan:
    targets: list[Target] = field(default_factory=list)
    unfilled: list[str] = field(default_factory=list)  # rules no sample could fill


def plan(app, server: Server) -> Plan:
    """Every GET rule of the app as URLs to visit (or the rules it could not fill)."""
    found = Plan()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if "GET" not in (rule.methods or ()) or rule.rule in ONLY_BEFORE_SETUP:
            continue
        if rule.rule.startswith("/api/"):  # JSON for programs: tests/test_api*.py
            continue
        if rule.endpoint in RECIPES:
            start, visitor, recipe = RECIPES[rule.endpoint]
            found.targets.append(
                Target(rule.rule, rule.endpoint, start, visitor, "through its form", recipe)
            )
            continue
        arguments = sorted(rule.arguments)
        if rule.endpoint in BY_ENDPOINT:
            samples = BY_ENDPOINT[rule.endpoint](server, app)
        elif all(name in BY_ARGUMENT for name in arguments):
            per_argument = [BY_ARGUMENT[name](server) for name in arguments]
            samples = [
                Sample(
                    {k: v for part in combo for k, v in part.values.items()},
                    next((part.visitor for part in combo if part.visitor), None),
                    " ".join(part.note for part in combo if part.note),
                )
                for combo in product(*per_argument)
            ]
        else:
            missing = [name for name in arguments if name not in BY_ARGUMENT]
            found.unfilled.append(f"{rule.rule} ({rule.endpoint}): no sample for {missing}")
            continue
        if not samples:
            found.unfilled.append(f"{rule.rule} ({rule.endpoint}): the samples came out empty")
            continue
        for sample in samples:
            built = rule.build(sample.values, append_unknown=rule.endpoint in WITH_QUERY)
            if built is None:
                found.unfilled.append(f"{rule.rule}: cannot build from {sample.values}")
                continue
            found.targets.append(
                Target(rule.rule, rule.endpoint, built[1], sample.visitor, sample.note)
            )
    found.targets += BAD_INPUT + NOT_FOUND
    return found


# ---- pages reached through a form, a form with a mistake (400), a wrong address (404) ------


def _kiosk_wish(page: Page) -> None:
    page.locator("#text").tap()
    page.keyboard.insert_text("想借一本字大一点的书")
    page.get_by_role("button", name="提交心愿").tap()
    expect(page).to_have_url(re.compile(r"/kiosk/thanks$"))


def _submit(button: str, **fields: str) -> Callable[[Page], None]:
    def send(page: Page) -> None:
        for field_id, value in fields.items():
            page.locator(f"#{field_id}").fill(value)
        page.get_by_role("button", name=button, exact=True).click()

    return send


def _upload_workbook(page: Page, *, rename: bool) -> None:
    """Upload the organisation's own export with a branch renamed (a preview), or with a
    branch under a general branch that does not exist and a wrong kind (every problem)."""
    exported = page.request.get("/admin/organisation/workbook/export.xlsx")
    book = load_workbook(io.BytesIO(exported.body()))
    exported.dispose()
    if rename:
        book["branches"]["B2"] = "门诊服务党支部"
    else:
        book["branches"]["D2"] = "no-such-general-branch"
        book["departments"]["D2"] = "clinic"
    buffer = io.BytesIO()
    book.save(buffer)
    page.locator("#file").set_input_files(
        {
            "name": "organisation.xlsx",
            "mimeType": "application/octet-stream",
            "buffer": buffer.getvalue(),
        }
    )
    page.get_by_role("button", name="上传并预览", exact=True).click()


def _open_inbox_item(page: Page) -> None:
    """An inbox item's link reads it and opens its wish (a redirect, so reached by a click)."""
    page.locator(".inbox-list a").first.click()
    expect(page).to_have_url(re.compile(r"/board/wishes/\d+$"))


# endpoint -> the page reached only through a form: (where to start, visitor, what to do).
RECIPES: dict[str, tuple[str, str, Callable[[Page], None]]] = {
    "intake_kiosk.thanks": ("/kiosk/wish", "anon", _kiosk_wish),
    "inbox.open_item": ("/inbox", "member", _open_inbox_item),
}

# A form sent with a mistake comes back with the message beside the field, and 400; a patient
# form shows it by its own GET after a redirect (wishes/drafts.py), which answers 200.
BAD_INPUT = [
    Target("", "", "/kiosk/wish", "anon", "kiosk wish sent empty", _submit("提交心愿")),
    Target(
        "",
        "",
        "/w/new",
        "anon",
        "phone wish with a bad number",
        _submit("提交心愿", text="想借个充电器", phone="12345"),
    ),
    Target("", "", "/s/satisfaction", "anon", "questionnaire sent empty", _submit("提交评价")),
    Target(
        "",
        "",
        "/kiosk/s/satisfaction",
        "anon",
        "kiosk questionnaire sent empty",
        _submit("提交评价"),
    ),
    Target(
        "",
        "",
        "/login",
        "anon",
        "wrong password",
        _submit("登录", username="member", password="not-the-password"),
        400,
    ),
    Target(
        "",
        "",
        "/account/password",
        "member2",
        "new passwords differ",
        _submit(
            "保存新密码",
            current="wrong",
            new="晚霞 over the river 7",
            confirm="晚霞 over the river 8",
        ),
        400,
    ),
    Target("", "", "/admin/users/new", "admin", "new user sent empty", _submit("保存"), 400),
    # Issue 17: the organisation workbook uploaded: its preview (200), and a bad one (400).
    Target(
        "",
        "",
        "/admin/organisation/workbook",
        "triager",
        "workbook preview",
        lambda page: _upload_workbook(page, rename=True),
    ),
    Target(
        "",
        "",
        "/admin/organisation/workbook",
        "triager",
        "workbook with problems",
        lambda page: _upload_workbook(page, rename=False),
        400,
    ),
]
NOT_FOUND = [
    Target("", "", "/t/2345678", "anon", "unknown tracking code", expect=404),
    Target("", "", "/kiosk/t/2345678", "anon", "unknown tracking code", expect=404),
    Target("", "", "/s/no-such-survey", "anon", "no such questionnaire", expect=404),
    Target("", "", "/board/wishes/999999", "member", "no such wish", expect=404),
]

# ---- the hospital's settings and the first run (issue 17, items 4 and 5) --------------------

# The crawl's server is the demo, whose set-up is done: /setup answers 404 there (its pages are
# tested on a fresh install in tests/test_setup.py).
NOT_FOUND.append(Target("", "", "/setup", "admin", "set-up is over", expect=404))
ONLY_BEFORE_SETUP = {"/setup"}
