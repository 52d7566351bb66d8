"""Answers from another front end (the JSON API): checked by the answering page's own form
and stored as the page stores them.

The answers come keyed by question key, each in the JSON type its question takes (a whole
number for rating, nps and number; text for single, text, date and department; a list of
option keys for multiple; item key → level for matrix). They are handed to the page's form
(forms.answer_form) as the page would post them, so that every rule (required, options,
ranges, lengths, days, conditions) is the page's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlite_utils import Database
from werkzeug.datastructures import MultiDict

from . import comments, store
from .forms import AnswerForm, answer_form, field_name

WHOLE_NUMBER = frozenset({"rating", "nps", "number"})
TEXT = frozenset({"single", "text", "date", "department"})


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _typed(question: dict[str, Any], value: Any) -> list[tuple[str, str]] | str:
    """The form fields for one answer, or what is wrong with its JSON type."""
    name, kind = field_name(question), question["type"]
    if kind in WHOLE_NUMBER:
        return [(name, str(value))] if _whole(value) else "expected a whole number"
    if kind in TEXT:
        return [(name, value)] if isinstance(value, str) else "expected a string"
    if kind == "multiple":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [(name, v) for v in value]
        return "expected a list of option keys"
    if kind == "matrix":
        if isinstance(value, dict) and all(_whole(v) for v in value.values()):
            return [(f"{name}.{item}", str(level)) for item, level in value.items()]
        return "expected an object of item key to level"
    return "this question takes no answer"  # a note: a text to read


def checked(
    db: Database,
    version: store.Version,
    answers: Mapping[str, Any],
    submission_id: str | None,
    departments: list[dict],
) -> tuple[AnswerForm, dict[str, list[str]]]:
    """The page's form filled with `answers` and checked; and the errors by question key
    (a key no question has, a value of the wrong JSON type, or the form's own messages)."""
    questions = {q["key"]: q for q in version.questions}
    errors: dict[str, list[str]] = {}
    data: MultiDict = MultiDict()
    for key, value in answers.items():
        question = questions.get(key)
        if question is None:
            errors[key] = ["no such question"]
            continue
        typed = _typed(question, value)
        if isinstance(typed, str):
            errors[key] = [typed]
        else:
            for name, field_value in typed:
                data.add(name, field_value)
    if submission_id is not None:
        data["submission_id"] = submission_id
    form = answer_form(version, departments, formdata=data, meta={"csrf": False})
    if not form.validate() or errors:
        keys = {field_name(q): q["key"] for q in version.questions}
        for name, messages in form.errors.items():
            if name not in ("csrf_token", "shown_keys"):
                errors.setdefault(keys.get(name, name), []).extend(str(m) for m in messages)
    return form, errors


def save(db: Database, version: store.Version, form: AnswerForm, channel: str) -> tuple[int, bool]:
    """Store a checked form's answers as the page does; (response id, False) when the same
    submission was stored before."""
    reading = comments.read(form.comment())
    return store.store_response(
        db,
        version,
        store.answers_from(version, form.answers()),
        submission_id=form.submission_id.data,
        department_code=form.department_code(),
        channel=channel,
        comment_tags=reading.tags,
        comment_sentiment=reading.sentiment,
        comment_category=reading.category,
    )
