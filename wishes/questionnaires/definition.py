"""A questionnaire version as data: titles and ordered questions, in three languages.

The same JSON is stored in `questionnaire_versions.definition`, shipped as `default.json`,
and exchanged by import/export, so there is one checker for all three: `parse`.

A question's `key` names it across versions: trends follow the key, so a question whose
meaning or scale changes gets a new key. A question may show only when an earlier answer
matches (`show_if`: the earlier question's key and the values that show it, e.g. food rated
1 or 2 shows "what was wrong?"); `shown` decides it, on the server and in the page's script.

A matrix rates several items on one 1–5 scale; each item is answered, stored, counted and
downloaded as a rating of its own, keyed `<matrix key>.<item key>` (a dot no question key has):
`flat_questions` lists them so, for every page and figure that reads rated questions, and a
condition may name one ("care.food").
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from flask_babel import get_locale

LANGUAGES = ("zh_Hans", "zh_Hant", "en")
QUESTION_TYPES = {
    "rating": "满意度评分（1–5）",
    "nps": "推荐意愿（0–10）",
    "single": "单选",
    "multiple": "多选",
    "text": "文字意见",
    "department": "就诊科室",
    "number": "数字（有范围）",
    "note": "说明文字（不用回答）",
    "date": "日期（不晚于当天）",
    "matrix": "矩阵评分（几项同用 1–5 级）",
}
MATRIX_ITEMS = (2, 20)  # the fewest and the most items of a matrix
MOST_OPTIONS = 40  # the most options of a choice (the editor shows as many rows)
NUMBER_LIMIT = 1_000_000_000  # the widest range a number question may ask for
SCALES = {"rating": 5, "nps": 10}
DEFAULT_RATING_LABELS = [
    {"zh_Hans": "很不满意", "zh_Hant": "很不滿意", "en": "Very dissatisfied"},
    {"zh_Hans": "不满意", "zh_Hant": "不滿意", "en": "Dissatisfied"},
    {"zh_Hans": "一般", "zh_Hant": "一般", "en": "Neutral"},
    {"zh_Hans": "满意", "zh_Hant": "滿意", "en": "Satisfied"},
    {"zh_Hans": "很满意", "zh_Hant": "很滿意", "en": "Very satisfied"},
]
TEXT_MAX = 500
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_LABEL_MAX = 200


class DefinitionError(ValueError):
    """A definition that cannot be used; the message says where and what, in Chinese."""


def language() -> str:
    """The definition language matching the page's locale."""
    locale = get_locale()
    if locale is None or locale.language != "zh" and locale.language != "en":
        return "zh_Hans"
    if locale.language == "en":
        return "en"
    hant = locale.script == "Hant" or locale.territory in {"TW", "HK", "MO"}
    return "zh_Hant" if hant else "zh_Hans"


def text_in(labels: dict[str, str] | None, lang: str | None = None) -> str:
    """A label in the page's language, falling back to Simplified Chinese."""
    if not labels:
        return ""
    return labels.get(lang or language()) or labels.get("zh_Hans", "")


def _labels(value: Any, where: str, required: bool = True) -> dict[str, str]:
    if value is None and not required:
        return {}
    if isinstance(value, str):
        value = {"zh_Hans": value}
    if not isinstance(value, dict):
        raise DefinitionError(f'{where}：应为各语言的文字，例如 {{"zh_Hans": "…"}}')
    labels = {}
    for lang in LANGUAGES:
        text = value.get(lang)
        if text is None or text == "":
            continue
        if not isinstance(text, str) or len(text) > _LABEL_MAX:
            raise DefinitionError(f"{where}（{lang}）：应为不超过 {_LABEL_MAX} 字的文字")
        if any("\ud800" <= ch <= "\udfff" for ch in text):  # a lone \ud800 escape in the JSON
            raise DefinitionError(f"{where}（{lang}）：含有无法保存的字符")
        labels[lang] = text.strip()
    unknown = set(value) - set(LANGUAGES)
    if unknown:
        raise DefinitionError(f"{where}：不认识的语言 {', '.join(sorted(unknown))}")
    if required and not labels.get("zh_Hans"):
        raise DefinitionError(f"{where}：缺少简体中文（zh_Hans）")
    return labels


