"""The hospital's own settings, edited by the administrator at /admin/settings, and the first
run (/setup) that asks for them.

Which settings the page offers is declared here (`EDITABLE`), each pointing at its one
declaration in `wishes/settings.py` (name, default, parse). A setting's effective value is
the environment variable when one is set (an override: the page shows it and does not let it
be changed), else the value stored in the database, else the default. Values are read once per
request (on `g`), so an edit reaches every gunicorn worker with the next request; outside a
request (the notification worker) they are read from the database each time they are asked.
"""

from __future__ import annotations

import ipaddress
import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, g, has_request_context
from sqlite_utils import Database

from ..settings import SETTINGS_BY_NAME, Setting
from ..storage import connect, database_path, get_db
from . import store

OVERRIDES = "wishes.hospital.overrides"
LOCAL_HOSTS = frozenset({"localhost", ""})


def names_this_machine(host: str) -> bool:
    """localhost, 127.x.x.x, ::1, 0.0.0.0, ::: an address a patient's phone cannot reach."""
    host = host.lower().rstrip(".")
    if host in LOCAL_HOSTS or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _web_address(value: str) -> str:
    value = value.strip()
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError("not an http(s) address")
    return value


def _slug(value: str) -> str:
    value = value.strip()
    if value and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", value):
        raise ValueError("not a web-address name")
    return value


