"""Languages of the patient pages: Simplified Chinese by default, Traditional Chinese, English.

A page's language comes from, in order: the `lang` query argument (the 简 / 繁 / EN
switch on every patient page is a plain link, so it works without JavaScript; on a form page it
is the form's own buttons, posting what was typed to the page's address with `lang`:
wishes/drafts.py), the `lang` cookie that argument leaves behind, the browser's
Accept-Language, and Simplified Chinese. `lang=default` forgets the cookie (the kiosk's idle
reset uses it). Staff pages are Chinese only.

Words live in the catalogues (`wishes/translations/`); names from the organisation's data
(departments, wards, branches, the hospital) are turned into Traditional characters by OpenCC
and into English from the `name_en` kept beside each unit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

import opencc
from babel import support
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import gettext as _
from wtforms.i18n import messages_path

from . import audiences, hospital, needs

# The same codes as a questionnaire's labels (questionnaires.definition.LANGUAGES).
LANGUAGES = ("zh_Hans", "zh_Hant", "en")
DEFAULT = "zh_Hans"
COOKIE = "lang"
FORGET = "default"  # ?lang=default: back to the browser's language (the kiosk's idle reset)
COOKIE_DAYS = 365

# The Babel locale behind each language: its dates, numbers and catalogue directory.
BABEL_LOCALES = {"zh_Hans": "zh_Hans_CN", "zh_Hant": "zh_Hant", "en": "en"}
# <html lang> and hreflang.
HTML_LANG = {"zh_Hans": "zh-Hans", "zh_Hant": "zh-Hant", "en": "en"}
# The switch: what its links say, and their accessible names (each in its own language). A name
# starts with what the link shows (WCAG 2.5.3, label in name): "EN" is not a word of "English".
SWITCH = (
    ("zh_Hans", "简", "简体中文"),
    ("zh_Hant", "繁", "繁體中文"),
    ("en", "EN", "EN, English"),
)
# WTForms' own messages ("Not a valid choice.") come from its catalogues: zh is Simplified.
WTFORMS_LOCALES = {"zh_Hans": "zh", "zh_Hant": "zh_TW", "en": "en"}

_TRADITIONAL = "s2tw"  # characters only: names are proper nouns, not rephrased to 台灣 words
_converter_lock = threading.Lock()


def chinese_only() -> bool:
    """True on staff pages, which are in Simplified Chinese whatever the visitor chose (the
    assessment's corridor screen too: it is about the Party branches), but for the printed
    questionnaire cards among them, which are for patients (`audiences.patient_languages`)."""
    return audiences.chinese_only()


def from_header(accept_language: Any) -> str:
    """The best of our languages for an Accept-Language header (werkzeug's LanguageAccept)."""
    for tag, _quality in accept_language:  # already in order of preference
        parts = tag.replace("_", "-").lower().split("-")
        if parts[0] == "en":
            return "en"
        if parts[0] == "yue":  # Cantonese readers read Traditional characters
            return "zh_Hant"
        if parts[0] == "zh":
            rest = set(parts[1:])
            if "hant" in rest or (rest & {"tw", "hk", "mo"} and "hans" not in rest):
                return "zh_Hant"
            return "zh_Hans"
    return DEFAULT


def _choose() -> str:
    if chinese_only():
        return DEFAULT
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    if asked != FORGET and (kept := request.cookies.get(COOKIE)) in LANGUAGES:
        return kept
    return from_header(request.accept_languages)


def language() -> str:
    """The current page's language: zh_Hans, zh_Hant or en."""
    if not has_request_context():
        return DEFAULT
    if "language" not in g:
        g.language = _choose()
    return g.language


def select_locale() -> str:
    """Flask-Babel's locale selector."""
    return BABEL_LOCALES[language()]


def chosen() -> bool:
    """True when the visitor picked a language with the switch (rather than the browser's)."""
    if not has_request_context() or chinese_only():
        return False
    asked = request.args.get("lang")
    return asked in LANGUAGES or (asked != FORGET and request.cookies.get(COOKIE) in LANGUAGES)


def switch_links() -> list[dict[str, Any]]:
    """The switch's links: this page again, in each language."""
    here = language()
    args = [(key, value) for key, value in request.args.items(multi=True) if key != "lang"]
    path = quote(request.path)
    links = []
    for code, short, name in SWITCH:
        links.append(
            {
                "code": code,
                "short": short,
                "name": name,
                "html_lang": HTML_LANG[code],
                "url": f"{path}?{urlencode([*args, ('lang', code)])}",
                "current": code == here,
            }
        )
    return links


def qr_language() -> str | None:
    """The `lang` argument a QR code printed or shown on this page carries (None: default)."""
    lang = language()
    return None if lang == DEFAULT else lang


# ---- names from the organisation's data -----------------------------------------------------


@lru_cache(maxsize=1)
def _opencc() -> opencc.OpenCC:
    return opencc.OpenCC(_TRADITIONAL)


@lru_cache(maxsize=4096)
def to_traditional(text: str) -> str:
    """Simplified characters to Traditional (names are few and shown often: cached)."""
    with _converter_lock:  # OpenCC's converter is not documented as thread-safe
        return _opencc().convert(text)


def unit_name(unit: Mapping[str, Any] | None, lang: str | None = None) -> str:
    """A department's, ward's or branch's name in the page's language."""
    if not unit:
        return ""
    lang = lang or language()
    if lang == "en":
        return unit.get("name_en") or unit["name"]
    if lang == "zh_Hant":  # a Traditional name typed by the office wins over OpenCC's
        return unit.get("name_hant") or to_traditional(unit["name"])
    return unit["name"]


def category_name(code: str | None, lang: str | None = None) -> str:
    """A category of need in the page's language (wishes/needs.toml); the code itself for a
    code the taxonomy does not have."""
    return unit_name(needs.category(code), lang) or (code or "")


def unit_names(units: Iterable[Mapping[str, Any]], lang: str | None = None) -> dict[str, str]:
    """Code -> name in the page's language."""
    return {unit["code"]: unit_name(unit, lang) for unit in units}


def hospital_name() -> str:
    """The hospital's name in the page's language (WISHES_HOSPITAL_NAME[_HANT|_EN], as the
    settings page or the environment set them)."""
    settings = hospital.config()
    name = settings["WISHES_HOSPITAL_NAME"]
    lang = language()
    if lang == "zh_Hant":
        return settings["WISHES_HOSPITAL_NAME_HANT"] or to_traditional(name)
    if lang == "en":
        if english := settings["WISHES_HOSPITAL_NAME_EN"]:
            return english
        if name == DEMO_HOSPITAL:
            return _("示范医院")
    return name


DEMO_HOSPITAL = "示范医院"


# ---- WTForms' own messages ------------------------------------------------------------------


@lru_cache(maxsize=len(LANGUAGES))
def _wtforms_catalogue(lang: str) -> support.NullTranslations:
    return support.Translations.load(messages_path(), [WTFORMS_LOCALES[lang]], domain="wtforms")


class WTFormsTranslations:
    """WTForms' built-in messages in the page's language (its zh_TW catalogue for 繁體)."""

    def gettext(self, string: str) -> str:
        return _wtforms_catalogue(language()).ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return _wtforms_catalogue(language()).ungettext(singular, plural, n)


WTFORMS_TRANSLATIONS = WTFormsTranslations()


# ---- wiring ---------------------------------------------------------------------------------


def _remember(response):
    # Files are not pages (no language, no cookie, no Vary); staff pages have one language.
    if not audiences.current().is_page or chinese_only():
        return response
    asked = request.args.get("lang")
    config = current_app.config
    if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
        response.set_cookie(
            COOKIE,
            asked,
            max_age=COOKIE_DAYS * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=config["WISHES_HTTPS"],
        )
    elif asked == FORGET and COOKIE in request.cookies:
        response.delete_cookie(COOKIE, httponly=True, samesite="Lax", secure=config["WISHES_HTTPS"])
    response.vary.update(("Accept-Language", "Cookie"))
    return response


def init_app(app: Flask) -> None:
    app.after_request(_remember)

    @app.context_processor
    def _language_globals():
        lang = language()
        return {
            "page_language": lang,
            "html_lang": HTML_LANG[lang],
            "language_chosen": chosen(),
            "qr_lang": qr_language(),
        }

    app.add_template_filter(unit_name, "unit_name")
    app.add_template_global(category_name, "category_name")
    app.add_template_global(switch_links, "language_links")  # global: macros see it
    from . import glossary  # the words for a wish's states and moves, on every kind of page

    # Flask's stubs take only callables as template globals; Jinja takes any value.
    app.add_template_global(glossary, "glossary")  # type: ignore[arg-type]
