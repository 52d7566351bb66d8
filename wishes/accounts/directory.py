"""Sign-in against the hospital's directory (LDAP or Active Directory): optional, off by default.

Who is checked where:

* an account with a local password (`source` = local; the first `admin` among them) signs in
  with that password, always: the directory is never asked, so a directory that is down,
  slow or wrong cannot lock the administrator out, and a directory entry with the same name
  cannot take the account over;
* a username unknown here, or an account that came from the directory, is checked by the
  directory when WISHES_LDAP_URL is set: a search as the service account finds the person's
  entry (the username escaped, so `*)(uid=*` matches nothing), then a bind with that entry's
  DN and the typed password checks the password. The person's groups (or attributes) give
  their role and branch through WISHES_LDAP_ROLE_MAP; the local account is created or brought
  up to date, without a local password, and the change is audited. No mapped group: refused.

The login view keeps its throttle and its audit for every outcome; this module only answers
"whose password is this".
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ldap3
from flask import current_app
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from sqlite_utils import Database

from .. import audit
from ..settings import SettingsError
from . import store
from .permissions import BRANCH_ROLES, Role

log = logging.getLogger(__name__)

# Why a sign-in was refused, as the person signing in reads it, by code.
REFUSALS = {
    "wrong_password": "用户名或密码不正确。",
    "no_role": "您在医院目录里的账号没有对应的角色或党支部，请联系系统管理员。",
    "unavailable": "暂时连不上医院的目录服务，请稍后再试。",
    "misconfigured": "目录登录的设置有误，请联系系统管理员。",
}


class SignInRefused(Exception):
    """The directory answered, or could not: `code` is a key of REFUSALS."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Grant:
    """What a directory group or attribute gives: a role, and a branch for a branch role."""

    role: Role
    branch_code: str | None


@dataclass(frozen=True)
class Directory:
    """WISHES_LDAP_* read and checked."""

    url: str
    bind_dn: str
    bind_password: str
    user_base: str
    user_filter: str
    group_base: str
    role_map: tuple[tuple[str, Grant], ...]
    timeout: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Directory | None:
        """The directory settings, or None when directory sign-in is off (no URL)."""
        url = config["WISHES_LDAP_URL"].strip()
        if not url:
            return None
        return cls(
            url=url,
            bind_dn=config["WISHES_LDAP_BIND_DN"],
            bind_password=config["WISHES_LDAP_BIND_PASSWORD"],
            user_base=config["WISHES_LDAP_USER_BASE"],
            user_filter=config["WISHES_LDAP_USER_FILTER"],
            group_base=config["WISHES_LDAP_GROUP_BASE"],
            role_map=parse_role_map(config["WISHES_LDAP_ROLE_MAP"]),
            timeout=config["WISHES_LDAP_TIMEOUT"],
        )


def _same_dn(dn: str) -> str:
    """A DN compared the way directories do for our purpose: case and spaces ignored."""
    return ",".join("=".join(p.strip() for p in rdn.split("=", 1)) for rdn in dn.split(",")).lower()


def _key(key: str) -> str:
    """A map key: a group DN (it has a comma) or `attribute=value`, ready to compare."""
    if "," in key:
        return _same_dn(key)
    attribute, _, value = key.partition("=")
    return f"{attribute.strip().lower()}={value.strip().lower()}"


def parse_role_map(mapping: Mapping[str, str]) -> tuple[tuple[str, Grant], ...]:
    """WISHES_LDAP_ROLE_MAP's entries in order: key → `role` or `role@branch` (ValueError)."""
    entries = []
    for key, value in mapping.items():
        if "=" not in key:
            raise ValueError(f"{key!r}: a key is a group's DN or attribute=value")
        role_code, _, branch = value.partition("@")
        try:
            role = Role(role_code.strip())
        except ValueError:
            raise ValueError(f"{key!r}: no role {role_code!r}") from None
        branch = branch.strip()
        if role in BRANCH_ROLES and not branch:
            raise ValueError(f"{key!r}: {role} needs a branch ({role}@branch_code)")
        entries.append((_key(key), Grant(role, branch if role in BRANCH_ROLES else None)))
    return tuple(entries)


def check_settings(config: Mapping[str, Any]) -> None:
    """Refuse a role map that cannot work at start (even while sign-in is off), as an
    unknown setting is refused."""
    try:
        parse_role_map(config["WISHES_LDAP_ROLE_MAP"])
    except ValueError as error:
        raise SettingsError(f"WISHES_LDAP_ROLE_MAP: {error}") from None


# ---- asking the directory -----------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """Someone whose password the directory has just accepted."""

    dn: str
    display_name: str
    grant: Grant | None


def _values(attributes: Mapping[str, Any], name: str) -> list[str]:
    for key, value in attributes.items():
        if key.lower() == name.lower():
            values = value if isinstance(value, list) else [value]
            return [
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values
            ]
    return []


def _server(directory: Directory) -> ldap3.Server:
    # ldaps:// checks the server's certificate against the system's CAs (ldap3's own default
    # would accept any certificate).
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED)
    return ldap3.Server(
        directory.url.rstrip("/"),  # ldap3 reads a port followed by "/" as no port
        connect_timeout=directory.timeout,
        get_info=ldap3.NONE,
        tls=tls,
    )