def _required(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 80:
        raise ValueError("empty or too long")
    return value


def _optional_name(value: str) -> str:
    value = value.strip()
    if len(value) > 120:
        raise ValueError("too long")
    return value


@dataclass(frozen=True)
class Editable:
    """A setting of settings.py the administrator may change in the app."""

    name: str
    label: str
    help: str
    error: str  # what the page says when a typed value cannot be used
    check: Callable[[str], Any] = str  # the page's check, before the setting's own parse
    group: str = "hospital"
    secret: bool = False  # its value is not written into the audit log
    kind: str = "text"  # the input's type

    @property
    def setting(self) -> Setting:
        return SETTINGS_BY_NAME[self.name]

    def parse(self, typed: str) -> Any:
        """The value to use for what was typed; ValueError when it cannot be used."""
        return self.setting.parse(self.check(typed))


# The words are the staff page's (Simplified Chinese); the help of each setting in English is
# its declaration in settings.py (and the README's table).
EDITABLE: tuple[Editable, ...] = (
    Editable(
        "WISHES_HOSPITAL_NAME",
        "医院名称（简体中文）",
        "每个患者页面和打印的床头卡上显示的医院名称。",
        "请填写医院名称（不超过 80 个字）",
        _required,
    ),
    Editable(
        "WISHES_HOSPITAL_NAME_HANT",
        "医院名称（繁体中文）",
        "繁体页面上显示的名称。留空：由简体名称逐字转换。",
        "名称不能超过 120 个字",
        _optional_name,
    ),
    Editable(
        "WISHES_HOSPITAL_NAME_EN",
        "医院名称（英文）",
        "英文页面上显示的名称。留空：显示中文名称。",
        "名称不能超过 120 个字",
        _optional_name,
    ),
    Editable(
        "WISHES_PUBLIC_URL",
        "公网地址",
        "患者手机访问本系统的地址，印在二维码和通知链接里，例如 http://10.2.3.4:8000。"
        "留空：使用当前访问的地址（打印页会提醒）。",
        "请填写以 http:// 或 https:// 开头的地址，例如 http://10.2.3.4:8000",
        _web_address,
        kind="url",
    ),
    Editable(
        "WISHES_KIOSK_QUESTIONNAIRE",
        "自助机问卷",
        "自助机“评价我们”按钮打开的问卷的网址名（如 satisfaction）。留空：不显示按钮。",
        "请填写问卷的网址名：小写字母、数字和连字符",
        _slug,
        group="service",
    ),
    Editable(
        "WISHES_CLAIM_HOURS",
        "认领时限（小时）",
        "心愿到达支部（或等待分诊）超过这么多小时未被认领，即为超时。",
        "请填写正整数（小时）",
        group="service",
        kind="number",
    ),
    Editable(
        "WISHES_FULFIL_DAYS",
        "实现时限（天）",
        "心愿被认领后超过这么多天未实现，即为超时。",
        "请填写正整数（天）",
        group="service",
        kind="number",
    ),
    Editable(
        "WISHES_ROUTER_THRESHOLD",
        "自动分派阈值",
        "分派模型对首选支部的把握低于此值（0 到 1 之间）时，心愿进入党建办分诊队列。",
        "请填写 0 到 1 之间的数，例如 0.6",
        group="service",
    ),
    Editable(
        "WISHES_HOSPITAL_NETWORKS",
        "医院内部网络",
        "病区 Wi-Fi 等许多患者共用一个地址的网段，如 10.0.0.0/8 172.16.5.0/24（空格或逗号分隔）。"
        "来自这些网段的地址，公共表单的频率上限是平时的 5 倍。登记过的自助机另有上限，与地址无关。",
        "请填写网段，如 10.0.0.0/8 或 192.168.1.0/24，多个用空格分开",
        group="service",
    ),
    Editable(
        "WISHES_NOTIFY_WEBHOOK_URL",
        "通知 Webhook 地址",
        "接收支部通知的 Webhook（企业微信群机器人地址可直接使用）。留空：通知只写入日志。",
        "请填写以 http:// 或 https:// 开头的地址",
        _web_address,
        group="service",
        secret=True,
        kind="url",
    ),
    Editable(
        "WISHES_WEBHOOK_URL",
        "对接系统的 Webhook 地址",
        "每次心愿状态变化，向医院的其他系统发一条签名的 JSON（不含患者的话、电话和姓名）。"
        "发送记录在“投递记录”页。留空：不发。",
        "请填写以 http:// 或 https:// 开头的地址",
        _web_address,
        group="service",
        secret=True,
        kind="url",
    ),
    Editable(
        "WISHES_BACKUP_TIME",
        "每日备份时间",
        "后台进程每天在这个时间（24 小时制，如 02:30）备份数据库和照片、佐证材料；"
        "服务器当时未运行的，下次启动时补做。留空：不自动备份。",
        "请填写 24 小时制时间，例如 02:30；留空表示不自动备份",
        group="records",
    ),
    Editable(
        "WISHES_BACKUP_DIR",
        "备份目录",
        "存放自动备份的目录（服务器上的绝对路径），最好在另一块磁盘或另一台机器上。"
        "留空：数据目录下的 backups 目录。",
        "请填写以 / 开头的绝对路径，或留空",
        group="records",
    ),
    Editable(
        "WISHES_BACKUP_KEEP",
        "保留备份份数",
        "自动备份只保留最近这么多份；每次备份成功后删除更早的（最新一份从不删除）。",
        "请填写正整数（份）",
        group="records",
        kind="number",
    ),
    Editable(
        "WISHES_PERSONAL_DATA_DAYS",
        "个人信息保存期限（天）",
        "心愿办结（回访或婉拒）超过这么多天后，后台进程自动删除患者的称呼和电话；"
        "心愿内容和处理记录保留。每次删除都记入审计日志。",
        "请填写正整数（天）",
        group="records",
        kind="number",
    ),
)
EDITABLE_BY_NAME: Mapping[str, Editable] = {e.name: e for e in EDITABLE}
GROUPS = {"hospital": "医院", "service": "服务与期限", "records": "备份与个人信息"}


@dataclass(frozen=True)
class Shown:
    """One setting as the page shows it."""

    editable: Editable
    value: Any
    typed: str  # what the form field holds
    overridden: bool
    stored: bool
    changed: dict = field(default_factory=dict)


def overridden(app: Flask | None = None) -> frozenset[str]:
    """The editable settings an environment variable sets (the page cannot change them)."""
    app = app or current_app
    return app.extensions.get(OVERRIDES, frozenset())


def _parsed(rows: Mapping[str, str], app: Flask) -> dict[str, Any]:
    values = {}
    skip = overridden(app)
    for name, typed in rows.items():
        editable = EDITABLE_BY_NAME.get(name)
        if editable is None or name in skip:
            continue
        try:
            values[name] = editable.parse(typed)
        except ValueError:  # stored by an older version with other rules: the default wins
            app.logger.warning("hospital setting %s: stored value cannot be used", name)
    return values


def _stored_values(db: Database | None = None) -> dict[str, Any]:
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's own
    if db is not None:
        return _parsed(store.stored(db), app)
    if has_request_context():
        if "hospital_settings" not in g:
            g.hospital_settings = _parsed(store.stored(get_db()), app)
        return g.hospital_settings
    with connect(database_path(app)) as own:
        return _parsed(store.stored(own), app)


def config(db: Database | None = None) -> Mapping[str, Any]:
    """`current_app.config` with the administrator's values over the defaults (an environment
    variable still wins): pass it where code takes the config (`Deadlines.from_config`)."""
    return ChainMap(_stored_values(db), current_app.config)


def value(name: str, db: Database | None = None) -> Any:
    """The effective value of one setting (editable or not)."""
    return config(db)[name]


def forget() -> None:
    """After a change in this request: read the values again."""
    g.pop("hospital_settings", None)


def _typed(current: Any) -> str:
    """A value as the form field holds it: a list of networks as the administrator types it."""
    return " ".join(map(str, current)) if isinstance(current, tuple) else str(current)


def shown(db: Database) -> list[Shown]:
    """Every editable setting with its value, whether it is overridden and who changed it."""
    rows = store.changes(db)
    effective = config(db)
    skip = overridden()
    result = []
    for editable in EDITABLE:
        name = editable.name
        current = effective[name]
        typed = rows[name]["value"] if name in rows and name not in skip else _typed(current)
        result.append(
            Shown(editable, current, typed, name in skip, name in rows, rows.get(name) or {})
        )
    return result


def change(db: Database, name: str, typed: str, *, user_id: int | None, label: str) -> Any:
    """Store what was typed for `name` (ValueError when it cannot be used, KeyError when the
    setting is not editable, PermissionError when the environment sets it)."""
    editable = EDITABLE_BY_NAME[name]
    if name in overridden():
        raise PermissionError(name)
    parsed = editable.parse(typed)
    store.put(db, name, typed.strip(), user_id=user_id, label=label)
    if has_request_context():
        forget()
    return parsed


def public_address_problem() -> str | None:
    """Why QR codes printed now may not open on a patient's phone: "unset" (the address of this
    request is used), "local" (it names this machine itself), or None."""
    configured = value("WISHES_PUBLIC_URL")
    if not configured:
        return "unset"
    return "local" if names_this_machine(urlsplit(configured).hostname or "") else None


def init_app(app: Flask, names: Mapping[str, Any]) -> None:
    """Remember which editable settings `names` (the environment, or a test's config) sets."""
    app.extensions[OVERRIDES] = frozenset(name for name in names if name in EDITABLE_BY_NAME)


__all__ = [
    "EDITABLE",
    "EDITABLE_BY_NAME",
    "GROUPS",
    "config",
    "change",
    "forget",
    "init_app",
    "overridden",
    "public_address_problem",
    "shown",
    "value",
]
