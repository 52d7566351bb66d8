"""The base of every form on a page: Flask-WTF's form, with uploaded files given only to
file fields; and the filters that clean what people type into any form.

Flask-WTF hands a form the request's files and fields together, so a file part posted under
a text field's name reached code that expects text (a length check, a password hash) and
ended in a 500. Here a file under any other name is simply not an answer for that field.
"""

from __future__ import annotations

import unicodedata

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import CombinedMultiDict, MultiDict

from . import i18n


class PageForm(FlaskForm):
    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            # WTForms' own messages in the page's language; Flask-WTF's loader would give
            # Simplified characters to a Traditional page (WTForms' "zh" catalogue).
            return i18n.WTFORMS_TRANSLATIONS

        def wrap_formdata(self, form, formdata):
            wrapped = super().wrap_formdata(form, formdata)
            if not isinstance(wrapped, CombinedMultiDict):
                return wrapped
            files = MultiDict(
                (name, upload)
                for name, upload in request.files.items(multi=True)
                if isinstance(form._fields.get(name), FileField)
            )
            return CombinedMultiDict((files, request.form)) if files else request.form


def clean_text(value: str | None) -> str:
    """Trim whitespace, unify line breaks and drop control characters (NUL, escape codes…) and
    invisible format characters: bidi overrides and isolates, which reorder what staff read
    (U+202E), and zero-width spaces and joiners."""
    if not value or not isinstance(value, str):  # a file part posted in a text field: no text
        return ""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    dropped = {"Cc", "Cs", "Cf"}
    kept = "".join(ch for ch in value if ch == "\n" or unicodedata.category(ch) not in dropped)
    return kept.strip()


def clean_line(value: str | None) -> str:
    """Like `clean_text`, for one-line fields: line breaks become spaces."""
    return clean_text(value).replace("\n", " ")
