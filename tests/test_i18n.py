"""Languages: every page a patient sees in Simplified Chinese, Traditional Chinese and English.

The catalogues are checked against the strings extracted from the code right now (Babel's own
extraction, with babel.cfg), so a new string without a translation fails here; and each patient
page is rendered in English and searched for Chinese characters, which is what catches a string
that never went through `_()`.
"""

from __future__ import annotations

import gettext
import io
import re
from collections import Counter
from pathlib import Path

import opencc
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from conftest import csrf_token, login
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from wishes import i18n, lifecycle, ratelimit
from wishes.audiences import AreaBlueprint, Audience
from wishes.lifecycle import Actor, ClaimantKind, WishEntry
from wishes.organisation import store as organisation
from wishes.questionnaires import store as questionnaires
from wishes.routing import RouteDecision

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "wishes" / "translations"
CATALOGUES = ("zh_Hant", "en")
SLUG = "satisfaction"

# Chinese characters and the full-width punctuation that goes with them (，。：（）「」…).
CJK = re.compile(
    r"[\u2e80-\u2fff\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]"
)
SWITCH = re.compile(r'<nav class="lang-switch".*?</nav>', re.S)


# ---- the catalogues -------------------------------------------------------------------------


def extracted() -> dict[str, set[str]]:
    """msgid -> the files it comes from, as `pybabel extract -F babel.cfg -k _l` finds them."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    found: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault(msgid, set()).add(filename)
    return found


EXTRACTED = extracted()


def catalogue(lang: str):
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=lang)


def forms(message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


def test_the_extraction_sees_every_patient_page_and_no_staff_page():
    files = set().union(*EXTRACTED.values())
    for patient in (
        "templates/intake/wish_form.html",
        "templates/tracking/status.html",
        "templates/questionnaires/answer.html",
        "templates/layouts/kiosk.html",
        "templates/errors/page.html",
        "templates/cards/bedside.html",
        "wishes/intake/forms.py",
        "wishes/ratelimit.py",
    ):
        assert patient in files
    assert not any(f.startswith(("templates/board/", "templates/dashboard/")) for f in files)
    assert "templates/layouts/staff.html" not in files
    assert len(EXTRACTED) > 150


@pytest.mark.parametrize("lang", CATALOGUES)
def test_every_patient_string_is_translated(lang):
    messages = {m.id[0] if isinstance(m.id, tuple) else m.id: m for m in catalogue(lang) if m.id}
    missing = sorted(msgid for msgid in EXTRACTED if msgid not in messages)
    assert not missing, f"run pybabel extract/update (README, Languages): {missing}"
    for msgid in EXTRACTED:
        message = messages[msgid]
        assert not message.fuzzy, f"{lang}: fuzzy: {msgid}"
        assert all(text.strip() for text in forms(message)), f"{lang}: untranslated: {msgid}"


@pytest.mark.parametrize("lang", CATALOGUES)
def test_the_catalogues_hold_no_strings_the_pages_no_longer_use(lang):
    stale = [m.id for m in catalogue(lang) if m.id and m.id not in EXTRACTED]
    stale = [m for m in stale if not (isinstance(m, tuple) and m[0] in EXTRACTED)]
    assert not stale, "run pybabel update (README, Languages)"


PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?([a-z%])")


def placeholders(text: str) -> Counter:
    """The %(name)s / %(n)d of a string; a % that is not part of one fails (Jinja's `_()`
    formats every string, so a lone % breaks the page)."""
    stripped = PLACEHOLDER.sub("", text)
    assert "%" not in stripped, f"a bare % in {text!r} (write %%)"
    return Counter(m.group(0) for m in PLACEHOLDER.finditer(text) if m.group(0) != "%%")


@pytest.mark.parametrize("lang", CATALOGUES)
def test_placeholders_match_between_the_chinese_and_the_translation(lang):
    for message in catalogue(lang):
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        expected = placeholders(sources[0])
        for source in sources[1:]:
            assert placeholders(source) == expected
        for text in forms(message):
            assert placeholders(text) == expected, (lang, message.id, text)


@pytest.mark.parametrize("lang", CATALOGUES)
def test_the_compiled_catalogue_matches_its_po_file(lang):
    """The .mo files are committed (pip install alone must give a working app): they must be
    what `pybabel compile` makes of the .po files today."""
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(io.BytesIO(handle.read()))
    expected = {}
    for message in catalogue(lang):
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, tuple):
            for index, text in enumerate(message.string):
                expected[(message.id[0], index)] = text
        else:
            expected[message.id] = message.string
    assert compiled._catalog.keys() - {""} == expected.keys(), "run pybabel compile"
    for key, text in expected.items():
        assert compiled._catalog[key] == text, f"run pybabel compile ({key})"


def test_traditional_catalogue_uses_traditional_characters_throughout():
    to_traditional = opencc.OpenCC("s2tw")
    for message in catalogue("zh_Hant"):
        for text in forms(message) if message.id else []:
            assert to_traditional.convert(text) == text, text


def test_english_catalogue_has_no_chinese_left():
    for message in catalogue("en"):
        for text in forms(message) if message.id else []:
            assert not CJK.search(text), text


# ---- the data behind the pages --------------------------------------------------------------


@pytest.fixture
def story(db):
    """A wish with a history (submitted, routed, claimed by its branch, fulfilled), another
    declined, the default questionnaire published. What patients typed is in English, so an
    English page must have no Chinese at all."""
    questionnaires.ensure_default(db)
    route = RouteDecision(suggestions=[("child_joy", 0.95)], confident=True)
    entry = WishEntry(
        text="A birthday cake for my son on the ward",
        channel="phone",
        reason="He turns six",
        department_code="ward-pediatrics",
    )
    wish = lifecycle.submit(db, entry, route, "pediatrics")
    branch = Actor("staff", "儿科党支部")
    lifecycle.claim(db, wish["id"], branch, ClaimantKind.BRANCH, "儿科党支部")
    lifecycle.start(db, wish["id"], branch)
    lifecycle.fulfil(db, wish["id"], branch, "We brought a cake and picture books")
    other = lifecycle.submit(db, WishEntry(text="An electric blanket", channel="kiosk"), None)
    lifecycle.decline(db, other["id"], Actor("staff", "党建工作部"), "Not allowed on the ward")
    return {"fulfilled": wish["tracking_code"], "declined": other["tracking_code"]}


def visible(html: str) -> str:
    """The page without the language switch (its 简 and 繁 are meant to stay)."""
    return SWITCH.sub("", html)


def chinese_in(html: str) -> list[str]:
    return [line.strip() for line in visible(html).splitlines() if CJK.search(line)]


def _submit_kiosk_wish(client, lang):
    token = csrf_token(client, f"/kiosk/wish?lang={lang}")
    data = {"text": "A phone charger please", "department": "", "csrf_token": token}
    response = client.post("/kiosk/wish", data=data)
    assert response.status_code == 302
    return client.get("/kiosk/thanks")


def _survey_thanks(client, path, comment):
    html = client.get(path).get_data(as_text=True)
    hidden = dict(
        re.findall(r'name="(csrf_token|submission_id)" type="hidden" value="([^"]+)"', html)
    )
    answers = {"q_overall": "5", "q_recommend": "9", "q_comment": comment}
    response = client.post(path, data={**hidden, **answers})
    assert response.status_code == 302
    return client.get(response.headers["Location"])


def patient_pages(client, story, lang):
    """Every page a patient can reach, rendered in `lang` (the switch was used once)."""
    client.get(f"/?lang={lang}")
    pages = {}
    for path in (
        "/",
        "/w/new",
        "/w/new?dept=ward-orthopedics",
        "/t",
        f"/t/{story['fulfilled']}",
        f"/t/{story['declined']}",
        "/t/ZZZZZZZ",
        f"/s/{SLUG}",
        f"/s/{SLUG}?dept=emergency",
        "/kiosk",
        "/kiosk/wish",
        "/kiosk/t",
        f"/kiosk/t/{story['fulfilled']}",
        "/kiosk/t/ZZZZZZZ",
        f"/kiosk/s/{SLUG}",
        "/cards",
        "/cards/ward-orthopedics",
        "/no-such-page",
        "/kiosk/no-such-page",
    ):
        pages[path] = client.get(path)
    # Forms sent with mistakes: the messages, WTForms' own included.
    token = csrf_token(client, "/w/new")
    pages["POST /w/new (errors)"] = client.post(
        "/w/new",
        data={"text": "x", "department": "nowhere", "phone": "123", "csrf_token": token},
        follow_redirects=True,  # to the form's GET, which shows them (wishes/drafts.py)
    )
    html = client.get(f"/s/{SLUG}").get_data(as_text=True)
    hidden = dict(
        re.findall(r'name="(csrf_token|submission_id)" type="hidden" value="([^"]+)"', html)
    )
    pages["POST /s (errors)"] = client.post(
        f"/s/{SLUG}",
        data={**hidden, "q_overall": "9", "q_department": "nowhere"},
        follow_redirects=True,
    )
    pages["/kiosk/thanks"] = _submit_kiosk_wish(client, lang)
    pages["/s/thanks (a wish offered)"] = _survey_thanks(
        client, f"/s/{SLUG}", "It would be nice if the ward had a microwave"
    )
    pages["/kiosk/s/thanks"] = _survey_thanks(client, f"/kiosk/s/{SLUG}", "Friendly nurses")
    return pages


def test_every_patient_page_in_english_has_no_chinese_outside_the_switch(client, story):
    pages = patient_pages(client, story, "en")
    assert len(pages) == 24
    for path, response in pages.items():
        html = response.get_data(as_text=True)
        assert response.status_code < 500, path
        assert '<html lang="en"' in html, path
        assert chinese_in(html) == [], path
        # The switch is on every page but one: the kiosk shows a new code once (see below).
        assert (SWITCH.search(html) is None) == (path == "/kiosk/thanks"), path
    # The offer to turn a comment into a wish, the English department names, the history.
    assert "Send it as a wish" in pages["/s/thanks (a wish offered)"].get_data(as_text=True)
    status = pages[f"/t/{story['fulfilled']}"].get_data(as_text=True)
    assert "Passed to the Pediatrics Party Branch" in status
    assert "Taken on by: Pediatrics Party Branch" in status
    assert "Fulfilled" in status and "We brought a cake and picture books" in status
    assert "Orthopedics Ward" in pages["/w/new?dept=ward-orthopedics"].get_data(as_text=True)
    errors = pages["POST /w/new (errors)"].get_data(as_text=True)
    assert "Please write between 2 and 500 characters" in errors
    assert "Please enter an 11-digit mobile number" in errors
    survey = pages["POST /s (errors)"].get_data(as_text=True)
    assert "Not a valid choice" in survey  # WTForms' own message, in the page's language


def test_every_patient_page_in_traditional_chinese_has_no_simplified_characters(client, story):
    to_traditional = opencc.OpenCC("s2tw")
    for path, response in patient_pages(client, story, "zh_Hant").items():
        html = response.get_data(as_text=True)
        assert '<html lang="zh-Hant"' in html, path
        for line in visible(html).splitlines():
            assert to_traditional.convert(line) == line, (path, line.strip())


def test_traditional_pages_show_traditional_names_and_wtforms_messages(client, story):
    form = client.get("/w/new?lang=zh_Hant").get_data(as_text=True)
    assert "心血管內科病區" in form and "心血管内科病区" not in form
    assert "請選擇（可不選）" in form
    status = client.get(f"/t/{story['fulfilled']}").get_data(as_text=True)
    assert "已轉交兒科黨支部" in status and "認領人：兒科黨支部" in status
    html = client.get(f"/s/{SLUG}").get_data(as_text=True)
    hidden = dict(
        re.findall(r'name="(csrf_token|submission_id)" type="hidden" value="([^"]+)"', html)
    )
    refused = client.post(f"/s/{SLUG}", data={**hidden, "q_overall": "9"}, follow_redirects=True)
    assert "不是有效的選擇" in refused.get_data(as_text=True)  # WTForms' zh_TW catalogue


def test_simplified_chinese_stays_the_default(client, story):
    html = client.get(f"/t/{story['fulfilled']}").get_data(as_text=True)
    assert '<html lang="zh-Hans"' in html
    assert "已转交儿科党支部" in html and "认领人：儿科党支部" in html
    html = client.get(f"/s/{SLUG}").get_data(as_text=True)
    hidden = dict(
        re.findall(r'name="(csrf_token|submission_id)" type="hidden" value="([^"]+)"', html)
    )
    refused = client.post(f"/s/{SLUG}", data={**hidden, "q_overall": "9"}, follow_redirects=True)
    assert "不是有效的选择" in refused.get_data(as_text=True)


@pytest.mark.parametrize("code", [400, 403, 404, 405, 413, 415, 429, 500, "csrf"])
@pytest.mark.parametrize("template", ["errors/page.html", "errors/kiosk.html"])
def test_error_pages_are_translated(app, code, template):
    from flask import render_template

    with app.test_request_context("/?lang=en"):
        html = render_template(template, code=code, retry_minutes=3, layout="layouts/phone.html")
    assert '<html lang="en"' in html
    assert chinese_in(html) == []


def test_a_server_error_is_explained_in_the_visitors_language(app):
    def broken():
        raise RuntimeError("boom")

    # The error page is the one of the audience the page's blueprint declares.
    for name, audience, rule in (
        ("broken_phone", Audience.PHONE, "/w/broken"),
        ("broken_kiosk", Audience.KIOSK, "/kiosk/broken"),
    ):
        blueprint = AreaBlueprint(name, __name__, audience=audience)
        blueprint.add_url_rule(rule, "broken", broken)
        app.register_blueprint(blueprint)
    client = app.test_client()
    for path, words in (
        ("/w/broken", "Something went wrong on our side"),
        ("/kiosk/broken", "Start over"),
    ):
        response = client.get(path, headers={"Accept-Language": "en"})
        html = response.get_data(as_text=True)
        assert response.status_code == 500 and words in html and chinese_in(html) == []


def test_rate_limit_messages_count_minutes_in_english(app, client):
    with app.test_request_context("/w/new?lang=en"):
        assert "in 1 minute." in ratelimit.form_refusal(30)
        assert "in 10 minutes." in ratelimit.form_refusal(600)
    with app.test_request_context("/w/new?lang=zh_Hant"):
        assert "請 10 分鐘後再送出" in ratelimit.form_refusal(600)
    limit = ratelimit.LIMITS["tracking"].count
    for _ in range(limit + 1):
        refused = client.get("/kiosk/t/ZZZZZZZ?lang=en")
    assert refused.status_code == 429
    html = refused.get_data(as_text=True)
    # 1 to 10 minutes, by where the 10-minute window stands: "minute" or "minutes".
    assert re.search(r"in (1 minute|([2-9]|10) minutes), or scan the QR code", html)
    assert chinese_in(html) == []


def test_the_printed_questionnaire_cards_follow_the_language(client, db, staff, story):
    qid = db.execute("SELECT id FROM questionnaires WHERE slug = ?", [SLUG]).fetchone()[0]
    login(client, "triager")
    cards = client.get(f"/admin/questionnaires/{qid}/cards?lang=en").get_data(as_text=True)
    assert '<html lang="en"' in cards and chinese_in(cards) == []
    assert "Emergency Department" in cards and "dept=emergency&amp;lang=en" in cards


# ---- choosing the language ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-US,en;q=0.9", "en"),
        ("zh-TW,zh;q=0.9", "zh_Hant"),
        ("zh-HK", "zh_Hant"),
        ("zh-Hant-CN", "zh_Hant"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_Hans"),
        ("zh", "zh_Hans"),
        ("zh-Hans-HK", "zh_Hans"),
        ("fr-FR,fr;q=0.9,en;q=0.5", "en"),
        ("en;q=0.3,zh-TW;q=0.8", "zh_Hant"),
        ("fr", "zh_Hans"),
        ("", "zh_Hans"),
    ],
)
def test_the_browsers_languages_pick_the_best_match(header, expected):
    assert i18n.from_header(parse_accept_header(header, LanguageAccept)) == expected


def test_accept_language_sets_the_page_language(client):
    for header, lang in (("en-GB,en;q=0.9", "en"), ("zh-TW", "zh-Hant"), ("zh-CN", "zh-Hans")):
        html = client.get("/w/new", headers={"Accept-Language": header}).get_data(as_text=True)
        assert f'<html lang="{lang}"' in html


def test_the_switch_is_remembered_in_a_cookie_and_beats_the_browser(client):
    response = client.get("/w/new?lang=en", headers={"Accept-Language": "zh-CN"})
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=en;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Accept-Language" in response.headers["Vary"] and "Cookie" in response.headers["Vary"]
    page = client.get("/t", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert '<html lang="en"' in page
    # lang=default forgets the choice: back to the browser's language.
    reset = client.get("/kiosk?lang=default", headers={"Accept-Language": "zh-TW"})
    assert "lang=;" in reset.headers["Set-Cookie"] and "Max-Age=0" in reset.headers["Set-Cookie"]
    assert '<html lang="zh-Hant"' in reset.get_data(as_text=True)
    page = client.get("/t", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert '<html lang="zh-Hans"' in page


def test_the_switch_is_plain_links_to_this_page_keeping_its_arguments(client):
    html = client.get("/cards/ward-orthopedics?copies=2").get_data(as_text=True)
    switch = SWITCH.search(html).group(0)
    assert "<script" not in switch
    links = re.findall(r'<a href="([^"]+)" hreflang="([^"]+)"', switch)
    assert links == [
        ("/cards/ward-orthopedics?copies=2&amp;lang=zh_Hans", "zh-Hans"),
        ("/cards/ward-orthopedics?copies=2&amp;lang=zh_Hant", "zh-Hant"),
        ("/cards/ward-orthopedics?copies=2&amp;lang=en", "en"),
    ]
    assert re.search(r'lang="zh-Hans" aria-label="简体中文" aria-current="true">简</a>', switch)
    assert ">繁</a>" in switch and ">EN</a>" in switch


@pytest.mark.parametrize(
    ("path", "form"),
    [("/w/new?dept=ward-orthopedics", "wish-form"), (f"/kiosk/s/{SLUG}", "survey-form")],
)
def test_on_a_form_page_the_switch_is_the_forms_own_buttons(client, story, path, form):
    """They post what was typed to this page in the other language (wishes/drafts.py): no
    JavaScript, and nothing typed is lost (issue 21, item 1)."""
    html = client.get(path).get_data(as_text=True)
    switch = SWITCH.search(html).group(0)
    assert "<script" not in switch and "<a " not in switch
    buttons = re.findall(r'<button type="submit" form="([^"]+)" formaction="([^"]+)"', switch)
    here = path.replace("&", "&amp;") + ("&amp;" if "?" in path else "?")
    assert buttons == [(form, f"{here}lang={code}") for code in ("zh_Hans", "zh_Hant", "en")]
    assert switch.count('name="switch_language"') == 3 and switch.count("formnovalidate") == 3
    assert re.search(r'aria-label="简体中文" aria-current="true">简</button>', switch)
    assert f'<form method="post" action="{path.split("?")[0]}"' in html and f'id="{form}"' in html


def test_the_kiosk_idle_reset_returns_to_the_default_language(client, story):
    welcome = client.get("/kiosk?lang=en").get_data(as_text=True)
    assert 'data-reset="/kiosk?lang=default"' in welcome
    assert "data-language-chosen" in welcome  # the welcome page resets itself too, when idle
    assert "data-language-chosen" not in client.get("/kiosk?lang=default").get_data(as_text=True)
    # The countdown's words come from the page; the script only changes the number.
    form = client.get("/kiosk/wish?lang=en").get_data(as_text=True)
    assert re.search(r'In <span class="idle-count" id="idle-count">20</span> s this screen', form)
    script = (ROOT / "static" / "js" / "kiosk.js").read_text(encoding="utf-8")
    assert not CJK.search(script) and "dataset.reset" in script


def test_the_kiosk_thanks_page_has_no_switch_so_the_code_is_not_lost(client):
    thanks = _submit_kiosk_wish(client, "en").get_data(as_text=True)
    assert "lang-switch" not in thanks and "Thank you, we have your wish" in thanks


def test_staff_pages_stay_in_chinese_whatever_was_chosen(client, staff):
    client.get("/?lang=en")
    html = client.get("/login?lang=en").get_data(as_text=True)
    assert '<html lang="zh-Hans"' in html and "lang-switch" not in html
    login(client, "member_a")
    board = client.get("/board", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="zh-Hans"' in board and "心愿看板" in board


def test_qr_codes_open_the_phone_pages_in_the_language_they_were_shown_in(client):
    card = client.get("/cards/ward-orthopedics?lang=en").get_data(as_text=True)
    assert "/w/new?dept=ward-orthopedics&amp;lang=en" in card and "Orthopedics Ward" in card
    card = client.get("/cards/ward-orthopedics?lang=zh_Hans").get_data(as_text=True)
    assert "lang=" not in re.search(r'class="bedside-url">([^<]*)<', card).group(1)
    assert "骨科病区" in card


# ---- names, dates and numbers ---------------------------------------------------------------


def test_every_unit_patients_see_has_an_english_name():
    organisation_file = organisation.read_organisation_file()
    for table in ("branches", "departments"):
        for unit in organisation_file[table]:
            assert unit.get("name_en") and not CJK.search(unit["name_en"]), unit["code"]


def test_a_unit_without_an_english_name_falls_back_to_its_chinese_name(app):
    with app.test_request_context("/?lang=en"):
        assert i18n.unit_name({"code": "x", "name": "康复科", "name_en": None}) == "康复科"
    with app.test_request_context("/?lang=zh_Hant"):
        assert i18n.unit_name({"code": "x", "name": "康复科"}) == "康復科"


@pytest.mark.parametrize(
    ("config", "lang", "expected"),
    [
        ({}, "en", "Demo Hospital"),
        ({}, "zh_Hant", "示範醫院"),
        ({"WISHES_HOSPITAL_NAME": "仁爱医院"}, "zh_Hant", "仁愛醫院"),
        ({"WISHES_HOSPITAL_NAME": "仁爱医院"}, "en", "仁爱医院"),
        (
            {"WISHES_HOSPITAL_NAME": "仁爱医院", "WISHES_HOSPITAL_NAME_EN": "Ren'ai Hospital"},
            "en",
            "Ren'ai Hospital",
        ),
        ({"WISHES_HOSPITAL_NAME": "仁爱医院"}, "zh_Hans", "仁爱医院"),
    ],
)
def test_the_hospitals_name_in_each_language(app, config, lang, expected):
    app.config.update(config)
    with app.test_request_context(f"/?lang={lang}"):
        assert i18n.hospital_name() == expected


def test_dates_are_written_for_the_locale(app):
    from wishes.web import local_time

    stored = "2026-01-02 07:04:00"  # UTC; 15:04 in Asia/Shanghai
    expected = {
        "en": "Jan 2, 2026, 15:04",
        "zh_Hans": "2026年1月2日 15:04",
        "zh_Hant": "2026年1月2日 15:04",
    }
    for lang, text in expected.items():
        with app.test_request_context(f"/?lang={lang}"):
            assert local_time(stored, "day_and_time") == text
    with app.test_request_context("/?lang=en"):
        assert local_time(stored) == "1/2/26, 3:04\u202fPM"  # CLDR's narrow space
    with app.test_request_context("/?lang=zh_Hans"):
        assert local_time(stored) == "2026/1/2 15:04"


def test_the_tracking_history_is_dated_for_the_locale(client, story):
    html = client.get(f"/t/{story['fulfilled']}?lang=en").get_data(as_text=True)
    assert re.search(
        r"<time datetime=\"[^\"]+Z\">[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{2}:\d{2}</time>", html
    )
    html = client.get(f"/t/{story['fulfilled']}?lang=zh_Hans").get_data(as_text=True)
    assert re.search(
        r"<time datetime=\"[^\"]+Z\">\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}</time>", html
    )


@pytest.mark.parametrize(
    ("comment", "offered"),
    [
        ("It would be nice if the ward had a microwave", True),
        ("Could you put a kettle in the day room?", True),
        ("I hope the parking gets better", True),
        ("The nurses were very kind, thank you", False),
        ("Great doctors", False),
    ],
)
def test_a_comment_in_english_that_asks_for_something_is_offered_as_a_wish(comment, offered):
    from wishes.questionnaires.comments import reads_like_wish

    assert reads_like_wish(comment) is offered


def test_a_department_claim_is_named_in_the_pages_language_and_a_person_as_written(client, db):
    route = RouteDecision(suggestions=[("nursing_care", 0.9)], confident=True)
    staff_member = Actor("staff", "护理党支部")
    codes = {}
    for kind, name in (
        (ClaimantKind.DEPARTMENT, "心血管内科病区"),
        (ClaimantKind.PERSON, "王护士长"),
    ):
        entry = WishEntry(text="A fan please", channel="phone")
        wish = lifecycle.submit(db, entry, route, "nursing")
        lifecycle.claim(db, wish["id"], staff_member, kind, name)
        codes[kind] = wish["tracking_code"]
    page = client.get(f"/t/{codes[ClaimantKind.DEPARTMENT]}?lang=en").get_data(as_text=True)
    assert "Taken on by: Cardiology Ward" in page
    page = client.get(f"/t/{codes[ClaimantKind.DEPARTMENT]}?lang=zh_Hant").get_data(as_text=True)
    assert "認領人：心血管內科病區" in page
    page = client.get(f"/t/{codes[ClaimantKind.PERSON]}?lang=en").get_data(as_text=True)
    assert "Taken on by: 王护士长" in page  # a person's name is theirs
