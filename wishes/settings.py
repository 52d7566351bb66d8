"""Every WISHES_* setting, declared once with its default and help text.

Some of them the administrator may also set in the app (`wishes/hospital/`: the settings page):
there the environment variable, when set, still wins, and the page says so.

The README's settings table is checked against this list by a test, so a new setting
cannot go undocumented. Values come from the environment; an unknown WISHES_* name is
refused at start, because a typo there would otherwise be silently ignored.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a yes/no value: {value!r}")


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(f"must be a positive whole number: {value!r}")
    return number


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"must be 0 or a positive whole number: {value!r}")
    return number


def _factor(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1000:
        raise ValueError(f"must be between 0 and 1000: {value!r}")
    return number


def _probability(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise ValueError(f"must be between 0 and 1: {value!r}")
    return number


def _time_of_day(value: str) -> str:
    """HH:MM on a 24-hour clock, or empty (off)."""
    value = value.strip()
    if not value:
        return ""
    hours, sep, minutes = value.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"not a time of day HH:MM: {value!r}")
    if not (0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59):
        raise ValueError(f"not a time of day HH:MM: {value!r}")
    return f"{int(hours):02d}:{minutes}"


def _folder(value: str) -> str:
    """An absolute path, or empty (the default place)."""
    value = value.strip()
    if value and not Path(value).is_absolute():
        raise ValueError(f"not an absolute path: {value!r}")
    return value


def _networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Networks written as 10.0.0.0/8 or 192.168.1.7, separated by spaces or commas."""
    try:
        return tuple(
            ipaddress.ip_network(part, strict=False) for part in value.replace(",", " ").split()
        )
    except ValueError as error:
        raise ValueError(f"not a network such as 10.0.0.0/8: {error}") from None


def _role_map(value: str) -> Mapping[str, str]:
    """WISHES_LDAP_ROLE_MAP: a JSON object, each key a group's DN or `attribute=value`, each
    value a role code or `role@branch` (the role codes are checked when the app starts, in
    wishes/accounts/directory.py)."""
    try:
        mapping = json.loads(value or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip()
        for k, v in mapping.items()
    ):
        raise ValueError('must be a JSON object of strings, e.g. {"cn=…": "member@pediatrics"}')
    return MappingProxyType(mapping)


def _sms_sender(value: str) -> str:
    value = value.strip().lower()
    if value not in ("log", "http"):
        raise ValueError(f"must be log or http: {value!r}")
    return value


def _http_method(value: str) -> str:
    value = value.strip().upper()
    if value not in ("POST", "PUT", "GET"):
        raise ValueError(f"must be POST, PUT or GET: {value!r}")
    return value


