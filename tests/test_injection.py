"""Hostile text in every field a patient or staff member can fill, checked wherever it is shown.

One hospital is built once for the module, entirely through the real forms (the wish form on
the phone and the kiosk, every board action, the admin's user and questionnaire pages, the
questionnaire itself, the login form, the board's search box), with each payload below in
each field. Department names have no page, so they go in through the organisation store;
keyword tags are what jieba and the router make of the hostile wishes.

Every field value is `<payload> #<field code><payload index>`: the payload comes first (a
spreadsheet only runs a cell that *starts* with =, + …) and the suffix tells the fields apart,
so a test can say which field it expects on which page. Then every page that shows the text
is read back: the text must be there, escaped; no markup of it may be live; no link may point
at `javascript:`; `{{7*7}}` must not have become 49; every response keeps its CSP; every
CSV and XLSX download of the dashboard neutralises formulas; the tables survive the SQL.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import quote, urlencode

import openpyxl
import pytest
from conftest import PASSWORD, STAFF, login
from markupsafe import escape

from wishes import create_app
from wishes.accounts import store as accounts
from wishes.dashboard.exports import FORMULA_STARTS
from wishes.dashboard.views import TABLES
from wishes.notifications.worker import run_once
from wishes.organisation import store as organisation
from wishes.pageform import clean_line, clean_text
from wishes.questionnaires import store as questionnaires
from wishes.routing import training
from wishes.storage import connect, database_path
from wishes.web import CONTENT_SECURITY_POLICY

# ---- the payloads -------------------------------------------------------------------------

PAYLOADS = [
    ("script", "<script>alert(1)</script>"),
    ("attribute", '"><img src=x onerror=alert(1)>'),
    ("bold", "<b>bold</b>"),
    ("js-url", "javascript:alert(1)"),
    ("sql-drop", "'; DROP TABLE wishes; --"),
    ("sql-or", '" OR 1=1 --'),
    ("format", "%s %(x)s {{7*7}} {% raw %}"),
    ("formula-eq", "=1+1"),
    ("formula-plus", "+1+1"),
    ("formula-minus", "-1+1"),
    ("formula-at", "@SUM(A1)"),
    ("formula-link", '=HYPERLINK("http://x","y")'),
    ("formula-tab", "\t=1"),
    ("log-line", "x\n2026-01-01 INFO forged"),
]
N = len(PAYLOADS)
INDEXES = range(N)

# Markup of the payloads that must never reach a page live.
LIVE_MARKUP = ["<script>alert(1)", "<img src=x", "<b>bold</b>"]
JAVASCRIPT_LINK = re.compile(
    r"""(?:href|src|action|formaction|xlink:href)\s*=\s*["']?\s*javascript:""", re.I
)
# A comment that reads like a wish is offered back to the patient as one: another place.
WISHFUL = " 希望病房有微波炉"

# field code -> (what it is, how the app cleans what was typed before storing it)
FIELDS: dict[str, tuple[str, Callable[[str], str]]] = {
    "T": ("wish text", clean_text),
    "V": ("wish text (declined wish)", clean_text),
    "R": ("wish reason", clean_text),
    "L": ("wish location", clean_line),
    "N": ("patient name", clean_line),
    "D": ("department name (organisation store)", lambda typed: typed),
    "C": ("questionnaire comment", clean_text),
    "S": ("staff display name (admin user form)", clean_line),
    "U": ("username (admin user form, login form)", clean_line),
    "F": ("fulfil note", clean_text),
    "H": ("hand-back reason", clean_text),
    "RR": ("re-route reason", clean_text),
    "FU": ("follow-up note", clean_text),
    "X": ("decline reason", clean_text),
    "QT": ("questionnaire title", clean_line),
    "QI": ("questionnaire intro", clean_text),
    "QL": ("question label", clean_line),
    "OL": ("option label", lambda typed: clean_text(typed).strip()),
    "Q": ("board search box", clean_line),
    "A": ("audit log filter boxes", str.strip),
    "DATE": ("date boxes of the board and dashboard filters", lambda typed: typed),
    "TC": ("tracking code in the address", lambda typed: typed),
    "TAG": ("keyword tag (jieba on the wish text)", lambda word: word),
    "CTAG": ("comment keyword tag (jieba on the comment)", lambda word: word),
}


