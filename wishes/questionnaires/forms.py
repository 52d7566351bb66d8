"""The answering form, built from a questionnaire version's questions."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from wtforms import (
    Field,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    TextAreaField,
    widgets,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)

from ..i18n import unit_name
from ..pageform import PageForm, clean_text
from . import definition as definitions
from .store import Version


class CheckboxesField(SelectMultipleField):
    """Several options, each a checkbox (a touch target, unlike a multi-select box)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class AnswerForm(PageForm):
    # Drawn when the page is shown and sent back with the answers: the same page submitted
    # twice (double click, refresh, back button) carries the same id and is stored once.
    submission_id = HiddenField(_l("页面编号"), validators=[Regexp(r"^[0-9a-f]{32}$")])

    # The questions the page showed when it was sent (the page's script keeps it current as
    # conditional questions appear): a question shown by an answer only now, with no script,
    # sends the patient back to it once instead of being skipped.
    shown_keys = HiddenField()

    def field_for(self, question: dict[str, Any]) -> Field:
        return self[field_name(question)]

    def question_fields(self) -> list[tuple[dict[str, Any], Field]]:
        return [(q, self.field_for(q)) for q in self._questions]

    def hidden_keys(self) -> set[str]:
        """The questions whose condition the answers so far do not meet."""
        answers: dict[str, Any] = {}
        hidden = set()
        for question in self._questions:
            if definitions.shown(question, answers):
                answers[question["key"]] = self.field_for(question).data
            else:
                hidden.add(question["key"])
        return hidden

    def newly_shown(self) -> list[str]:
        """Questions the answers show that the page had not shown (and are unanswered)."""
        before = set((self.shown_keys.data or "").split())
        hidden = self.hidden_keys()
        return [
            q["key"]
            for q in self._questions
            if q.get("show_if")
            and q["key"] not in hidden
            and q["key"] not in before
            and self.field_for(q).data in (None, "", [])
        ]

    def validate(self, extra_validators=None) -> bool:
        """The checks of the questions that show; a hidden question's answer is dropped and
        its "required" does not apply."""
        super().validate(extra_validators)
        hidden = self.hidden_keys()
        for question in self._questions:
            if question["key"] in hidden:
                field = self.field_for(question)
                field.errors = []
                field.data = [] if question["type"] == "multiple" else None
        return not self.form_errors and not any(field.errors for field in self)

    def visible_keys(self) -> str:
        """The questions the page shows now, for its `shown_keys` field."""
        hidden = self.hidden_keys()
        return " ".join(q["key"] for q in self._questions if q["key"] not in hidden)

    def answers(self) -> dict[str, Any]:
        hidden = self.hidden_keys()
        return {q["key"]: self.field_for(q).data for q in self._questions if q["key"] not in hidden}

    def department_code(self) -> str | None:
        for question in self._questions:
            if question["type"] == "department":
                return self.field_for(question).data or None
        return None

    def comment(self) -> str:
        texts = [self.field_for(q).data for q in self._questions if q["type"] == "text"]
        return "\n".join(t for t in texts if t)


def field_name(question: dict[str, Any]) -> str:
    """Question keys are the admin's; a prefix keeps them clear of the form's own names."""
    return "q_" + question["key"]


def _later(choices: list[tuple]) -> Callable[[], list[tuple]]:
    """Choices handed over as a callable, the form WTForms 3.3 accepts without a warning."""
    return lambda: choices


def _required(question: dict[str, Any], message) -> list:
    return [InputRequired(message=message)] if question["required"] else [Optional()]


def _field(question: dict[str, Any], lang: str, departments: list[dict]) -> Field:
    label = definitions.text_in(question["label"], lang)
    kind = question["type"]
    pick = _l("请选择一项")
    if kind == "rating":
        choices = [(i, definitions.text_in(s, lang)) for i, s in enumerate(question["scale"], 1)]
        return RadioField(
            label, choices=_later(choices), coerce=int, validators=_required(question, pick)
        )
    if kind == "nps":
        choices = [(i, str(i)) for i in range(11)]
        return RadioField(
            label, choices=_later(choices), coerce=int, validators=_required(question, pick)
        )
    if kind == "single":
        choices = [(o["key"], definitions.text_in(o["label"], lang)) for o in question["options"]]
        return RadioField(label, choices=_later(choices), validators=_required(question, pick))
    if kind == "multiple":
        choices = [(o["key"], definitions.text_in(o["label"], lang)) for o in question["options"]]
        checks = (
            [DataRequired(message=_l("请至少选择一项"))] if question["required"] else [Optional()]
        )
        return CheckboxesField(label, choices=_later(choices), validators=checks)
    if kind == "number":
        low, high = question["min"], question["max"]
        checks = (
            [InputRequired(message=_l("请填写这一项"))] if question["required"] else [Optional()]
        )
        checks.append(NumberRange(low, high, message=_l("请填写 %(min)s 到 %(max)s 之间的整数")))
        return IntegerField(label, validators=checks)
    if kind == "note":
        return HiddenField(label)  # a text to read: nothing is sent or stored
    if kind == "department":
        choices = [("", _l("请选择（可不选）"))] + [
            (d["code"], unit_name(d, lang)) for d in departments
        ]
        checks = [DataRequired(message=_l("请选择科室"))] if question["required"] else []
        return SelectField(label, choices=_later(choices), validators=checks, default="")
    limit = question.get("max_length", definitions.TEXT_MAX)
    checks = [DataRequired(message=_l("请填写这一项"))] if question["required"] else [Optional()]
    checks.append(Length(max=limit, message=_l("请不超过 %(max)d 个字")))
    return TextAreaField(label, filters=[clean_text], validators=checks)


def answer_form(
    version: Version,
    departments: list[dict],
    lang: str | None = None,
    formdata: MultiDict | None = None,
) -> AnswerForm:
    """A form class for this version, instantiated on the current request (or on `formdata`,
    the answers a POST kept for the page: wishes/drafts.py)."""
    lang = lang or definitions.language()

    class _Form(AnswerForm):
        pass

    for question in version.questions:
        setattr(_Form, field_name(question), _field(question, lang, departments))
    form = _Form() if formdata is None else _Form(formdata=formdata)
    form._questions = version.questions
    if not form.submission_id.data:
        form.submission_id.data = secrets.token_hex(16)
    return form
