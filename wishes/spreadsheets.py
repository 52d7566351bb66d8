"""What every XLSX the app writes shares: columns as wide as their text."""

from __future__ import annotations

from typing import Any

from openpyxl.utils import get_column_letter

WIDEST = 60


def text_width(value: Any) -> int:
    """About how many Latin characters wide a value is: a Chinese character takes two."""
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def fit_columns(sheet: Any, first_row: int = 1) -> None:
    """Make each column as wide as its widest cell from `first_row` on (a title above the
    table does not widen its column), two characters to spare, at most WIDEST."""
    for column in sheet.iter_cols(min_row=first_row):
        widest = max((text_width(cell.value) for cell in column), default=0)
        letter = get_column_letter(column[0].column)
        sheet.column_dimensions[letter].width = min(widest + 2, WIDEST)
