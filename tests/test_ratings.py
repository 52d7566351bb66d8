"""Did it help? (issue 19, item 2): once a wish is fulfilled its tracking page asks the patient
one question (1–5, an optional comment); a low answer sends the wish back to the
Party-building office for follow-up; the answers give each branch a figure on the dashboard
and feed the assessment's computed items."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from conftest import login, page_token, routed_to

from wishes import lifecycle, privacy
from wishes.assessment import metrics
from wishes.assessment import scheme as schemes
from wishes.audit import Who
from wishes.clock import today
from wishes.dashboard import figures
from wishes.lifecycle import Actor, ClaimantKind, WishEntry

BRANCH = Actor("staff", "儿科党支部")
OFFICE = Actor("staff", "党建工作部")


def wish_in(db, state: str = "fulfilled", **entry) -> dict:
    """A wish of the pediatrics branch, brought to `state` through the state machine."""
    fields = {"text": "想给住院的孩子过个生日", "channel": "phone", **entry}
    wish = lifecycle.submit(db, WishEntry(**fields), routed_to("pediatrics"), "pediatrics")
    if state == "open":
        return wish
    lifecycle.claim(db, wish["id"], BRANCH, ClaimantKind.BRANCH, "儿科党支部")
    if state == "claimed":
        return wish
    lifecycle.fulfil(db, wish["id"], BRANCH, "准备了蛋糕和绘本")
    if state == "followed_up":
        lifecycle.follow_up(db, wish["id"], OFFICE, confirmed=True)
    return wish


def hidden(html: str) -> dict[str, str]:
    return dict(
        re.findall(r'name="(csrf_token|submission_id)" type="hidden" value="([^"]*)"', html)
    )


def answer(client, code: str, rating: str, comment: str = "", page: str | None = None, **kw):
    """Send the question's form as a browser does, from the page (`page`: one opened before)."""
    html = page if page is not None else client.get(f"/t/{code}").get_data(as_text=True)
    data = {**hidden(html), "rating": rating, "comment": comment}
    return client.post(f"/t/{code}", data=data, **kw)


def stored(db, wish: dict) -> list[dict]:
    return list(db.query("SELECT * FROM wish_ratings WHERE wish_id = ?", [wish["id"]]))


# ---- the question, the answer, the thanks -----------------------------------------------------


def test_the_question_is_asked_only_once_the_wish_is_fulfilled(client, db):
    for state in ("open", "claimed"):
        page = client.get(f"/t/{wish_in(db, state)['tracking_code']}").get_data(as_text=True)
        assert "心愿的实现符合您的期望吗" not in page, state
    declined = wish_in(db, "open")
    lifecycle.decline(db, declined["id"], OFFICE, "病房内不能使用电热毯")
    page = client.get(f"/t/{declined['tracking_code']}").get_data(as_text=True)
    assert "心愿的实现符合您的期望吗" not in page
    for state in ("fulfilled", "followed_up"):
        code = wish_in(db, state)["tracking_code"]
        for path in (f"/t/{code}", f"/kiosk/t/{code}"):
            page = client.get(path).get_data(as_text=True)
            assert "心愿的实现符合您的期望吗" in page, path
            # the questionnaire's big buttons, 1 to 5, each with its words
            assert page.count('class="choice"><input') == 5
            assert "<b>1</b> 完全不符合" in page and "<b>5</b> 完全符合" in page


def test_an_answer_not_yet_fulfilled_stores_nothing(client, db):
    wish = wish_in(db, "claimed")
    page = client.get(f"/t/{wish['tracking_code']}").get_data(as_text=True)
    response = answer(client, wish["tracking_code"], "5", page=page)
    assert response.status_code == 303
    assert stored(db, wish) == []


