from wishes import lifecycle
from wishes.lifecycle import Actor, ClaimantKind, WishEntry


def make_wish(db, **extra):
    entry = WishEntry(
        text="想给住院的孩子过个生日",
        channel="phone",
        patient_name="小刘妈妈",
        phone="13912345678",
        contact_consent=True,
        **extra,
    )
    return lifecycle.submit(db, entry, None)


def test_tracking_page_tells_the_story_in_patient_words_without_personal_data(client, db):
    wish = make_wish(db)
    office = Actor("staff", "党建工作部", None)
    lifecycle.triage(db, wish["id"], "pediatrics", office)
    lifecycle.claim(db, wish["id"], Actor("staff", "儿科党支部"), ClaimantKind.BRANCH, "儿科党支部")
    lifecycle.fulfil(db, wish["id"], Actor("staff", "儿科党支部"), "为孩子准备了蛋糕和绘本")
    page = client.get(f"/t/{wish['tracking_code']}").get_data(as_text=True)
    assert "已实现" in page
    assert "为孩子准备了蛋糕和绘本" in page
    assert "认领人：儿科党支部" in page
    assert "已转交儿科党支部" in page
    assert "想给住院的孩子过个生日" in page
    assert "小刘妈妈" not in page and "13912345678" not in page and "5678" not in page


def test_declined_wish_shows_the_reason(client, db):
    wish = make_wish(db)
    lifecycle.decline(db, wish["id"], Actor("staff", "党建工作部"), "病房内不能使用电热毯")
    page = client.get(f"/t/{wish['tracking_code']}").get_data(as_text=True)
    assert "未能实现" in page and "病房内不能使用电热毯" in page


def test_code_typed_in_lower_case_with_spaces_is_found(client, db):
    code = make_wish(db)["tracking_code"]
    typed = f" {code[:3].lower()} {code[3:]} "
    response = client.get("/t", query_string={"code": typed})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/t/{code}"


def test_unknown_code_gets_a_friendly_page(client):
    response = client.get("/t/ZZZZZZZ")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "没有找到这个查询码" in page
    assert 'value="ZZZZZZZ"' in page


def test_kiosk_tracking_uses_the_kiosk_layout(client, db):
    code = make_wish(db)["tracking_code"]
    page = client.get(f"/kiosk/t/{code}").get_data(as_text=True)
    assert "kiosk.js" in page and "已收到，正在安排" in page


def test_tracking_codes_are_readable_and_not_sequential(db):
    codes = [make_wish(db)["tracking_code"] for _ in range(50)]
    assert len(set(codes)) == 50
    for code in codes:
        assert len(code) == 7
        assert not set(code) & set("01OIL")
    assert codes != sorted(codes)
