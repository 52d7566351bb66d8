import re

import pytest

from wishes import lifecycle


def stored_wishes(db):
    return list(db.query("SELECT * FROM wishes ORDER BY id"))


def test_phone_wish_is_stored_and_patient_lands_on_its_tracking_page(client, db, submit_wish):
    response = submit_wish(
        text="  晚上病房太冷睡不着，想要一床厚被子  ",
        reason="老人怕冷",
        department="ward-orthopedics",
        location="12 床",
        patient_name="王女士",
        phone="138 1234 5678",
        contact_consent="y",
    )
    assert response.status_code == 302
    [wish] = stored_wishes(db)
    assert response.headers["Location"] == f"/t/{wish['tracking_code']}"
    assert wish["text"] == "晚上病房太冷睡不着，想要一床厚被子"
    assert wish["phone"] == "13812345678"
    assert wish["contact_consent"] == 1
    assert wish["department_code"] == "ward-orthopedics"
    assert wish["channel"] == "phone"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "心愿已收到" in page and wish["tracking_code"][:3] in page


def test_wish_waits_for_triage_until_a_router_is_there(client, db, submit_wish):
    submit_wish()
    [wish] = stored_wishes(db)
    assert wish["state"] == lifecycle.State.TRIAGE
    assert [e["action"] for e in lifecycle.history(db, wish["id"])] == ["submit"]


def test_control_characters_are_removed_but_line_breaks_kept(client, db, submit_wish):
    submit_wish(text="想要\x00一个\x1b充电宝\r\n谢谢")
    [wish] = stored_wishes(db)
    assert wish["text"] == "想要一个充电宝\n谢谢"


def test_bidi_and_zero_width_characters_never_reach_what_staff_read(client, db, submit_wish):
    """A right-to-left override would make staff read "发送到外部" as something else; zero-width
    characters hide text from search. They are dropped from every text field."""
    submit_wish(text="想要\u202e一个\u200b充电宝\u2066谢谢\u2069\ufeff", reason="急\u202d用")
    [wish] = stored_wishes(db)
    assert (wish["text"], wish["reason"]) == ("想要一个充电宝谢谢", "急用")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": ""}, "请写下您的心愿"),
        ({"text": "   "}, "请写下您的心愿"),
        ({"text": "热"}, "心愿请写 2 到 500 个字"),
        ({"text": "热" * 501}, "心愿请写 2 到 500 个字"),
        ({"reason": "因" * 301}, "缘由请不超过 300 个字"),
        ({"department": "no-such-ward"}, "请从列表中选择科室或病区"),
        ({"location": "床" * 61}, "位置请不超过 60 个字"),
        ({"patient_name": "名" * 41}, "称呼请不超过 40 个字"),
        ({"phone": "12345", "contact_consent": "y"}, "请填写 11 位手机号"),
        ({"phone": "23812345678", "contact_consent": "y"}, "请填写 11 位手机号"),
        ({"phone": "13812345678"}, "请勾选同意联系"),
    ],
)
@pytest.mark.parametrize("path", ["/w/new", "/kiosk/wish"])
def test_bad_input_is_explained_and_nothing_typed_is_lost(
    client, db, submit_wish, path, fields, message
):
    typed = {
        "text": "想借个轮椅推老人去做检查",
        "reason": "老人腿脚不便",
        "location": "3楼候诊区",
        "patient_name": "李大爷",
        "phone": "",
    }
    typed.update(fields)
    response = submit_wish(path, **typed)
    assert response.status_code == 303 and response.headers["Location"] == path
    shown = client.get(path)
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200
    assert message in page
    assert 'aria-invalid="true"' in page
    for name, value in typed.items():
        if name != "department" and value.strip():
            assert value.strip()[:60] in page, f"{name} was not kept"
    assert stored_wishes(db) == []


def test_form_without_csrf_token_is_refused_and_keeps_the_text(client, db):
    response = client.post("/w/new", data={"text": "希望有人陪我聊聊天", "department": ""})
    assert response.status_code == 303
    page = client.get("/w/new").get_data(as_text=True)
    assert "希望有人陪我聊聊天" in page
    assert "已过期" in page
    assert stored_wishes(db) == []


def test_kiosk_shows_the_tracking_code_once_then_returns_to_welcome(client, db, submit_wish):
    response = submit_wish("/kiosk/wish")
    assert response.headers["Location"] == "/kiosk/thanks"
    [wish] = stored_wishes(db)
    assert wish["channel"] == "kiosk"
    thanks = client.get("/kiosk/thanks")
    assert wish["tracking_code"][3:] in thanks.get_data(as_text=True)
    assert "<svg" in thanks.get_data(as_text=True)
    again = client.get("/kiosk/thanks")
    assert again.status_code == 302 and again.headers["Location"] == "/kiosk"


def test_bedside_card_link_preselects_the_ward(client):
    page = client.get("/w/new?dept=ward-pediatrics").get_data(as_text=True)
    assert '<option value="ward-pediatrics" selected>' in page
    assert page.count(" selected>") == 1
    page = client.get("/w/new").get_data(as_text=True)
    assert " selected>" not in page  # the first option, "请选择（可不选）", shows