def typed(code: str, i: int) -> str:
    """What a person types into field `code` for payload `i`."""
    payload = PAYLOADS[i][1]
    if code == "OL":  # an option's label is a one-line box: it cannot hold a break
        payload = payload.replace("\n", " ")
    if code in ("Q", "A", "DATE", "TC"):
        return payload
    return f"{payload} #{code}{i}" + (WISHFUL if code == "C" else "")


def shown(code: str, i: int) -> str:
    """What the app stores (and so shows) for what was typed."""
    return FIELDS[code][1](typed(code, i))


# ---- the hospital, built once through the real forms --------------------------------------


@dataclass
class Page:
    place: str
    url: str
    status: int
    html: str
    csp: str | None
    expect: list[tuple[str, str]] = field(default_factory=list)  # (field code, stored value)
    absent: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class World:
    app: object
    pages: list[Page] = field(default_factory=list)
    downloads: dict[tuple[str, str], bytes] = field(default_factory=dict)
    log_lines: list[str] = field(default_factory=list)
    ids: dict[str, list[int]] = field(default_factory=dict)
    codes: dict[int, str] = field(default_factory=dict)
    qid: int = 0
    live_version: int = 0

    def places(self) -> list[str]:
        return list(dict.fromkeys(page.place for page in self.pages))


def _examples(per_label: int, seed: int) -> list[tuple[str, str]]:
    words = {
        "pediatrics": "孩子 绘本 玩具 生日 儿童 宝宝 游戏 故事书".split(),
        "logistics": "轮椅 吹风机 热水 空调 灯 拖鞋 充电器 停车".split(),
        "nursing": "护理 伤口 换药 翻身 陪护 引流 康复 造口".split(),
    }
    rng = random.Random(seed)
    return [
        (f"希望{rng.choice(pool)}和{rng.choice(pool)}能帮忙{n}", label)
        for label, pool in words.items()
        for n in range(per_label)
    ]


class _Lines(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def _token(html: str, name: str = "csrf_token") -> str:
    return re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html).group(1)


