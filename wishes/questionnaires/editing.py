"""Editing a questionnaire definition one question at a time (the admin pages' forms).

Each change reads the latest definition, changes a copy and hands it to `store.save_draft`,
which decides whether that is the open draft or a new version.
"""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from ..pageform import PageForm, clean_line, clean_text
from . import definition as definitions

_SLUG_RULE = Regexp(r"^[a-z0-9][a-z0-9-]{0,39}$", message="小写英文字母、数字或连字符")
_KEY_RULE = Regexp(r"^[a-z][a-z0-9_]{0,39}$", message="小写英文字母开头，只用字母、数字和下划线")


_LANGUAGE_NAMES = {"zh_Hans": "简体", "zh_Hant": "繁體", "en": "English"}


def _in_three_languages(
    form: type[PageForm],
    prefix: str,
    title: str,
    *,
    text: bool = False,
    required: str | None = None,
) -> None:
    """Fields `<prefix>_zh_Hans/_zh_Hant/_en`; only the Simplified one may be required."""
    for lang, name in _LANGUAGE_NAMES.items():
        first = [DataRequired(required)] if required and lang == "zh_Hans" else [Optional()]
        field = (TextAreaField if text else StringField)(
            f"{title}（{name}）",
            filters=[clean_text if text else clean_line],
            validators=[*first, Length(max=200)],
        )
        setattr(form, f"{prefix}_{lang}", field)


class TitleForm(PageForm):
    pass


_in_three_languages(TitleForm, "title", "标题", required="请填写标题")
_in_three_languages(TitleForm, "intro", "说明", text=True)


class LabelRow(Form):
    """One row of a question's table: an option, a matrix item or a scale level, with its code
    and its words in the three languages side by side."""

    key = StringField("代码", filters=[clean_line], validators=[Optional(), Length(max=40)])
    zh_Hans = StringField("简体", filters=[clean_line], validators=[Optional(), Length(max=200)])
    zh_Hant = StringField("繁體", filters=[clean_line], validators=[Optional(), Length(max=200)])
    en = StringField("English", filters=[clean_line], validators=[Optional(), Length(max=200)])

    def labels(self) -> dict[str, str]:
        return {lang: self[lang].data for lang in definitions.LANGUAGES if self[lang].data}

    def blank(self) -> bool:
        return not self.key.data and not self.labels()


ROWS = ("options", "scale")  # the tables whose rows the author adds, removes and moves
ROW_TYPES = {"options": ("single", "multiple", "matrix"), "scale": ("rating", "matrix")}
_ROW_ACTION = re.compile(r"(options|scale)-(add|remove|up|down)(?:-(\d{1,2}))?")


