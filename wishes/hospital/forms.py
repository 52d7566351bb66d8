"""The first run's forms (the settings page posts one value at a time and is checked by the
setting's own declaration, `hospital.Editable`)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..pageform import PageForm, clean_line


class CodeForm(PageForm):
    code = StringField(
        _l("设置码"),
        filters=[clean_line],
        validators=[DataRequired(_l("请输入服务器控制台上显示的设置码")), Length(max=40)],
    )


class HospitalForm(PageForm):
    name = StringField(
        _l("医院名称（简体中文）"),
        filters=[clean_line],
        validators=[DataRequired(_l("请填写医院名称")), Length(max=80)],
    )
    name_hant = StringField(_l("医院名称（繁体中文）"), filters=[clean_line])
    name_en = StringField(_l("医院名称（英文）"), filters=[clean_line])
    public_url = StringField(_l("公网地址"), filters=[clean_line])


class WorkbookForm(PageForm):
    workbook = FileField(_l("组织架构工作簿（XLSX 或 JSON）"))


class AccountsForm(PageForm):
    admin_username = StringField(
        _l("管理员用户名"),
        filters=[clean_line],
        default="admin",
        validators=[DataRequired(_l("请填写用户名")), Length(max=80)],
    )
    admin_password = PasswordField(
        _l("管理员密码"), validators=[DataRequired(_l("请设置密码")), Length(max=200)]
    )
    admin_confirm = PasswordField(
        _l("再输一次管理员密码"),
        validators=[EqualTo("admin_password", _l("两次输入的密码不一样"))],
    )
    office_username = StringField(
        _l("党建办账号用户名"),
        filters=[clean_line],
        default="office",
        validators=[DataRequired(_l("请填写用户名")), Length(max=80)],
    )
    office_name = StringField(
        _l("党建办账号姓名"),
        filters=[clean_line],
        validators=[DataRequired(_l("请填写姓名")), Length(max=80)],
    )
    office_password = PasswordField(
        _l("党建办账号密码"), validators=[DataRequired(_l("请设置密码")), Length(max=200)]
    )
    office_confirm = PasswordField(
        _l("再输一次党建办账号密码"),
        validators=[EqualTo("office_password", _l("两次输入的密码不一样"))],
    )