def _options(
    value: Any, where: str, noun: str = "选项", most: int | None = None
) -> list[dict[str, Any]]:
    """A choice's options or a matrix's items: each a key (unique here) and its labels."""
    if not isinstance(value, list) or len(value) < 2:
        kind = "矩阵题" if noun == "项目" else "选择题"
        raise DefinitionError(f"{where}：{kind}至少要有两个{noun}")
    if most is not None and len(value) > most:
        raise DefinitionError(f"{where}：最多 {most} 个{noun}")
    options, seen = [], set()
    for index, option in enumerate(value, 1):
        spot = f"{where}第 {index} 个{noun}"
        if not isinstance(option, dict):
            raise DefinitionError(f"{spot}：格式不对")
        key = option.get("key")
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise DefinitionError(f"{spot}：key 须为小写英文字母开头的字母、数字或下划线")
        if key in seen:
            raise DefinitionError(f"{spot}：key「{key}」重复")
        seen.add(key)
        options.append({"key": key, "label": _labels(option.get("label"), spot)})
    return options


def _question(value: Any, number: int) -> dict[str, Any]:
    where = f"第 {number} 题"
    if not isinstance(value, dict):
        raise DefinitionError(f"{where}：格式不对")
    kind = value.get("type")
    if kind not in QUESTION_TYPES:
        raise DefinitionError(f"{where}：题型须为 {', '.join(QUESTION_TYPES)} 之一")
    key = value.get("key")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise DefinitionError(f"{where}：key 须为小写英文字母开头的字母、数字或下划线")
    required = value.get("required", False)
    if not isinstance(required, bool):
        raise DefinitionError(f"{where}：required 应为 true 或 false")
    question: dict[str, Any] = {
        "key": key,
        "type": kind,
        "required": required,
        "label": _labels(value.get("label"), where),
    }
    if kind in ("rating", "matrix"):
        scale = value.get("scale") or DEFAULT_RATING_LABELS
        if not isinstance(scale, list) or len(scale) != 5:
            named = "评分题" if kind == "rating" else "矩阵题"
            raise DefinitionError(f"{where}：{named}需要 5 个等级的说明")
        question["scale"] = [_labels(s, f"{where}第 {i} 级") for i, s in enumerate(scale, 1)]
    if kind == "matrix":
        question["items"] = _options(value.get("items"), where, "项目", MATRIX_ITEMS[1])
    elif kind == "nps":
        question["low"] = _labels(value.get("low"), f"{where}的 0 分说明", required=False)
        question["high"] = _labels(value.get("high"), f"{where}的 10 分说明", required=False)
    elif kind in ("single", "multiple"):
        question["options"] = _options(value.get("options"), where, most=MOST_OPTIONS)
    elif kind == "number":
        low, high = value.get("min", 0), value.get("max", 999)
        whole = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
        if not whole or not -NUMBER_LIMIT <= low < high <= NUMBER_LIMIT:
            raise DefinitionError(f"{where}：数字题的 min 和 max 应为整数，且 min 小于 max")
        question["min"], question["max"] = low, high
    elif kind == "note":
        question["required"] = False  # nothing to answer
    elif kind == "text":
        limit = value.get("max_length", TEXT_MAX)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 2000:
            raise DefinitionError(f"{where}：max_length 应为 1 到 2000 之间的整数")
        question["max_length"] = limit
    return question


CONDITIONAL = ("rating", "nps", "single", "multiple")  # answers a condition can test


def _condition(value: Any, where: str, earlier: list[dict[str, Any]]) -> dict[str, Any]:
    """`show_if` of a question: an earlier question this one depends on, and its values."""
    if not isinstance(value, dict) or set(value) != {"key", "values"}:
        raise DefinitionError(f'{where}：show_if 应为 {{"key": 前面的题, "values": [取值…]}}')
    # A matrix's item is a rating of its own here ("care.food"); the matrix as a whole is not.
    source = next((q for q in flat_questions(earlier) if q["key"] == value["key"]), None)
    if source is None or source["type"] not in CONDITIONAL:
        raise DefinitionError(
            f"{where}：show_if 只能依据前面的评分、推荐或选择题，或矩阵题的一项（如 care.food）"
        )
    values = value["values"]
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise DefinitionError(f'{where}：show_if 的 values 应为一组取值，例如 ["1", "2"]')
    if source["type"] in SCALES:
        allowed = {
            str(n) for n in range(0 if source["type"] == "nps" else 1, SCALES[source["type"]] + 1)
        }
    else:
        allowed = {o["key"] for o in source["options"]}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise DefinitionError(f"{where}：show_if 的取值 {', '.join(unknown)} 不是那道题的答案")
    return {"key": source["key"], "values": sorted(set(values), key=values.index)}


