"""The organisation as one workbook: read, check, plan, apply, and write (docs/organisation.md).

Five sheets, a header row and then one row per unit: `general_branches`, `branches`,
`departments`, `serves`, `routing`. The same workbook comes as XLSX, as a folder of CSV files
(`<sheet>.csv`) or as JSON (one object, a list of row objects per sheet). Reading gives one
plain structure (`Book`); `problems` checks it completely, against itself and the database;
`plan` says what an import would change; `apply` makes those changes in one transaction.

The workbook lists the hospital's **active** units. Importing it adds the new ones, renames,
moves and reorders the others, brings back inactive ones it names, and deactivates the active
units it leaves out; a unit left out that is still in use (open wishes, active accounts,
unpublished assessment rounds) refuses the import. An export writes the active units in
their order, so export → import into an empty database → export gives the same rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation
from sqlite_utils import Database

from .. import audit, needs
from ..glossary import organisation as words
from ..spreadsheets import fit_columns
from ..storage import transaction
from . import store
from .store import Kind

# sheet -> its columns, in order (a contract: other tools read and write these names)
SHEETS: dict[str, tuple[str, ...]] = {
    "general_branches": ("code", "name", "name_en"),
    "branches": ("code", "name", "name_en", "general_branch", "scope"),
    "departments": ("code", "name", "name_en", "kind", "campus"),
    "serves": ("branch", "department"),
    "routing": ("category", "department", "branch"),
}
UNIT_SHEETS = {"general_branches": Kind.GENERAL_BRANCH, "branches": Kind.BRANCH}
UNIT_SHEETS["departments"] = Kind.DEPARTMENT
# Text a spreadsheet would run as a formula; a CSV cell holding it gets a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@")

# The template's one example row per sheet (a workbook that imports as it is).
EXAMPLE: dict[str, list[dict[str, str]]] = {
    "general_branches": [
        {
            "code": "outpatient-medtech",
            "name": "门诊医技总支",
            "name_en": "Outpatient and Medical Technology General Branch",
        }
    ],
    "branches": [
        {
            "code": "outpatient",
            "name": "门诊党支部",
            "name_en": "Outpatient Party Branch",
            "general_branch": "outpatient-medtech",
            "scope": "挂号、预约与改约、院内指路、自助机使用、排队候诊",
        }
    ],
    "departments": [
        {
            "code": "clinic-hall",
            "name": "门诊大厅",
            "name_en": "Outpatient Hall",
            "kind": "department",
            "campus": "本部",
        }
    ],
    "serves": [{"branch": "outpatient", "department": "clinic-hall"}],
    "routing": [{"category": "appointments", "department": "", "branch": "outpatient"}],
}

Rows = dict[str, list[dict[str, str]]]


@dataclass(frozen=True)
class Row:
    """One row of a sheet: its number as the office sees it in Excel (the header is row 1)."""

    number: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass(frozen=True)
class Problem:
    """Something wrong in a workbook: where (sheet, row, column), the value, and why (`code`,
    worded in words.WORDS)."""

    code: str
    sheet: str
    row: int | None = None
    column: str | None = None
    value: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        said = words.message(self.code, {"value": self.value, **self.values})
        return f"{words.where(self.sheet, self.row, self.column)}：{said}"


@dataclass
class Book:
    """A workbook read from a file: the rows of each sheet, and what made reading fail."""

    sheets: dict[str, list[Row]]
    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def of(cls, rows: Rows) -> Book:
        """Rows given as plain lists (header counted as row 1), e.g. JSON or an export."""
        book = cls({})
        for sheet, columns in SHEETS.items():
            if sheet not in rows:
                book.problems.append(
                    Problem("missing_sheet", sheet, values={"columns": ", ".join(columns)})
                )
                continue
            book.sheets[sheet] = [
                Row(number, {column: _cell(row.get(column)) for column in columns})
                for number, row in enumerate(rows[sheet], start=2)
                if any(_cell(value) for value in row.values())
            ]
        return book

    def rows(self) -> Rows:
        """The plain rows (what an export writes)."""
        return {sheet: [dict(row.values) for row in self.sheets.get(sheet, [])] for sheet in SHEETS}


@dataclass(frozen=True)
class Change:
    """One thing an import changes: `action` (words.ACTIONS), the sheet, the unit's code and
    name, and the values before and after (only those that change)."""

    action: str
    sheet: str
    code: str = ""
    name: str = ""
    before: Any = None
    after: Any = None

    def __str__(self) -> str:
        text = f"{words.ACTIONS[self.action]} {self.sheet}"
        if self.code:
            text += f" {self.code}"
        if self.name:
            text += f"（{self.name}）"
        if self.action == "add":
            text += f"：{_show(self.after)}"
        elif self.before is not None or self.after is not None:
            text += f"：{_show(self.before)} → {_show(self.after)}"
        return text


@dataclass
class Plan:
    """What an import would change, in the order it is applied; empty when nothing would."""

    changes: list[Change] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def counts(self) -> dict[str, int]:
        return dict(Counter(change.action for change in self.changes))

    def lines(self) -> list[str]:
        return [str(change) for change in self.changes]

    def summary(self) -> dict[str, int]:
        """How many changes of each kind, by their words ("新增": 98), for the preview's top."""
        return {words.ACTIONS[action]: n for action, n in self.counts().items()}

    def fingerprint(self) -> str:
        """A short digest of the changes: the page shows a preview with it, and the confirmed
        import is made only if the plan is still the one previewed (`apply(expected=…)`)."""
        text = json.dumps([str(change) for change in self.changes], ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class WorkbookRefused(Exception):
    """The workbook cannot be imported; nothing was changed. `problems` says why, each one."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


def _cell(value: Any) -> str:
    """A cell as text: numbers Excel made of a code (101.0) back to 101, spaces trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict):
        return "，".join(f"{words.FIELDS.get(k, k)} {v or '—'}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "、".join(map(str, value)) or "—"
    return str(value) or "—"


# ---- reading ----------------------------------------------------------------------------------


def read(path: str | Path) -> Book:
    """A workbook from a path: `.xlsx`, `.json`, or a folder of `<sheet>.csv` files."""
    path = Path(path)
    if path.is_dir():
        return read_csv_folder(path)
    if path.suffix.lower() == ".json":
        try:
            return read_json(path.read_bytes())
        except OSError as error:
            return _unreadable(path.name, error.strerror or str(error))
    try:
        with path.open("rb") as handle:
            return read_xlsx(handle)
    except OSError as error:
        return _unreadable(path.name, error.strerror or str(error))


def read_upload(filename: str, data: bytes) -> Book:
    """A workbook uploaded on the staff page (XLSX or JSON, by the file's name)."""
    if filename.lower().endswith(".json"):
        return read_json(data)
    return read_xlsx(io.BytesIO(data))


def _unreadable(what: str, reason: str) -> Book:
    return Book({}, [Problem("unreadable", what, values={"reason": reason})])


def read_xlsx(source: Any) -> Book:
    """An XLSX workbook (a path or a binary file): one worksheet per sheet, header in row 1."""
    try:
        with warnings.catch_warnings():  # styles other programs write that openpyxl ignores
            warnings.simplefilter("ignore")
            workbook = load_workbook(source, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        return _unreadable("XLSX", str(error) or type(error).__name__)
    try:
        tables = {
            name: [list(row) for row in workbook[name].iter_rows(values_only=True)]
            for name in SHEETS
            if name in workbook.sheetnames
        }
    finally:
        workbook.close()
    return _from_tables(tables)


def read_csv_folder(folder: str | Path) -> Book:
    """A folder holding `general_branches.csv` … `routing.csv` (UTF-8, or GB18030 as Excel
    saves CSV on a Chinese Windows)."""
    tables: dict[str, list[list[Any]]] = {}
    problems: list[Problem] = []
    for name in SHEETS:
        path = Path(folder) / f"{name}.csv"
        if not path.exists():
            continue
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError:
                problems.append(Problem("unreadable", name, values={"reason": "不是 UTF-8 文本"}))
                continue
        tables[name] = [[_from_csv(cell) for cell in row] for row in csv.reader(io.StringIO(text))]
    book = _from_tables(tables)
    book.problems[:0] = problems
    return book


def read_json(data: bytes | str) -> Book:
    """One JSON object: each sheet's name → a list of row objects (column → value)."""
    try:
        loaded = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        return _unreadable("JSON", str(error))
    if not isinstance(loaded, dict) or not all(
        isinstance(rows, list) and all(isinstance(row, dict) for row in rows)
        for rows in loaded.values()
    ):
        return _unreadable("JSON", "应为一个对象：每张表的名字对应一个由行对象组成的列表")
    return Book.of(loaded)


def _from_csv(cell: str) -> str:
    if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


def _from_tables(tables: dict[str, list[list[Any]]]) -> Book:
    """Sheets as grids (first row the header) into a Book, noting missing sheets and columns."""
    book = Book({})
    for sheet, columns in SHEETS.items():
        grid = tables.get(sheet)
        if grid is None:
            book.problems.append(
                Problem("missing_sheet", sheet, values={"columns": ", ".join(columns)})
            )
            continue
        header = [_cell(value).lower() for value in (grid[0] if grid else [])]
        missing = [column for column in columns if column not in header]
        for column in missing:
            book.problems.append(Problem("missing_column", sheet, 1, values={"column": column}))
        if missing:
            continue
        where = {column: header.index(column) for column in columns}
        rows = []
        for number, cells in enumerate(grid[1:], start=2):
            values = {
                column: _cell(cells[i]) if i < len(cells) else "" for column, i in where.items()
            }
            if any(values.values()):
                rows.append(Row(number, values))
        book.sheets[sheet] = rows
    return book


# ---- checking ---------------------------------------------------------------------------------


def problems(db: Database, book: Book) -> list[Problem]:
    """Every problem of the workbook, in sheet and row order: each names the sheet, the row,
    the column and the value. None: it may be imported."""
    found = list(book.problems)
    sheets = book.sheets
    codes: dict[str, set[str]] = {}
    for sheet in UNIT_SHEETS:
        codes[sheet] = {row["code"] for row in sheets.get(sheet, []) if row["code"]}
        found += _unit_rows(sheet, sheets.get(sheet, []))
    for row in sheets.get("branches", []):
        if row["general_branch"] not in codes["general_branches"]:
            found.append(_problem("unknown_general_branch", "branches", row, "general_branch", row))
    for row in sheets.get("departments", []):
        if row["kind"] not in store.DEPARTMENT_KINDS:
            found.append(_problem("unknown_kind", "departments", row, "kind", row))
        if len(row["campus"]) > store.CAMPUS_LIMIT:
            found.append(
                _problem("too_long", "departments", row, "campus", row, limit=store.CAMPUS_LIMIT)
            )
    for row in sheets.get("branches", []):
        if len(row["scope"]) > store.SCOPE_LIMIT:
            found.append(
                _problem("too_long", "branches", row, "scope", row, limit=store.SCOPE_LIMIT)
            )
    if all(sheet in sheets for sheet in UNIT_SHEETS):  # else every link would be unknown
        found += _link_rows(sheets.get("serves", []), codes, "serves", ("branch", "department"))
        found += _link_rows(sheets.get("routing", []), codes, "routing", ("category", "department"))
        found += _left_out_in_use(db, codes)
    return found


def _problem(
    code: str, sheet: str, row: Row, column: str, value_of: Row | str, **values: Any
) -> Problem:
    value = value_of[column] if isinstance(value_of, Row) else value_of
    return Problem(code, sheet, row.number, column, value, values)


def _unit_rows(sheet: str, rows: list[Row]) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for row in rows:
        code = row["code"]
        if problem := store.code_problem(code):
            yield _problem(problem, sheet, row, "code", row, limit=store.CODE_LIMIT)
        elif code in first:
            yield _problem("code_duplicate", sheet, row, "code", row, first_row=first[code])
        first.setdefault(code, row.number)
        if not row["name"]:
            yield _problem("name_required", sheet, row, "name", row)
        for column in ("name", "name_en"):
            if len(row[column]) > store.NAME_LIMIT:
                yield _problem("too_long", sheet, row, column, row, limit=store.NAME_LIMIT)


def _link_rows(
    rows: list[Row], codes: dict[str, set[str]], sheet: str, key: tuple[str, str]
) -> Iterator[Problem]:
    """`serves` and `routing`: every branch and department named is in the workbook; no row
    twice (routing: one branch per category and department)."""
    first: dict[tuple[str, str], int] = {}
    for row in rows:
        if sheet == "routing":
            if not row["category"]:
                yield _problem("category_required", sheet, row, "category", row)
            elif not needs.is_routable(row["category"]):
                yield _problem("unknown_category", sheet, row, "category", row)
        if row["branch"] not in codes["branches"]:
            yield _problem("unknown_branch", sheet, row, "branch", row)
        department = row["department"]
        if (department or sheet == "serves") and department not in codes["departments"]:
            yield _problem("unknown_department", sheet, row, "department", row)
        pair = (row[key[0]], row[key[1]])
        if pair in first:
            yield Problem("row_duplicate", sheet, row.number, None, "", {"first_row": first[pair]})
        first.setdefault(pair, row.number)


# What keeps a unit in the workbook; routing rows and branches under a general branch are
# themselves in the workbook and checked there.
_IMPORT_USES = ("open_wishes", "members", "open_rounds")


def _left_out_in_use(db: Database, codes: dict[str, set[str]]) -> Iterator[Problem]:
    for sheet, kind in UNIT_SHEETS.items():
        for row in db.query(f"SELECT code, name FROM {kind.table} WHERE active = 1 ORDER BY code"):
            if row["code"] in codes[sheet]:
                continue
            in_use = {
                use: n
                for use, n in store.uses(db, kind, row["code"]).items()
                if use in _IMPORT_USES
            }
            if in_use:
                yield Problem(
                    "still_referred",
                    sheet,
                    value=row["code"],
                    values={"kind": str(kind), "name": row["name"], "uses": in_use},
                )


# ---- planning and applying --------------------------------------------------------------------

# sheet -> (workbook column, database column) compared for each action
_RENAME = (("name", "name"), ("name_en", "name_en"))
_CHANGE = {
    "branches": (("scope", "scope"),),
    "departments": (("kind", "kind"), ("campus", "campus")),
}


# The order changes are made in: a general branch before the branches under it, a branch moved
# before it is brought back (under its new general branch); deactivations come after every
# move (a general branch is left without active branches), and the order last.
_SHEET_ORDER = {"general_branches": 0, "departments": 1, "branches": 2, "routing": 3, "serves": 4}
_ACTION_ORDER = {
    action: i
    for i, action in enumerate(
        ("add", "move", "reactivate", "rename", "change", "routing", "deactivate")
        + ("serve", "unserve", "reorder")
    )
}


def plan(db: Database, book: Book) -> Plan:
    """What importing the workbook would change (raises WorkbookRefused when it has problems)."""
    if found := problems(db, book):
        raise WorkbookRefused(found)
    changes: list[Change] = []
    for sheet, kind in UNIT_SHEETS.items():
        changes += _unit_changes(db, sheet, kind, book.sheets[sheet])
    changes += _serves_changes(db, book)
    routing = _routing_rows(book)
    current = store.routing_rows(db)
    if routing != current:
        changes.append(Change("routing", "routing", before=len(current), after=len(routing)))
    changes.sort(key=lambda change: (_SHEET_ORDER[change.sheet], _ACTION_ORDER[change.action]))
    return Plan(changes)


def _unit_changes(db: Database, sheet: str, kind: Kind, rows: list[Row]) -> Iterator[Change]:
    existing = {row["code"]: row for row in db.query(f"SELECT * FROM {kind.table}")}
    next_position = max((row["sort_order"] for row in existing.values()), default=-1) + 1
    moved = False
    for index, row in enumerate(rows):
        before = existing.get(row["code"])
        if before is None:
            after = {column: value for column, value in row.values.items() if column != "code"}
            yield Change("add", sheet, row["code"], row["name"], after=after)
            moved = moved or next_position != index
            next_position += 1
            continue
        moved = moved or before["sort_order"] != index
        if not before["active"]:
            yield Change("reactivate", sheet, row["code"], before["name"])
        for action, pairs in (("rename", _RENAME), ("change", _CHANGE.get(sheet, ()))):
            differ = [(c, f) for c, f in pairs if (before[f] or "") != row[c]]
            if differ:
                old = {column: before[field] or "" for column, field in differ}
                new = {column: row[column] for column, _ in differ}
                yield Change(action, sheet, row["code"], before["name"], old, new)
        if sheet == "branches" and before["general_branch_code"] != row["general_branch"]:
            yield Change(
                "move",
                sheet,
                row["code"],
                before["name"],
                before["general_branch_code"],
                row["general_branch"],
            )
    listed = {row["code"] for row in rows}
    for code, before in existing.items():
        if before["active"] and code not in listed:
            yield Change("deactivate", sheet, code, before["name"])
    if moved:
        current = sorted(
            (row for row in existing.values() if row["code"] in listed),
            key=lambda row: (not row["active"], row["sort_order"], row["code"]),
        )
        yield Change(
            "reorder",
            sheet,
            before=[row["code"] for row in current],
            after=[row["code"] for row in rows],
        )


def _served(db: Database, departments: set[str]) -> set[tuple[str, str]]:
    """The (branch, department) rows the workbook speaks for: those naming its departments."""
    return {
        (row["branch_code"], row["department_code"])
        for row in db.query("SELECT branch_code, department_code FROM branch_departments")
        if row["department_code"] in departments
    }


def _serves_changes(db: Database, book: Book) -> Iterator[Change]:
    branches = [row["code"] for row in book.sheets["branches"]]
    departments = {row["code"] for row in book.sheets["departments"]}
    wanted = {(row["branch"], row["department"]) for row in book.sheets["serves"]}
    current = {pair for pair in _served(db, departments) if pair[0] in set(branches)}
    for branch, department in sorted(wanted - current):
        yield Change("serve", "serves", branch, after=department)
    for branch, department in sorted(current - wanted):
        yield Change("unserve", "serves", branch, before=department)


def _routing_rows(book: Book) -> list[dict[str, Any]]:
    return [
        {
            "category": row["category"],
            "department_code": row["department"] or None,
            "branch_code": row["branch"],
        }
        for row in book.sheets["routing"]
    ]


def apply(
    db: Database,
    book: Book,
    who: audit.Who,
    *,
    dry_run: bool = False,
    expected: str | None = None,
) -> Plan:
    """Import the workbook: all of it in one transaction, every change audited, or nothing
    (WorkbookRefused). The plan is made again under the write lock; `dry_run` only makes it;
    with `expected` (a previewed plan's fingerprint) a plan that changed since is refused.
    The same workbook a second time finds nothing to change and writes nothing."""
    if dry_run:
        return plan(db, book)
    with transaction(db):
        made = plan(db, book)
        if expected is not None and made.fingerprint() != expected:
            raise WorkbookRefused([Problem("plan_changed", "—")])
        if not made:
            return made
        try:
            _apply(db, book, made, who)
        except store.OrganisationError as error:  # the database changed since the plan
            sheet = {str(kind): sheet for sheet, kind in UNIT_SHEETS.items()}.get(
                str(error.values.get("kind")), "—"
            )
            value = str(error.values.get("value", ""))
            raise WorkbookRefused([Problem(error.code, sheet, value=value)]) from error
        audit.record(db, "organisation_imported", who, detail=made.counts())
        return made


def _apply(db: Database, book: Book, made: Plan, who: audit.Who) -> None:
    rows = {sheet: {row["code"]: row for row in book.sheets[sheet]} for sheet in UNIT_SHEETS}
    deactivations = []
    for change in made.changes:
        kind = UNIT_SHEETS.get(change.sheet)
        row = rows[change.sheet].get(change.code) if kind else None
        if change.action == "add" and row is not None:
            _add(db, change.sheet, row, who)
        elif change.action == "reactivate" and kind:
            store.reactivate(db, kind, change.code, who)
        elif change.action == "rename" and kind and row is not None:
            current = store.unit(db, kind, change.code) or {}
            keep_hant = current.get("name") == row["name"]
            store.rename(
                db,
                kind,
                change.code,
                row["name"],
                who,
                name_en=row["name_en"],
                name_hant=current.get("name_hant") if keep_hant else None,
            )
        elif change.action == "move" and row is not None:
            store.move_branch(db, change.code, row["general_branch"], who)
        elif change.action == "change" and row is not None:
            if change.sheet == "branches":
                store.set_scope(db, change.code, row["scope"], who)
            else:
                store.set_department_place(db, change.code, row["kind"], row["campus"], who)
        elif change.action == "routing":
            store.set_routing(db, _routing_rows(book), who)
        elif change.action == "deactivate" and kind:
            deactivations.append((kind, change.code))
    # Branches first: a general branch is deactivated once no active branch is under it.
    for kind in (Kind.BRANCH, Kind.DEPARTMENT, Kind.GENERAL_BRANCH):
        for which, code in deactivations:
            if which is kind:
                store.deactivate(db, kind, code, who)
    if any(change.action in ("serve", "unserve") for change in made.changes):
        served: dict[str, list[str]] = {}
        for link in book.sheets["serves"]:
            served.setdefault(link["branch"], []).append(link["department"])
        touched = {change.code for change in made.changes if change.sheet == "serves"}
        for branch in rows["branches"]:
            if branch in touched:
                store.set_served_departments(db, branch, served.get(branch, []), who)
    for change in made.changes:
        if change.action == "reorder" and (kind := UNIT_SHEETS.get(change.sheet)):
            store.set_order(db, kind, [row["code"] for row in book.sheets[change.sheet]], who)


def _add(db: Database, sheet: str, row: Row, who: audit.Who) -> None:
    names = {"name_en": row["name_en"]}
    if sheet == "general_branches":
        store.add_general_branch(db, row["code"], row["name"], who, **names)
    elif sheet == "branches":
        store.add_branch(
            db, row["code"], row["name"], row["general_branch"], who, scope=row["scope"], **names
        )
    else:
        store.add_department(
            db, row["code"], row["name"], row["kind"], who, campus=row["campus"], **names
        )


# ---- writing ----------------------------------------------------------------------------------


def export_rows(db: Database) -> Rows:
    """The active organisation as workbook rows, in its order (what `wishes organisation
    export` writes). Inactive units are history, not part of the hospital's list: they are left
    out, and links naming them (serves) too."""
    general = store.general_branches(db)
    branches = list(db.query("SELECT * FROM branches WHERE active = 1 ORDER BY sort_order, code"))
    departments = store.departments(db)
    served = db.query(
        """SELECT bd.branch_code, bd.department_code FROM branch_departments bd
           JOIN branches b ON b.code = bd.branch_code AND b.active = 1
           JOIN departments d ON d.code = bd.department_code AND d.active = 1
           ORDER BY b.sort_order, b.code, d.sort_order, d.code"""
    )
    return {
        "general_branches": [
            {"code": g["code"], "name": g["name"], "name_en": g["name_en"] or ""} for g in general
        ],
        "branches": [
            {
                "code": b["code"],
                "name": b["name"],
                "name_en": b["name_en"] or "",
                "general_branch": b["general_branch_code"],
                "scope": b["scope"] or "",
            }
            for b in branches
        ],
        "departments": [
            {
                "code": d["code"],
                "name": d["name"],
                "name_en": d["name_en"] or "",
                "kind": d["kind"],
                "campus": d["campus"] or "",
            }
            for d in departments
        ],
        "serves": [
            {"branch": row["branch_code"], "department": row["department_code"]} for row in served
        ],
        "routing": [
            {
                "category": row["category"],
                "department": row["department_code"] or "",
                "branch": row["branch_code"],
            }
            for row in store.routing_rows(db)
        ],
    }


def template_rows() -> Rows:
    """The template: every sheet with its columns and one example row."""
    return {sheet: [dict(row) for row in rows] for sheet, rows in EXAMPLE.items()}


def write(rows: Rows, path: str | Path) -> Path:
    """Write rows to `path`: `.xlsx`, `.json`, or else a folder of CSV files (made if new)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        path.write_bytes(to_xlsx(rows))
    elif suffix == ".json":
        path.write_text(to_json(rows), encoding="utf-8")
    else:
        path.mkdir(parents=True, exist_ok=True)
        for sheet, data in to_csv(rows).items():
            (path / f"{sheet}.csv").write_bytes(data)
    return path


def to_json(rows: Rows) -> str:
    return json.dumps(
        {sheet: [_ordered(sheet, row) for row in rows.get(sheet, [])] for sheet in SHEETS},
        ensure_ascii=False,
        indent=2,
    )


def to_csv(rows: Rows) -> dict[str, bytes]:
    """One CSV file per sheet, UTF-8 with a byte-order mark (Excel then reads the Chinese)."""
    files = {}
    for sheet, columns in SHEETS.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows.get(sheet, []):
            writer.writerow(_to_csv(row.get(column, "")) for column in columns)
        files[sheet] = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    return files


def _to_csv(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _ordered(sheet: str, row: dict[str, str]) -> dict[str, str]:
    return {column: row.get(column, "") for column in SHEETS[sheet]}


def to_xlsx(rows: Rows) -> bytes:
    """An XLSX workbook: the five sheets, a bold frozen header, columns as wide as their text;
    every value stored as text (never run as a formula), `kind` offered as a list."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    for sheet, columns in SHEETS.items():
        page = workbook.create_sheet(sheet)
        page.append(list(columns))
        for cell in page[1]:
            cell.font = bold
        page.freeze_panes = "A2"
        for row in rows.get(sheet, []):
            page.append([row.get(column, "") or None for column in columns])
        for line in page.iter_rows(min_row=2):
            for cell in line:
                if cell.value is not None:
                    cell.data_type = "s"
        fit_columns(page)
        if sheet == "departments":
            kinds = DataValidation(
                type="list", formula1=f'"{",".join(store.DEPARTMENT_KINDS)}"', allow_blank=False
            )
            page.add_data_validation(kinds)
            kinds.add(f"D2:D{max(len(rows.get(sheet, [])) + 200, 1000)}")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def template_xlsx() -> bytes:
    """The template workbook for the page's "download the template" link."""
    return to_xlsx(template_rows())
