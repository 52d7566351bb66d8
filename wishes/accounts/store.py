"""Staff accounts: users, passwords, login sessions and the login throttle (tables it owns:
`users`, `staff_sessions`, `login_attempts`).

Passwords are hashed with scrypt (werkzeug's default KDF: N=2^15, r=8, p=1). The session
cookie holds only a random token; its SHA-256 is the key of a `staff_sessions` row, so a
logout, a password change or a deactivation ends the session for real, and idle and
absolute timeouts are enforced on the server.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from flask_login import UserMixin
from sqlite_utils import Database
from werkzeug.security import check_password_hash, generate_password_hash

from ..storage import TIMESTAMP_FORMAT, transaction, utcnow
from .permissions import BRANCH_ROLES, Role

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
PASSWORD_METHOD = "scrypt"
SEEN_WRITE_INTERVAL = timedelta(seconds=60)


class AccountError(ValueError):
    """A change to an account that cannot be made; the message is for the person who asked."""


@dataclass
class StaffUser(UserMixin):
    """A logged-in staff member, as Flask-Login sees them: `get_id` is the session token."""

    id: int
    username: str
    display_name: str
    role: str
    branch_code: str | None
    must_change_password: bool
    session_token: str = ""

    def get_id(self) -> str:
        return self.session_token

    @property
    def name(self) -> str:
        return self.display_name or self.username


def storable(text: str) -> bool:
    """False for text that cannot be written as UTF-8 (a lone surrogate from a terminal's
    undecodable bytes, which Python keeps as surrogate escapes)."""
    return not any("\ud800" <= ch <= "\udfff" for ch in text)


def normalise_username(typed: str) -> str:
    return typed.strip().lower()


def _stamp(moment: datetime) -> str:
    return moment.strftime(TIMESTAMP_FORMAT)


def _parse(stored: str) -> datetime:
    return datetime.strptime(stored, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


# ---- passwords ----------------------------------------------------------------------------


# zxcvbn estimates how many guesses a password takes (dictionaries, names, keyboard walks,
# repeats, dates). Below 3 ("safely unguessable") it falls to an online or slow-hash attack.
MIN_PASSWORD_SCORE = 3
# zxcvbn's time grows quickly with length; what is past this adds no guessable pattern.
ESTIMATED_PREFIX = 64


@lru_cache(maxsize=1)
def _common_in_chinese() -> tuple[str, ...]:
    """Passwords common in Chinese leaks, which zxcvbn's English lists miss (woaini1314)."""
    ours = resources.files(__package__).joinpath("data/common_passwords_cn.txt").read_text("utf-8")
    return tuple(line.strip() for line in ours.splitlines() if line.strip() and line[0] != "#")


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password may not be used (in Chinese, for the person choosing it), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符。"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"密码不能超过 {MAX_PASSWORD_LENGTH} 个字符。"
    if not storable(password):
        return "密码里有无法使用的字符。"
    if username and len(username) >= 3 and username.lower() in password.lower():
        return "密码不能包含用户名。"
    # Imported on first use: its dictionaries are 13 MB that only a password change needs.
    from zxcvbn import zxcvbn

    estimate = zxcvbn(password[:ESTIMATED_PREFIX], user_inputs=[username, *_common_in_chinese()])
    if estimate["score"] < MIN_PASSWORD_SCORE:
        return "这个密码太常见，很容易被猜到，请换一个。"
    return None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Checked when the username is unknown, so a wrong username takes as long as a wrong
    password and response times do not reveal which accounts exist."""
    return generate_password_hash(secrets.token_hex(16), method=PASSWORD_METHOD)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def new_password() -> str:
    """A random password for a new account or a reset: 16 characters, easy to read out."""
    alphabet = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(16))


# ---- users --------------------------------------------------------------------------------


def _check_role_and_branch(db: Database, role: str, branch_code: str | None) -> str | None:
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"没有这个角色：{role}") from None
    if role in BRANCH_ROLES:
        if not branch_code:
            raise AccountError("党员和支部书记必须属于一个党支部。")
        found = db.execute(
            "SELECT 1 FROM branches WHERE code = ? AND active = 1", [branch_code]
        ).fetchone()
        if not found:
            raise AccountError(f"没有这个党支部：{branch_code}")
        return branch_code
    return None


def create_user(
    db: Database,
    username: str,
    password: str,
    role: str,
    *,
    branch_code: str | None = None,
    display_name: str = "",
    must_change_password: bool = False,
) -> dict[str, Any]:
    """Create an account; the password must pass `password_problem`."""
    username = normalise_username(username)
    if not USERNAME_PATTERN.match(username):
        raise AccountError("用户名只能用小写字母、数字和 . _ -，2–40 个字符。")
    branch_code = _check_role_and_branch(db, role, branch_code)
    if not storable(display_name):
        raise AccountError("姓名里有无法保存的字符。")
    if problem := password_problem(password, username):
        raise AccountError(problem)
    now = utcnow()
    with transaction(db):
        if find_user(db, username) is not None:
            raise AccountError(f"用户名 {username} 已被使用。")
        user_id = (
            db.table("users")
            .insert(
                {
                    "username": username,
                    "display_name": display_name.strip(),
                    "password_hash": hash_password(password),
                    "role": str(role),
                    "branch_code": branch_code,
                    "active": 1,
                    "created_at": now,
                    "must_change_password": int(must_change_password),
                    "password_changed_at": now,
                }
            )
            .last_pk
        )
    return _saved_user(db, user_id)


def find_user(db: Database, username: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM users WHERE username = ?", [normalise_username(username)]))
    return rows[0] if rows else None


def get_user(db: Database, user_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM users WHERE id = ?", [user_id]))
    return rows[0] if rows else None


def _saved_user(db: Database, user_id: Any) -> dict[str, Any]:
    """The row just written in this transaction."""
    user = get_user(db, int(user_id))
    if user is None:
        raise LookupError(user_id)
    return user


def list_users(db: Database) -> list[dict[str, Any]]:
    return list(
        db.query(
            """SELECT u.id, u.username, u.display_name, u.role, u.branch_code, u.active,
                      u.created_at, u.last_login_at, b.name AS branch_name
               FROM users u LEFT JOIN branches b ON b.code = u.branch_code
               ORDER BY u.active DESC, u.role, u.username"""
        )
    )


def active_staff(
    db: Database, roles: Iterable[str], branch_code: str | None = None
) -> list[tuple[int, str]]:
    """(id, name) of the active accounts with one of `roles` (at `branch_code`, when given),
    a branch's secretary before its members, then by name: who answers for a branch's wishes,
    and whom a secretary may give one to."""
    roles = tuple(roles)
    where = f"active = 1 AND role IN ({', '.join('?' * len(roles))})"
    params: list[Any] = list(roles)
    if branch_code is not None:
        where += " AND branch_code = ?"
        params.append(branch_code)
    sql = f"""SELECT id, coalesce(nullif(display_name, ''), username) AS name FROM users
              WHERE {where} ORDER BY role DESC, name, id"""
    return [(row[0], row[1]) for row in db.execute(sql, params)]


def has_password_account(db: Database) -> bool:
    """True when any staff account has a local password (the first run is over)."""
    sql = "SELECT 1 FROM users WHERE source = 'local' AND coalesce(password_hash, '') != ''"
    return db.execute(sql + " LIMIT 1").fetchone() is not None


def has_active_admin(db: Database) -> bool:
    return (
        db.execute("SELECT 1 FROM users WHERE role = 'admin' AND active = 1").fetchone() is not None
    )


def update_user(
    db: Database,
    user_id: int,
    *,
    role: str,
    branch_code: str | None,
    display_name: str,
    active: bool,
) -> dict[str, Any]:
    """Change role, branch, name or active flag; deactivating ends the user's sessions."""
    branch_code = _check_role_and_branch(db, role, branch_code)
    with transaction(db):
        before = get_user(db, user_id)
        if before is None:
            raise AccountError("没有这个用户。")
        if before["role"] == Role.ADMIN and before["active"] and (role != Role.ADMIN or not active):
            others = db.execute(
                "SELECT count(*) FROM users WHERE role = 'admin' AND active = 1 AND id != ?",
                [user_id],
            ).fetchone()[0]
            if not others:
                raise AccountError("至少要保留一位在用的系统管理员。")
        db.table("users").update(
            user_id,
            {
                "role": str(role),
                "branch_code": branch_code,
                "display_name": display_name.strip(),
                "active": int(active),
            },
        )
        if not active:
            end_sessions(db, user_id)
    return _saved_user(db, user_id)