class QuestionForm(PageForm):
    type = SelectField("题型", choices=lambda: list(definitions.QUESTION_TYPES.items()))
    key = StringField(
        "题目代码（key）",
        filters=[clean_line],
        validators=[DataRequired("请填写题目代码"), _KEY_RULE],
    )
    required = BooleanField("必答")
    options = FieldList(
        FormField(LabelRow),
        "选项（单选、多选题）或小题（矩阵题）",
        max_entries=definitions.MOST_OPTIONS,
    )
    scale = FieldList(FormField(LabelRow), "五个等级的说明（评分题、矩阵题）", max_entries=5)
    minimum = IntegerField("最小值（数字题用，默认 0）", validators=[Optional()])
    maximum = IntegerField("最大值（数字题用，默认 999）", validators=[Optional()])
    show_if_key = SelectField(
        "只在前面某题这样回答时显示", choices=lambda: [("", "总是显示")], validate_choice=False
    )
    show_if_values = StringField(
        "取值（评分题、推荐题写分值，选择题写选项代码；用空格分开，例如 1 2）",
        filters=[clean_line],
        validators=[Optional(), Length(max=200)],
    )

    def offer_conditions(self, definition: dict[str, Any], key: str | None) -> None:
        """The questions this one may depend on: the ratings, NPS and choices before it, and
        each item of a matrix before it ("care.food")."""
        before = list(itertools.takewhile(lambda q: q["key"] != key, definition["questions"]))
        earlier = [
            (q["key"], f"{definitions.text_in(q['label'], 'zh_Hans')}（{q['key']}）")
            for q in definitions.flat_questions(before)
            if q["type"] in definitions.CONDITIONAL
        ]
        self.show_if_key.choices = [("", "总是显示"), *earlier]

    def change_rows(self, action: str | None) -> bool:
        """Add, remove or move a row when one of the tables' buttons was pressed (the page
        without its script); True when it was, and the form is shown again, not saved."""
        found = _ROW_ACTION.fullmatch(action or "")
        if not found:
            return False
        table, verb, at = found.group(1), found.group(2), int(found.group(3) or 0)
        field: FieldList = self[table]
        rows = [entry.data for entry in field.entries]
        if verb == "add" and len(rows) < field.max_entries:
            rows.append({})
        elif verb == "remove" and at < len(rows):
            rows.pop(at)
        elif verb in ("up", "down") and at < len(rows):
            to = max(0, min(len(rows) - 1, at + (-1 if verb == "up" else 1)))
            rows.insert(to, rows.pop(at))
        _set_rows(field, rows)
        return True

    def validate_options(self, field: FieldList) -> None:
        if self.type.data in ROW_TYPES["options"] and len(self._rows("options")) < 2:
            what = "小题" if self.type.data == "matrix" else "选项"
            raise ValidationError(f"至少要有两个{what}，一行一个")

    def _rows(self, table: str) -> list[LabelRow]:
        return [entry.form for entry in self[table].entries if not entry.form.blank()]

    def question(self, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """The question as definition data (keeping what the form does not edit)."""
        kind = self.type.data
        kept = copy.deepcopy(previous or {})
        if previous and previous.get("type") != kind:
            kept = {}
        for name in ("options", "items", "scale", "min", "max", "show_if"):
            kept.pop(name, None)
        kept.update(key=self.key.data, type=kind, required=bool(self.required.data))
        kept["label"] = _labels(self, "label")
        if kind in ROW_TYPES["options"]:
            rows = self._rows("options")
            kept["items" if kind == "matrix" else "options"] = [
                {"key": row.key.data or _free_key(rows, number), "label": row.labels()}
                for number, row in enumerate(rows, 1)
            ]
        if kind in ROW_TYPES["scale"]:
            levels = [entry.form.labels() for entry in self.scale.entries]
            if any(levels):  # all five blank: the scale it had, or the usual one
                kept["scale"] = levels
            elif previous and previous.get("scale"):
                kept["scale"] = previous["scale"]
        if kind == "nps":
            for end in ("low", "high"):
                kept[end] = _labels(self, end)
        if kind == "number":  # the range is checked by definitions.parse
            kept["min"] = self.minimum.data if self.minimum.data is not None else 0
            kept["max"] = self.maximum.data if self.maximum.data is not None else 999
        if self.show_if_key.data:  # checked by definitions.parse when the draft is saved
            values = (self.show_if_values.data or "").replace(",", " ").replace("，", " ")
            kept["show_if"] = {"key": self.show_if_key.data, "values": values.split()}
        return kept

    def fill(self, question: dict[str, Any] | None = None) -> None:
        """The form showing `question`, or a new question's form with the usual scale."""
        question = question or {"type": "rating", "key": "", "required": False, "label": {}}
        self.type.data, self.key.data = question["type"], question["key"]
        self.required.data = question["required"]
        for lang in definitions.LANGUAGES:
            getattr(self, f"label_{lang}").data = question["label"].get(lang, "")
            for end in ("low", "high"):
                getattr(self, f"{end}_{lang}").data = question.get(end, {}).get(lang, "")
        self.minimum.data, self.maximum.data = question.get("min"), question.get("max")
        condition = question.get("show_if") or {}
        self.show_if_key.data = condition.get("key", "")
        self.show_if_values.data = " ".join(condition.get("values", []))
        rows = question.get("options") or question.get("items") or []
        _set_rows(self.options, [{"key": row["key"], **row["label"]} for row in rows] or [{}, {}])
        scale = question.get("scale") or definitions.DEFAULT_RATING_LABELS
        _set_rows(self.scale, [dict(level) for level in scale])


def _set_rows(field: FieldList, rows: list[dict[str, Any]]) -> None:
    """Replace a table's rows, numbered again from 0 (a moved row takes its new place)."""
    field.entries, field.last_index = [], -1
    for row in rows:
        field.append_entry(row)


def _free_key(rows: list[LabelRow], number: int) -> str:
    """`o<number>` for a row left without a code, unless another row already uses it."""
    taken = {row.key.data for row in rows}
    key = f"o{number}"
    while key in taken:
        key += "_"
    return key


_in_three_languages(QuestionForm, "label", "题目", required="请填写题目")
_in_three_languages(QuestionForm, "low", "0 分一端的说明（推荐题）")
_in_three_languages(QuestionForm, "high", "10 分一端的说明（推荐题）")


class NewQuestionnaireForm(PageForm):
    slug = StringField(
        "网址名（slug，印在二维码里，之后不能改）",
        filters=[clean_line],
        validators=[DataRequired("请填写网址名"), _SLUG_RULE],
    )
    title = StringField(
        "标题（简体）",
        filters=[clean_line],
        validators=[DataRequired("请填写标题"), Length(max=200)],
    )

    def definition(self) -> dict[str, Any]:
        """A first draft: the title alone; the author adds every question."""
        return {"slug": self.slug.data, "title": {"zh_Hans": self.title.data}, "questions": []}


class ImportForm(PageForm):
    file = FileField(
        "问卷文件（JSON 或 XLSForm .xlsx）",
        validators=[FileRequired("请选择一个 .json 或 .xlsx（XLSForm）文件")],
    )


def _labels(form: PageForm, prefix: str) -> dict[str, str]:
    labels = {lang: getattr(form, f"{prefix}_{lang}").data or "" for lang in definitions.LANGUAGES}
    return {lang: text for lang, text in labels.items() if text}


def with_title(definition: dict, form: TitleForm) -> dict:
    changed = copy.deepcopy(definition)
    changed["title"] = _labels(form, "title")
    changed["intro"] = _labels(form, "intro")
    return changed


def fill_title(form: TitleForm, definition: dict) -> None:
    for lang in definitions.LANGUAGES:
        getattr(form, f"title_{lang}").data = definition["title"].get(lang, "")
        getattr(form, f"intro_{lang}").data = definition.get("intro", {}).get(lang, "")


def with_question(definition: dict, question: dict, replacing: str | None = None) -> dict:
    """Add a question at the end, or put it in the place of the question `replacing`."""
    changed = copy.deepcopy(definition)
    keys = [q["key"] for q in changed["questions"]]
    if replacing in keys:
        changed["questions"][keys.index(replacing)] = question
    else:
        changed["questions"].append(question)
    return changed


def without_question(definition: dict, key: str) -> dict:
    changed = copy.deepcopy(definition)
    changed["questions"] = [q for q in changed["questions"] if q["key"] != key]
    return changed


def moved(definition: dict, key: str, step: int) -> dict:
    """The question `key` moved one place up (step −1) or down (+1)."""
    changed = copy.deepcopy(definition)
    questions = changed["questions"]
    keys = [q["key"] for q in questions]
    if key in keys:
        at = keys.index(key)
        to = max(0, min(len(questions) - 1, at + step))
        questions.insert(to, questions.pop(at))
    return changed
