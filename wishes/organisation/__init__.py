"""The hospital's organisation: general branches, branches, departments and wards, and which
departments each branch serves. Other areas read it through these functions.
"""

from __future__ import annotations

from .store import (
    branch_names,
    branches,
    department,
    departments,
    load_organisation,
    read_organisation_file,
    served_departments,
)

__all__ = [
    "branch_names",
    "branches",
    "department",
    "departments",
    "load_organisation",
    "read_organisation_file",
    "served_departments",
]