def flat_questions(questions: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The questions (of a definition, or a list of them) with each matrix replaced by its
    items, each a rating of its own: key "care.food", the matrix's scale and "required", and
    the label "matrix label · item label" in each language either has ("matrix" and "item"
    name where it came from). Every other question is as it was; a flat list stays as it is.
    The dashboard's figures, the list of responses, one response and the downloads read
    rated questions through this."""
    listed: list[dict[str, Any]] = (
        questions["questions"] if isinstance(questions, dict) else questions
    )
    flat: list[dict[str, Any]] = []
    for question in listed:
        if question["type"] != "matrix":
            flat.append(question)
            continue
        for item in question["items"]:
            both = (question["label"], item["label"])
            flat.append(
                {
                    "key": f"{question['key']}.{item['key']}",
                    "type": "rating",
                    "required": question["required"],
                    "label": {
                        lang: f"{text_in(question['label'], lang)} · {text_in(item['label'], lang)}"
                        for lang in LANGUAGES
                        if any(labels.get(lang) for labels in both)
                    },
                    "scale": question["scale"],
                    "matrix": question["key"],
                    "item": item["key"],
                }
            )
    return flat


def shown(question: dict[str, Any], answers: dict[str, Any]) -> bool:
    """Whether a question shows, given the answers before it (a number, an option's key, a
    list of option keys; a matrix's items under their own keys, "care.food"); a question
    without a condition always shows."""
    condition = question.get("show_if")
    if not condition:
        return True
    answer = answers.get(condition["key"])
    chosen = answer if isinstance(answer, list) else [answer]
    return any(str(value) in condition["values"] for value in chosen if value is not None)


def parse(data: Any) -> dict[str, Any]:
    """Check a definition and return it normalised; raise DefinitionError saying what is wrong."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except (ValueError, UnicodeDecodeError) as error:
            raise DefinitionError(f"不是有效的 JSON：{error}") from None
        except RecursionError:
            raise DefinitionError("不是问卷：JSON 嵌套太深") from None
    if not isinstance(data, dict):
        raise DefinitionError("问卷应为一个 JSON 对象")
    slug = data.get("slug")
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        raise DefinitionError("slug（网址名）须为小写英文字母、数字或连字符，最多 40 个")
    questions = data.get("questions")
    if not isinstance(questions, list):  # empty while the author starts: not published so
        raise DefinitionError("questions 应为题目的列表")
    if len(questions) > 40:
        raise DefinitionError("一份问卷最多 40 道题")
    parsed: list[dict[str, Any]] = []
    for number, raw in enumerate(questions, 1):
        question = _question(raw, number)
        if isinstance(raw, dict) and raw.get("show_if") is not None:
            question["show_if"] = _condition(raw["show_if"], f"第 {number} 题", parsed)
        parsed.append(question)
    keys = [q["key"] for q in parsed]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise DefinitionError(f"题目 key 重复：{', '.join(repeated)}")
    if sum(q["type"] == "department" for q in parsed) > 1:
        raise DefinitionError("就诊科室题最多一道")
    return {
        "slug": slug,
        "title": _labels(data.get("title"), "问卷标题"),
        "intro": _labels(data.get("intro"), "问卷说明", required=False),
        "questions": parsed,
    }


def dumps(definition: dict[str, Any]) -> str:
    return json.dumps(definition, ensure_ascii=False, indent=2)


def load_default() -> dict[str, Any]:
    """The default satisfaction questionnaire shipped with the package."""
    source = resources.files(__package__).joinpath("default.json").read_text(encoding="utf-8")
    return parse(source)


_TRANSLATIONS = {"zh_Hant": "繁体", "en": "英文"}


def missing_translations(definition: dict[str, Any]) -> list[str]:
    """Every text patients see that lacks its Traditional or English wording, in the office's
    words ("第 3 题的第 2 个选项「不满意」：缺英文"): publishing asks about them first, because a
    patient reading English would otherwise meet Simplified Chinese there."""
    places: list[tuple[str, dict[str, str]]] = [("问卷标题", definition["title"])]
    if definition.get("intro"):
        places.append(("问卷说明", definition["intro"]))
    for number, question in enumerate(definition["questions"], 1):
        where = f"第 {number} 题"
        places.append((where, question["label"]))
        for index, option in enumerate(question.get("options", []), 1):
            places.append((f"{where}的第 {index} 个选项", option["label"]))
        for index, item in enumerate(question.get("items", []), 1):
            places.append((f"{where}的第 {index} 个项目", item["label"]))
        for level, words in enumerate(question.get("scale", []), 1):
            places.append((f"{where}的第 {level} 级", words))
        for end, words in (("low", "最低分说明"), ("high", "最高分说明")):
            if question.get(end):
                places.append((f"{where}的{words}", question[end]))
    missing = []
    for where, labels in places:
        lacking = [name for lang, name in _TRANSLATIONS.items() if not labels.get(lang)]
        if lacking:
            missing.append(f"{where}「{labels.get('zh_Hans', '')}」：缺{'、'.join(lacking)}")
    return missing
