"""The board's filter form (GET, no state change) and one form per move on a wish.

Each move's form names its move (`move`): the wish page shows the forms of WISH_FORMS, in
that order, that the visitor may use in the wish's state; the move's view (views.py) reads it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField
from wtforms import (
    BooleanField,
    DateField,
    Form,
    HiddenField,
    IntegerField,
    RadioField,
    SearchField,
    SelectField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import HiddenInput

from .. import needs
from ..glossary import STATES
from ..lifecycle import Action, ClaimantKind
from ..pageform import PageForm, clean_line, clean_text
from .store import SORTS

REASON_MAX = 300
NOTE_MAX = 500
PHOTO_MAX_BYTES = 5 * 1024 * 1024
PHOTO_TYPES = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png"}

SORT_LABELS = {
    "newest": "最新提交",
    "oldest": "最早提交",
    "updated": "最近变动",
    "confidence": "分派把握从低到高",
}
assert set(SORT_LABELS) == set(SORTS)


class BoardFilterForm(Form):
    """Query-string filters: bookmarkable, and changing them changes nothing stored."""

    q = SearchField(_l("搜索"), filters=[clean_line], validators=[Optional(), Length(max=100)])
    branch = SelectField(_l("党支部"), choices=[], validate_choice=False)
    state = SelectField(
        _l("状态"),
        choices=lambda: [("", "全部状态"), *((str(s), name) for s, name in STATES.items())],
        validate_choice=False,
    )
    overdue = BooleanField(_l("只看超时"))
    mine = BooleanField(_l("我认领的"))
    # A patient's low answer on the tracking page: the office's follow-up list (issue 19).
    unhappy = BooleanField(_l("患者不满意，待回访"))
    created_from = DateField(_l("提交日期从"), validators=[Optional()])
    created_to = DateField(_l("到"), validators=[Optional()])
    sort = SelectField(_l("排序"), choices=lambda: list(SORT_LABELS.items()), validate_choice=False)
    counted = HiddenField()  # from an assessment figure's link: the wishes it counts

    def set_branches(self, branches: list[dict]) -> None:
        self.branch.choices = [("all", "全部党支部")] + [(b["code"], b["name"]) for b in branches]


def _branch_choices(branches: list[dict], first: list[tuple[str, float]] | None = None):
    """Branches for a select, the router's suggestions first with their probability."""
    names = {b["code"]: b["name"] for b in branches}
    suggested = [
        (code, f"{names[code]}（推荐 {p:.0%}）") for code, p in (first or []) if code in names
    ]
    seen = {code for code, _ in suggested}
    return suggested + [(b["code"], b["name"]) for b in branches if b["code"] not in seen]


class ActionForm(PageForm):
    """A form with nothing to fill in (reveal the phone): the CSRF token only."""


class WishActionForm(PageForm):
    """The form of one move on a wish."""

    move: ClassVar[Action]

    def fit(self, wish: dict[str, Any], branches: list[dict], departments: list[dict]) -> None:
        """Fill in the choices that depend on the wish and the organisation."""


def _category_choices() -> list[tuple[str, str]]:
    return [("", "— 请选择 —")] + [(row["code"], row["name"]) for row in needs.categories()]


class CategoryForm(WishActionForm):
    """A move that sends the wish to a branch, with its category of need as the person sees
    it: the router's guess chosen in advance; what is sent is a lesson for the router
    (lifecycle.corrected_labels)."""

    category = SelectField(_l("需求类别"), choices=_category_choices)

    def fit_category(self, wish: dict[str, Any]) -> None:
        """Not sent (an older page), or not a category: the wish's own category, if any."""
        if self.category.data not in needs.codes():
            known = needs.category(wish.get("category"))
            self.category.data = known["code"] if known else ""


class TriageForm(CategoryForm):
    move = Action.TRIAGE
    branch = RadioField(_l("转交给"), validators=[DataRequired(_l("请选择一个党支部"))])

    def fit(self, wish, branches, departments) -> None:
        self.branch.choices = _branch_choices(branches, wish["placed_branches"])
        self.fit_category(wish)


