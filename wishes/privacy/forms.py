"""The personal-data page's forms: the lookup (posted, so that a phone number never lands in an
address or an access log) and the erasure (its CSRF token only)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ..pageform import PageForm, clean_line


class LookupForm(PageForm):
    typed = StringField(
        _l("查询码或手机号"),
        filters=[clean_line],
        validators=[DataRequired(_l("请填写查询码或手机号")), Length(max=40)],
    )


class EraseForm(PageForm):
    """Erase one wish's personal data: nothing to fill in."""