@pytest.mark.parametrize(
    ("lang", "thanks", "question"),
    [
        ("zh_Hans", "谢谢您的评价！", "心愿的实现符合您的期望吗？"),
        ("zh_Hant", "謝謝您的評價！", "心願的實現符合您的期望嗎？"),
        ("en", "Thank you for telling us!", "Was your wish fulfilled as you hoped?"),
    ],
)
def test_an_answer_is_stored_and_the_page_thanks_the_patient_in_their_language(
    client, db, lang, thanks, question
):
    wish = wish_in(db)
    code = wish["tracking_code"]
    client.get(f"/?lang={lang}")
    assert question in client.get(f"/t/{code}").get_data(as_text=True)
    response = answer(client, code, "5", "  蛋糕很好吃\u200b，谢谢！ ")
    assert response.status_code == 303 and response.headers["Location"] == f"/t/{code}"
    page = client.get(f"/t/{code}").get_data(as_text=True)
    assert thanks in page
    assert question not in page  # asked once
    [row] = stored(db, wish)
    assert (row["rating"], row["comment"], row["language"], row["channel"]) == (
        5,
        "蛋糕很好吃，谢谢！",  # cleaned as every comment is: trimmed, no invisible characters
        lang,
        "phone",
    )
    event = lifecycle.history(db, wish["id"])[-1]
    assert (event["action"], event["actor_kind"]) == ("rate", "patient")
    assert "蛋糕" not in (event["data"] or "")  # the words are kept in one place only


def test_the_kiosk_stores_its_answer_as_the_kiosks(client, db):
    wish = wish_in(db)
    path = f"/kiosk/t/{wish['tracking_code']}"
    html = client.get(path).get_data(as_text=True)
    response = client.post(path, data={**hidden(html), "rating": "4"})
    assert response.status_code == 303 and response.headers["Location"] == path
    assert "谢谢您的评价" in client.get(path).get_data(as_text=True)
    assert stored(db, wish)[0]["channel"] == "kiosk"