class ClaimForm(WishActionForm):
    move = Action.CLAIM
    kind = RadioField(
        _l("以什么名义认领"),
        choices=lambda: [
            (str(ClaimantKind.BRANCH), "以本支部名义"),
            (str(ClaimantKind.DEPARTMENT), "以科室名义"),
            (str(ClaimantKind.PERSON), "以我个人名义（患者会看到我的名字）"),
        ],
        default=str(ClaimantKind.BRANCH),
        validators=[DataRequired(_l("请选择认领名义"))],
    )
    department = SelectField(_l("科室"), choices=[], validate_choice=False)

    def fit(self, wish, branches, departments) -> None:
        self.department.choices = [("", "— 请选择科室 —")] + [
            (d["code"], d["name"]) for d in departments
        ]

    def validate_department(self, field) -> None:
        known = {code for code, _ in field.choices if code}
        if self.kind.data == ClaimantKind.DEPARTMENT and field.data not in known:
            raise ValidationError("以科室名义认领时，请选择科室")


class StartForm(WishActionForm):
    move = Action.START


class ReasonForm(WishActionForm):
    """Hand back or decline: a reason is required (a decline's is read by the patient)."""

    reason = TextAreaField(
        _l("原因"),
        filters=[clean_text],
        validators=[DataRequired(_l("请写明原因")), Length(max=REASON_MAX)],
    )


class HandBackForm(ReasonForm):
    move = Action.HAND_BACK


class DeclineForm(ReasonForm):
    move = Action.DECLINE


class RerouteForm(CategoryForm, ReasonForm):
    move = Action.REROUTE
    branch = SelectField(_l("改派给"), choices=[], validators=[DataRequired(_l("请选择党支部"))])

    def fit(self, wish, branches, departments) -> None:
        self.branch.choices = [("", "— 请选择党支部 —")] + [
            choice
            for choice in _branch_choices(branches, wish["placed_branches"])
            if choice[0] != wish["branch_code"]
        ]
        self.fit_category(wish)


class FulfilForm(WishActionForm):
    move = Action.FULFIL

    note = TextAreaField(
        _l("做了什么（患者会看到）"),
        filters=[clean_text],
        validators=[DataRequired(_l("请写下为患者做了什么")), Length(max=NOTE_MAX)],
    )
    photo = FileField(
        _l("照片（可选，仅工作人员可见，JPG/PNG，5 MB 以内）"),
        validators=[FileAllowed(["jpg", "jpeg", "png"], _l("照片只能是 JPG 或 PNG"))],
    )

    def validate_photo(self, field) -> None:
        if not field.data:
            return
        head = field.data.stream.read(16)
        field.data.stream.seek(0, 2)
        size = field.data.stream.tell()
        field.data.stream.seek(0)
        if size > PHOTO_MAX_BYTES:
            raise ValidationError("照片不能超过 5 MB")
        if photo_type(head) is None:
            raise ValidationError("这个文件不是 JPG 或 PNG 图片")


def photo_type(head: bytes) -> str | None:
    """The image type from the file's first bytes (its name and claimed type may lie)."""
    for magic, kind in PHOTO_TYPES.items():
        if head.startswith(magic):
            return kind
    return None


class FollowUpForm(WishActionForm):
    move = Action.FOLLOW_UP

    confirmed = RadioField(
        _l("患者确认心愿已实现了吗"),
        choices=lambda: [("yes", "已确认"), ("no", "未确认 / 联系不上")],
        validators=[DataRequired(_l("请选择回访结果"))],
    )
    note = TextAreaField(
        _l("回访记录"), filters=[clean_text], validators=[Optional(), Length(max=NOTE_MAX)]
    )


# The wish page's forms, in the order a person works through a wish: the next step first,
# handing back, re-routing and declining after it.
WISH_FORMS: tuple[type[WishActionForm], ...] = (
    TriageForm,
    ClaimForm,
    StartForm,
    FulfilForm,
    FollowUpForm,
    HandBackForm,
    RerouteForm,
    DeclineForm,
)


# ---- beside the moves: assign, notes, merge ----------------------------------------------

INTERNAL_NOTE_MAX = 1000


class AssignForm(PageForm):
    """A secretary hands a claimed wish to a member of the branch."""

    user = SelectField(_l("指派给"), choices=[], coerce=int, validate_choice=True)

    def fit(self, members: list[tuple[int, str]]) -> None:
        self.user.choices = members


class NoteForm(PageForm):
    """An internal note: staff read it, patients never do."""

    text = TextAreaField(
        _l("内部备注（仅工作人员可见，患者看不到）"),
        filters=[clean_text],
        validators=[DataRequired(_l("请写下备注")), Length(max=INTERNAL_NOTE_MAX)],
    )


class MergeForm(PageForm):
    """Merge a similar wish (its id) into the wish whose page this is."""

    duplicate = IntegerField(
        widget=HiddenInput(), validators=[DataRequired(), NumberRange(min=1, max=2**63 - 1)]
    )
