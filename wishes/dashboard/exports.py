"""CSV and XLSX downloads of a dashboard table: the same rows the page shows.

Text that a spreadsheet would run as a formula (a department, a tag, an assessment area or a
round's name beginning with = + - @), in any cell or header, is written with a leading
apostrophe and stored as text, so opening a download never executes anything.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

from ..spreadsheets import fit_columns
from .figures import Column, Table
from .stats import Estimate

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TOO_FEW = "样本不足"


def neutralise(value: Any) -> Any:
    """A cell value that no spreadsheet will evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def header(table: Table) -> list[str]:
    """The column titles, neutralised too: some are names people gave (an assessment area)."""
    titles = []
    for column in table.columns:
        titles.append(column.title)
        if column.kind == "estimate":
            titles += [f"{column.title} 95%下限", f"{column.title} 95%上限"]
    return [neutralise(title) for title in titles]


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def cells(table: Table, row: dict[str, Any]) -> list[Any]:
    """A row as plain values: an estimate becomes three cells (value, low, high)."""
    out: list[Any] = []
    for column in table.columns:
        value = row.get(column.key)
        if column.kind == "estimate":
            out += _estimate_cells(value, column)
        elif column.kind in ("percent", "hours", "number"):
            out.append(_rounded(value, column.digits))
        else:
            out.append(neutralise(value))
    return out


def _estimate_cells(value: Estimate | None, column: Column) -> list[Any]:
    if value is None:
        return [None, None, None]
    if value.value is None:  # too few answers: an empty cell, never text in a number column
        return [None, None, None]
    return [_rounded(v, column.digits) for v in (value.value, value.low, value.high)]


def to_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark: Excel on a hospital PC then reads the Chinese right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header(table))
    writer.writerows(cells(table, row) for row in table.rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(table: Table, subtitle: str = "") -> bytes:
    """The title and the filters that made it on top, a frozen header row, columns as wide as
    their text, numbers as numbers (an estimate with too few answers is an empty cell)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _sheet_title(table.title)
    _append_text(sheet, [table.title])
    if subtitle:
        _append_text(sheet, [subtitle])
    _append_text(sheet, header(table))
    header_row = sheet.max_row
    # A coordinate, not sheet.cell(): that would create the row below the header, and every
    # row of the table would then follow an empty one.
    sheet.freeze_panes = f"A{header_row + 1}"
    for row in table.rows:
        sheet.append(cells(table, row))
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # openpyxl would otherwise store "=…" as a formula
    fit_columns(sheet, first_row=header_row)
    notes = [table.note] if table.note else []
    if any(column.kind == "estimate" for column in table.columns):
        notes.append(f"空格：{TOO_FEW}。")
    for note in notes:
        _append_text(sheet, [note])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _append_text(sheet, values: list[str]) -> None:
    sheet.append([neutralise(value) for value in values])
    for cell in sheet[sheet.max_row]:
        cell.data_type = "s"


def _sheet_title(title: str) -> str:
    for bad in "[]:*?/\\":
        title = title.replace(bad, " ")
    return title[:31] or "Sheet"
