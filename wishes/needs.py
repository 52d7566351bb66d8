"""The categories of patient need a wish can express (needs.toml): what the router predicts.

A category says what the patient needs, whatever the hospital's organisation; the hospital's
routing map (organisation, the workbook's `routing` sheet) says which branch handles it. The
wish keeps its category through any reorganisation, so figures by category stay comparable.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

NOT_A_WISH = "not_a_wish"  # greetings, tests, nonsense: never routed, always triaged


@cache
def _loaded() -> tuple[dict[str, Any], ...]:
    with resources.files(__package__).joinpath("needs.toml").open("rb") as handle:
        return tuple(tomllib.load(handle)["category"])


def categories() -> list[dict[str, Any]]:
    """Every category in the taxonomy's order: code, name, name_hant, name_en, description,
    examples (the row shape of a unit, so `i18n.unit_name` names it in a page's language)."""
    return [dict(row) for row in _loaded()]


def codes() -> list[str]:
    return [row["code"] for row in _loaded()]


def category(code: str | None) -> dict[str, Any] | None:
    """One category by code; None for no code or a code the taxonomy does not have."""
    return next((dict(row) for row in _loaded() if row["code"] == code), None)


def routable() -> list[dict[str, Any]]:
    """The categories a routing map may send to a branch: all but "not a wish"."""
    return [row for row in categories() if row["code"] != NOT_A_WISH]


def is_routable(code: str | None) -> bool:
    return code != NOT_A_WISH and category(code) is not None
