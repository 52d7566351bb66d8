"""Editing a questionnaire definition one question at a time (the admin pages' forms).

Each change reads the latest definition, changes a copy and hands it to `store.save_draft`,
which decides whether that is the open draft or a new version.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
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


class QuestionForm(PageForm):
    type = SelectField("题型", choices=lambda: list(definitions.QUESTION_TYPES.items()))
    key = StringField(
        "题目代码（key）",
        filters=[clean_line],
        validators=[DataRequired("请填写题目代码"), _KEY_RULE],
    )
    required = BooleanField("必答")
    options = TextAreaField(
        "选项（单选、多选题用；一行一个：代码 | 简体 | 繁體 | English）",
        filters=[clean_text],
        validators=[Optional(), Length(max=4000)],
    )

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
        """The questions this one may depend on: the ratings, NPS and choices before it."""
        earlier = []
        for question in definition["questions"]:
            if question["key"] == key:
                break
            if question["type"] in definitions.CONDITIONAL:
                label = definitions.text_in(question["label"], "zh_Hans")
                earlier.append((question["key"], f"{label}（{question['key']}）"))
        self.show_if_key.choices = [("", "总是显示"), *earlier]

    def validate_options(self, field: TextAreaField) -> None:
        if self.type.data in ("single", "multiple") and len(parse_options(field.data or "")) < 2:
            raise ValidationError("选择题至少要有两个选项，一行一个")

    def question(self, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """The question as definition data (keeping what the form does not edit, like scales)."""
        kept = copy.deepcopy(previous or {})
        if previous and previous.get("type") != self.type.data:
            kept = {}
        kept.update(
            key=self.key.data,
            type=self.type.data,
            required=bool(self.required.data),
            label=_labels(self, "label"),
        )
        if self.type.data in ("single", "multiple"):
            kept["options"] = parse_options(self.options.data or "")
        else:
            kept.pop("options", None)
        if self.type.data == "number":  # the range is checked by definitions.parse
            kept["min"] = self.minimum.data if self.minimum.data is not None else 0
            kept["max"] = self.maximum.data if self.maximum.data is not None else 999
        else:
            kept.pop("min", None)
            kept.pop("max", None)
        if self.show_if_key.data:  # checked by definitions.parse when the draft is saved
            values = (self.show_if_values.data or "").replace(",", " ").replace("，", " ")
            kept["show_if"] = {"key": self.show_if_key.data, "values": values.split()}
        else:
            kept.pop("show_if", None)
        return kept

    def fill(self, question: dict[str, Any]) -> None:
        self.type.data, self.key.data = question["type"], question["key"]
        self.required.data = question["required"]
        for lang in definitions.LANGUAGES:
            getattr(self, f"label_{lang}").data = question["label"].get(lang, "")
        self.minimum.data, self.maximum.data = question.get("min"), question.get("max")
        condition = question.get("show_if") or {}
        self.show_if_key.data = condition.get("key", "")
        self.show_if_values.data = " ".join(condition.get("values", []))
        self.options.data = "\n".join(
            " | ".join([o["key"], *(o["label"].get(lang, "") for lang in definitions.LANGUAGES)])
            for o in question.get("options", [])
        )


_in_three_languages(QuestionForm, "label", "题目", required="请填写题目")


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
        """A first draft: the title and the overall rating, to build on."""
        default = definitions.load_default()
        overall = next(q for q in default["questions"] if q["key"] == "overall")
        return {
            "slug": self.slug.data,
            "title": {"zh_Hans": self.title.data},
            "questions": [overall],
        }


class ImportForm(PageForm):
    file = FileField("问卷 JSON 文件", validators=[FileRequired("请选择一个 .json 文件")])


_OPTION_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


def parse_options(text: str) -> list[dict[str, Any]]:
    """Lines of `key | 简体 | 繁體 | English`; a line without a key gets `o1`, `o2`…"""
    options = []
    for number, line in enumerate((ln for ln in text.splitlines() if ln.strip()), 1):
        parts = [part.strip() for part in line.split("|")]
        key = parts[0] if len(parts) > 1 and _OPTION_KEY.fullmatch(parts[0]) else f"o{number}"
        names = parts[1:] if key == parts[0] else parts
        labels = dict(zip(definitions.LANGUAGES, names, strict=False))
        options.append({"key": key, "label": {k: v for k, v in labels.items() if v}})
    return options


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
