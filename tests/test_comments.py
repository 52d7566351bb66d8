"""The comments' sentiment classifier: `wishes comments evaluate` (issue 20, item 7)."""

import json
import re
from pathlib import Path

import pytest

from wishes.questionnaires import sentiment


def test_evaluate_scores_any_labelled_csv_as_json(runner, tmp_path):
    data = tmp_path / "mine.csv"
    data.write_text(
        "text,label\n"
        "护士态度特别好，谢谢你们,positive\n"
        "排队两个小时没人管，太差了,negative\n"
        "停车场什么时候开门,neutral\n"
        "醫生好有耐心，多謝,positive\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["comments", "evaluate", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert set(scores) == {"n", "accuracy", "macro_f1"} and scores["n"] == 4
    assert scores["accuracy"] >= 0.75  # plain cases: at most one missed


def test_a_row_with_another_label_is_named(runner, tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("text,label\n很好,positive\n一般般,so-so\n", encoding="utf-8")
    result = runner.invoke(args=["comments", "evaluate", "--data", str(data), "--json"])
    assert result.exit_code != 0
    assert "row 3" in result.output and "so-so" in result.output


def test_the_held_out_comments_are_read_as_the_docs_say():
    """docs/comments.md reports these figures; at least 0.85 accuracy is the target."""
    scores = sentiment.score(sentiment.bundled(), sentiment.labelled(sentiment.HELDOUT_FILE))
    assert scores["n"] == 448
    assert scores["accuracy"] >= 0.85 and scores["macro_f1"] >= 0.85


def test_the_held_out_comments_were_never_trained_on():
    training = {text for text, _ in sentiment.labelled(sentiment.TRAINING_FILE)}
    heldout = {text for text, _ in sentiment.labelled(sentiment.HELDOUT_FILE)}
    assert not training & heldout


def _answer(client, comment, department=""):
    from conftest import csrf_token

    token = csrf_token(client, "/s/satisfaction")
    html = client.get("/s/satisfaction").get_data(as_text=True)
    submission = re.search(r'name="submission_id" type="hidden" value="([^"]+)"', html).group(1)
    data = {"csrf_token": token, "submission_id": submission, "q_overall": "3"}
    data |= {"q_recommend": "7", "q_comment": comment, "q_department": department}
    response = client.post("/s/satisfaction", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def test_each_comment_is_stored_with_its_sentiment_and_shown_behind_its_count(client, db, staff):
    """Issue 20, item 7: a comment gets a sentiment when it is answered; the dashboard counts
    comments by category and sentiment, and each count opens the comments behind it."""
    from conftest import login

    from wishes.questionnaires import store

    store.ensure_default(db)
    _answer(client, "排队两个多小时都没人管，态度也很差，太失望了")
    _answer(client, "护士们都很耐心，谢谢你们的照顾")
    stored = [row[0] for row in db.execute("SELECT comment_sentiment FROM responses ORDER BY id")]
    assert stored == ["negative", "positive"]
    login(client, "manager")
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "文字意见：需求类别与情感" in dashboard and "文字意见的情感（按周）" in dashboard
    links = re.findall(r'href="(/dashboard/comments\?[^"]*sentiment=negative[^"]*)"', dashboard)
    assert links, "a count links to its comments"
    page = client.get(links[0].replace("&amp;", "&")).get_data(as_text=True)
    assert "太失望了" in page and "谢谢你们的照顾" not in page
    everything = client.get("/dashboard/comments").get_data(as_text=True)
    assert "太失望了" in everything and "谢谢你们的照顾" in everything
    odd = client.get("/dashboard/comments?category=nonsense&sentiment=angry&page=x")
    assert odd.status_code == 200


def test_each_department_has_its_own_view_of_its_unhappy_comments(client, db, staff):
    """Issue 20, item 7: the dashboard lists the departments with unhappy comments, most first,
    and each opens its own view of them."""
    from conftest import login

    from wishes.questionnaires import store

    store.ensure_default(db)
    first, second = [row[0] for row in db.execute("SELECT code FROM departments LIMIT 2")]
    _answer(client, "排队两个多小时都没人管，太失望了", first)
    _answer(client, "厕所很脏，没人打扫，太差了", first)
    _answer(client, "护士们都很耐心，谢谢你们的照顾", first)
    _answer(client, "挂号的人态度很差，问什么都不理", second)
    login(client, "manager")
    dashboard = client.get("/dashboard").get_data(as_text=True)
    table = dashboard[dashboard.index("各科室的不满意见") :]
    links = re.findall(r'href="(/dashboard/comments\?[^"]*sentiment=negative[^"]*)"', table)
    assert [f"department={first}" in link for link in links[:2]] == [True, False]
    page = client.get(links[0].replace("&amp;", "&")).get_data(as_text=True)
    assert "太失望了" in page and "厕所很脏" in page
    assert "谢谢你们的照顾" not in page and "挂号的人" not in page


def test_comments_stored_before_are_read_by_the_label_command(runner, db):
    """`wishes comments label` reads the comments stored without a reading (older data)."""
    from wishes.questionnaires import store

    store.ensure_default(db)
    version = store.live_version(db, "satisfaction")
    for number, comment in enumerate(["医生态度太差了，问什么都不耐烦", "非常感谢护士们的照顾"]):
        store.store_response(
            db,
            version,
            store.answers_from(version, {"overall": 3, "comment": comment}),
            submission_id=f"old-{number}",
            department_code=None,
            channel="phone",
        )
    assert (
        db.execute("SELECT count(*) FROM responses WHERE comment_sentiment IS NULL").fetchone()[0]
        == 2
    )
    result = runner.invoke(args=["comments", "label", "--batch", "1"])
    assert result.exit_code == 0 and "2 comments read" in result.output, result.output
    read = [row[0] for row in db.execute("SELECT comment_sentiment FROM responses ORDER BY id")]
    assert read == ["negative", "positive"]
    again = runner.invoke(args=["comments", "label"])
    assert "already" in again.output


def test_the_trend_counts_each_periods_comments_by_sentiment(app, db):
    from datetime import date

    from wishes.dashboard import figures
    from wishes.questionnaires import store

    store.ensure_default(db)
    version = store.live_version(db, "satisfaction")
    for number, (day, feeling) in enumerate(
        [("2026-03-02", "negative"), ("2026-03-03", "negative"), ("2026-03-10", "positive")]
    ):
        store.store_response(
            db,
            version,
            store.answers_from(version, {"overall": 3, "comment": f"意见 {number}"}),
            submission_id=f"t-{number}",
            department_code=None,
            channel="phone",
            comment_sentiment=feeling,
            at=f"{day} 04:00:00",
        )
    filters = figures.Filters(
        date(2026, 3, 1), date(2026, 3, 31), "week", None, version.questionnaire_id, 2
    )
    with app.app_context():
        rows = figures.comment_trend(db, filters).rows
    assert [(r["period"], r["negative"], r["positive"]) for r in rows] == [
        ("2026-03-02", 2, 0),
        ("2026-03-09", 0, 1),
    ]
    assert rows[0]["negative_share"].value == 100.0
    assert rows[1]["negative_share"].value is None  # one comment: under the minimum of 2


def test_praise_in_a_comment_reaches_the_office_to_pass_on(client, db, staff):
    """Issue 20, item 7: praise for a named department waits on the office's page (with a
    count in the navigation) until someone records it passed on, audited."""
    from conftest import csrf_token, flashes, login

    from wishes.questionnaires import store

    store.ensure_default(db)
    version = store.live_version(db, "satisfaction")
    ward = db.execute("SELECT code, name FROM departments ORDER BY code LIMIT 1").fetchone()
    store.store_response(
        db,
        version,
        store.answers_from(version, {"overall": 5, "comment": "护士们特别耐心，谢谢你们"}),
        submission_id="praise-1",
        department_code=ward[0],
        channel="phone",
        comment_sentiment="positive",
        comment_category="praise",
    )
    login(client, "triager")
    page = client.get("/admin/questionnaires/thanks").get_data(as_text=True)
    assert "护士们特别耐心" in page and f"表扬：{ward[1]}" in page
    assert 'count-badge">1</span></a>' in client.get("/board").get_data(as_text=True)
    (response_id,) = db.execute("SELECT id FROM responses").fetchone()
    token = csrf_token(client, "/admin/questionnaires/thanks")
    done = client.post(
        f"/admin/questionnaires/thanks/{response_id}",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "已记为转达" in " ".join(flashes(done.get_data(as_text=True)))
    assert "护士们特别耐心" not in done.get_data(as_text=True)
    passed = client.get("/admin/questionnaires/thanks?passed=1").get_data(as_text=True)
    assert "护士们特别耐心" in passed and "triager 于" in passed
    again = client.post(
        f"/admin/questionnaires/thanks/{response_id}",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "已经转达过" in " ".join(flashes(again.get_data(as_text=True)))
    events = [r[0] for r in db.execute("SELECT action FROM audit_events")]
    assert events.count("thanks_passed_on") == 1
    login(client, "member_a")
    assert client.get("/admin/questionnaires/thanks").status_code == 403


def test_a_second_start_reads_the_classifier_from_disk_instead_of_training(app, monkeypatch):
    """Training takes seconds on a busy server: only the first start pays for it; a damaged
    file is trained again and written over."""
    from wishes.questionnaires import sentiment

    monkeypatch.setattr(sentiment, "_KEPT", {})
    with app.app_context():
        first = sentiment.bundled()
        (stored,) = (Path(app.config["WISHES_MODELS_DIR"]) / "comments").glob("*.skops")
        monkeypatch.setattr(sentiment, "_KEPT", {})
        monkeypatch.setattr(sentiment, "train", lambda rows: pytest.fail("trained again"))
        again = sentiment.bundled()
        comment = "排队两个多小时都没人管，太失望了"
        assert again is not first and again.predict([comment]) == first.predict([comment])
        stored.write_bytes(b"not a model")
        monkeypatch.undo()  # training allowed again
        monkeypatch.setattr(sentiment, "_KEPT", {})
        assert sentiment.bundled().predict([comment])[0] == "negative"
        assert stored.read_bytes().startswith(b"PK")  # written over with a real model
