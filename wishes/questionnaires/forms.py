"""The answering form, built from a questionnaire version's questions."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import date
from typing import Any

from flask_babel import gettext as _
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
    ValidationError,
)

from ..clock import today
from ..i18n import unit_name
from ..pageform import PageForm, clean_text
from . import definition as definitions
from .store import Version


class CheckboxesField(SelectMultipleField):
    """Several options, each a checkbox (a touch target, unlike a multi-select box)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
EARLIEST_DAY = date(1900, 1, 1)  # before it no spreadsheet or SPSS file keeps a date well


class DayField(Field):
    """A calendar day typed into the browser's date input (a text box where it has none):
    only a real YYYY-MM-DD day is taken; whatever was typed is shown again as it was."""

    widget = widgets.DateInput()

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return self.data.isoformat() if self.data else ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        typed = str(valuelist[0]).strip() if valuelist else ""
        if not typed:
            return
        try:
            day = date.fromisoformat(typed) if _DAY.fullmatch(typed) else None
        except ValueError:
            day = None
        if day is None or day < EARLIEST_DAY:
            raise ValueError(_("请填写真实存在的日期，格式为 年-月-日"))
        self.data = day


def _not_after_today(form: Any, field: DayField) -> None:
    """Never a day after today, by the hospital's calendar."""
    if field.data is not None and field.data > today():
        raise ValidationError(_("日期不能晚于今天（%(today)s）", today=today().isoformat()))


class MatrixField(Field):
    """Several items rated on one scale: one group of radio buttons per item, named
    `<field name>.<item key>` (a dot no field name has). `data` holds the rated items only,
    item key → 1–5; a value not on the scale counts as not rated."""

    def __init__(
        self,
        label: str,
        items: list[tuple[str, str]],
        scale: list[tuple[int, str]],
        required: bool,
        lang: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(label, **kwargs)
        self.items, self.scale, self.required, self.lang = items, scale, required, lang

    def input_name(self, item: str) -> str:
        return f"{self.name}.{item}"

    def input_names(self) -> set[str]:
        return {self.input_name(item) for item, _words in self.items}

    def process(self, formdata, data=None, extra_filters=None) -> None:
        self.process_errors: list[Any] = []
        self.raw_data: list[Any] = []
        self.data: dict[str, int] = {}
        if formdata is None:
            return
        levels = {str(value): value for value, _words in self.scale}
        for item, _words in self.items:
            typed = formdata.getlist(self.input_name(item))
            if typed and typed[0] in levels:
                self.data[item] = levels[typed[0]]

    def pre_validate(self, form: Any) -> None:
        missing = [words for item, words in self.items if item not in (self.data or {})]
        if self.required and missing:
            joined = ("、" if self.lang.startswith("zh") else ", ").join(missing)
            raise ValidationError(_("请给每一项选一个等级，还没选：%(items)s", items=joined))


class AnswerForm(PageForm):
    # Drawn when the page is shown and sent back with the answers: the same page submitted
    # twice (double click, refresh, back button) carries the same id and is stored once.
    submission_id = HiddenField(_l("页面编号"), validators=[Regexp(r"^[0-9a-f]{32}$")])

    # The questions the page showed when it was sent (the page's script keeps it current as
    # conditional questions appear): a question shown by an answer only now, with no script,
    # sends the patient back to it once instead of being skipped.
    shown_keys = HiddenField()

    def __contains__(self, name: object) -> bool:
        """A matrix item's radio buttons are the matrix field's too: what a patient chose is
        kept with the rest when the page is sent back (wishes/drafts.py asks this)."""
        if super().__contains__(name):
            return True
        return any(name in field.input_names() for field in self if isinstance(field, MatrixField))

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
                data = self.field_for(question).data
                answers[question["key"]] = data
                if question["type"] == "matrix":  # a condition may name an item: "care.food"
                    answers.update({f"{question['key']}.{k}": v for k, v in data.items()})
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
            and self.field_for(q).data in (None, "", [], {})
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
                field.data = {"multiple": [], "matrix": {}}.get(question["type"])
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
    if kind == "date":
        checks = (
            [InputRequired(message=_l("请填写这一项"))] if question["required"] else [Optional()]
        )
        return DayField(label, validators=[*checks, _not_after_today])
    if kind == "matrix":
        items = [(i["key"], definitions.text_in(i["label"], lang)) for i in question["items"]]
        scale = [(n, definitions.text_in(s, lang)) for n, s in enumerate(question["scale"], 1)]
        return MatrixField(label, items, scale, question["required"], lang)
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
    meta: dict[str, Any] | None = None,
) -> AnswerForm:
    """A form class for this version, instantiated on the current request (or on `formdata`,
    the answers a POST kept for the page: wishes/drafts.py; or another front end's answers,
    with `meta={"csrf": False}`: questionnaires/answering.py)."""
    lang = lang or definitions.language()

    class _Form(AnswerForm):
        pass

    for question in version.questions:
        setattr(_Form, field_name(question), _field(question, lang, departments))
    form = _Form(meta=meta or {}) if formdata is None else _Form(formdata=formdata, meta=meta or {})
    form._questions = version.questions
    if not form.submission_id.data:
        form.submission_id.data = secrets.token_hex(16)
    return form
