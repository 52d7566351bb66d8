"""XLSForm in and out: the spreadsheet form standard of KoboToolbox and ODK (xlsform.org).

`definition_from_xlsform` reads a workbook's `survey`, `choices` and `settings` sheets into
a definition (checked by `definition.parse`, the one checker); `xlsform_from_definition` writes
a definition as such a workbook, which the reference converter (pyxform) accepts. A row the
definition cannot hold is refused, naming its sheet, its row (as the spreadsheet numbers it)
and what is wrong: nothing is silently dropped or renamed.

The mapping (README, "XLSForm"):

    rating      range, parameters start=1 end=5 step=1 (its 5 level labels stay behind;
                a range 1–5 comes back with the default labels)
    nps         range, parameters start=0 end=10 step=1 (its end labels stay behind)
    single      select_one <list>, options in the choices sheet
    multiple    select_multiple <list>
    department  select_one department: the list holds the hospital's departments at export;
                on import a select_one from a list named `department` is this question
    number      integer with constraint `. >= min and . <= max`; a `decimal` comes in as a
                number too (whole numbers only: our number question takes integers)
    text        text with constraint `string-length(.) <= max_length`
    date        date with constraint `. <= today()` (our date is never later than the day)
    note        note
    matrix      begin_group <key> (appearance field-list) of select_one <key>_scale rows named
                <key>_<item> (appearance likert), the scale's 5 levels in the choices sheet

`required` is yes/no; `relevant` carries `show_if`: `${food} = '1' or ${food} = '2'` for a
scale or a single choice, `selected(${visit}, 'er') or …` for a multiple choice (and, on
import, `${x} = 1` or `${x} <= 2`-style comparisons on a scale). Labels are `label::<name>
(<code>)` columns: zh, zh-Hans, zh-CN… are Simplified Chinese, zh-Hant, zh-TW, zh-HK… are
Traditional, en is English; a plain `label` is in the settings' default_language (Simplified
when there is none). The title is the settings' `form_title`, in the default language only
(pyxform has no translated form_title); the questionnaire's intro has no place in an XLSForm.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook, load_workbook

from ..i18n import unit_name
from ..spreadsheets import fit_columns
from . import definition as definitions
from .definition import DefinitionError

# The names the export gives the three languages (BCP 47 codes in brackets, as XLSForm asks).
LANGUAGE_NAMES = {
    "zh_Hans": "简体中文 (zh-Hans)",
    "zh_Hant": "繁體中文 (zh-Hant)",
    "en": "English (en)",
}
RATING_RANGE = "start=1 end=5 step=1"
NPS_RANGE = "start=0 end=10 step=1"
DEPARTMENT_LIST = "department"
MAX_ROWS = 2000  # rows read from a sheet: a questionnaire has at most 40 questions
MAX_COLUMNS = 200
SURVEY_COLUMNS = ["type", "name", "required", "relevant", "constraint", "parameters", "appearance"]

# Rows a KoboToolbox form carries for its own records: nothing a patient answers.
METADATA_TYPES = {
    "start",
    "end",
    "today",
    "deviceid",
    "subscriberid",
    "simserial",
    "phonenumber",
    "username",
    "email",
    "audit",
    "start-geopoint",
}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")  # definition's key rule
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")  # definition's slug rule
_REF = r"\$\{\s*([^}\s]+)\s*\}"
_LITERAL = r"'([^']*)'|\"([^\"]*)\"|(-?\d+(?:\.0+)?)"
_COMPARISON = re.compile(rf"{_REF}\s*(=|!=|<=|>=|<|>)\s*(?:{_LITERAL})")
_SELECTED = re.compile(rf"selected\(\s*{_REF}\s*,\s*(?:{_LITERAL})\s*\)")
_BOUND = re.compile(r"\.\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)|(-?\d+(?:\.\d+)?)\s*(<=|<)\s*\.")
_LENGTH = re.compile(r"string-length\(\s*\.\s*\)\s*(<=|<)\s*(\d+)")
_NOT_AFTER_TODAY = re.compile(r"\.\s*<=\s*today\(\s*\)")
_TRUE = {"yes", "true", "1", "true()", "y"}
_FALSE = {"no", "false", "0", "false()", "n", ""}


# ---- reading ------------------------------------------------------------------------------


def is_xlsx(data: bytes) -> bool:
    """Whether an upload is a workbook (an .xlsx is a zip file) rather than JSON."""
    return data[:2] == b"PK"


def readable(data: bytes, notes: list[str] | None = None) -> Any:
    """What `store.import_definition` takes from an uploaded file: an XLSForm read into a
    definition, anything else as it is (JSON, checked there)."""
    return definition_from_xlsform(data, notes) if is_xlsx(data) else data


def _language(name: str) -> str | None:
    """The definition language of an XLSForm language name ("English (en)", "中文 (zh-TW)")."""
    found = re.search(r"\(([^()]*)\)\s*$", name)
    code = (found.group(1) if found else name).strip().lower().replace("_", "-")
    if code in ("zh", "chinese", "中文", "简体中文", "簡體中文") or code.startswith("zh-hans"):
        return "zh_Hans"
    if code in ("zh-cn", "zh-sg", "zh-my"):
        return "zh_Hans"
    if code.startswith("zh-hant") or code in ("zh-tw", "zh-hk", "zh-mo", "繁體中文", "繁体中文"):
        return "zh_Hant"
    if code in ("en", "english") or code.startswith("en-"):
        return "en"
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class _Sheet:
    """A sheet's rows as {column: text}, each with its row number as the spreadsheet shows it;
    columns are lower-cased before `::` (`Label::English (en)` is `label::English (en)`)."""

    def __init__(self, name: str, rows: list[tuple[int, dict[str, str]]]) -> None:
        self.name = name
        self.rows = rows

    def where(self, number: int) -> str:
        return f"{self.name} 表第 {number} 行"


def _read_sheet(worksheet: Any, name: str) -> _Sheet:
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] = []
    cells = worksheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)
    for number, values in enumerate(cells, 1):
        texts = [_text(value) for value in values]
        if not header:
            if not any(texts):
                continue
            header = [_column(text) for text in texts]
            continue
        if number > MAX_ROWS:
            raise DefinitionError(f"{name} 表超过 {MAX_ROWS} 行：不像是一份问卷")
        row = {column: text for column, text in zip(header, texts, strict=False) if column}
        if any(row.values()):
            rows.append((number, row))
    return _Sheet(name, rows)


def _column(title: str) -> str:
    base, marker, rest = title.partition("::")
    base = base.strip().lower().replace(" ", "_")
    return f"{base}::{rest.strip()}" if marker else base


def _workbook_sheets(data: bytes) -> dict[str, _Sheet]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # a damaged or foreign zip: openpyxl raises what it meets
        raise DefinitionError(f"不是有效的 XLSX 工作簿：{type(error).__name__}") from None
    try:
        return {
            sheet.title.strip().lower(): _read_sheet(sheet, sheet.title.strip().lower())
            for sheet in book.worksheets
            if sheet.title.strip().lower() in ("survey", "choices", "settings")
        }
    except DefinitionError:
        raise
    except Exception as error:  # a sheet's XML damaged
        raise DefinitionError(f"无法读取这个 XLSX 工作簿：{type(error).__name__}") from None
    finally:
        book.close()


class _Reader:
    """One XLSForm read into a definition: the notes say what was read differently."""

    def __init__(self, sheets: dict[str, _Sheet], notes: list[str]) -> None:
        self.sheets = sheets
        self.notes = notes
        settings = sheets["settings"].rows if "settings" in sheets else []
        self.settings = settings[0][1] if settings else {}
        default = self.settings.get("default_language", "")
        self.default = _language(default) if default else "zh_Hans"
        if self.default is None:
            raise DefinitionError(
                f"settings 表：default_language「{default}」不是简体中文、繁体中文或英文"
            )
        self.ignored_languages: set[str] = set()
        self.lists = self._choices()
        # XLSForm name -> (our key, our type, allowed values in order) of the questions so
        # far that a condition may test; a matrix's rows under their own names
        self.sources: dict[str, tuple[str, str, list[str]]] = {}
        self.questions: list[dict[str, Any]] = []

    # -- labels and lists

    def labels(self, row: dict[str, str], column: str = "label") -> dict[str, str]:
        labels: dict[str, str] = {}
        for name, value in row.items():
            if not value or not name.startswith(f"{column}::"):
                continue
            lang = _language(name.partition("::")[2])
            if lang is None:
                self.ignored_languages.add(name.partition("::")[2])
            elif lang not in labels:
                labels[lang] = value
        if row.get(column) and self.default not in labels:
            labels[str(self.default)] = row[column]
        return labels

    def _choices(self) -> dict[str, list[tuple[int, str, dict[str, str]]]]:
        lists: dict[str, list[tuple[int, str, dict[str, str]]]] = {}
        if "choices" not in self.sheets:
            return lists
        sheet = self.sheets["choices"]
        for number, row in sheet.rows:
            list_name = row.get("list_name", "")
            if not list_name:
                raise DefinitionError(f"{sheet.where(number)}：缺少 list_name")
            lists.setdefault(list_name, []).append((number, row.get("name", ""), self.labels(row)))
        return lists

    def options(self, list_name: str, where: str) -> list[dict[str, Any]]:
        if list_name not in self.lists:
            raise DefinitionError(f"{where}：choices 表里没有选项列表「{list_name}」")
        options = []
        for number, name, labels in self.lists[list_name]:
            if not _NAME.fullmatch(name):
                raise DefinitionError(
                    f"choices 表第 {number} 行：选项名「{name}」须为小写英文字母开头的字母、"
                    "数字或下划线（最多 40 个），例如 o1；本系统不自动改名"
                )
            options.append({"key": name, "label": labels})
        return options

    # -- the survey sheet

    def survey(self) -> list[dict[str, Any]]:
        if "survey" not in self.sheets:
            raise DefinitionError("不是 XLSForm：工作簿里没有 survey 表")
        sheet = self.sheets["survey"]
        self.rows(sheet, sheet.rows)
        if self.ignored_languages:
            self.notes.append(
                "只导入了简体中文、繁体中文和英文；这些语言的文字没有导入："
                + "、".join(sorted(self.ignored_languages))
            )
        return self.questions

    def rows(self, sheet: _Sheet, rows: list[tuple[int, dict[str, str]]]) -> None:
        """Rows one after another, a group (begin_group to its end_group) at a time."""
        index = 0
        while index < len(rows):
            number, row = rows[index]
            kind = _type_words(row.get("type", ""))[0]
            if kind in ("begin_group", "begin group"):
                end = _group_end(sheet, rows, index)
                self.group(sheet, rows[index : end + 1])
                index = end + 1
                continue
            if kind in ("end_group", "end group"):
                raise DefinitionError(f"{sheet.where(number)}：end_group 前面没有 begin_group")
            self.question(sheet, number, row)
            index += 1

    def question(self, sheet: _Sheet, number: int, row: dict[str, str]) -> None:
        where = sheet.where(number)
        words = _type_words(row.get("type", ""))
        base = words[0]
        if not base:
            raise DefinitionError(f"{where}：缺少题型（type）")
        if base in METADATA_TYPES and len(words) == 1:
            self.notes.append(f"{where}：{base} 是表单自己记录的信息，不是题目，没有导入")
            return
        if base in ("begin_repeat", "begin repeat", "end_repeat", "end repeat"):
            raise DefinitionError(f"{where}：不支持的题型 {base}（重复组）")
        name = row.get("name", "")
        if not _NAME.fullmatch(name):
            raise DefinitionError(
                f"{where}：题目名「{name}」须为小写英文字母开头的字母、数字或下划线"
                "（最多 40 个）；本系统不自动改名，请在表里改好"
            )
        question: dict[str, Any] = {
            "key": name,
            "label": self.labels(row),
            "required": _flag(row.get("required", ""), where),
        }
        constraint = row.get("constraint", "")
        if base == "range" and len(words) == 1:
            start, end = _range(row.get("parameters", ""), where)
            question["type"] = "rating" if (start, end) == (1, 5) else "nps"
            self._no_constraint(constraint, where)
        elif base in ("select_one", "select_multiple") and len(words) == 2:
            if base == "select_one" and words[1] == DEPARTMENT_LIST:
                question["type"] = "department"
            else:
                question["type"] = "single" if base == "select_one" else "multiple"
                question["options"] = self.options(words[1], where)
            self._no_constraint(constraint, where)
        elif base in ("integer", "decimal") and len(words) == 1:
            question["type"] = "number"
            question["min"], question["max"] = _bounds(constraint, where)
            if base == "decimal":
                self.notes.append(f"{where}：decimal 导入为数字题，只收整数")
        elif base == "text" and len(words) == 1:
            question["type"] = "text"
            if constraint:
                question["max_length"] = _length(constraint, where)
        elif base == "date" and len(words) == 1 and "date" in definitions.QUESTION_TYPES:
            question["type"] = "date"
            if constraint and not _NOT_AFTER_TODAY.fullmatch(constraint):
                raise DefinitionError(f"{where}：日期题只支持 constraint「. <= today()」")
        elif base == "note" and len(words) == 1:
            question["type"] = "note"
            question["required"] = False
            self._no_constraint(constraint, where)
        else:
            raise DefinitionError(f"{where}：不支持的题型 {' '.join(words)}")
        self.add(question, row.get("relevant", ""), where, name)

    def _no_constraint(self, constraint: str, where: str) -> None:
        if constraint:
            raise DefinitionError(
                f"{where}：这种题不支持 constraint「{constraint}」（只支持数字题的"
                " . >= 下限 and . <= 上限，文字题的 string-length(.) <= 字数）"
            )

    def add(self, question: dict[str, Any], relevant: str, where: str, name: str) -> None:
        if relevant:
            question["show_if"] = self.condition(relevant, where)
        self.questions.append(question)
        kind = question["type"]
        if kind in definitions.SCALES:
            low = 0 if kind == "nps" else 1
            values = [str(n) for n in range(low, definitions.SCALES[kind] + 1)]
            self.sources[name] = (question["key"], kind, values)
        elif kind in ("single", "multiple"):
            self.sources[name] = (question["key"], kind, [o["key"] for o in question["options"]])

    def group(self, sheet: _Sheet, rows: list[tuple[int, dict[str, str]]]) -> None:
        """A group: a matrix when it is one (field-list, every row a 1–5 rating named
        <group>_<item>), else its questions one after another."""
        number, head = rows[0]
        where = sheet.where(number)
        inner = rows[1:-1]
        if self._matrix_rows(head, inner):
            self.matrix(sheet, head, inner, where)
            return
        if head.get("relevant"):
            raise DefinitionError(f"{where}：不支持整组的显示条件（relevant），请写在组里每道题上")
        self.notes.append(f"{where}：分组「{head.get('name', '')}」的题目逐题导入，组名没有导入")
        self.rows(sheet, inner)

    def _matrix_rows(self, head: dict[str, str], inner: list[tuple[int, dict[str, str]]]) -> bool:
        name = head.get("name", "")
        if "field-list" not in head.get("appearance", "").split() or len(inner) < 2:
            return False
        for _, row in inner:
            words = _type_words(row.get("type", ""))
            if not row.get("name", "").startswith(f"{name}_") or row.get("relevant"):
                return False
            if words[0] == "range" and len(words) == 1:
                if _range_of(row.get("parameters", "")) != (1, 5, 1):
                    return False
            elif words[0] == "select_one" and len(words) == 2:
                if [n for _, n, _ in self.lists.get(words[1], [])] != ["1", "2", "3", "4", "5"]:
                    return False
            else:
                return False
        return True

    def matrix(
        self,
        sheet: _Sheet,
        head: dict[str, str],
        inner: list[tuple[int, dict[str, str]]],
        where: str,
    ) -> None:
        if "matrix" not in definitions.QUESTION_TYPES:
            raise DefinitionError(f"{where}：不支持的题型 matrix（矩阵题）")
        name = head.get("name", "")
        if not _NAME.fullmatch(name):
            raise DefinitionError(
                f"{where}：矩阵题名「{name}」须为小写英文字母开头的字母、数字或下划线"
                "（最多 40 个）；本系统不自动改名，请在表里改好"
            )
        items, scale = [], None
        for number, row in inner:
            item = row["name"][len(name) + 1 :]
            if not _NAME.fullmatch(item):
                raise DefinitionError(
                    f"{sheet.where(number)}：矩阵的一项「{row['name']}」应命名为"
                    f" {name}_<项目名>，项目名须为小写英文字母开头"
                )
            words = _type_words(row["type"])
            if words[0] == "select_one" and scale is None:
                scale = [labels for _, _, labels in self.lists[words[1]]]
            items.append({"key": item, "label": self.labels(row)})
        question: dict[str, Any] = {
            "key": name,
            "type": "matrix",
            "label": self.labels(head),
            "required": all(_flag(row.get("required", ""), where) for _, row in inner),
            "items": items,
        }
        if scale is not None:
            question["scale"] = scale
        self.add(question, head.get("relevant", ""), where, name)
        for _, row in inner:
            item = row["name"][len(name) + 1 :]
            self.sources[row["name"]] = (f"{name}.{item}", "rating", ["1", "2", "3", "4", "5"])

    # -- relevant

    def condition(self, relevant: str, where: str) -> dict[str, Any]:
        refused = DefinitionError(
            f"{where}：不支持的显示条件（relevant）「{relevant}」；只支持依据前面一道评分、"
            "推荐或选择题的 ${题} = '值' or …、selected(${题}, '值') or …，"
            "或评分的 ${题} <= 2 这类比较"
        )
        source: str | None = None
        chosen: set[str] = set()
        for term in re.split(r"\s+or\s+", _unwrap(relevant)):
            term = _unwrap(term)
            compared, selected = _COMPARISON.fullmatch(term), _SELECTED.fullmatch(term)
            found = compared or selected
            if found is None or (source is not None and found.group(1) != source):
                raise refused
            source = found.group(1)
            if source not in self.sources:
                raise DefinitionError(
                    f"{where}：显示条件依据的「{source}」不是前面的评分、推荐或选择题"
                )
            _, kind, values = self.sources[source]
            if selected is not None:
                if kind in definitions.SCALES:
                    raise refused
                chosen.add(_literal(selected, 2))
                continue
            assert compared is not None
            operator, value = compared.group(2), _literal(compared, 3)
            if kind == "multiple":
                raise refused  # `=` on a multiple choice means "only this": use selected()
            if operator != "=" and kind not in definitions.SCALES:
                raise refused
            chosen.update(
                _matching(values, operator, value) if kind in definitions.SCALES else [value]
            )
        assert source is not None
        key, _, values = self.sources[source]
        unknown = sorted(chosen - set(values))
        if unknown:
            raise DefinitionError(
                f"{where}：显示条件里的取值 {', '.join(unknown)} 不是「{source}」的答案"
            )
        if not chosen:
            raise DefinitionError(f"{where}：显示条件「{relevant}」没有哪个答案能满足")
        return {"key": key, "values": [v for v in values if v in chosen]}

    # -- settings

    def head(self) -> dict[str, Any]:
        form_id = self.settings.get("form_id", "")
        if not form_id:
            raise DefinitionError("settings 表：缺少 form_id（用作问卷的网址名）")
        if not _SLUG.fullmatch(form_id):
            hint = f"，例如 {form_id.lower().replace('_', '-')}" if "_" in form_id else ""
            raise DefinitionError(
                f"settings 表：form_id「{form_id}」用作问卷的网址名，只能用小写英文字母、数字和"
                f"连字符（-），不能用下划线或空格，最多 40 个{hint}；本系统不自动改名"
            )
        title = self.settings.get("form_title", "")
        if not title:
            title = form_id
            self.notes.append("settings 表没有 form_title：问卷标题暂用 form_id，请在编辑页改好")
        labels = {str(self.default): title}
        if self.default != "zh_Hans":
            labels["zh_Hans"] = title
            self.notes.append(
                "XLSForm 的标题（form_title）只有一种语言：已同时用作简体中文标题，请在编辑页改好"
            )
        return {"slug": form_id, "title": labels}


def _type_words(text: str) -> list[str]:
    words = text.split()
    if len(words) >= 2 and words[0].lower() == "select" and words[1].lower() in ("one", "multiple"):
        words = [f"select_{words[1].lower()}", *words[2:]]
    if not words:
        return [""]
    return [words[0].lower(), *words[1:]]


def _group_end(sheet: _Sheet, rows: list[tuple[int, dict[str, str]]], start: int) -> int:
    depth = 0
    for index in range(start, len(rows)):
        kind = _type_words(rows[index][1].get("type", ""))[0]
        if kind in ("begin_group", "begin group"):
            depth += 1
        elif kind in ("end_group", "end group"):
            depth -= 1
            if depth == 0:
                return index
    raise DefinitionError(f"{sheet.where(rows[start][0])}：begin_group 没有对应的 end_group")


def _flag(value: str, where: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DefinitionError(f"{where}：required 只支持 yes 或 no，不支持「{value}」")


def _range_of(parameters: str) -> tuple[float, float, float] | None:
    found = {"start": 1.0, "end": 10.0, "step": 1.0}  # XLSForm's defaults
    for part in re.split(r"[\s;,]+", parameters.strip()):
        if not part:
            continue
        name, _, value = part.partition("=")
        if name.strip().lower() not in found:
            return None
        try:
            found[name.strip().lower()] = float(value)
        except ValueError:
            return None
    return found["start"], found["end"], found["step"]


def _range(parameters: str, where: str) -> tuple[int, int]:
    found = _range_of(parameters)
    if found == (1, 5, 1):
        return 1, 5
    if found == (0, 10, 1):
        return 0, 10
    raise DefinitionError(
        f"{where}：range 只支持 1 到 5（满意度评分，parameters 为 {RATING_RANGE}）"
        f"或 0 到 10（推荐意愿，{NPS_RANGE}），不支持「{parameters or '默认的 1 到 10'}」"
    )


def _bounds(constraint: str, where: str) -> tuple[int, int]:
    """A number question's min and max from `. >= 0 and . <= 120` (> and < too)."""
    low: int | None = None
    high: int | None = None
    refused = DefinitionError(
        f"{where}：数字题只支持「. >= 下限 and . <= 上限」这样的整数范围，不支持「{constraint}」"
    )
    for term in re.split(r"\s+and\s+", _unwrap(constraint)) if constraint else []:
        found = _BOUND.fullmatch(_unwrap(term))
        if found is None:
            raise refused
        if found.group(1):
            operator, number = found.group(1), found.group(2)
        else:  # `0 <= .`, the bound on the left
            operator, number = {"<=": ">=", "<": ">"}[found.group(4)], found.group(3)
        value = float(number)
        if not value.is_integer():
            raise refused
        bound = int(value)
        if operator in (">=", ">"):
            if low is not None:
                raise refused
            low = bound + (operator == ">")
        else:
            if high is not None:
                raise refused
            high = bound - (operator == "<")
    if low is None:
        low = 0 if high is None or high > 0 else -definitions.NUMBER_LIMIT
    if high is None:
        high = 999 if low < 999 else definitions.NUMBER_LIMIT
    return low, high