class Builder:
    def __init__(self, world: World, db) -> None:
        self.world, self.app, self.db = world, world.app, db
        self.patient = self._browser(None, "10.1.0.1")
        self.staff = {name: self._browser(name, f"10.2.0.{n}") for n, name in enumerate(STAFF, 1)}
        self.tokens = {
            name: _token(client.get("/account/password").get_data(as_text=True))
            for name, client in self.staff.items()
        }

    def _browser(self, username: str | None, address: str):
        client = self.app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        if username:
            assert login(client, username).status_code == 302
        return client

    # -- requests

    def keep(self, place: str, response, expect=(), absent=()) -> Page:
        csp = response.headers.get("Content-Security-Policy")
        page = Page(
            place,
            response.request.full_path.rstrip("?"),
            response.status_code,
            response.get_data(as_text=True),
            csp,
            list(expect),
            list(absent),
        )
        self.world.pages.append(page)
        return page

    def keep_part(self, place: str, response, start: str, end: str, expect=()) -> Page:
        """One part of a page (a dashboard table): the text must be in that part, not just in
        the page's filter boxes."""
        html = response.get_data(as_text=True)
        assert start in html, (place, start)
        part = html[html.index(start) :]
        page = self.keep(place, response, expect)
        page.html = part[: part.index(end) + len(end)]
        return page

    def get(self, who: str | None, url: str, status: int = 200):
        client = self.patient if who is None else self.staff[who]
        response = client.get(url)
        assert response.status_code == status, (url, response.status_code)
        return response

    def post(self, who: str, url: str, status: int, follow: bool = False, **fields):
        data = {**fields, "csrf_token": self.tokens[who]}
        response = self.staff[who].post(url, data=data, follow_redirects=follow)
        got = response.history[0].status_code if follow else response.status_code
        html = response.get_data(as_text=True)
        said = re.findall(r'class="(?:flash|field-error)[^>]*>([^<]*)', html)
        assert got == status, (url, got, said)
        return response

    def patient_post(self, url: str, status: int, **fields):
        html = self.patient.get(url).get_data(as_text=True)
        data = {"csrf_token": _token(html), **fields}
        if 'name="submission_id"' in html:
            data["submission_id"] = _token(html, "submission_id")
        response = self.patient.post(url, data=data)
        assert response.status_code == status, (url, response.status_code)
        return response

    def wish_of(self, text: str) -> tuple[int, str]:
        row = self.db.execute("SELECT id, tracking_code FROM wishes WHERE text = ?", [text])
        wish_id, code = row.fetchone()
        return wish_id, code

    # -- the steps

    def build(self) -> None:
        self.wishes()
        self.board_actions()
        self.accounts()
        self.questionnaire()
        self.answers()
        self.read_back()

    def wishes(self) -> None:
        """The patients write: half on the phone, half at the kiosk; then a form with a mistake."""
        world = self.world
        world.ids = {"W": [], "V": []}
        for i in INDEXES:
            form = "/w/new" if i % 2 == 0 else "/kiosk/wish"
            self.patient_post(
                form,
                302,
                text=typed("T", i),
                reason=typed("R", i),
                location=typed("L", i),
                patient_name=typed("N", i),
                department=f"evil-{i}",
                phone="",
            )
            self.patient_post(form, 302, text=typed("V", i), department=f"evil-{i}")
            for code in ("T", "V"):
                wish_id, tracking = self.wish_of(shown(code, i))
                world.ids["W" if code == "T" else "V"].append(wish_id)
                world.codes[wish_id] = tracking
            self.patient_post(
                form,
                303,  # the form again, by a GET (wishes/drafts.py)
                text=typed("T", i),
                reason=typed("R", i),
                location=typed("L", i),
                patient_name=typed("N", i),
                department=f"evil-{i}",
                phone="12345",
            )
            back = self.get(None, form)
            self.keep(
                "wish form, sent back with a mistake", back, [(c, shown(c, i)) for c in "TRLN"]
            )

    def board_actions(self) -> None:
        """Every action with a text box, by the role that may take it, in the wish's life."""
        member_b = self.db.execute("SELECT id FROM users WHERE username = 'member_b'").fetchone()[0]
        for i in INDEXES:
            wish, declined = self.world.ids["W"][i], self.world.ids["V"][i]
            at = f"/board/wishes/{wish}"
            self.post("triager", f"{at}/triage", 303, branch="pediatrics")
            self.post("triager", f"/board/wishes/{declined}/decline", 303, reason=typed("X", i))
            claimed = self.post(
                "member_a",
                f"{at}/claim",
                303,
                follow=True,
                kind="department",
                department=f"evil-{i}",
            )
            self.keep(
                "wish page with the claim's message (department)", claimed, [("D", shown("D", i))]
            )
            self.post("member_a", f"{at}/hand_back", 303, reason=typed("H", i))
            self.post("triager", f"{at}/reroute", 303, branch="logistics", reason=typed("RR", i))
            self.post(
                "admin",
                f"/admin/users/{member_b}",
                302,
                display_name=typed("S", i),
                role="member",
                branch="logistics",
                active="y",
            )
            claimed = self.post("member_b", f"{at}/claim", 303, follow=True, kind="person")
            self.keep(
                "wish page with the claim's message (in person)", claimed, [("S", shown("S", i))]
            )
            # Too late: the refusal names the claimer (a display name an admin typed).
            late = self.post("secretary_b", f"{at}/claim", 303, follow=True, kind="branch")
            assert "手慢了一步" in late.get_data(as_text=True)
            self.keep("wish page with a refusal naming the claimer", late, [("S", shown("S", i))])
            self.post("member_b", f"{at}/start", 303)
            self.post("member_b", f"{at}/fulfil", 303, note=typed("F", i))
            self.post("triager", f"{at}/follow_up", 303, confirmed="yes", note=typed("FU", i))

    def accounts(self) -> None:
        for i in INDEXES:
            self.post(
                "admin",
                "/admin/users/new",
                200,
                username=f"evil{i}",
                display_name=typed("S", i),
                role="member",
                branch="pediatrics",
                active="y",
            )
            refused = self.post(
                "admin",
                "/admin/users/new",
                400,
                username=typed("U", i),
                display_name="新同事",
                role="member",
                branch="pediatrics",
                active="y",
            )
            self.keep("admin user form, username refused", refused, [("U", shown("U", i))])
            stranger = self._browser(None, f"10.3.0.{i + 1}")
            failed = login(stranger, typed("U", i), "not the password at all")
            assert failed.status_code == 400
            self.keep("login form, failed", failed, [("U", shown("U", i))])
        assert self.db.execute("SELECT count(*) FROM users").fetchone()[0] == len(STAFF) + N

    def questionnaire(self) -> None:
        """The office edits the default questionnaire: title, intro, a question per payload."""
        world = self.world
        q = f"/admin/questionnaires/{world.qid}"
        self.post(
            "triager",
            f"{q}/title",
            302,
            title_zh_Hans=typed("QT", 0),
            title_zh_Hant=typed("QT", 1),
            title_en=typed("QT", 6),
            intro_zh_Hans=typed("QI", N - 1),
        )
        for i in INDEXES:
            label = typed("QL", i)
            self.post(
                "triager",
                f"{q}/questions/new",
                302,
                type="single",
                key=f"evil{i}",
                label_zh_Hans=label,
                label_zh_Hant=label,
                label_en=label,
                **{
                    "options-0-key": "a",
                    "options-0-zh_Hans": typed("OL", i),
                    "options-1-key": "b",
                    "options-1-zh_Hans": "普通",
                },
            )
            self.post(
                "triager", "/admin/questionnaires/new", 302, slug=f"evil-{i}", title=typed("QT", i)
            )
        draft = questionnaires.latest_version(self.db, world.qid)
        self.post("triager", f"{q}/versions/{draft.id}/publish", 302, chinese_only="y")
        world.live_version = draft.id

    def answers(self) -> None:
        for i in INDEXES:
            kiosk = "/kiosk" if i % 2 else ""
            answers = {
                "q_department": f"evil-{i}",
                "q_overall": "4",
                "q_recommend": "9",
                f"q_evil{i}": "a",
                "q_comment": typed("C", i),
            }
            self.patient_post(f"{kiosk}/s/satisfaction", 302, **answers)
            thanks = self.get(None, f"{kiosk}/s/satisfaction/thanks")
            self.keep("questionnaire thank-you page", thanks, [("C", shown("C", i))])
            form = self.get(None, "/kiosk/wish?from=survey" if kiosk else "/w/new?from=survey")
            self.keep("wish form filled from a comment", form, [("C", shown("C", i))])

    def read_back(self) -> None:
        """Every page that shows the text, as the person who would look at it."""
        world, db, keep, keep_part, get = self.world, self.db, self.keep, self.keep_part, self.get
        every = {code: [shown(code, i) for i in INDEXES] for code in FIELDS}
        tags = {wish_id: _tags(db, wish_id) for wish_id in world.ids["W"] + world.ids["V"]}

        # The board: both pages of the list, then the search box with each payload.
        listing = [get("triager", "/board?branch=all"), get("triager", "/board?branch=all&page=2")]
        board_tags = [t for wish_tags in tags.values() for t in wish_tags[:4]]
        page = keep(
            "board list",
            listing[0],
            [(c, v) for c in ("T", "V", "L", "D", "S") for v in every[c]]
            + [("TAG", t) for t in board_tags],
        )
        page.html += listing[1].get_data(as_text=True)
        for i in INDEXES:
            found = get("triager", "/board?" + _query(branch="all", q=typed("Q", i)))
            keep("board search results", found, [("Q", shown("Q", i)), ("T", shown("T", i))])
            # Every other filter is a query argument too: anything may be typed into the address.
            hostile = typed("Q", i)
            filtered = get(
                "triager",
                "/board?"
                + _query(
                    q=hostile,
                    branch=hostile,
                    state=hostile,
                    sort=hostile,
                    created_from=hostile,
                    created_to=hostile,
                    page=hostile,
                    overdue=hostile,
                    mine=hostile,
                ),
            )
            keep(
                "board with every filter hostile",
                filtered,
                [("Q", shown("Q", i)), ("DATE", shown("DATE", i))],
            )

        # One wish, for staff and on the tracking pages (phone and kiosk).
        for i in INDEXES:
            wish, declined = world.ids["W"][i], world.ids["V"][i]
            mine = [(c, shown(c, i)) for c in ("T", "R", "L", "N", "D", "S", "F", "H", "RR", "FU")]
            keep(
                "wish page",
                get("triager", f"/board/wishes/{wish}"),
                mine + [("TAG", t) for t in tags[wish]],
            )
            keep(
                "wish page",
                get("triager", f"/board/wishes/{declined}"),
                [(c, shown(c, i)) for c in ("V", "D", "X")] + [("TAG", t) for t in tags[declined]],
            )
            for kiosk in ("", "/kiosk"):
                place = "tracking page (kiosk)" if kiosk else "tracking page (phone)"
                private = [("N", shown("N", i))]
                keep(
                    place,
                    get(None, f"{kiosk}/t/{world.codes[wish]}"),
                    [(c, shown(c, i)) for c in ("T", "R", "S", "F")],
                    private,
                )
                keep(
                    place,
                    get(None, f"{kiosk}/t/{world.codes[declined]}"),
                    [("V", shown("V", i)), ("X", shown("X", i))],
                    private,
                )

        # The patient forms list the departments; the questionnaire shows its own words.
        departments = [("D", v) for v in every["D"]]
        keep("wish form", get(None, "/w/new"), departments)
        keep("wish form", get(None, "/kiosk/wish"), departments)
        keep("bedside cards", get(None, "/cards"), departments)
        keep("bedside cards", get(None, "/cards/evil-0"), [("D", shown("D", 0))])
        survey = [
            ("QT", shown("QT", 0)),
            ("QI", shown("QI", N - 1)),
            *departments,
            *[(c, v) for c in ("QL", "OL") for v in every[c]],
        ]
        keep("questionnaire answer page (phone)", get(None, "/s/satisfaction"), survey)
        keep("questionnaire answer page (kiosk)", get(None, "/kiosk/s/satisfaction"), survey)
        q = f"/admin/questionnaires/{world.qid}"
        keep(
            "questionnaire preview",
            get("triager", f"{q}/versions/{world.live_version}/preview"),
            survey,
        )
        keep(
            "questionnaire admin list",
            get("triager", "/admin/questionnaires"),
            [("QT", v) for v in every["QT"]],
        )
        keep(
            "questionnaire admin editor",
            get("triager", q),
            [("QT", shown("QT", 0)), *[(c, v) for c in ("QL", "OL") for v in every[c]]],
        )
        for i in INDEXES:
            keep(
                "question editor",
                get("triager", f"{q}/questions/evil{i}"),
                [("QL", shown("QL", i)), ("OL", shown("OL", i))],
            )
        keep("questionnaire cards", get("triager", f"{q}/cards"), departments)

        # The dashboard: the whole page, then each table on its own (the filter boxes list
        # every department and questionnaire too), then one department at a time for the
        # latest comments (the page shows the newest ten).
        exported_tags = [("TAG", _plain(t)) for t in _column(self.download("tags", "csv"), 0)]
        assert exported_tags, "the tags table is empty: the router made no tags"
        every_choice = [(c, v) for c in ("QL", "OL") for v in every[c]]
        whole = get("manager", "/dashboard?questionnaire=satisfaction")
        keep(
            "dashboard",
            whole,
            [*departments, *every_choice, *exported_tags, *[("QT", v) for v in every["QT"]]],
        )
        table = 'id="{}-table"'.format
        keep_part(
            "dashboard, departments table", whole, table("departments"), "</table>", departments
        )
        keep_part("dashboard, choices table", whole, table("choices"), "</table>", every_choice)
        keep_part("dashboard, tags table", whole, table("tags"), "</table>", exported_tags)
        for i in INDEXES:
            response = get(
                "manager",
                "/dashboard?" + _query(questionnaire="satisfaction", department=f"evil-{i}"),
            )
            comment_tags = _comment_tags(db, shown("C", i))
            keep_part(
                "dashboard, latest comments",
                response,
                'class="comment-list"',
                "</ul>",
                [("C", shown("C", i)), ("D", shown("D", i))] + [("CTAG", t) for t in comment_tags],
            )
        month = date.today().strftime("%Y-%m")
        report = get("manager", f"/dashboard/report?questionnaire=satisfaction&month={month}")
        keep_part(
            "monthly report, departments table",
            report,
            table("departments"),
            "</table>",
            departments,
        )
        keep_part("monthly report, tags table", report, table("tags"), "</table>", exported_tags)
        for name in TABLES:
            for fmt in ("csv", "xlsx"):
                self.download(name, fmt)

        # The administrator's pages.
        keep("admin users", get("admin", "/admin/users"), [("S", v) for v in every["S"]])
        # Names no account has are not written down at all (often a password in the wrong box).
        failed_logins = get("admin", "/admin/audit?action=login_failed").get_data(as_text=True)
        assert "不存在的用户名" in failed_logins
        for v in every["U"]:
            name = accounts.normalise_username(v)
            assert name not in failed_logins and str(escape(name)) not in failed_logins, v
        keep(
            "audit log",
            get("admin", "/admin/audit?action=user_updated"),
            [("S", repr(v)) for v in every["S"]],
        )  # the detail shows [before, after]
        for i in INDEXES:
            hostile = typed("A", i)
            found = get(
                "admin",
                "/admin/audit?"
                + _query(action=hostile, actor=hostile, subject=hostile, page=hostile),
            )
            keep("audit log with every filter hostile", found, [("A", shown("A", i))])
            hostile = typed("DATE", i)
            figures = get(
                "manager",
                "/dashboard?"
                + _query(
                    questionnaire=hostile,
                    period=hostile,
                    first=hostile,
                    last=hostile,
                    department=hostile,
                ),
            )
            keep("dashboard with every filter hostile", figures, [("DATE", shown("DATE", i))])
            hostile = typed("TC", i)
            if "/" not in hostile:  # a slash is no code: the address is another page (404)
                for kiosk in ("", "/kiosk"):
                    unknown = get(None, f"{kiosk}/t/" + quote(hostile, safe=""), 404)
                    keep("tracking page for an unknown code", unknown, [("TC", hostile)])

    def download(self, name: str, fmt: str) -> bytes:
        key = (name, fmt)
        if key not in self.world.downloads:
            url = f"/dashboard/export/{name}.{fmt}?questionnaire=satisfaction"
            self.world.downloads[key] = self.get("manager", url).get_data()
        return self.world.downloads[key]


