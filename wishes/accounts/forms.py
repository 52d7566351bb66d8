"""Staff forms: login, change password, and the admin's user forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from ..pageform import PageForm, clean_line
from .permissions import ROLE_LABELS
from .store import MAX_PASSWORD_LENGTH


class LoginForm(PageForm):
    username = StringField(
        _l("用户名"),
        filters=[clean_line],
        validators=[DataRequired(_l("请输入用户名")), Length(max=80)],
    )
    password = PasswordField(
        _l("密码"),
        validators=[DataRequired(_l("请输入密码")), Length(max=MAX_PASSWORD_LENGTH)],
    )


class ChangePasswordForm(PageForm):
    current = PasswordField(_l("当前密码"), validators=[DataRequired(_l("请输入当前密码"))])
    new = PasswordField(
        _l("新密码"),
        validators=[DataRequired(_l("请输入新密码")), Length(max=MAX_PASSWORD_LENGTH)],
    )
    confirm = PasswordField(
        _l("再输一次新密码"),
        validators=[
            DataRequired(_l("请再输一次新密码")),
            EqualTo("new", _l("两次输入的新密码不一样")),
        ],
    )


def _role_choices() -> list[tuple[str, str]]:
    return [(str(role), label) for role, label in ROLE_LABELS.items()]


class UserForm(PageForm):
    """Create a user (username shown) or edit one (username fixed)."""

    username = StringField(
        _l("用户名"),
        filters=[clean_line],
        validators=[DataRequired(_l("请输入用户名")), Length(max=40)],
    )
    display_name = StringField(
        _l("姓名（显示用）"), filters=[clean_line], validators=[Optional(), Length(max=40)]
    )
    role = SelectField(_l("角色"), choices=_role_choices, validators=[DataRequired()])
    branch = SelectField(_l("所属党支部"), choices=[], validate_choice=True)
    active = BooleanField(_l("在用"), default=True)

    def set_branches(self, branches: list[dict]) -> None:
        self.branch.choices = [("", "—（无）")] + [(b["code"], b["name"]) for b in branches]


class StaffImportForm(PageForm):
    file = FileField(
        _l("员工名单（.xlsx 或 .csv）"), validators=[FileRequired(_l("请选择员工名单文件"))]
    )


class ApiTokenForm(PageForm):
    """A personal access token for the JSON API (README, "API"): shown once when made."""

    name = StringField(
        _l("用途"),
        filters=[clean_line],
        validators=[DataRequired(_l("请写明这个令牌给哪个系统用")), Length(max=60)],
    )
    write = BooleanField(_l("允许认领、开始、完成、改派（write）；不勾选则只能读取（read）"))
    days = SelectField(
        _l("有效期"),
        choices=lambda: [("30", "30 天"), ("90", "90 天"), ("180", "180 天"), ("365", "365 天")],
        default="90",
    )
