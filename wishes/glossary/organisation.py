"""What the Party-building office reads when an organisation change or a workbook is refused.

The store and the workbook raise or return codes with values (`OrganisationError`, `Problem`);
the words are here, keyed by code, for the staff pages (Chinese only) and the commands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The kinds of unit, as staff call them.
KINDS = {"general_branch": "总支", "branch": "支部", "department": "科室或病区"}
DEPARTMENT_KINDS = {"department": "科室", "ward": "病区"}

# What keeps a unit in use: it cannot be deactivated or left out of a workbook while any is left.
USES = {
    "open_wishes": "{n} 个未办结的心愿",
    "members": "{n} 名在用的账号",
    "open_rounds": "{n} 个未发布的考评轮次",
    "routing": "分派表中的 {n} 行",
    "active_branches": "{n} 个在用的支部",
}

CODE_RULE = "代码只能用小写英文字母、数字和连字符“-”，以字母或数字开头，最多 {limit} 个字符"

# code -> message; `{value}` is the value at fault, the other fields come with the code.
WORDS = {
    # reading the file
    "unreadable": "无法读取：{reason}",
    "missing_sheet": "缺少这张表（列：{columns}）",
    "missing_column": "缺少列“{column}”",
    # one value
    "code_required": "代码不能为空",
    "code_malformed": "代码“{value}”格式不对：" + CODE_RULE,
    "code_duplicate": "代码“{value}”重复（第 {first_row} 行已有）",
    "code_taken": "代码“{value}”已被使用",
    "name_required": "名称不能为空",
    "too_long": "“{value}”太长：最多 {limit} 个字符",
    "unknown_kind": "类型“{value}”不对：只能填 department（科室）或 ward（病区）",
    "category_required": "类别不能为空",
    "unknown_category": (
        "需求类别“{value}”不存在：只能填需求类别表中的代码（见组织架构的“分派规则”页）"
    ),
    # references between units
    "unknown_general_branch": "总支“{value}”不存在（不在 general_branches 表中，或已停用）",
    "unknown_branch": "支部“{value}”不存在（不在 branches 表中，或已停用）",
    "unknown_department": "科室或病区“{value}”不存在（不在 departments 表中，或已停用）",
    "unknown_unit": "找不到{kind}“{value}”",
    "row_duplicate": "与第 {first_row} 行重复",
    "still_referred": "{kind}“{value}”（{name}）仍在使用，不能停用或从工作簿中删去：{uses}",
    "inactive": "{kind}“{value}”已停用",
    "not_all_units": "排序须列出同一类的单位，其中“{value}”不是",
    "plan_changed": "预览之后组织已被修改：请重新上传并核对预览",
    # merging
    "merge_into_itself": "不能把支部“{value}”合并到它自己",
    "already_merged": "支部“{value}”已合并到“{into}”",
}

# What an import or a page would change, for the preview.
ACTIONS = {
    "add": "新增",
    "rename": "改名",
    "move": "改属总支",
    "change": "修改",
    "reorder": "调整顺序",
    "deactivate": "停用",
    "reactivate": "恢复启用",
    "serve": "新增服务科室",
    "unserve": "取消服务科室",
    "routing": "更新分派表",
}

FIELDS = {
    "code": "代码",
    "name": "名称",
    "name_en": "英文名称",
    "name_hant": "繁体名称",
    "general_branch": "所属总支",
    "scope": "职责范围",
    "kind": "类型",
    "campus": "院区",
    "branch": "支部",
    "department": "科室或病区",
    "category": "类别",
}


def message(code: str, values: Mapping[str, Any]) -> str:
    """The sentence for a code and its values (a missing value prints as empty)."""
    values = dict(values)
    if "kind" in values:
        values["kind"] = KINDS.get(values["kind"], values["kind"])
    if isinstance(values.get("uses"), Mapping):
        values["uses"] = "、".join(
            USES[use].format(n=n) for use, n in values["uses"].items() if use in USES
        )
    return WORDS.get(code, code).format_map(_Blank(values))


def where(sheet: str, row: int | None, column: str | None) -> str:
    """`branches 表第 3 行 general_branch 列` — where the office finds the cell in Excel."""
    place = f"{sheet} 表"
    if row is not None:
        place += f"第 {row} 行"
    if column:
        place += f" {column} 列"
    return place


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""