def _connection(
    server: ldap3.Server, directory: Directory, user: str | None, password: str
) -> ldap3.Connection:
    return ldap3.Connection(
        server,
        user=user,
        password=password,
        receive_timeout=directory.timeout,
        raise_exceptions=False,
        read_only=True,
        auto_referrals=False,
    )


def _close(connection: ldap3.Connection) -> None:
    """Unbind, and close the socket whatever happened: ldap3 leaves it open after a refused
    connection or a timeout."""
    try:
        if connection.bound:
            connection.unbind()
    except LDAPException:
        pass
    finally:
        if connection.socket is not None:
            connection.socket.close()


def authenticate(directory: Directory, username: str, password: str) -> Person | None:
    """The person whose directory password this is, or None (no such person, more than one,
    or a wrong password). SignInRefused("unavailable") when the directory cannot be reached
    or does not answer in time; ("misconfigured") when the service account is refused."""
    if not password:  # an empty password is an anonymous bind, which "succeeds"
        return None
    wanted = sorted(
        {"displayName", "cn", "memberOf"}
        | {key.split("=", 1)[0] for key, _ in directory.role_map if "," not in key}
    )
    query = directory.user_filter.replace("{username}", escape_filter_chars(username))
    server = _server(directory)
    service = _connection(server, directory, directory.bind_dn or None, directory.bind_password)
    personal: ldap3.Connection | None = None
    try:
        if not service.bind():
            log.error("directory: the service account was refused (%s)", service.result)
            raise SignInRefused("misconfigured")
        service.search(directory.user_base, query, ldap3.SUBTREE, attributes=wanted, size_limit=2)
        entries = _entries(service)
        if len(entries) != 1:
            return None
        dn, attributes = entries[0]["dn"], entries[0]["attributes"]
        personal = _connection(server, directory, dn, password)
        if not personal.bind():
            return None
        groups = _values(attributes, "memberOf")
        if directory.group_base:
            holder = escape_filter_chars(dn)
            service.search(
                directory.group_base,
                f"(|(member={holder})(uniqueMember={holder}))",
                ldap3.SUBTREE,
                attributes=[],
            )
            groups += [entry["dn"] for entry in _entries(service)]
    except LDAPException as error:
        log.warning("directory %s unreachable: %s", directory.url, type(error).__name__)
        raise SignInRefused("unavailable") from None
    finally:
        for connection in (service, personal):
            if connection is not None:
                _close(connection)
    facts = {_same_dn(group) for group in groups}
    for key, _ in directory.role_map:
        if "," not in key:
            name = key.split("=", 1)[0]
            facts.update(f"{name}={value.strip().lower()}" for value in _values(attributes, name))
    grant = next((grant for key, grant in directory.role_map if key in facts), None)
    display = (_values(attributes, "displayName") or _values(attributes, "cn") or [""])[0]
    return Person(dn=dn, display_name=display, grant=grant)


def _entries(connection: ldap3.Connection) -> list[dict[str, Any]]:
    """The entries a search found (not its referrals)."""
    return [e for e in connection.response or [] if e.get("type") == "searchResEntry"]


# ---- the login ----------------------------------------------------------------------------


def check_password(
    db: Database, username: str, password: str, config: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The active user whose password this is (locally or in the directory), or None.

    SignInRefused when the directory accepted the password but maps the person to no role
    ("no_role"), or could not be asked ("unavailable", "misconfigured")."""
    try:
        directory = Directory.from_config(current_app.config if config is None else config)
    except ValueError:
        raise SignInRefused("misconfigured") from None
    user = store.find_user(db, username)
    name = store.normalise_username(username)
    if (
        directory is None
        or (user is not None and (user["source"] != store.DIRECTORY or not user["active"]))
        or not store.USERNAME_PATTERN.match(name)  # could never be an account here
    ):
        return store.check_password(db, username, password)
    person = authenticate(directory, name, password)
    if person is None:
        return None
    if person.grant is None:
        raise SignInRefused("no_role")
    try:
        saved, changed = store.save_directory_account(
            db,
            name,
            display_name=person.display_name,
            role=person.grant.role,
            branch_code=person.grant.branch_code,
        )
    except store.UsernameTaken:  # a local account of that name appeared meanwhile
        return None
    except store.AccountError:  # the map names a branch that does not exist or is closed
        log.error("directory: WISHES_LDAP_ROLE_MAP names a branch that is not open")
        raise SignInRefused("misconfigured") from None
    by_directory = audit.Who(label="directory")
    if changed is None:
        detail = {"username": name, "role": saved["role"], "branch": saved["branch_code"]}
        audit.record(
            db,
            "user_created",
            by_directory,
            subject_kind="user",
            subject_id=saved["id"],
            detail={**detail, "via": "directory"},
        )
    elif changed:
        audit.record(
            db,
            "user_updated",
            by_directory,
            subject_kind="user",
            subject_id=saved["id"],
            detail=changed,
        )
    return saved
