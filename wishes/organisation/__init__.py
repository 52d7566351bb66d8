"""The hospital's organisation: general branches, branches, departments and wards, and which
departments each branch serves. Other areas read it through these functions.
"""

from __future__ import annotations

from .store import (
    branch_for,
    branch_names,
    branch_webhook,
    branches,
    department,
    departments,
    load_organisation,
    read_organisation_file,
    served_departments,
)


def preview_workbook(db, filename: str, data: bytes):
    """What importing an uploaded workbook (XLSX or JSON) would change: its `Plan` (lines(),
    fingerprint()); raises `workbook.WorkbookRefused` (its `problems`) when it cannot be
    imported. Loads openpyxl only when called."""
    from . import workbook

    return workbook.plan(db, workbook.read_upload(filename, data))


def import_workbook(db, filename: str, data: bytes, who, expected: str):
    """Import an uploaded workbook previewed with `preview_workbook` (its fingerprint
    `expected`): all of it, audited, or nothing (`WorkbookRefused`)."""
    from . import workbook

    return workbook.apply(db, workbook.read_upload(filename, data), who, expected=expected)


def workbook_refused() -> type[Exception]:
    """The exception both raise, with `problems` (each one's str() says where and why)."""
    from . import workbook

    return workbook.WorkbookRefused


__all__ = [
    "import_workbook",
    "preview_workbook",
    "workbook_refused",
    "branch_for",
    "branch_webhook",
    "branch_names",
    "branches",
    "department",
    "departments",
    "load_organisation",
    "read_organisation_file",
    "served_departments",
]