def _headers(value: str) -> Mapping[str, str]:
    """WISHES_SMS_HEADERS: a JSON object of header names to values, all strings."""
    try:
        mapping = json.loads(value or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k.strip() and "\n" not in k + v
        for k, v in mapping.items()
    ):
        raise ValueError('must be a JSON object of strings, e.g. {"Authorization": "Bearer …"}')
    return MappingProxyType(mapping)


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "WISHES_DATA_DIR",
        str(PROJECT_ROOT / "instance"),
        "Folder for the SQLite database, uploaded photos, the jieba cache and the generated "
        "secret key.",
    ),
    Setting(
        "WISHES_MODELS_DIR",
        str(PROJECT_ROOT / "models"),
        "Folder holding the trained router models and their metadata.",
    ),
    Setting(
        "WISHES_ROUTER_THRESHOLD",
        0.6,
        "Router confidence (probability of its first choice) below which a wish goes to the "
        "triage queue with its top-3 suggestions instead of straight to a branch.",
        _probability,
    ),
    Setting(
        "WISHES_HOSPITAL_NAME",
        "示范医院",
        "The hospital's name, shown on every patient page and on printed bedside cards.",
    ),
    Setting(
        "WISHES_HOSPITAL_NAME_HANT",
        "",
        "The hospital's name on pages in Traditional Chinese. Empty: WISHES_HOSPITAL_NAME "
        "converted character by character.",
    ),
    Setting(
        "WISHES_HOSPITAL_NAME_EN",
        "",
        'The hospital\'s name on pages in English. Empty: the Chinese name ("Demo Hospital" '
        "while WISHES_HOSPITAL_NAME is the default). The Traditional name is converted.",
    ),
    Setting(
        "WISHES_PUBLIC_URL",
        "",
        "Address patients' phones use to reach the app (for example http://10.2.3.4:8000), "
        "encoded in QR codes. Empty: the address of the current request.",
    ),
    Setting(
        "WISHES_TIMEZONE",
        "Asia/Shanghai",
        "Time zone in which dates and times are shown (they are stored in UTC).",
    ),
    Setting(
        "WISHES_KIOSK_IDLE_SECONDS",
        90,
        "Seconds without a touch after which a kiosk page returns to its welcome screen and "
        "forgets what was typed.",
        _positive_int,
    ),
    Setting(
        "WISHES_KIOSK_WARNING_SECONDS",
        20,
        "How many seconds before that reset the kiosk shows a countdown warning.",
        _positive_int,
    ),
    Setting(
        "WISHES_BIND",
        "127.0.0.1:8000",
        "Address and port `wishes serve` listens on.",
    ),
    Setting(
        "WISHES_THREADS",
        8,
        "Request threads of the server started by `wishes serve` (one process; slow clients "
        "never hold one).",
        _positive_int,
    ),
    Setting(
        "WISHES_CLAIM_HOURS",
        24,
        "Hours a wish may wait at a branch (or in the triage queue) before it is overdue for a "
        "claim.",
        _positive_int,
    ),
    Setting(
        "WISHES_FULFIL_DAYS",
        7,
        "Days from a claim to fulfilment before a claimed wish is overdue.",
        _positive_int,
    ),
    Setting(
        "WISHES_NOTIFY_WEBHOOK_URL",
        "",
        "Webhook that receives branch notifications (an enterprise WeChat group robot's address "
        "works as is). Empty: notifications are written to the log.",
    ),
    Setting(
        "WISHES_NOTIFY_INTERVAL_SECONDS",
        30,
        "How often the notification worker looks for overdue wishes and due deliveries.",
        _positive_int,
    ),
    Setting(
        "WISHES_SMS_SENDER",
        "log",
        "How patients' texts go out (a text when their wish is claimed, fulfilled or declined, "
        "if they left a mobile number and agreed to be contacted): `log` writes each one to the "
        "log with the number masked; `http` sends it to the hospital's SMS gateway "
        "(WISHES_SMS_URL).",
        _sms_sender,
    ),
    Setting(
        "WISHES_SMS_URL",
        "",
        "The SMS gateway's address (http or https). Placeholders such as {phone} or {text} in it "
        "are URL-encoded (for gateways that take GET parameters).",
    ),
    Setting(
        "WISHES_SMS_METHOD",
        "POST",
        "HTTP method of the gateway request: POST, PUT or GET (GET sends no body).",
        _http_method,
    ),
    Setting(
        "WISHES_SMS_HEADERS",
        MappingProxyType({}),
        'Extra request headers as a JSON object, e.g. {"Authorization": "Bearer …"}. The '
        "Content-Type is JSON when the body starts with { or [, unless set here.",
        _headers,
    ),
    Setting(
        "WISHES_SMS_BODY",
        '{"phone": "{phone}", "text": "{text}"}',
        "The request body, with placeholders {phone}, {text}, {code} (tracking code), {state} "
        "(claimed, fulfilled, declined), {language} and {id} (the same for every retry of one "
        "text); JSON-escaped in a JSON body, URL-encoded in a form body.",
    ),
    Setting(
        "WISHES_SMS_SECRET",
        "",
        "If set, every gateway request carries X-Wishes-Signature: sha256=<hex>, the HMAC-SHA256 "
        "of the body with this secret.",
    ),
    Setting(
        "WISHES_SMS_TIMEOUT",
        5,
        "Seconds to wait for the gateway before the text is retried later (with backoff).",
        _positive_int,
    ),
    Setting(
        "WISHES_WEBHOOK_URL",
        "",
        "Webhooks out: the address (http or https) of the hospital's system that receives every "
        "event of every wish (submitted, routed, claimed, fulfilled…) as signed JSON. Empty: "
        "none queued.",
    ),
    Setting(
        "WISHES_WEBHOOK_SECRET",
        "",
        "If set, every webhook out carries X-Wishes-Signature: sha256=<hex>, the HMAC-SHA256 of "
        "the body with this secret.",
    ),
    Setting(
        "WISHES_BACKUP_TIME",
        "02:30",
        "Time of day (HH:MM, WISHES_TIMEZONE) at which the background worker beside `wishes "
        "serve` backs up the database with the photos and evidence files (one .tar archive); "
        "missed while the server was stopped, it is made at the next start. Empty: no scheduled "
        "backups.",
        _time_of_day,
    ),
    Setting(
        "WISHES_BACKUP_DIR",
        "",
        "Folder (an absolute path) for the scheduled backups; best on another disk or machine. "
        "Empty: the folder `backups` in WISHES_DATA_DIR.",
        _folder,
    ),
    Setting(
        "WISHES_BACKUP_KEEP",
        7,
        "How many scheduled backups are kept; older ones are removed after each successful "
        "backup (never the newest).",
        _positive_int,
    ),
    Setting(
        "WISHES_PERSONAL_DATA_DAYS",
        180,
        "Days after a wish is closed (followed up or declined) after which the patient's name "
        "and phone number are erased from it by the background worker; the wish itself stays.",
        _positive_int,
    ),
    Setting(
        "WISHES_ADMIN_PASSWORD",
        "",
        "Password for the first `admin` account that `wishes serve` creates when there is no "
        "administrator yet. Empty: a random one is printed once.",
    ),
    Setting(
        "WISHES_STAFF_IDLE_MINUTES",
        60,
        "A staff session ends after this many minutes without a request.",
        _positive_int,
    ),
    Setting(
        "WISHES_STAFF_SESSION_HOURS",
        12,
        "A staff session ends this many hours after login, however active (one shift).",
        _positive_int,
    ),
    Setting(
        "WISHES_KIOSK_QUESTIONNAIRE",
        "satisfaction",
        'Web-address name of the questionnaire behind the kiosk\'s "评价我们" button '
        "(empty: no button).",
    ),
    Setting(
        "WISHES_MIN_RESPONSES",
        30,
        'Below this many answers the dashboard shows "too few responses" instead of a figure.',
        _positive_int,
    ),
    Setting(
        "WISHES_RATE_LIMIT_FACTOR",
        1.0,
        "Scales the public forms' rate limits per address (20 wishes, 30 questionnaires, 120 "
        "tracking pages in 10 minutes): 2 doubles them, 0 turns them off.",
        _factor,
    ),
    Setting(
        "WISHES_HOSPITAL_NETWORKS",
        (),
        "The hospital's own networks (ward Wi-Fi, a NAT of many patients), e.g. "
        '"10.0.0.0/8 172.16.5.0/24": an address there may send 5 times the public forms\' '
        "limits. Registered kiosks have limits of their own, whatever their address.",
        _networks,
    ),
    Setting(
        "WISHES_CORRIDOR_PUBLIC",
        False,
        "The culture-corridor screen (/corridor: the latest published assessment) opens without "
        "a login, for a lobby display; off, only logged-in staff see it.",
        _bool,
    ),
    Setting(
        "WISHES_CORRIDOR_SECONDS",
        15,
        "Seconds the corridor screen shows each general branch before moving to the next.",
        _positive_int,
    ),
    Setting(
        "WISHES_HTTPS",
        False,
        "The app is reached over HTTPS (usually through a reverse proxy): cookies are sent only "
        "over HTTPS and browsers are told to insist on it (HSTS).",
        _bool,
    ),
    Setting(
        "WISHES_PROXY_HOPS",
        0,
        "How many reverse proxies stand in front of the app; their X-Forwarded-For/-Proto/-Host "
        "headers are believed only for that many hops (the login throttle, rate limits and the "
        "audit log record the client's address).",
        _count,
    ),
    Setting(
        "WISHES_LDAP_URL",
        "",
        "Address of the hospital's directory (LDAP or Active Directory) for staff sign-in, for "
        "example ldaps://dc1.hospital.local. Empty: off, every account signs in with its local "
        "password. Local accounts (the first admin among them) always sign in locally.",
    ),
    Setting(
        "WISHES_LDAP_BIND_DN",
        "",
        "The service account that looks staff up in the directory (empty: an anonymous search).",
    ),
    Setting(
        "WISHES_LDAP_BIND_PASSWORD",
        "",
        "The service account's password.",
    ),
    Setting(
        "WISHES_LDAP_USER_BASE",
        "",
        "Where in the directory staff are searched, for example ou=staff,dc=hospital,dc=local.",
    ),
    Setting(
        "WISHES_LDAP_USER_FILTER",
        "(uid={username})",
        "Search filter for the person signing in; {username} is replaced by the typed username, "
        "escaped. Active Directory: (sAMAccountName={username}).",
    ),
    Setting(
        "WISHES_LDAP_GROUP_BASE",
        "",
        "Where groups are searched for the person (groups listing them as member or "
        "uniqueMember). Empty: only the person's memberOf attribute names their groups.",
    ),
    Setting(
        "WISHES_LDAP_ROLE_MAP",
        MappingProxyType({}),
        "JSON object from a group's DN (or a person's \"attribute=value\") to a role code or "
        '"role@branch", for example {"cn=儿科党支部,ou=groups,dc=hospital,dc=local": '
        '"member@pediatrics"}; the first entry that matches wins. No match: sign-in refused.',
        _role_map,
    ),
    Setting(
        "WISHES_LDAP_TIMEOUT",
        5,
        "Seconds to wait for the directory (to connect, and for each answer) before sign-in "
        "says it is unreachable.",
        _positive_int,
    ),
    Setting(
        "WISHES_DEMO",
        False,
        "Demo mode: set by `wishes serve --demo`; shows a demo banner on every page.",
        _bool,
    ),
)

SETTINGS_BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}


class SettingsError(ValueError):
    """A WISHES_* environment variable is unknown or has a value that cannot be used."""


def load(environ: Mapping[str, str] | None = None) -> Mapping[str, Any]:
    """Read every setting from the environment, falling back to its default."""
    environ = os.environ if environ is None else environ
    unknown = sorted(k for k in environ if k.startswith("WISHES_") and k not in SETTINGS_BY_NAME)
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name)
        if raw is None:
            values[setting.name] = setting.default
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as error:
            raise SettingsError(f"{setting.name}: {error}") from error
    return MappingProxyType(values)