def test_the_language_switch_carries_the_answer_into_the_other_language(client, db):
    code = wish_in(db)["tracking_code"]
    html = client.get(f"/t/{code}").get_data(as_text=True)
    assert 'form="rating-form"' in html  # the switch is the form's own buttons
    data = {**hidden(html), "rating": "4", "comment": "很好", "switch_language": "en"}
    response = client.post(f"/t/{code}?lang=en", data=data, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Was your wish fulfilled as you hoped?" in page
    assert re.search(r'value="4"[^>]*checked|checked[^>]*value="4"', page)
    assert "很好" in page


# ---- bad input, double submits --------------------------------------------------------------


def test_bad_input_is_explained_and_nothing_typed_is_lost(client, db):
    wish = wish_in(db)
    code = wish["tracking_code"]
    essay = "床边的灯" * 200  # 800 characters: over the 500 a comment may have
    response = answer(client, code, "9", essay, follow_redirects=True)
    assert response.status_code == 200  # the page again (post/redirect/get), not a 500
    page = response.get_data(as_text=True)
    assert "请在 1 到 5 中选择一项" in page
    assert "请不超过 500 个字" in page
    assert essay in page  # kept, to be shortened by the patient
    assert stored(db, wish) == []
    for rating in ("", "abc", "0", "6", "5.5"):
        response = answer(client, code, rating)
        assert response.status_code in (303, 400), rating
    assert stored(db, wish) == []
    # a missing or tampered token: the page again, the choice kept, nothing stored
    response = client.post(f"/t/{code}", data={"rating": "5"}, follow_redirects=True)
    assert response.status_code == 200
    assert "页面停留太久已过期" in response.get_data(as_text=True)
    assert stored(db, wish) == []
    # A comment too long for the session cookie to carry is answered directly, kept whole.
    huge = "".join(chr(0x4E00 + i * 7919 % 20000) for i in range(3000))  # does not compress
    response = answer(client, code, "3", huge)
    assert response.status_code == 400
    assert huge in response.get_data(as_text=True)
    assert stored(db, wish) == []


def test_a_double_submit_stores_once_and_a_second_page_cannot_change_the_first(client, db):
    wish = wish_in(db)
    code = wish["tracking_code"]
    first_tab = client.get(f"/t/{code}").get_data(as_text=True)
    second_tab = client.get(f"/t/{code}").get_data(as_text=True)
    assert hidden(first_tab)["submission_id"] != hidden(second_tab)["submission_id"]
    for _twice in range(2):  # a double tap on the button
        assert answer(client, code, "2", "没送到床边", page=first_tab).status_code == 303
    assert answer(client, code, "5", page=second_tab).status_code == 303  # the other tab
    [row] = stored(db, wish)
    assert (row["rating"], row["comment"]) == (2, "没送到床边")
    assert [e["action"] for e in lifecycle.history(db, wish["id"])].count("rate") == 1
    page = client.get(f"/t/{code}").get_data(as_text=True)
    assert "您的评价：2 分" in page and "每个心愿只评价一次" in page
    # the state machine refuses it too, whoever calls it
    with pytest.raises(lifecycle.AlreadyRated):
        lifecycle.rate(
            db, wish["id"], 5, "", language="en", channel="phone", submission_id="b" * 32
        )


def test_answers_are_rate_limited_like_the_other_public_forms(app, client, db):
    app.config["WISHES_RATE_LIMIT_FACTOR"] = 1 / 30  # one answer per address per window
    first, second = wish_in(db), wish_in(db)
    assert answer(client, first["tracking_code"], "4").status_code == 303
    response = answer(client, second["tracking_code"], "4", "还不错")
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "提交太频繁了" in page and "还不错" in page
    assert stored(db, second) == []


# ---- a low answer: the office's follow-up --------------------------------------------------


def test_a_low_answer_puts_the_wish_on_the_offices_list_until_it_follows_up(client, db, staff):
    happy, unhappy = wish_in(db), wish_in(db, text="想借一台轮椅")
    answer(client, happy["tracking_code"], "5")
    answer(client, unhappy["tracking_code"], "1", "轮椅一直没有送来")
    page = client.get(f"/t/{unhappy['tracking_code']}").get_data(as_text=True)
    assert "医院党建办会跟进这个心愿" in page

    office = client.application.test_client()
    login(office, "triager")
    board = office.get("/board").get_data(as_text=True)
    assert re.search(r"患者不满意 <span class=\"count-badge is-hot\">1</span>", board)
    listed = office.get("/board?unhappy=y&branch=all").get_data(as_text=True)
    assert "想借一台轮椅" in listed and "想给住院的孩子过个生日" not in listed
    wish_page = office.get(f"/board/wishes/{unhappy['id']}").get_data(as_text=True)
    assert "患者不满意，待回访" in wish_page and "轮椅一直没有送来" in wish_page
    assert "1 分" in wish_page

    # The branch cannot clear its own complaint: the follow-up is the office's now.
    member = client.application.test_client()
    login(member, "member_a")
    path = f"/board/wishes/{unhappy['id']}/follow_up"
    token = page_token(member.get(f"/board/wishes/{unhappy['id']}"))
    refused = member.post(path, data={"csrf_token": token, "confirmed": "no"})
    assert refused.status_code == 403

    token = page_token(office.get(f"/board/wishes/{unhappy['id']}"))
    data = {"csrf_token": token, "confirmed": "yes", "note": "已电话致歉，轮椅今天送到"}
    assert office.post(path, data=data).status_code == 303
    assert "想借一台轮椅" not in office.get("/board?unhappy=y&branch=all").get_data(as_text=True)
    assert "患者不满意 <span" not in office.get("/board").get_data(as_text=True)
    moved = db["wishes"].get(unhappy["id"])
    assert (moved["state"], moved["follow_up_due_at"]) == ("followed_up", None)
    actions = [e["action"] for e in lifecycle.history(db, unhappy["id"])]
    assert actions[-2:] == ["rate", "follow_up"]


def test_a_low_answer_after_the_follow_up_call_asks_for_another(client, db, staff):
    wish = wish_in(db, "followed_up")
    # followed up and nothing since: no second follow-up
    with pytest.raises(lifecycle.IllegalMove):
        lifecycle.follow_up(db, wish["id"], OFFICE, confirmed=True)
    answer(client, wish["tracking_code"], "2", "送来的书是坏的")
    office = client.application.test_client()
    login(office, "triager")
    page = office.get(f"/board/wishes/{wish['id']}").get_data(as_text=True)
    assert 'id="action-follow_up"' in page
    path = f"/board/wishes/{wish['id']}/follow_up"
    data = {"csrf_token": page_token(office.get(f"/board/wishes/{wish['id']}")), "confirmed": "yes"}
    assert office.post(path, data=data).status_code == 303
    last = lifecycle.history(db, wish["id"])[-1]
    assert (last["action"], last["from_state"], last["to_state"]) == (
        "follow_up",
        "followed_up",
        "followed_up",
    )
    assert db["wishes"].get(wish["id"])["follow_up_due_at"] is None
    page = office.get(f"/board/wishes/{wish['id']}").get_data(as_text=True)
    assert 'id="action-follow_up"' not in page  # done: no third one


def test_a_high_answer_sends_nothing_back(client, db):
    wish = wish_in(db)
    answer(client, wish["tracking_code"], "3")
    assert db["wishes"].get(wish["id"])["follow_up_due_at"] is None


def test_an_answer_is_no_state_change_for_the_hospitals_systems(app, client, db):
    """Webhooks out tell of changes to a wish; the patient's answer changes none."""
    app.config.update(WISHES_WEBHOOK_URL="http://127.0.0.1:9/hook")
    with app.app_context():
        wish = wish_in(db)
    queued = db.execute("SELECT count(*) FROM notifications WHERE kind = 'state_change'")
    before = queued.fetchone()[0]
    assert before > 0  # submitted, claimed, fulfilled
    answer(client, wish["tracking_code"], "2")
    assert stored(db, wish)[0]["rating"] == 2
    after = db.execute("SELECT count(*) FROM notifications WHERE kind = 'state_change'")
    assert after.fetchone()[0] == before


# ---- the figures --------------------------------------------------------------------------


def _branch_row(html: str) -> str:
    table = html.split('id="patient_ratings-table"')[1].split("</table>")[0]
    return next(row for row in table.split("<tr>") if "儿科党支部" in row)


def test_the_dashboards_branch_figure_moves(app, client, db, staff):
    app.config["WISHES_MIN_RESPONSES"] = 2
    manager = app.test_client()
    login(manager, "manager")
    day = today().isoformat()
    url = f"/dashboard?first={day}&last={day}"
    first, second = wish_in(db), wish_in(db)
    assert "患者评价办理结果" in manager.get(url).get_data(as_text=True)
    answer(client, first["tracking_code"], "5")
    assert "样本不足" in _branch_row(manager.get(url).get_data(as_text=True))
    answer(client, second["tracking_code"], "2")
    row = _branch_row(manager.get(url).get_data(as_text=True))
    assert "<strong>3.50</strong>" in row  # the mean of 5 and 2
    assert "<strong>50.0</strong>" in row  # one of two answered 4–5
    table = figures.patient_ratings(db, figures.Filters(today(), today(), minimum=1))
    entry = next(r for r in table.rows if r["branch"] == "儿科党支部")
    assert (entry["n"], entry["mean"].value, entry["top"].value, entry["low"]) == (2, 3.5, 50, 1)
    csv = manager.get(f"/dashboard/export/patient_ratings.csv?first={day}&last={day}")
    assert csv.status_code == 200 and "3.5" in csv.get_data(as_text=True)


def test_the_assessments_computed_item_reads_the_answers(client, db):
    days = (today().isoformat(), today().isoformat())
    now = datetime.now(UTC)
    before = metrics.figures_for(db, ["pediatrics", "logistics"], days, 24, now)
    assert before["pediatrics"]["patient_rating"] == metrics.Figure(None, 0)
    for rating in ("4", "5", "3"):
        answer(client, wish_in(db)["tracking_code"], rating)
    after = metrics.figures_for(db, ["pediatrics", "logistics"], days, 24, now)
    assert after["pediatrics"]["patient_rating"] == metrics.Figure(4.0, 3)
    assert after["logistics"]["patient_rating"] == metrics.Figure(None, 0)
    item = {
        "key": "rated",
        "name": "患者评价",
        "points": 10,
        "scoring": "computed",
        "metric": "patient_rating",
        "thresholds": [[3, 0], [5, 1]],
        "min_count": 3,
    }
    parsed = schemes._item(item, "第 1 项")
    assert schemes.computed_points(parsed, 4.0, 3) == 5.0
    assert "patient_rating" in schemes.METRICS


# ---- personal data ------------------------------------------------------------------------


def test_erasure_keeps_the_comment_as_it_keeps_the_wishs_text(client, db):
    wish = wish_in(db, patient_name="小刘妈妈", phone="13912345678", contact_consent=True)
    answer(client, wish["tracking_code"], "2", "护士态度不好")
    privacy.erase_on_request(db, wish["id"], Who(label="admin"))
    kept = db["wishes"].get(wish["id"])
    assert (kept["patient_name"], kept["phone"], kept["text"]) == (None, None, wish["text"])
    assert stored(db, wish)[0]["comment"] == "护士态度不好"
