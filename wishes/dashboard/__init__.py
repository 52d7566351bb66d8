"""The managers' figures, and the tables and downloads other staff pages reuse."""

from __future__ import annotations

from .exports import to_csv, to_xlsx
from .figures import Column, Table

__all__ = [
    "Column",
    "Table",
    "to_csv",
    "to_xlsx",
]
