"""Forms of the assessment pages: a new round, a score, a stage change, evidence, the rubric."""

from __future__ import annotations

from pathlib import Path

from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, DecimalField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..pageform import PageForm, clean_line, clean_text

NOTE_MAX = 1000
ATTACHMENT_MAX_BYTES = 5 * 1024 * 1024
# What evidence may be: scans and photos, PDF, Word and Excel files. The first bytes decide,
# not the name; Word and Excel files are zip archives, so their name must say which.
ATTACHMENT_TYPES = {
    b"%PDF-": ("pdf", "application/pdf"),
    b"\x89PNG\r\n\x1a\n": ("png", "image/png"),
    b"\xff\xd8\xff": ("jpg", "image/jpeg"),
}
OFFICE_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def attachment_type(filename: str, head: bytes) -> tuple[str, str] | None:
    """(extension, content type) of an acceptable file, from its first bytes; else None."""
    for magic, kind in ATTACHMENT_TYPES.items():
        if head.startswith(magic):
            return kind
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if head.startswith(b"PK\x03\x04") and extension in OFFICE_TYPES:
        return extension, OFFICE_TYPES[extension]
    return None


def safe_filename(typed: str, extension: str) -> str:
    """The name an evidence file is shown and downloaded under: what was typed, without
    folders, control, bidi or zero-width characters (a U+202E before "fdp.hta" showed it as
    …ath.pdf), and with the extension its content proves in place of whatever it claimed
    (meeting.pdf.bat → meeting.pdf)."""
    name = Path(clean_line(typed).replace("\\", "/")).name
    base, dot, _claimed = name.rpartition(".")
    base = base if dot else name
    while base.lower().endswith(f".{extension}"):
        base = base[: -len(extension) - 1]
    base = base.strip(" .") or "file"
    return f"{base[:110]}.{extension}"


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RoundForm(PageForm):
    name = StringField(
        "名称",
        filters=[clean_line],
        validators=[DataRequired("请填写名称，例如“2026 年度”"), Length(max=40)],
    )
    first_day = DateField("考评期间从", validators=[InputRequired("请填写开始日期")])
    last_day = DateField("到", validators=[InputRequired("请填写结束日期")])
    branches = MultiCheckboxField(
        "参加考评的党支部", choices=[], validators=[DataRequired("请至少选择一个党支部")]
    )

    def validate_last_day(self, field) -> None:
        if self.first_day.data and field.data and field.data < self.first_day.data:
            raise ValidationError("结束日期不能早于开始日期")


class _Points(DecimalField):
    """Points with at most one decimal; the range is checked against the item's maximum."""

    def __init__(self, label: str, **kwargs):
        super().__init__(label, places=1, validators=[InputRequired("请填写得分")], **kwargs)


class SelfScoreForm(PageForm):
    points = _Points("自评分")
    note = TextAreaField(
        "佐证说明", filters=[clean_text], validators=[Optional(), Length(max=NOTE_MAX)]
    )


class InspectForm(PageForm):
    points = _Points("考评组评分")
    reason = TextAreaField(
        "改分理由（与自评分不同时必填）",
        filters=[clean_text],
        validators=[Optional(), Length(max=NOTE_MAX)],
    )


class StageForm(PageForm):
    reason = TextAreaField(
        "理由（退回或重新打开时必填）",
        filters=[clean_text],
        validators=[Optional(), Length(max=NOTE_MAX)],
    )


class AttachmentForm(PageForm):
    file = FileField(
        "佐证材料（PDF、JPG、PNG、Word 或 Excel，5 MB 以内）",
        validators=[FileRequired("请选择一个文件")],
    )

    def validate_file(self, field) -> None:
        stream = field.data.stream
        head = stream.read(16)
        stream.seek(0, 2)
        size = stream.tell()
        stream.seek(0)
        if size > ATTACHMENT_MAX_BYTES:
            raise ValidationError("文件不能超过 5 MB")
        if size == 0:
            raise ValidationError("这个文件是空的")
        if attachment_type(field.data.filename or "", head) is None:
            raise ValidationError("只能上传 PDF、JPG、PNG、Word（.docx）或 Excel（.xlsx）文件")


class SchemeForm(PageForm):
    definition = TextAreaField(
        "考评方案（JSON）", validators=[DataRequired("请填写考评方案"), Length(max=200_000)]
    )