def set_password(
    db: Database,
    user_id: int,
    password: str,
    *,
    must_change: bool = False,
    keep_session: str | None = None,
) -> None:
    """Set a password and end every other session of the user (a stolen session dies too)."""
    user = get_user(db, user_id)
    if user is None:
        raise AccountError("没有这个用户。")
    if problem := password_problem(password, user["username"]):
        raise AccountError(problem)
    with transaction(db):
        db.table("users").update(
            user_id,
            {
                "password_hash": hash_password(password),
                "must_change_password": int(must_change),
                "password_changed_at": utcnow(),
            },
        )
        end_sessions(db, user_id, except_token=keep_session)


def check_password(db: Database, username: str, password: str) -> dict[str, Any] | None:
    """The active user whose password this is, or None (in the same time either way)."""
    user = find_user(db, username)
    if user is None or not user["password_hash"]:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user["password_hash"], password) or not user["active"]:
        return None
    return user


# ---- sessions -----------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def start_session(db: Database, user_id: int) -> str:
    """Open a login session; the returned token goes in the (signed) session cookie."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with transaction(db):
        db.table("staff_sessions").insert(
            {
                "token_hash": _token_hash(token),
                "user_id": user_id,
                "created_at": now,
                "last_seen_at": now,
            }
        )
        db.table("users").update(user_id, {"last_login_at": now})
    return token


def session_user(
    db: Database, token: str, *, idle: timedelta, absolute: timedelta, now: datetime | None = None
) -> StaffUser | None:
    """The user of a live session; an expired one is ended and gives None."""
    now = now or datetime.now(UTC)
    rows = list(
        db.query(
            """SELECT s.id AS session_id, s.created_at AS started, s.last_seen_at, u.*
               FROM staff_sessions s JOIN users u ON u.id = s.user_id
               WHERE s.token_hash = ? AND s.ended_at IS NULL AND u.active = 1""",
            [_token_hash(token)],
        )
    )
    if not rows:
        return None
    row = rows[0]
    last_seen = _parse(row["last_seen_at"])
    if now - last_seen > idle or now - _parse(row["started"]) > absolute:
        with transaction(db):
            db.table("staff_sessions").update(row["session_id"], {"ended_at": _stamp(now)})
        return None
    if now - last_seen > SEEN_WRITE_INTERVAL:  # one write a minute, not one per request
        with transaction(db):
            db.table("staff_sessions").update(row["session_id"], {"last_seen_at": _stamp(now)})
    return staff_user(row, token)


def staff_user(row: dict[str, Any], token: str) -> StaffUser:
    """The logged-in form of a `users` row."""
    return StaffUser(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"] or "",
        role=row["role"],
        branch_code=row["branch_code"],
        must_change_password=bool(row["must_change_password"]),
        session_token=token,
    )


def end_session(db: Database, token: str) -> None:
    with transaction(db):
        db.execute(
            "UPDATE staff_sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL",
            [utcnow(), _token_hash(token)],
        )


def end_sessions(db: Database, user_id: int, except_token: str | None = None) -> None:
    keep = _token_hash(except_token) if except_token else ""
    db.execute(
        "UPDATE staff_sessions SET ended_at = ? "
        "WHERE user_id = ? AND ended_at IS NULL AND token_hash != ?",
        [utcnow(), user_id, keep],
    )


# ---- login throttle -----------------------------------------------------------------------
#
# Failed logins slow down, they never lock anyone out for long:
#   * the same account from the same address: from the 5th failure, wait 30 s, 1 min, 2 min …
#   * the same account from anywhere: from the 20th failure, wait 1 min, 2 min …
#   * the same address for any account: from the 50th failure, wait 15 min;
# every wait is capped at 15 minutes, and only failures of the last 15 minutes (and after
# the account's last successful login) count. A user at their own desk is slowed only by
# an attacker who tries twenty times, and then for minutes, not days.

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_WAIT = timedelta(minutes=15)
_RULES = (
    # (which failures count, free failures, first wait)
    ("pair", 5, timedelta(seconds=30)),
    ("account", 20, timedelta(minutes=1)),
    ("address", 50, MAX_WAIT),
)


UNKNOWN_NAME = "（不存在的用户名）"


def login_name(db: Database, typed: str) -> str:
    """What the login throttle and the audit log keep of a typed username: the username of
    an account, or for a name no account has (often a password typed in the wrong box) a
    digest of it, so the same name is still throttled and never written down."""
    name = normalise_username(typed)[:80]
    if find_user(db, name):
        return name
    return "#" + hashlib.sha256(name.encode()).hexdigest()[:16]


def shown_login_name(name: str) -> str:
    """A login name as the audit log shows it."""
    return UNKNOWN_NAME if name.startswith("#") else name


def record_login_attempt(db: Database, username: str, address: str, succeeded: bool) -> None:
    with transaction(db):
        db.table("login_attempts").insert(
            {
                "at": utcnow(),
                "username": login_name(db, username),
                "address": address,
                "succeeded": int(succeeded),
            }
        )


def begin_login_attempt(db: Database, username: str, address: str) -> tuple[int, int | None]:
    """Before a password is checked: the seconds to wait (and no attempt), or the attempt,
    written down as failed until `finish_login_attempt` says otherwise. One transaction under
    the write lock, so 40 guesses sent at once are counted one after the other: the sixth
    waits, instead of a dozen being checked before any was counted."""
    with transaction(db):
        name = login_name(db, username)
        wait = _wait(db, name, address, datetime.now(UTC))
        if wait:
            return wait, None
        db.execute(
            "INSERT INTO login_attempts (at, username, address, succeeded) VALUES (?, ?, ?, 0)",
            [utcnow(), name, address],
        )
        return 0, db.execute("SELECT last_insert_rowid()").fetchone()[0]


def finish_login_attempt(db: Database, attempt_id: int, succeeded: bool) -> None:
    if succeeded:
        with transaction(db):
            db.execute("UPDATE login_attempts SET succeeded = 1 WHERE id = ?", [attempt_id])


# The addresses an account signed in from lately are its usual places: others' wrong guesses
# from elsewhere do not lock it out there.
USUAL_PLACE = timedelta(days=90)


def login_wait(db: Database, username: str, address: str, now: datetime | None = None) -> int:
    """Seconds to wait before this username may try again from this address (0: go ahead).

    Failures count per name and address, per name (unless this address is one the account
    signed in from in the last 90 days: its owner still gets in there while someone guesses
    from elsewhere) and per address."""
    return _wait(db, login_name(db, username), address, now or datetime.now(UTC))


def _wait(db: Database, username: str, address: str, now: datetime) -> int:
    since = _stamp(now - THROTTLE_WINDOW)
    last_success = db.execute(
        "SELECT max(at) FROM login_attempts WHERE username = ? AND succeeded = 1", [username]
    ).fetchone()[0]
    account_since = max(since, last_success or "")
    usual_place = db.execute(
        """SELECT 1 FROM login_attempts
           WHERE username = ? AND address = ? AND succeeded = 1 AND at > ? LIMIT 1""",
        [username, address, _stamp(now - USUAL_PLACE)],
    ).fetchone()
    filters = {
        "pair": ("username = ? AND address = ? AND at > ?", [username, address, account_since]),
        "account": ("username = ? AND at > ?", [username, account_since]),
        "address": ("address = ? AND at > ?", [address, since]),
    }
    if usual_place:
        del filters["account"]
    wait = timedelta(0)
    for name, free, first_wait in _RULES:
        if name not in filters:
            continue
        where, params = filters[name]
        failures, last = db.execute(
            f"SELECT count(*), max(at) FROM login_attempts WHERE succeeded = 0 AND {where}",
            params,
        ).fetchone()
        if failures >= free:
            step = min(first_wait * 2 ** (failures - free), MAX_WAIT)
            wait = max(wait, _parse(last) + step - now)
    return max(0, int(wait.total_seconds() + 0.999))


# ---- staff in bulk, and accounts of the hospital's directory -------------------------------
#
# `source` says where an account's password lives: "local" (its scrypt hash here) or
# "directory" (the hospital's LDAP or Active Directory checks it; no local password).

LOCAL, DIRECTORY = "local", "directory"


class UsernameTaken(AccountError):
    """An account with this username already exists (`username` is the one)."""

    def __init__(self, username: str) -> None:
        super().__init__(username)
        self.username = username


@dataclass(frozen=True)
class NewAccount:
    """An account ready to be written: checked, its temporary password already hashed."""

    username: str
    display_name: str
    role: str
    branch_code: str | None
    phone: str | None
    password_hash: str


def taken_usernames(db: Database, usernames: list[str]) -> set[str]:
    """Which of these usernames already have an account."""
    found: set[str] = set()
    for start in range(0, len(usernames), 500):  # SQLite's limit on bound parameters
        chunk = usernames[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(
            row[0]
            for row in db.execute(f"SELECT username FROM users WHERE username IN ({marks})", chunk)
        )
    return found


def add_accounts(db: Database, accounts: list[NewAccount]) -> list[dict[str, Any]]:
    """Write all these accounts or none (in the caller's transaction, or one of its own);
    each must change its temporary password at first login. Raises UsernameTaken."""
    now = utcnow()
    with transaction(db):
        taken = taken_usernames(db, [a.username for a in accounts])
        if taken:
            raise UsernameTaken(sorted(taken)[0])
        users = db.table("users")
        ids = [
            users.insert(
                {
                    "username": account.username,
                    "display_name": account.display_name,
                    "password_hash": account.password_hash,
                    "role": account.role,
                    "branch_code": account.branch_code,
                    "phone": account.phone,
                    "source": LOCAL,
                    "active": 1,
                    "created_at": now,
                    "must_change_password": 1,
                    "password_changed_at": now,
                }
            ).last_pk
            for account in accounts
        ]
        return [_saved_user(db, user_id) for user_id in ids]


def save_directory_account(
    db: Database, username: str, *, display_name: str, role: str, branch_code: str | None
) -> tuple[dict[str, Any], dict[str, list[Any]] | None]:
    """Create or update the account of a person the directory has just signed in, with the role
    and branch their groups map to. Returns the row and, for an existing account, what changed
    ({column: [before, after]}); None when it was created. A local account is never taken
    over (UsernameTaken)."""
    username = normalise_username(username)
    branch_code = _check_role_and_branch(db, role, branch_code)
    display_name = display_name.strip()[:40] if storable(display_name) else ""
    with transaction(db):
        before = find_user(db, username)
        if before is None:
            user_id = (
                db.table("users")
                .insert(
                    {
                        "username": username,
                        "display_name": display_name,
                        "password_hash": None,
                        "role": str(role),
                        "branch_code": branch_code,
                        "source": DIRECTORY,
                        "active": 1,
                        "created_at": utcnow(),
                        "must_change_password": 0,
                    }
                )
                .last_pk
            )
            return _saved_user(db, user_id), None
        if before["source"] != DIRECTORY:
            raise UsernameTaken(username)
        after = {"role": str(role), "branch_code": branch_code}
        if display_name:
            after["display_name"] = display_name
        changed = {k: [before[k], v] for k, v in after.items() if before[k] != v}
        if changed:
            db.table("users").update(before["id"], after)
        return _saved_user(db, before["id"]), changed


_MASKED_PHONE = """CASE WHEN u.phone IS NULL OR u.phone = '' THEN ''
                        WHEN length(u.phone) = 11
                        THEN substr(u.phone, 1, 3) || '****' || substr(u.phone, -4)
                        ELSE '****' END"""


def staff_list(db: Database) -> list[dict[str, Any]]:
    """Every account for the staff list and its export, the phone masked (138****1234): the
    full number leaves this module only through `staff_phone`."""
    return list(
        db.query(
            f"""SELECT u.id, u.username, u.display_name, u.role, u.branch_code, u.active,
                       u.source, {_MASKED_PHONE} AS phone_masked, b.name AS branch_name
                FROM users u LEFT JOIN branches b ON b.code = u.branch_code
                ORDER BY u.active DESC, u.role, u.username"""
        )
    )


def staff_phone(db: Database, user_id: int) -> str | None:
    """A staff member's full phone number; the caller records the reveal in the audit log."""
    row = db.execute("SELECT phone FROM users WHERE id = ?", [user_id]).fetchone()
    return row[0] if row else None
