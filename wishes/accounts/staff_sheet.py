"""Staff in bulk: a staff workbook in (all of it or nothing), the temporary passwords out once,
and the staff list out with phone numbers masked.

The workbook (XLSX, or CSV in UTF-8 or GBK) has a header row `username, name, role, branch,
phone` (or 用户名, 姓名, 角色, 党支部, 手机号); `phone` may be left out. A role is a code of
`permissions.Role` or its Chinese label; a branch is a branch's code or its name. Every row is
checked before anything is written, and every problem is reported with its row and value.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from sqlite_utils import Database

from .. import audit, organisation
from ..intake import normalise_phone
from ..pageform import clean_line
from ..storage import transaction
from . import store
from .permissions import BRANCH_ROLES, ROLE_LABELS, Role

COLUMNS = ("username", "name", "role", "branch", "phone")
REQUIRED_COLUMNS = ("username", "name", "role", "branch")
HEADER_WORDS = {
    "用户名": "username",
    "账号": "username",
    "姓名": "name",
    "角色": "role",
    "党支部": "branch",
    "支部": "branch",
    "所属党支部": "branch",
    "手机号": "phone",
    "手机": "phone",
    "电话": "phone",
}
MAX_ROWS = 5000
MAX_NAME = 40
MOBILE = re.compile(r"1[3-9]\d{9}")

# What an administrator reads for each problem, by code; {row} and {value} are filled in.
PROBLEMS = {
    "unreadable": "无法读取这个文件：请用 .xlsx 工作簿，或 UTF-8 / GBK 编码的 .csv 文件。",
    "empty": "表格里没有员工。",
    "too_many_rows": "一次最多导入 {value} 人，请分成几个表格。",
    "missing_column": "第 {row} 行（表头）缺少“{value}”列；表头应为 "
    "username, name, role, branch, phone。",
    "bad_username": "第 {row} 行：用户名“{value}”只能用小写字母、数字和 . _ -，2–40 个字符。",
    "duplicate_username": "第 {row} 行：用户名“{value}”在表格里前面已经出现过。",
    "existing_username": "第 {row} 行：用户名“{value}”已被使用。",
    "missing_name": "第 {row} 行：请填写姓名。",
    "bad_name": "第 {row} 行：姓名“{value}”太长（最多 40 个字）或含有无法保存的字符。",
    "unknown_role": "第 {row} 行：没有这个角色“{value}”。",
    "unknown_branch": "第 {row} 行：没有这个党支部“{value}”。",
    "inactive_branch": "第 {row} 行：党支部“{value}”已停用。",
    "branch_required": "第 {row} 行：角色“{value}”必须填写所属党支部。",
    "branch_not_expected": "第 {row} 行：角色“{value}”不属于党支部，党支部一栏请留空。",
    "bad_phone": "第 {row} 行：手机号“{value}”不是 11 位手机号码。",
}


@dataclass(frozen=True)
class Problem:
    code: str
    row: int = 0
    value: str = ""

    def words(self) -> str:
        return PROBLEMS[self.code].format(row=self.row, value=self.value)


class SheetRefused(ValueError):
    """The sheet was not imported; `problems` says every reason, row by row."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(problem.code for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class StaffRow:
    """One checked row of the sheet: ready to become an account."""

    row: int
    username: str
    name: str
    role: str
    branch_code: str | None
    phone: str | None


@dataclass(frozen=True)
class HandOut:
    """What one new colleague is handed: their username, name and temporary password."""

    username: str
    name: str
    password: str


# ---- reading ------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A cell as text: a whole number typed into a number cell (an employee number, a phone)
    loses its `.0`, and control characters are dropped."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return clean_line(str(value)).strip()