def _length(constraint: str, where: str) -> int:
    found = _LENGTH.fullmatch(_unwrap(constraint))
    if found is None:
        raise DefinitionError(
            f"{where}：文字题只支持「string-length(.) <= 字数」，不支持「{constraint}」"
        )
    return int(found.group(2)) - (found.group(1) == "<")


def _unwrap(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _literal(found: re.Match[str], first: int) -> str:
    quoted = found.group(first) if found.group(first) is not None else found.group(first + 1)
    if quoted is not None:
        return quoted.strip()
    return str(int(float(found.group(first + 2))))


def _matching(values: list[str], operator: str, value: str) -> list[str]:
    """The scale's values that `<value> <operator> value` holds for (`=` one value)."""
    try:
        number = int(value)
    except ValueError:
        return [value]  # not a number: reported as not an answer of that question
    tests = {
        "=": lambda v: v == number,
        "!=": lambda v: v != number,
        "<": lambda v: v < number,
        "<=": lambda v: v <= number,
        ">": lambda v: v > number,
        ">=": lambda v: v >= number,
    }
    if operator == "=":
        return [value]
    return [v for v in values if tests[operator](int(v))]


def definition_from_xlsform(data: bytes, notes: list[str] | None = None) -> dict[str, Any]:
    """A definition from an XLSForm workbook, checked; DefinitionError names the sheet and row
    of what cannot be imported. `notes` (when given) gets what was read differently from the
    sheet (a decimal taken as a whole number, metadata rows left out…), for the person."""
    notes = notes if notes is not None else []
    reader = _Reader(_workbook_sheets(data), notes)
    head = reader.head()
    questions = reader.survey()
    return definitions.parse({**head, "questions": questions})


# ---- writing ------------------------------------------------------------------------------


def xlsform_from_definition(
    definition: dict[str, Any], departments: Iterable[dict[str, Any]] = ()
) -> bytes:
    """A definition as an XLSForm workbook; `departments` (the hospital's, as the organisation
    lists them) fill the department question's list."""
    languages = _languages_used(definition)
    survey: list[list[Any]] = []
    choices: list[list[Any]] = []
    names = _list_names(definition["questions"])
    by_key = {q["key"]: q for q in definitions.flat_questions(definition)}

    def label_cells(labels: dict[str, str]) -> list[str]:
        return [labels.get(lang, "") for lang in languages]

    def survey_row(kind: str, name: str, labels: dict[str, str], **columns: str) -> None:
        survey.append(
            [kind, name, *label_cells(labels), *(columns.get(c, "") for c in SURVEY_COLUMNS[2:])]
        )

    for question in definition["questions"]:
        kind, key = question["type"], question["key"]
        required = "yes" if question.get("required") else ""
        relevant = _relevant(question.get("show_if"), by_key)
        common = {"required": required, "relevant": relevant}
        if kind == "rating":
            survey_row("range", key, question["label"], parameters=RATING_RANGE, **common)
        elif kind == "nps":
            survey_row("range", key, question["label"], parameters=NPS_RANGE, **common)
        elif kind in ("single", "multiple"):
            select = "select_one" if kind == "single" else "select_multiple"
            survey_row(f"{select} {names[key]}", key, question["label"], **common)
            for option in question["options"]:
                choices.append([names[key], option["key"], *label_cells(option["label"])])
        elif kind == "department":
            survey_row(f"select_one {DEPARTMENT_LIST}", key, question["label"], **common)
            units = list(departments) or [{"code": "unknown", "name": "（导出时没有科室）"}]
            for unit in units:
                labels = {lang: unit_name(unit, lang) for lang in languages}
                choices.append([DEPARTMENT_LIST, unit["code"], *label_cells(labels)])
        elif kind == "number":
            bounds = f". >= {question['min']} and . <= {question['max']}"
            survey_row("integer", key, question["label"], constraint=bounds, **common)
        elif kind == "text":
            limit = question.get("max_length", definitions.TEXT_MAX)
            length = f"string-length(.) <= {limit}"
            survey_row("text", key, question["label"], constraint=length, **common)
        elif kind == "date":
            survey_row("date", key, question["label"], constraint=". <= today()", **common)
        elif kind == "note":
            survey_row("note", key, question["label"], relevant=relevant)
        elif kind == "matrix":
            scale = names[key]
            survey_row(
                "begin_group", key, question["label"], appearance="field-list", relevant=relevant
            )
            for item in question["items"]:
                survey_row(
                    f"select_one {scale}",
                    f"{key}_{item['key']}",
                    item["label"],
                    required=required,
                    appearance="likert",
                )
            survey_row("end_group", "", {})
            for level, labels in enumerate(question["scale"], 1):
                choices.append([scale, str(level), *label_cells(labels)])
        else:
            raise DefinitionError(f"题目「{key}」：题型 {kind} 没有对应的 XLSForm 题型")
    settings = [
        ["form_title", "form_id", "default_language"],
        [
            definitions.text_in(definition["title"], "zh_Hans"),
            definition["slug"],
            LANGUAGE_NAMES["zh_Hans"],
        ],
    ]
    book = Workbook()
    sheet = book.active
    sheet.title = "survey"
    label_columns = [f"label::{LANGUAGE_NAMES[lang]}" for lang in languages]
    for values in [["type", "name", *label_columns, *SURVEY_COLUMNS[2:]], *survey]:
        sheet.append(values)
    written = [sheet]
    if choices:
        sheet = book.create_sheet("choices")
        for values in [["list_name", "name", *label_columns], *choices]:
            sheet.append(values)
        written.append(sheet)
    sheet = book.create_sheet("settings")
    for values in settings:
        sheet.append(values)
    written.append(sheet)
    for sheet in written:
        fit_columns(sheet)
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _languages_used(definition: dict[str, Any]) -> list[str]:
    """The languages any text of the definition has, Simplified Chinese always first."""
    found = {"zh_Hans"}
    for question in definition["questions"]:
        for labels in [
            question["label"],
            *(o["label"] for o in question.get("options", [])),
            *(i["label"] for i in question.get("items", [])),
            *question.get("scale", []) * (question["type"] == "matrix"),
        ]:
            found.update(lang for lang, text in labels.items() if text)
    return [lang for lang in definitions.LANGUAGES if lang in found]


def _list_names(questions: list[dict[str, Any]]) -> dict[str, str]:
    """Each choice or matrix question's list in the choices sheet, none named `department`
    (that list is the hospital's departments) and no two alike."""
    taken = {DEPARTMENT_LIST}
    names = {}
    for question in questions:
        if question["type"] not in ("single", "multiple", "matrix"):
            continue
        wanted = question["key"] + ("_scale" if question["type"] == "matrix" else "")
        name, n = wanted, 1
        while name in taken:
            n += 1
            name = f"{wanted}_{n}"
        taken.add(name)
        names[question["key"]] = name
    return names


def _relevant(condition: dict[str, Any] | None, by_key: dict[str, dict[str, Any]]) -> str:
    """`show_if` as an XLSForm `relevant`: a matrix item "care.food" is the row care_food."""
    if not condition:
        return ""
    source = by_key.get(condition["key"], {})
    name = condition["key"].replace(".", "_")
    if source.get("type") == "multiple":
        return " or ".join(f"selected(${{{name}}}, '{value}')" for value in condition["values"])
    return " or ".join(f"${{{name}}} = '{value}'" for value in condition["values"])
