"""Scheduled backups, made by the background worker beside `wishes serve`, never by a request.

Each day at WISHES_BACKUP_TIME (the hospital's time zone) the worker writes a full backup
(`backup.backup_archive`: the database, the photos and the evidence files) into
WISHES_BACKUP_DIR, then removes the oldest scheduled archives beyond WISHES_BACKUP_KEEP. Each
run, made or failed, is a row of `backup_runs`, which the settings page lists. One attempt per
scheduled time: a server stopped at that time makes it at its next start; a failed one waits
for the next day (or `wishes backup`), and the settings page shows it failed meanwhile.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlite_utils import Database

from . import TIMESTAMP_FORMAT, last_scheduled_backup, record_backup_run
from .backup import BackupError, archive_name, backup_archive, run_row

log = logging.getLogger("wishes.worker")

# The names `archive_name` gives: the only files of the backup folder the retention rule removes.
ARCHIVE_NAME = re.compile(r"wishes-\d{8}-\d{6}\.tar")
# The temporary file and folder `backup_archive` writes such an archive through.
LEFTOVER = re.compile(r"\.wishes-\d{8}-\d{6}\.tar\..+")
LEFTOVER_SECONDS = 3600
DEFAULT_FOLDER = "backups"


def backup_folder(config: Mapping[str, Any]) -> Path:
    """WISHES_BACKUP_DIR, or `backups` in the data dir."""
    chosen = config["WISHES_BACKUP_DIR"]
    return Path(chosen) if chosen else Path(config["WISHES_DATA_DIR"]) / DEFAULT_FOLDER


def latest_slot(now: datetime, at: str, zone: str) -> datetime:
    """The latest scheduled moment (HH:MM in ZONE) at or before NOW."""
    local = now.astimezone(ZoneInfo(zone))
    hours, minutes = (int(part) for part in at.split(":"))
    slot = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    return slot if slot <= local else slot - timedelta(days=1)


def is_due(db: Database, config: Mapping[str, Any], now: datetime) -> bool:
    """Whether no scheduled backup was tried since the latest scheduled moment."""
    at = config["WISHES_BACKUP_TIME"]
    if not at:
        return False
    slot = latest_slot(now, at, config["WISHES_TIMEZONE"]).astimezone(UTC)
    last = last_scheduled_backup(db)
    return last is None or last["started_at"] < slot.strftime(TIMESTAMP_FORMAT)


def prune(folder: Path, keep: int, made: Path) -> list[Path]:
    """Remove the scheduled archives in FOLDER beyond the newest KEEP (never MADE, the one
    just made, nor the newest); return those removed. What a backup killed half-way left
    (its temporary file and folder) goes too, once it is an hour old."""
    archives = sorted(
        path for path in folder.iterdir() if ARCHIVE_NAME.fullmatch(path.name) and path.is_file()
    )
    removed = []
    for path in archives[: -max(keep, 1)]:
        if path.name != made.name:
            path.unlink(missing_ok=True)
            removed.append(path)
    stale = time.time() - LEFTOVER_SECONDS  # by the clock that stamps files
    for path in folder.iterdir():
        if LEFTOVER.fullmatch(path.name) and path.stat().st_mtime < stale:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    return removed


def scheduled_backup(
    app: Flask, db: Database, config: Mapping[str, Any], now: datetime
) -> dict[str, Any] | None:
    """The worker's chore: the day's backup when it is due, pruned and recorded; None when
    none is due."""
    if not is_due(db, config, now):
        return None
    folder = backup_folder(config)
    target = folder / archive_name(now)
    started_at = now.strftime(TIMESTAMP_FORMAT)
    try:
        if not config["WISHES_BACKUP_DIR"]:
            folder.mkdir(mode=0o700, exist_ok=True)
        # A folder that was given must exist: an unmounted backup disk is a failure to see,
        # not an empty mount point to fill.
        archive = backup_archive(Path(config["WISHES_DATA_DIR"]), target)
    except (BackupError, OSError) as error:
        row = run_row("schedule", started_at, target, error=str(error))
        log.warning("scheduled backup failed: %s", error)
    else:
        note, removed = "", []
        try:
            removed = prune(folder, config["WISHES_BACKUP_KEEP"], target)
        except OSError as error:
            note = f"older backups not removed: {error}"
            log.warning("scheduled backup: %s", note)
        row = run_row(
            "schedule", started_at, target, archive=archive, error=note, removed=len(removed)
        )
        log.info(
            "scheduled backup %s: %s bytes, %s files, %s older removed",
            target,
            archive.size,
            archive.files,
            len(removed),
        )
    record_backup_run(db, row)
    return row