def test_kiosk_pages_carry_the_idle_reset_and_are_not_cached(client):
    response = client.get("/kiosk/wish")
    page = response.get_data(as_text=True)
    assert 'data-idle-seconds="90"' in page
    assert "js/kiosk.js" in page
    assert "重新开始" in page
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path", ["/", "/kiosk", "/kiosk/wish", "/w/new", "/t", "/cards", "/cards/ward-orthopedics"]
)
def test_pages_load_nothing_from_another_host(client, path):
    response = client.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for attribute in ("src=", "href="):
        for chunk in page.split(attribute)[1:]:
            value = chunk[1:].split(chunk[0], 1)[0]
            assert not value.startswith(("http:", "https:", "//")), value
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_text_pasted_beyond_the_limit_is_kept_and_explained_not_cut(client, db, submit_wish):
    """The browser's maxlength cut a pasted wish at 500 characters without a word; now the
    counter shows the excess and the server says so, keeping every character typed."""
    page = client.get("/w/new").get_data(as_text=True)
    textarea = re.search(r'<textarea[^>]*id="text"[^>]*>', page).group(0)
    assert 'data-counter="500"' in textarea and "maxlength" not in textarea
    pasted = "想要" * 300
    response = submit_wish(text=pasted)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert response.status_code == 303 and "现在是 600 个字" in html
    assert pasted in html and not stored_wishes(db)
    # Text too varied to fit the session cookie is answered at once, every character kept.
    essay = "".join(chr(0x4E00 + i * 7919 % 20000) for i in range(1500))
    response = submit_wish(text=essay)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "现在是 1500 个字" in html
    assert essay in html and not stored_wishes(db)


# ---- post/redirect/get, and the language switch on the form (issue 21, items 1 and 8) -------


def test_a_wish_sent_with_a_mistake_is_shown_again_by_a_get_once(client, db, submit_wish):
    """Back after correcting a mistake showed "Confirm Form Resubmission": the page with the
    mistake was the answer to a POST. Now a mistake redirects to the form's GET (303), which
    shows the message and everything typed, once."""
    response = submit_wish(
        "/kiosk/wish", text="想借个充电宝", reason="手机没电了", location="5 床", phone="12345"
    )
    assert response.status_code == 303 and response.headers["Location"] == "/kiosk/wish"
    shown = client.get("/kiosk/wish")
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "请填写 11 位手机号" in page
    for typed in ("想借个充电宝", "手机没电了", "5 床", 'value="12345"'):
        assert typed in page
    again = client.get("/kiosk/wish").get_data(as_text=True)  # a reload: a blank form
    assert "想借个充电宝" not in again and "请填写 11 位手机号" not in again
    assert not stored_wishes(db)


def test_what_a_mistake_kept_is_forgotten_by_any_other_page(client, submit_wish):
    """At the kiosk the next patient must not find it: the idle reset opens the welcome page."""
    submit_wish("/kiosk/wish", text="想借个充电宝", phone="12345")
    client.get("/kiosk?lang=default")
    assert "想借个充电宝" not in client.get("/kiosk/wish").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/w/new", "/kiosk/wish"])
def test_switching_language_on_the_wish_form_keeps_everything_typed(client, db, path):
    """The switch on a form page is the form's own buttons (no JavaScript needed): they send
    what was typed, a questionnaire comment carried over included, to the same page in the
    other language, which shows it again without checking it."""
    from wishes.questionnaires.comments import COMMENT_AS_WISH

    with client.session_transaction() as session:
        session[COMMENT_AS_WISH] = "希望病房有微波炉"
    page = client.get(f"{path}?from=survey").get_data(as_text=True)
    assert "希望病房有微波炉" in page
    switch = re.search(r'<button[^>]*formaction="([^"]*lang=en)"[^>]*>EN</button>', page)
    assert switch and 'form="wish-form"' in switch.group(0)
    assert 'id="wish-form"' in page
    action = switch.group(1).replace("&amp;", "&")
    typed = {
        "text": "希望病房有微波炉",
        "reason": "饭菜凉了",
        "department": "ward-orthopedics",
        "location": "12 床",
        "patient_name": "王女士",
        "phone": "1381234",  # half typed: no message for it yet
        "csrf_token": csrf_token_of(page),
        "switch_language": "en",
    }
    response = client.post(action, data=typed)
    assert response.status_code == 303 and response.headers["Location"] == action
    shown = client.get(action)
    english = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "Write your wish" in english
    for value in ("希望病房有微波炉", "饭菜凉了", "12 床", "王女士", 'value="1381234"'):
        assert value in english
    assert '<option value="ward-orthopedics" selected>' in english
    assert "form-alert" not in english and "field-error" not in english
    assert not stored_wishes(db)
    assert client.get_cookie("lang").value == "en"


def csrf_token_of(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
