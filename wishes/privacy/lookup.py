"""Finding the wishes a patient's request names, for the page and the command alike (kept out
of the package's own module, which the background worker loads without the forms)."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from ..intake import normalise_phone
from . import store


def wishes_named_by(db: Database, typed: str) -> list[dict[str, Any]]:
    """The wishes with the tracking code or the phone number typed (as people type either)."""
    typed = typed.strip()
    if not typed:
        return []
    return store.matching(db, typed.upper(), normalise_phone(typed))