def _query(**args: str) -> str:
    return urlencode(args)


def _tags(db, wish_id: int) -> list[str]:
    (raw,) = db.execute("SELECT tags FROM wishes WHERE id = ?", [wish_id]).fetchone()
    return json.loads(raw or "[]")


def _comment_tags(db, comment: str) -> list[str]:
    row = db.execute(
        "SELECT r.comment_tags FROM responses r JOIN answers a ON a.response_id = r.id"
        " WHERE a.text = ?",
        [comment],
    ).fetchone()
    return json.loads(row[0] or "[]")


def _column(body: bytes, index: int) -> list[str]:
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    return [row[index] for row in rows[1:] if row]


def _plain(cell: str) -> str:
    """A download's text cell without the apostrophe that neutralises a formula."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("injection")
    models = root / "models"
    assert training.train(models, {"tiny": _examples(20, 1)}, _examples(5, 2)).activated
    app = create_app(
        {
            "TESTING": True,
            "WISHES_DATA_DIR": str(root / "data"),
            "WISHES_MODELS_DIR": str(models),
            # Every wish waits for triage (with the router's tags), so the office triages it
            # through its form; the rate limits would stop a patient writing 42 forms.
            "WISHES_ROUTER_THRESHOLD": 1.5,
            "WISHES_RATE_LIMIT_FACTOR": 0,
        }
    )
    world = World(app)
    handler = _Lines(world.log_lines)
    root_logger = logging.getLogger()
    level = root_logger.level
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.DEBUG)
    try:
        with pytest.MonkeyPatch.context() as patch, connect(database_path(app)) as db:
            patch.setattr(accounts, "PASSWORD_METHOD", "scrypt:1024:8:1")
            organisation.load_organisation(db, organisation.read_organisation_file())
            wards = [{"code": f"evil-{i}", "name": shown("D", i), "kind": "ward"} for i in INDEXES]
            organisation.load_organisation(db, {"departments": wards})
            for name, (role, branch) in STAFF.items():
                accounts.create_user(
                    db, name, PASSWORD, role, branch_code=branch, display_name=name
                )
            world.qid = questionnaires.ensure_default(db)
            Builder(world, db).build()
            while run_once(app).delivered:  # the worker delivers every "reached your branch"
                pass
    finally:
        root_logger.removeHandler(handler)
        root_logger.setLevel(level)
    return world


# ---- what every page must be ---------------------------------------------------------------

PLACES = [
    "wish form, sent back with a mistake",
    "wish page with the claim's message (department)",
    "wish page with the claim's message (in person)",
    "wish page with a refusal naming the claimer",
    "admin user form, username refused",
    "login form, failed",
    "questionnaire thank-you page",
    "wish form filled from a comment",
    "board list",
    "board search results",
    "board with every filter hostile",
    "wish page",
    "tracking page (phone)",
    "tracking page (kiosk)",
    "wish form",
    "bedside cards",
    "questionnaire answer page (phone)",
    "questionnaire answer page (kiosk)",
    "questionnaire preview",
    "questionnaire admin list",
    "questionnaire admin editor",
    "question editor",
    "questionnaire cards",
    "dashboard",
    "dashboard, departments table",
    "dashboard, choices table",
    "dashboard, tags table",
    "dashboard, latest comments",
    "monthly report, departments table",
    "monthly report, tags table",
    "admin users",
    "audit log",
    "audit log with every filter hostile",
    "dashboard with every filter hostile",
    "tracking page for an unknown code",
]


def test_every_place_in_the_table_was_visited(world):
    assert world.places() == PLACES


@pytest.mark.parametrize("place", PLACES)
def test_hostile_text_is_shown_escaped_and_never_live(world, place):
    pages = [page for page in world.pages if page.place == place]
    assert pages
    for page in pages:
        html = page.html
        for markup in LIVE_MARKUP:
            assert markup not in html, (page.url, markup)
        assert not JAVASCRIPT_LINK.search(html), page.url
        assert "%(x)s 49" not in html, page.url
        for code, value in page.expect:
            assert str(escape(value)) in html, (page.url, FIELDS[code][0], value)
        for code, value in page.absent:
            assert str(escape(value)) not in html, (page.url, FIELDS[code][0], "shown")


@pytest.mark.parametrize("place", PLACES)
def test_every_page_keeps_its_content_security_policy(world, place):
    for page in (page for page in world.pages if page.place == place):
        assert page.csp == CONTENT_SECURITY_POLICY, page.url
        assert "unsafe-inline" not in page.csp and "unsafe-eval" not in page.csp


def test_template_syntax_in_user_text_stays_text(world):
    literal = str(escape(shown("T", 6)))  # "%s %(x)s {{7*7}} {% raw %} #T6"
    wish_page = next(p for p in world.pages if p.place == "wish page" and literal in p.html)
    assert "{{7*7}}" in wish_page.html and "{% raw %}" in wish_page.html
    for page in world.pages:
        assert "%(x)s 49" not in page.html and "49 {% raw %}" not in page.html, page.url


def test_sql_in_any_field_is_stored_literally_and_the_tables_survive(world):
    with closing(sqlite3.connect(database_path(world.app))) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert {
            "wishes",
            "users",
            "departments",
            "questionnaires",
            "responses",
            "answers",
            "wish_events",
            "audit_events",
            "wishes_fts",
        } <= tables
        assert conn.execute("SELECT count(*) FROM wishes").fetchone()[0] == 2 * N
        for code, column in (("T", "text"), ("R", "reason"), ("L", "location")):
            for i in (4, 5):  # '; DROP TABLE wishes; --   and   " OR 1=1 --
                sql = f"SELECT count(*) FROM wishes WHERE {column} = ?"  # noqa: S608 - fixed names
                assert conn.execute(sql, [shown(code, i)]).fetchone()[0] == 1, (code, i)
        notes = [row[0] for row in conn.execute("SELECT fulfilment_note FROM wishes")]
        assert shown("F", 4) in notes and shown("F", 5) in notes


# ---- the downloads -------------------------------------------------------------------------

DOWNLOADS = [(name, fmt) for name in TABLES for fmt in ("csv", "xlsx")]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cells(body: bytes, fmt: str) -> list[str | float | int | None]:
    if fmt == "csv":
        return [cell for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))) for cell in row]
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    cells = []
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
            cells.append(cell.value)
    return cells


def _neutral(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


# table -> the hostile text it must hold (field code, stored value)
EXPORTED = {
    "departments": [("D", shown("D", i)) for i in INDEXES],
    "choices": [(code, shown(code, i)) for code in ("QL", "OL") for i in INDEXES],
}


@pytest.mark.parametrize(("name", "fmt"), DOWNLOADS)
def test_no_download_cell_can_run_as_a_formula(world, name, fmt):
    cells = _cells(world.downloads[(name, fmt)], fmt)
    for cell in cells:
        if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
            assert fmt == "csv" and _is_number(cell), (name, fmt, cell)
    texts = [cell for cell in cells if isinstance(cell, str)]
    for code, value in EXPORTED.get(name, []):
        assert _neutral(value) in texts, (name, fmt, FIELDS[code][0], value)


def test_the_hostile_departments_and_options_start_with_a_formula_sign(world):
    """The download tests above would pass vacuously if no exported text began with = + - @."""
    starts = {shown("D", i)[0] for i in INDEXES} | {shown("QL", i)[0] for i in INDEXES}
    assert {"=", "+", "-", "@", "\t"} <= starts


# ---- log lines -----------------------------------------------------------------------------

_LINE_BREAK = re.compile(r"[\r\n\x85\u2028\u2029]")


def test_no_log_line_written_while_building_has_a_raw_line_break(world):
    delivered = [line for line in world.log_lines if line.startswith("notification ")]
    assert len(delivered) == 2 * N  # triage and re-route of every wish reached a branch
    # Notification log lines hold ids only: no wish text reaches the log at all.
    assert not any("forged" in line for line in delivered)
    for line in world.log_lines:
        assert not _LINE_BREAK.search(line), line


def test_a_wish_cannot_forge_a_log_line(app, db, staff, caplog, submit_wish):
    """The newline payload through the phone form, then the office's triage queues a
    notification and the worker's LogNotifier writes it: one line of ids, no wish text."""
    caplog.set_level(logging.DEBUG)
    newline = PAYLOADS[-1][1]
    response = submit_wish(
        text=f"{newline} 想借轮椅", reason=newline, location="3床", patient_name="王"
    )
    assert response.status_code == 302
    (wish_id,) = db.execute("SELECT id FROM wishes").fetchone()
    office = app.test_client()
    login(office, "triager")
    page = f"/board/wishes/{wish_id}"
    form = {"branch": "pediatrics", "csrf_token": _token(office.get(page).get_data(as_text=True))}
    assert office.post(f"{page}/triage", data=form).status_code == 303

    assert run_once(app).delivered == 1  # LogNotifier: no webhook is configured

    messages = [record.getMessage() for record in caplog.records]
    delivered = [m for m in messages if m.startswith("notification ")]
    assert delivered and all(f"wish {wish_id}," in m and "forged" not in m for m in delivered)
    for message in messages:
        assert not _LINE_BREAK.search(message), message


# ---- coverage, for whoever reads the run ----------------------------------------------------


def test_every_field_is_checked_somewhere(world, capsys):
    pairs = {(code, page.place) for page in world.pages for code, _ in page.expect}
    pairs |= {(code, f"download {name}") for name, found in EXPORTED.items() for code, _ in found}
    fields = {code for code, _ in pairs}
    assert fields == set(FIELDS), set(FIELDS) - fields
    with capsys.disabled():
        print(
            f"\n{len(fields)} fields x {len(PLACES)} places (+ {len(DOWNLOADS)} downloads): "
            f"{len(pairs)} field/place pairs checked"
        )
