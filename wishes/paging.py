"""Long lists in pages: which page a visitor asked for."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

# Far beyond any real list, and inside SQLite's 64-bit integers (an OFFSET must fit).
LAST_PAGE = 10**9


def page_number(args: MultiDict[str, str]) -> int:
    """The `page` query argument as a page number from 1 (anything else is page 1)."""
    page = args.get("page", 1, type=int) or 1
    return min(max(page, 1), LAST_PAGE)
