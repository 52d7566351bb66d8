"""Individual responses as a person reads them and as the downloads write them.

One row per response. A scale answer is a number; a choice has its option's key (the code a
statistics package groups by) beside its label; a multiple choice joins its keys and its
labels; text is as typed. SPSS files carry the same with value labels: a rating's five
words, a single choice's options numbered in their order, a multiple choice as one 0/1
variable per option (SPSS's "multiple dichotomy" layout).
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from typing import Any

from ..clock import local_time_text
from ..dashboard import Column, Table
from .definition import flat_questions, text_in

RECORD_COLUMNS = [
    Column("id", "编号", "count"),
    Column("submitted", "提交时间"),
    Column("department", "科室"),
    Column("version", "问卷版本", "count"),
    Column("channel", "渠道"),
]
CHANNELS = {"kiosk": "自助机", "phone": "手机", "api": "接口"}
ANSWERED = ("rating", "nps", "single", "multiple", "text", "number", "date", "matrix")


def _label(question: dict[str, Any]) -> str:
    return text_in(question["label"], "zh_Hans")


def _options(question: dict[str, Any]) -> dict[str, str]:
    return {o["key"]: text_in(o["label"], "zh_Hans") for o in question.get("options", [])}


def answer_text(question: dict[str, Any], answer: Any) -> str:
    """One answer in words, as the staff page shows it."""
    if answer is None or answer == "" or answer == []:
        return ""
    kind = question["type"]
    if kind == "rating":
        return f"{answer} {text_in(question['scale'][int(answer) - 1], 'zh_Hans')}"
    if kind in ("single", "multiple"):
        options = _options(question)
        return "；".join(options.get(key, key) for key in answer)
    return str(answer)


def _day(answer: Any) -> date | None:
    return date.fromisoformat(answer) if answer else None


def _columns(questions: list[dict[str, Any]]) -> list[Column]:
    columns = list(RECORD_COLUMNS)
    for question in questions:
        key, label, kind = question["key"], _label(question), question["type"]
        if kind in ("rating", "nps", "number"):
            columns.append(Column(key, f"{label}（{key}）", "count"))
        elif kind == "date":
            columns.append(Column(key, f"{label}（{key}）", "date"))
        elif kind in ("single", "multiple"):
            columns.append(Column(key, f"{label}（{key}）"))
            columns.append(Column(f"{key}__label", f"{label}（{key}）文字"))
        elif kind == "text":
            columns.append(Column(key, f"{label}（{key}）"))
    return columns


def _cells(questions: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    cells: dict[str, Any] = {
        "id": row["id"],
        "submitted": local_time_text(row["submitted_at"]),
        "department": row["department"] or "",
        "version": row["version"],
        "channel": CHANNELS.get(row["channel"], row["channel"]),
    }
    for question in questions:
        key, answer = question["key"], row["answers"].get(question["key"])
        if question["type"] in ("single", "multiple"):
            cells[key] = ";".join(answer or [])
            cells[f"{key}__label"] = answer_text(question, answer)
        elif question["type"] == "date":
            cells[key] = _day(answer)
        elif question["type"] in ANSWERED:
            cells[key] = answer
    return cells


def table(questions: list[dict[str, Any]], rows: list[dict[str, Any]], title: str) -> Table:
    """The responses as a dashboard Table: its CSV and XLSX writers neutralise every cell."""
    answered = [q for q in flat_questions(questions) if q["type"] in ANSWERED]
    return Table("responses", title, _columns(answered), [_cells(answered, r) for r in rows])


def to_sav(questions: list[dict[str, Any]], rows: list[dict[str, Any]]) -> bytes:
    """An SPSS .sav: variable labels, value labels, one 0/1 variable per multiple option."""
    import polars  # only for this download: the server does not carry it otherwise
    import pyreadstat

    data: dict[str, list[Any]] = {
        "id": [r["id"] for r in rows],
        "submitted": [local_time_text(r["submitted_at"]) for r in rows],
        "department": [r["department"] or "" for r in rows],
        "version": [r["version"] for r in rows],
        "channel": [r["channel"] for r in rows],
    }
    labels = {"id": "编号", "submitted": "提交时间", "department": "科室", "version": "问卷版本"}
    labels["channel"] = "渠道"
    value_labels: dict[str, dict[Any, str]] = {"channel": dict(CHANNELS)}
    days = []
    for question in flat_questions(questions):
        key, label, kind = question["key"], _label(question), question["type"]
        answers = [r["answers"].get(key) for r in rows]
        if kind in ("rating", "nps", "number"):
            data[key] = [float(a) if a is not None else None for a in answers]
            labels[key] = label
            if kind == "rating":
                value_labels[key] = {
                    float(i): text_in(s, "zh_Hans") for i, s in enumerate(question["scale"], 1)
                }
        elif kind == "single":
            codes = {option: float(i) for i, option in enumerate(_options(question), 1)}
            data[key] = [codes.get(a[0]) if a else None for a in answers]
            labels[key] = label
            value_labels[key] = {codes[o]: text for o, text in _options(question).items()}
        elif kind == "multiple":
            for option, text in _options(question).items():
                name = f"{key}_{option}"[:64]
                data[name] = [float(option in (a or [])) for a in answers]
                labels[name] = f"{label}：{text}"
                value_labels[name] = {0.0: "未选", 1.0: "选中"}
        elif kind == "text":
            data[key] = [a or "" for a in answers]
            labels[key] = label
        elif kind == "date":  # an SPSS date, shown as 01-MAR-2026
            data[key] = [_day(a) for a in answers]
            labels[key] = label
            days.append(key)
    frame = polars.DataFrame(data, strict=False)
    frame = frame.with_columns(polars.col(key).cast(polars.Date) for key in days)
    handle, path = tempfile.mkstemp(suffix=".sav")
    os.close(handle)
    try:
        pyreadstat.write_sav(
            frame,
            path,
            column_labels=[labels.get(name, name) for name in frame.columns],
            variable_value_labels=value_labels,
        )
        with open(path, "rb") as written:
            return written.read()
    finally:
        os.unlink(path)
