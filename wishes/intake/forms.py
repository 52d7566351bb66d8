"""The wish collection form (微心愿收集表): one form, two presentations (kiosk, phone)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..i18n import unit_name
from ..pageform import PageForm, clean_line, clean_text

WISH_MIN, WISH_MAX = 2, 500
REASON_MAX = 300
LOCATION_MAX = 60
NAME_MAX = 40

_MOBILE = re.compile(r"1[3-9]\d{9}")


def normalise_phone(value: str) -> str:
    """Keep the digits of a typed mobile number, without a +86 / 0086 country prefix."""
    digits = re.sub(r"[\s\-()（）]", "", value)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
    return digits


class WishForm(PageForm):
    text = TextAreaField(
        _l("您的微心愿"),
        filters=[clean_text],
        validators=[
            DataRequired(message=_l("请写下您的心愿")),
            Length(
                min=WISH_MIN,
                max=WISH_MAX,
                message=_l("心愿请写 %(min)d 到 %(max)d 个字，现在是 %(length)d 个字"),
            ),
        ],
    )
    reason = TextAreaField(
        _l("缘由（选填）"),
        filters=[clean_text],
        validators=[
            Optional(),
            Length(max=REASON_MAX, message=_l("缘由请不超过 %(max)d 个字")),
        ],
    )
    department = SelectField(_l("所在科室或病区（选填）"), validate_choice=False)
    location = StringField(
        _l("病房、床号或位置（选填）"),
        filters=[clean_line],
        validators=[
            Optional(),
            Length(max=LOCATION_MAX, message=_l("位置请不超过 %(max)d 个字")),
        ],
    )
    patient_name = StringField(
        _l("称呼（选填，可匿名）"),
        filters=[clean_line],
        validators=[
            Optional(),
            Length(max=NAME_MAX, message=_l("称呼请不超过 %(max)d 个字")),
        ],
    )
    phone = StringField(_l("手机号（选填）"), filters=[clean_line])
    contact_consent = BooleanField(_l("我同意医院通过此号码联系我，包括短信告知心愿进度"))

    def set_departments(self, departments: list[dict]) -> None:
        self.department.choices = [("", _l("请选择（可不选）"))] + [
            (d["code"], unit_name(d)) for d in departments
        ]

    def validate_department(self, field: SelectField) -> None:
        codes = {code for code, _label in field.choices or []}
        if field.data not in codes:
            raise ValidationError(_l("请从列表中选择科室或病区"))

    def validate_phone(self, field: StringField) -> None:
        if not field.data:
            return
        if not _MOBILE.fullmatch(normalise_phone(field.data)):
            raise ValidationError(_l("请填写 11 位手机号，例如 13812341234"))

    def validate_contact_consent(self, field: BooleanField) -> None:
        if self.phone.data and not field.data:
            raise ValidationError(_l("留了手机号，请勾选同意联系，或者把手机号删掉"))
