"""The forms of the organisation pages: adding, renaming and arranging units, merging
branches, and the workbook's upload and confirmation."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..glossary import organisation as words
from ..pageform import PageForm, clean_line, clean_text
from .store import CAMPUS_LIMIT, CODE_LIMIT, NAME_LIMIT, SCOPE_LIMIT


def _kind_choices() -> list[tuple[str, str]]:
    return list(words.DEPARTMENT_KINDS.items())


class _Names(PageForm):
    name = StringField(
        _l("名称"),
        filters=[clean_line],
        validators=[DataRequired(_l("请填写名称")), Length(max=NAME_LIMIT)],
    )
    name_en = StringField(
        _l("英文名称"), filters=[clean_line], validators=[Optional(), Length(max=NAME_LIMIT)]
    )
    name_hant = StringField(
        _l("繁体名称"), filters=[clean_line], validators=[Optional(), Length(max=NAME_LIMIT)]
    )


class _NewUnit(_Names):
    code = StringField(
        _l("代码"),
        filters=[clean_line],
        validators=[DataRequired(_l("请填写代码")), Length(max=CODE_LIMIT)],
    )


class GeneralBranchForm(_NewUnit):
    pass


class BranchForm(_NewUnit):
    general_branch = SelectField(_l("所属总支"), choices=[], validators=[DataRequired()])
    scope = TextAreaField(
        _l("职责范围"), filters=[clean_text], validators=[Optional(), Length(max=SCOPE_LIMIT)]
    )


class DepartmentForm(_NewUnit):
    kind = SelectField(_l("类型"), choices=_kind_choices, validators=[DataRequired()])
    campus = StringField(
        _l("院区"), filters=[clean_line], validators=[Optional(), Length(max=CAMPUS_LIMIT)]
    )


ADD_FORMS = {
    "general_branch": GeneralBranchForm,
    "branch": BranchForm,
    "department": DepartmentForm,
}


class RenameForm(_Names):
    pass


class BranchPlaceForm(PageForm):
    general_branch = SelectField(_l("所属总支"), choices=[], validators=[DataRequired()])
    scope = TextAreaField(
        _l("职责范围"), filters=[clean_text], validators=[Optional(), Length(max=SCOPE_LIMIT)]
    )
    # The branch's own webhook (its WeChat group robot, say): the inbox items its people chose
    # to have there (wishes/inbox) go to it.
    webhook_url = StringField(
        _l("支部 Webhook 地址（可选，如企业微信群机器人）"),
        filters=[clean_line],
        validators=[Optional(), Length(max=500)],
    )

    def validate_webhook_url(self, field) -> None:
        if field.data and urlsplit(field.data).scheme not in ("http", "https"):
            raise ValidationError("地址须以 http:// 或 https:// 开头")


class DepartmentPlaceForm(PageForm):
    kind = SelectField(_l("类型"), choices=_kind_choices, validators=[DataRequired()])
    campus = StringField(
        _l("院区"), filters=[clean_line], validators=[Optional(), Length(max=CAMPUS_LIMIT)]
    )


class ServesForm(PageForm):
    departments = SelectMultipleField(
        _l("服务的科室和病区"),
        choices=[],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


class ShiftForm(PageForm):
    direction = SelectField(choices=lambda: [("up", _l("上移")), ("down", _l("下移"))])


class ActionForm(PageForm):
    """A button that only needs its CSRF token (deactivate, reactivate)."""


class MergeForm(PageForm):
    source = SelectField(_l("合并哪个支部"), choices=[], validators=[DataRequired()])
    target = SelectField(_l("并入哪个支部"), choices=[], validators=[DataRequired()])


class UploadForm(PageForm):
    file = FileField(
        _l("组织架构工作簿（.xlsx 或 .json）"), validators=[FileRequired(_l("请选择文件"))]
    )


class ConfirmForm(PageForm):
    upload = HiddenField(validators=[DataRequired()])
    fingerprint = HiddenField(validators=[DataRequired()])
