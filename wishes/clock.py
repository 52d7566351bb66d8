"""The hospital's calendar: timestamps are stored in UTC, days and weeks are the hospital's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from .storage import TIMESTAMP_FORMAT

DEFAULT_TIMEZONE = "Asia/Shanghai"


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def hospital_zone() -> ZoneInfo:
    name = current_app.config["WISHES_TIMEZONE"] if has_app_context() else DEFAULT_TIMEZONE
    return _zone(name)


def local_day(stamp: str) -> str:
    """The hospital's date (`YYYY-MM-DD`) of a stored UTC timestamp."""
    moment = datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    return moment.astimezone(hospital_zone()).date().isoformat()


def local_time_text(stamp: str) -> str:
    """A stored UTC timestamp as the hospital's clock reads it: `YYYY-MM-DD HH:MM:SS`."""
    moment = datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    return moment.astimezone(hospital_zone()).strftime("%Y-%m-%d %H:%M:%S")


def today() -> date:
    return datetime.now(hospital_zone()).date()


def utc_bounds(first: date, last: date) -> tuple[str, str]:
    """Stored-timestamp bounds [start, end) covering the hospital days `first`..`last`."""
    zone = hospital_zone()

    def start_of(day: date) -> str:
        moment = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        return moment.strftime(TIMESTAMP_FORMAT)

    return start_of(first), start_of(last + timedelta(days=1))
