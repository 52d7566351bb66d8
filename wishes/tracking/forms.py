"""The tracking page's one question once a wish is fulfilled: was it fulfilled as you hoped?"""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length, Optional, Regexp

from ..glossary import RATING_WORDS
from ..pageform import PageForm, clean_text

COMMENT_MAX = 500  # as a questionnaire's comment
SCALE = [str(n) for n in RATING_WORDS]
PICK = _l("请在 1 到 5 中选择一项")


class RatingForm(PageForm):
    # Checked against the five answers by AnyOf, in words the patient understands (a choice
    # check of WTForms' own would say "Not a valid choice" of a tampered "9").
    rating = RadioField(
        _l("心愿的实现符合您的期望吗？"),
        choices=lambda: [(value, RATING_WORDS[int(value)]) for value in SCALE],
        validate_choice=False,
        validators=[InputRequired(PICK), AnyOf(SCALE, message=PICK)],
    )
    comment = TextAreaField(
        _l("还想告诉我们什么？（可不填）"),
        filters=[clean_text],
        validators=[Optional(), Length(max=COMMENT_MAX, message=_l("请不超过 %(max)d 个字"))],
    )
    # The page's own id: the same page sent twice stores one answer, and says thank you.
    submission_id = HiddenField(_l("页面编号"), validators=[Regexp(r"^[0-9a-f]{32}$")])

    def fresh(self) -> RatingForm:
        if not self.submission_id.data:
            self.submission_id.data = secrets.token_hex(16)
        return self