def read_rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """The rows of a staff sheet (XLSX by its content, otherwise CSV) under their column
    names, each with its row number as a spreadsheet shows it; empty rows are skipped."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl's remarks on files Excel did not write
            table = _xlsx_rows(data) if data[:4] == b"PK\x03\x04" else _csv_rows(data)
    except Exception:  # a parser on a file from anywhere: whatever it raises, it is unreadable
        raise SheetRefused([Problem("unreadable")]) from None
    filled = [(number, row) for number, row in table if any(row)]
    if not filled:
        raise SheetRefused([Problem("empty")])
    (number, titles), *body = filled
    columns = [_column_name(title) for title in titles]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise SheetRefused([Problem("missing_column", number, name) for name in missing])
    if not body:
        raise SheetRefused([Problem("empty")])
    if len(body) > MAX_ROWS:
        raise SheetRefused([Problem("too_many_rows", value=str(MAX_ROWS))])
    return [
        (
            number,
            {name: row[i] if i < len(row) else "" for i, name in enumerate(columns) if name},
        )
        for number, row in body
    ]


def _column_name(title: str) -> str:
    title = title.strip()
    if title.lower() in COLUMNS:
        return title.lower()
    return HEADER_WORDS.get(title, "")  # another column is ignored


def _xlsx_rows(data: bytes) -> Iterable[tuple[int, list[str]]]:
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        return [
            (number, [_text(value) for value in row])
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        workbook.close()


def _csv_rows(data: bytes) -> Iterable[tuple[int, list[str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030")  # Excel on a Chinese PC saves CSV in GBK
    if "\0" in text:
        raise ValueError("not a text file")
    return [
        (number, [_text(value) for value in row])
        for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1)
    ]


# ---- checking -----------------------------------------------------------------------------


def _role(typed: str) -> Role | None:
    by_label = {label: role for role, label in ROLE_LABELS.items()}
    try:
        return Role(typed.lower())
    except ValueError:
        return by_label.get(typed)


def check(db: Database, rows: list[tuple[int, dict[str, str]]]) -> list[StaffRow]:
    """Every row checked against the rules and the database; SheetRefused lists every
    problem of every row, so one round of corrections is enough."""
    branches = organisation.branches(db, active_only=False)
    by_code = {b["code"]: b for b in branches}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for each in branches:
        by_name.setdefault(each["name"], []).append(each)
    taken = store.taken_usernames(db, [store.normalise_username(r["username"]) for _, r in rows])

    problems: list[Problem] = []
    checked: list[StaffRow] = []
    seen: set[str] = set()
    for number, cells in rows:
        found: list[Problem] = []
        typed_username = cells["username"]
        username = store.normalise_username(typed_username)
        if not store.USERNAME_PATTERN.match(username):
            found.append(Problem("bad_username", number, typed_username))
        elif username in seen:
            found.append(Problem("duplicate_username", number, typed_username))
        elif username in taken:
            found.append(Problem("existing_username", number, typed_username))
        seen.add(username)

        name = cells["name"]
        if not name:
            found.append(Problem("missing_name", number))
        elif len(name) > MAX_NAME or not store.storable(name):
            found.append(Problem("bad_name", number, name[:MAX_NAME] + "…"))

        role = _role(cells["role"])
        typed_branch = cells["branch"]
        branch_code = None
        if role is None:
            found.append(Problem("unknown_role", number, cells["role"]))
        elif role in BRANCH_ROLES and not typed_branch:
            found.append(Problem("branch_required", number, cells["role"]))
        elif role not in BRANCH_ROLES and typed_branch:
            found.append(Problem("branch_not_expected", number, cells["role"]))
        if typed_branch:
            named = by_name.get(typed_branch, [])
            branch: dict[str, Any] | None = by_code.get(typed_branch)
            if branch is None and len(named) == 1:  # a name is used only when unambiguous
                branch = named[0]
            if branch is None:
                found.append(Problem("unknown_branch", number, typed_branch))
            elif not branch["active"]:
                found.append(Problem("inactive_branch", number, typed_branch))
            else:
                branch_code = branch["code"]

        phone = normalise_phone(cells.get("phone", ""))
        if phone and not MOBILE.fullmatch(phone):
            found.append(Problem("bad_phone", number, cells.get("phone", "")))

        problems += found
        if not found and role is not None:
            checked.append(StaffRow(number, username, name, str(role), branch_code, phone or None))
    if problems:
        raise SheetRefused(problems)
    return checked


# ---- importing ----------------------------------------------------------------------------


def import_staff(
    db: Database,
    rows: list[StaffRow],
    who: audit.Who,
    hand_out: Callable[[bytes], None] | None = None,
) -> bytes:
    """Create every account of `rows` in one transaction, each with a random temporary password
    that must be changed at first login, audited; return the sheet of temporary passwords
    (XLSX), the only place they are ever written.

    `hand_out(sheet)` runs inside the transaction: when it fails (the file cannot be written),
    no account is created, so nobody is left with a password no one has seen."""
    handouts = [HandOut(row.username, row.name, store.new_password()) for row in rows]
    accounts = [
        store.NewAccount(
            username=row.username,
            display_name=row.name,
            role=row.role,
            branch_code=row.branch_code,
            phone=row.phone,
            password_hash=store.hash_password(handout.password),  # slow: before the lock
        )
        for row, handout in zip(rows, handouts, strict=True)
    ]
    sheet = passwords_sheet(handouts)
    with transaction(db):
        try:
            created = store.add_accounts(db, accounts)
        except store.UsernameTaken as taken:  # taken since the sheet was checked
            number = next(row.row for row in rows if row.username == taken.username)
            raise SheetRefused([Problem("existing_username", number, taken.username)]) from None
        for user in created:
            audit.record(
                db,
                "user_created",
                who,
                subject_kind="user",
                subject_id=user["id"],
                detail={
                    "username": user["username"],
                    "role": user["role"],
                    "branch": user["branch_code"],
                    "via": "staff_import",
                },
            )
        audit.record(db, "staff_imported", who, detail={"accounts": len(created)})
        if hand_out is not None:
            hand_out(sheet)
    return sheet


def passwords_sheet(handouts: list[HandOut]) -> bytes:
    return _xlsx(
        "临时密码",
        ["username", "name", "temporary password"],
        [[h.username, h.name, h.password] for h in handouts],
        note="临时密码只在这里出现一次；首次登录时必须修改。发完请删除本文件。",
    )


# ---- the staff list and its phone numbers -------------------------------------------------

EXPORT_COLUMNS = ["username", "name", "role", "branch", "phone", "active", "source"]
SOURCE_WORDS = {store.LOCAL: "本地密码", store.DIRECTORY: "医院目录"}


def export_staff(db: Database, who: audit.Who, *, reveal_phones: bool = False) -> list[list[Any]]:
    """The staff list as rows under EXPORT_COLUMNS (role and branch in words, which the import
    reads back); phones masked, unless `reveal_phones`: then each full number shown is an
    audited reveal. The export itself is audited too."""
    staff = store.staff_list(db)
    with transaction(db):
        phones: dict[int, str | None] = {}
        if reveal_phones:
            for user in staff:
                if user["phone_masked"]:
                    phones[user["id"]] = reveal_phone(db, user["id"], who)
        audit.record(
            db,
            "exported",
            who,
            subject_kind="staff",
            subject_id="staff_list",
            detail={
                "rows": len(staff),
                "phones": "full" if reveal_phones else "masked",
            },
        )
    return [
        [
            user["username"],
            user["display_name"],
            ROLE_LABELS.get(user["role"], user["role"]),
            user["branch_name"] or "",
            phones.get(user["id"]) or user["phone_masked"],
            "在用" if user["active"] else "停用",
            SOURCE_WORDS.get(user["source"], user["source"]),
        ]
        for user in staff
    ]


def reveal_phone(db: Database, user_id: int, who: audit.Who) -> str | None:
    """A staff member's full phone number, on purpose: the reveal is written to the audit log
    (who, when, whose — never the number)."""
    with transaction(db):
        phone = store.staff_phone(db, user_id)
        if phone:
            audit.record(db, "staff_phone_revealed", who, subject_kind="user", subject_id=user_id)
    return phone


def staff_xlsx(rows: list[list[Any]]) -> bytes:
    return _xlsx("员工名单", EXPORT_COLUMNS, rows)


def staff_csv(rows: list[list[Any]]) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel on a hospital PC reads the Chinese right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows([_inert(value) for value in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# ---- writing sheets -----------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    """Text that no spreadsheet will run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _xlsx(title: str, header: list[str], rows: list[list[Any]], note: str = "") -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title)

    def text(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        cell = WriteOnlyCell(sheet, value=_inert(value))
        cell.data_type = "s"  # a string stays a string, never a formula
        return cell

    sheet.append(header)
    for row in rows:
        sheet.append([text(value) for value in row])
    if note:
        sheet.append([])
        sheet.append([text(note)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
