"""The branch assessment: the default 五化 rubric, tiers and vetoes; the computed items on
hand-made wishes and answers with known results; scheme versions, stages and the inspection's
reasons; who sees and scores what (generated from one table); the export against the page."""

import gc
import io
import json
import re
import threading
import warnings
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD, STAFF, login, page_token
from openpyxl import load_workbook

from wishes import audit
from wishes.assessment import metrics, results, scheme, stages, store
from wishes.glossary import assessment as words
from wishes.questionnaires import store as questionnaires
from wishes.questionnaires.store import Answer
from wishes.states import IllegalMove
from wishes.storage import connect, database_path


@pytest.fixture(scope="module")
def default():
    return scheme.load_default()


def test_the_default_scheme_is_five_areas_of_100_points(default):
    assert default["total"] == 500
    five = [
        "组织生活正常化",
        "支部建设标准化",
        "管理服务精细化",
        "工作制度体系化",
        "阵地建设规范化",
    ]
    assert [a["name"] for a in default["areas"]] == five
    assert [sum(i["points"] for i in a["items"]) for a in default["areas"]] == [100] * 5
    metrics = {
        i["metric"] for a in default["areas"] for i in a["items"] if i["scoring"] == "computed"
    }
    assert metrics == set(scheme.METRICS)
    assert any(i["veto"] for a in default["areas"] for i in a["items"])


@pytest.mark.parametrize(
    ("total", "label"),
    [
        (500, "优秀"),
        (450, "优秀"),
        (449.9, "良好"),
        (400, "良好"),
        (399, "合格"),
        (300, "合格"),
        (299, "不合格"),
        (0, "不合格"),
    ],
)
def test_tier_boundaries(default, total, label):
    assert scheme.tier(default, total)["label"] == label


def test_a_failed_veto_caps_the_tier(default):
    assert scheme.tier(default, 480, vetoed=True)["label"] == "不合格"


@pytest.mark.parametrize(("figure", "share"), [(40, 0), (50, 0), (72.5, 0.5), (95, 1), (100, 1)])
def test_higher_is_better_interpolation(figure, share):
    assert scheme.share_of_points(figure, [[50, 0], [95, 1]]) == pytest.approx(share)


@pytest.mark.parametrize(("hours", "share"), [(48, 1), (72, 1), (156, 0.5), (240, 0), (500, 0)])
def test_lower_is_better_interpolation(hours, share):
    assert scheme.share_of_points(hours, [[72, 1], [240, 0]]) == pytest.approx(share)


def test_a_computed_item_needs_enough_data(default):
    item = next(i for a in default["areas"] for i in a["items"] if i["key"] == "fulfilment_rate")
    assert scheme.computed_points(item, 70, count=20) == 10.0  # halfway from 50% to 90% of 20
    assert scheme.computed_points(item, 70, count=4) is None  # insufficient data, not zero
    assert scheme.computed_points(item, None, count=0) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["areas"][0]["items"][0].update(points=30), "与总分"),
        (lambda s: s["areas"][2]["items"][0].update(metric="luck"), "指标"),
        (lambda s: s["areas"][2]["items"][0].update(thresholds=[[50, 0]]), "两个点"),
        (lambda s: s["areas"][1]["items"][0].update(key="three_meetings"), "重复"),
        (lambda s: s.update(tiers=[{"label": "优秀", "min": 450}]), "下限为 0"),
    ],
)
def test_a_broken_scheme_is_refused_with_what_is_wrong(change, message):
    from importlib import resources

    data = json.loads(
        resources.files("wishes.assessment").joinpath("default_scheme.json").read_text("utf-8")
    )
    change(data)
    with pytest.raises(scheme.SchemeError, match=message):
        scheme.parse(data)


# ---- computed items on hand-made wishes and answers ----------------------------------------


OCTOBER = ("2026-10-01", "2026-10-31")
NOW = datetime(2026, 11, 15, tzinfo=UTC)
OFFICE = audit.Who(label="triager")
_serial = iter(range(1, 10_000))


def _at(day: str, hours: float = 0) -> str:
    moment = datetime.fromisoformat(day).replace(hour=8) + timedelta(hours=hours)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _wish(
    db,
    branch: str,
    day: str,
    state: str,
    *,
    claim_after: float | None = None,
    fulfil_after: float | None = None,
    confirmed: int | None = None,
) -> None:
    """A wish submitted and routed at 08:00 of `day`, claimed and fulfilled so many hours on."""
    n = next(_serial)
    db["wishes"].insert(
        {
            "tracking_code": f"T{n:06d}",
            "text": "测试心愿",
            "channel": "phone",
            "state": state,
            "branch_code": branch,
            "created_at": _at(day),
            "updated_at": _at(day),
            "routed_at": _at(day),
            "local_day": day,
            "claimed_at": _at(day, claim_after) if claim_after is not None else None,
            "fulfilled_at": _at(day, fulfil_after) if fulfil_after is not None else None,
            "patient_confirmed": confirmed,
        }
    )


@pytest.fixture
def october(db):
    """Pediatrics' October: known answers worked out by hand in the tests below."""
    _wish(db, "pediatrics", "2026-10-02", "open")  # unclaimed, long past the 24 h limit
    _wish(
        db, "pediatrics", "2026-10-03", "followed_up", claim_after=2, fulfil_after=48, confirmed=1
    )
    _wish(db, "pediatrics", "2026-10-04", "fulfilled", claim_after=30, fulfil_after=100)
    _wish(db, "pediatrics", "2026-10-05", "claimed", claim_after=1)
    _wish(db, "pediatrics", "2026-10-06", "declined")
    _wish(
        db, "pediatrics", "2026-10-07", "followed_up", claim_after=5, fulfil_after=10, confirmed=0
    )
    _wish(db, "pediatrics", "2026-11-02", "fulfilled", claim_after=1, fulfil_after=5)  # after
    _wish(db, "logistics", "2026-10-08", "fulfilled", claim_after=1, fulfil_after=5)
    return db


def test_the_wish_figures_count_what_the_readme_says(october):
    got = metrics.wish_figures(october, ["pediatrics", "finance"], OCTOBER, 24, NOW)
    p = got["pediatrics"]
    # Claimed: 4 (3 within 24 h); still open past the limit: 1 → 3 of 5.
    assert (p["claim_in_time_share"].value, p["claim_in_time_share"].count) == (60.0, 5)
    # Six wishes, one declined → 3 fulfilled of 5.
    assert (p["fulfilment_rate"].value, p["fulfilment_rate"].count) == (60.0, 5)
    # Of the 3 fulfilled, 1 confirmed at follow-up.
    assert p["confirmed_share"].count == 3
    assert p["confirmed_share"].value == pytest.approx(100 / 3)
    # Fulfilled after 48, 100 and 10 hours: the median is 48.
    assert (p["median_fulfil_hours"].value, p["median_fulfil_hours"].count) == (48.0, 3)
    # A branch with no wishes has nothing to count, not zeros.
    assert all(f == metrics.Figure(None, 0) for f in got["finance"].values())


def test_an_even_count_has_the_mean_of_the_two_middle_times_as_median(october):
    _wish(october, "pediatrics", "2026-10-09", "fulfilled", claim_after=1, fulfil_after=60)
    got = metrics.wish_figures(october, ["pediatrics"], OCTOBER, 24, NOW)["pediatrics"]
    assert got["median_fulfil_hours"] == metrics.Figure(54.0, 4)  # 10, 48 | 60, 100


def _answer(db, version, department: str, overall: int, day: str = "2026-10-10") -> None:
    questionnaires.store_response(
        db,
        version,
        [Answer("overall", value=overall, scale=5)],
        submission_id=f"s{next(_serial)}",
        department_code=department,
        channel="phone",
        at=f"{day} 03:00:00",
    )


def test_served_top_box_counts_only_the_departments_a_branch_serves(db):
    qid = questionnaires.ensure_default(db)
    version = questionnaires.latest_version(db, qid)
    for department, overall in [
        ("ward-pediatrics", 5),
        ("ward-pediatrics", 4),
        ("ward-pediatrics", 3),
        ("ward-neonatal", 2),
        ("clinic-pediatrics", 5),
        ("emergency", 1),
        ("emergency", 1),
    ]:
        _answer(db, version, department, overall)
    _answer(db, version, "ward-pediatrics", 1, day="2026-11-03")  # outside the period
    got = metrics.served_top_box(db, ["pediatrics", "logistics"], OCTOBER)
    assert got["pediatrics"] == metrics.Figure(60.0, 5)  # 3 of its 5 answers are 4–5
    # Logistics serves the whole hospital: 3 of all 7.
    assert got["logistics"].count == 7
    assert got["logistics"].value == pytest.approx(300 / 7)


def _october_round(db, codes=("pediatrics", "logistics")) -> store.Round:
    round_id = store.create_round(
        db, "2026 年 10 月", date(2026, 10, 1), date(2026, 10, 31), list(codes), OFFICE
    )
    return store.get_round(db, round_id)


def _score_all_manual(db, current, code, share=1.0, **overrides) -> None:
    who = audit.Who(label="secretary")
    for item in current.scheme.items:
        if item["scoring"] == "manual":
            points = overrides.get(item["key"], item["points"] * share)
            store.self_assess(db, current, code, item["key"], points, "", who)


def test_computed_items_score_by_interpolation_or_read_insufficient_data(october):
    current = _october_round(october)
    _score_all_manual(october, current, "pediatrics", share=0)
    entry = results.branch_scores(october, current, 24, NOW, ["pediatrics"])[0]
    items = entry.items
    assert items["claim_in_time"].points == 4.4  # 60% between 50% (0) and 95% (20 points)
    assert items["fulfilment_rate"].points == 5.0  # 60% between 50% (0) and 90% (20)
    for key in ("fulfil_time", "follow_up", "satisfaction"):  # 3, 3 and 0 counted
        assert items[key].insufficient and items[key].points is None
    # The service area is scaled from the items that could be scored: (4.4 + 5 + 0) of the
    # 50 points those three are worth, onto 100.
    assert entry.areas["service"] == round((4.4 + 5.0) * 100 / 50, 1)
    assert entry.scaled


def test_an_unfinished_branch_has_no_total_or_place_and_ranks_after_the_finished(october):
    """Issue 21, item 7: an item nobody has scored yet is not worth zero."""
    current = _october_round(october)
    _score_all_manual(october, current, "logistics", share=0.5)
    ranked = results.branch_scores(october, current, 24, NOW)
    done, unfinished = ranked
    assert (done.code, done.rank) == ("logistics", 1) and done.total is not None
    assert unfinished.code == "pediatrics" and unfinished.missing
    assert unfinished.rank is None and unfinished.total is None
    assert unfinished.areas["service"] is None
    general = {g.code: g for g in results.general_scores(current, ranked)}
    assert all(g.total in (None, done.total) for g in general.values())
    rows = results.ranking_table(current, ranked).rows
    assert rows[1]["rank"] is None and rows[1]["total"] is None
    assert rows[1]["tier"].startswith("评分未完成")


def _branch(db, current, code="pediatrics"):
    return results.branch_scores(db, current, 24, NOW, [code])[0]


@pytest.mark.parametrize(
    ("taken", "total", "tier"),
    [
        (0, 500, "优秀"),
        (50, 450, "优秀"),
        (50.5, 449.5, "良好"),
        (100, 400, "良好"),
        (100.5, 399.5, "合格"),
        (200, 300, "合格"),
        (200.5, 299.5, "不合格"),
    ],
)
def test_tier_boundaries_on_a_scored_branch(db, taken, total, tier):
    """Full marks, less `taken` points from manual items outside the service area (whose
    computed items have no data here, so that area is scaled from its one manual item)."""
    current = _october_round(db)
    service = {
        i["key"]
        for a in current.scheme.definition["areas"]
        if a["key"] == "service"
        for i in a["items"]
    }
    overrides, left = {}, taken
    for item in current.scheme.items:
        if item["key"] not in service and not item["veto"] and left > 0:
            overrides[item["key"]] = item["points"] - min(left, item["points"])
            left -= min(left, item["points"])
    _score_all_manual(db, current, "pediatrics", **overrides)
    entry = _branch(db, current)
    assert (entry.total, entry.tier["label"], entry.vetoed) == (total, tier, False)


def test_a_veto_item_scored_zero_caps_the_tier(db):
    current = _october_round(db)
    _score_all_manual(db, current, "pediatrics", setup_and_election=0)
    entry = _branch(db, current)
    assert entry.total >= 450 and entry.vetoed
    assert entry.tier["label"] == "不合格"


# ---- scheme versions, stages, inspection ----------------------------------------------------


def _edited(version, **changes):
    definition = json.loads(json.dumps(version.definition))
    definition["areas"][0]["items"][0].update(changes)
    return definition


def test_editing_the_scheme_before_any_round_changes_it_in_place(db):
    first = store.ensure_default(db)
    saved = store.save_scheme(db, _edited(first, guidance="每缺 1 次扣 3 分。"), OFFICE)
    assert (saved.id, saved.number) == (first.id, 1)
    assert saved.definition["areas"][0]["items"][0]["guidance"] == "每缺 1 次扣 3 分。"


def test_editing_a_scheme_a_round_used_makes_a_new_version_and_the_round_keeps_its_own(db):
    current = _october_round(db)
    _score_all_manual(db, current, "pediatrics")
    before = _branch(db, current)
    # Move 5 points from one item to another so the total stays 500.
    definition = json.loads(json.dumps(current.scheme.definition))
    definition["areas"][0]["items"][0]["points"] = 20
    definition["areas"][0]["items"][1]["points"] = 20
    saved = store.save_scheme(db, definition, OFFICE)
    assert saved.number == 2 and saved.id != current.scheme.id
    reread = store.get_round(db, current.id)
    assert reread.scheme.id == current.scheme.id
    assert reread.scheme.item("three_meetings")["points"] == 25
    assert _branch(db, reread).total == before.total
    later = store.get_round(
        db,
        store.create_round(
            db, "11 月", date(2026, 11, 1), date(2026, 11, 30), ["pediatrics"], OFFICE
        ),
    )
    assert later.scheme.number == 2 and later.scheme.item("three_meetings")["points"] == 20
    assert [v["number"] for v in store.scheme_versions(db)] == [2, 1]


def _in_inspection(db) -> store.Round:
    current = _october_round(db)
    _score_all_manual(db, current, "pediatrics", share=0.9)
    store.move(db, current, store.RoundMove.CLOSE_SELF_ASSESSMENT, OFFICE)
    return store.get_round(db, current.id)


def test_an_inspector_change_needs_a_reason_and_is_audited(db):
    current = _in_inspection(db)
    inspector = audit.Who(label="inspector")
    with pytest.raises(store.AssessmentError) as refused:
        store.inspect(db, current, "pediatrics", "three_meetings", 20, "  ", inspector)
    assert refused.value.code == "change_needs_reason"
    store.inspect(db, current, "pediatrics", "party_day", 13.5, "", inspector)  # confirms
    store.inspect(db, current, "pediatrics", "three_meetings", 20, "缺两次支委会记录", inspector)
    rows = list(
        db.query("SELECT * FROM audit_events WHERE action = 'assessment_inspected' ORDER BY id")
    )
    assert [(r["subject_id"], r["actor_label"]) for r in rows] == [
        (f"{current.id}:pediatrics:party_day", "inspector"),
        (f"{current.id}:pediatrics:three_meetings", "inspector"),
    ]
    detail = json.loads(rows[1]["detail"])
    assert (detail["points"], detail["self_points"], detail["reason"]) == (
        20,
        22.5,
        "缺两次支委会记录",
    )
    entry = _branch(db, current)
    assert entry.items["three_meetings"].points == 20 and entry.items["three_meetings"].changed
    assert entry.items["party_day"].points == 13.5 and not entry.items["party_day"].changed


def test_the_inspector_is_shown_by_the_name_colleagues_know(db):
    current = _in_inspection(db)
    from wishes.accounts import store as accounts

    accounts.create_user(db, "li.jian", PASSWORD, "inspector", display_name="李建")
    store.inspect(db, current, "pediatrics", "party_day", 13.5, "", audit.Who(label="li.jian"))
    assert _branch(db, current).items["party_day"].inspected_by == "李建"


def test_scores_are_locked_outside_their_stage(db):
    current = _in_inspection(db)
    secretary = audit.Who(label="secretary")
    refusals = [
        (
            store.self_assess,
            "dues",
            15,
            "self_assessment_closed",
            "本轮已结束自评，不能再修改自评分",
        ),
        (store.inspect, "claim_in_time", 20, "item_is_computed", "自动计分，不能手工填写"),
        (store.inspect, "three_meetings", 26, "points_out_of_range", "得分应在 0 到 25 分之间"),
    ]
    for save, key, points, code, said in refusals:
        with pytest.raises(store.AssessmentError) as refused:
            save(db, current, "pediatrics", key, points, "多给", secretary)
        assert refused.value.code == code and said in words.refusal(refused.value)


def test_publishing_freezes_the_computed_figures_and_reopening_needs_a_reason(october):
    current = _in_inspection(october)
    frozen = results.snapshot(october, current, 24, NOW)
    store.move(october, current, store.RoundMove.PUBLISH, OFFICE, snapshot=frozen)
    published = store.get_round(october, current.id)
    before = _branch(october, published)
    assert before.items["fulfilment_rate"].figure == metrics.Figure(60.0, 5)
    for day in ("2026-10-20", "2026-10-21", "2026-10-22"):  # later records of October
        _wish(october, "pediatrics", day, "fulfilled", claim_after=1, fulfil_after=3)
    assert _branch(october, published).items["fulfilment_rate"].figure == metrics.Figure(60.0, 5)
    with pytest.raises(store.AssessmentError) as refused:
        store.move(october, published, store.RoundMove.REOPEN, OFFICE, reason="")
    assert refused.value.code == "move_needs_reason"
    store.move(
        october, published, store.RoundMove.REOPEN, OFFICE, reason="三会一课记录补交，更正评分"
    )
    reopened = store.get_round(october, current.id)
    assert reopened.stage == "inspection" and reopened.published_at is None
    # Open again, the figures are counted from the data as it is now: 6 of 8.
    assert _branch(october, reopened).items["fulfilment_rate"].figure == metrics.Figure(75.0, 8)


def test_the_ranking_compares_with_the_previous_published_round(db):
    september = store.get_round(
        db,
        store.create_round(
            db, "9 月", date(2026, 9, 1), date(2026, 9, 30), ["pediatrics", "logistics"], OFFICE
        ),
    )
    _score_all_manual(db, september, "pediatrics", share=0.8)
    _score_all_manual(db, september, "logistics", share=0.9)
    store.move(db, september, store.RoundMove.CLOSE_SELF_ASSESSMENT, OFFICE)
    store.move(db, store.get_round(db, september.id), store.RoundMove.PUBLISH, OFFICE)
    october = _october_round(db)
    _score_all_manual(db, october, "pediatrics", share=0.9)
    _score_all_manual(db, october, "logistics", share=0.7)
    ranked = results.branch_scores(db, october, 24, NOW)
    assert [b.code for b in ranked] == ["pediatrics", "logistics"]
    assert [b.rank for b in ranked] == [1, 2]
    assert ranked[0].change == pytest.approx(50, abs=0.1)  # 90% of 500 against 80%
    assert ranked[1].change == pytest.approx(-100, abs=0.1)
    generals = results.general_scores(october, ranked)
    assert {g.code: g.total for g in generals} == {
        "women-children": ranked[0].total,
        "administration": ranked[1].total,
    }


# ---- the pages: who sees what -----------------------------------------------------------------

# Visitors: username (conftest.STAFF plus an inspector) or None for nobody logged in.
VISITORS = {
    "anon": None,
    "mem_a": "member_a",
    "mem_b": "member_b",
    "sec_a": "secretary_a",
    "sec_b": "secretary_b",
    "insp": "inspector",
    "tri": "triager",
    "mgr": "manager",
    "adm": "admin",
}
# {s}: a round of branches A (pediatrics) and B (logistics) in self-assessment; {i}: one in
# inspection; {p}: one published. A cell: the status, or "login" (sent to the login page).
# fmt: off
WHO_SEES_WHAT = {
    #                                       anon   mem_a mem_b sec_a sec_b insp  tri   mgr   adm
    "/assessment":                         "login  200   200   200   200   200   200   200   200",
    "/assessment/rounds/{s}":              "login  403   403   403   403   200   200   200   200",
    "/assessment/rounds/{p}":              "login  403   403   403   403   200   200   200   200",
    "/assessment/rounds/{p}/export.xlsx":  "login  403   403   403   403   200   200   200   200",
    "/assessment/rounds/{s}/branches/pediatrics": "login 403 403 200 403 200   200   200   200",
    "/assessment/rounds/{i}/branches/pediatrics": "login 403 403 200 403 200   200   200   200",
    "/assessment/rounds/{p}/branches/pediatrics": "login 200 403 200 403 200   200   200   200",
    "/assessment/rounds/{p}/branches/logistics":  "login 403 200 403 200 200   200   200   200",
    "/assessment/rounds/{p}/branches/pediatrics/report": "login 200 403 200 403 200 200 200 200",
    "/assessment/rounds/new":              "login  403   403   403   403   403   200   403   200",
    "/admin/assessment/scheme":            "login  403   403   403   403   403   200   403   200",
    "/corridor":                           "404    200   200   200   200   200   200   200   200",
    "/corridor?public":                    "200    200   200   200   200   200   200   200   200",
}
# Who may enter a score: self-assessment in {s}, inspection in {i} (branch A's item).
# 400: a scorer whose work the round's stage does not take (the store refuses, with its words).
WHO_SCORES = {
    "{s}": "login  403   403   302   403   400   400   403   403",
    "{i}": "login  403   403   400   403   302   302   403   403",
    "{p}": "login  403   403   400   403   400   400   403   403",
}
# fmt: on


def _config(data_dir) -> dict:
    return {
        "TESTING": True,
        "WISHES_DATA_DIR": str(data_dir),
        "WISHES_MODELS_DIR": str(data_dir.parent / "models"),
    }


@pytest.fixture(scope="module")
def rounds_template(tmp_path_factory):
    """Staff, and three rounds of branches A and B: {s} self-assessment, {i} inspection,
    {p} published; built once, copied by the tests that write."""
    from wishes import create_app
    from wishes.accounts import store as accounts
    from wishes.organisation import store as organisation
    from wishes.storage import connect, database_path

    data_dir = tmp_path_factory.mktemp("assessment") / "data"
    app = create_app(_config(data_dir))
    with pytest.MonkeyPatch.context() as patch, connect(database_path(app)) as db:
        patch.setattr(accounts, "PASSWORD_METHOD", "scrypt:1024:8:1")
        organisation.load_organisation(db, organisation.read_organisation_file())
        for name, role, branch in [("inspector", "inspector", None)] + [
            (n, r, b) for n, (r, b) in STAFF.items()
        ]:
            accounts.create_user(db, name, PASSWORD, role, branch_code=branch, display_name=name)
        both, ids = ["pediatrics", "logistics"], {}
        for key in ("s", "i", "p"):
            current = store.get_round(
                db, store.create_round(db, key, date(2026, 10, 1), date(2026, 10, 31), both, OFFICE)
            )
            for code in both:
                _score_all_manual(db, current, code, share=0.9)
            if key != "s":
                store.move(db, current, store.RoundMove.CLOSE_SELF_ASSESSMENT, OFFICE)
            if key == "p":
                store.move(db, store.get_round(db, current.id), store.RoundMove.PUBLISH, OFFICE)
            ids[key] = current.id
    return data_dir, ids


@pytest.fixture(scope="module")
def reading_app(rounds_template):
    """One app over the template for tests that only read."""
    from wishes import create_app

    data_dir, ids = rounds_template
    return create_app(_config(data_dir)), ids


@pytest.fixture
def rounds_app(rounds_template, tmp_path):
    """An app over a copy of the template, for a test that writes."""
    import shutil

    from wishes import create_app
    from wishes.storage import connect, database_path

    source, ids = rounds_template
    shutil.copytree(source, tmp_path / "data")
    app = create_app(_config(tmp_path / "data"))
    with connect(database_path(app)) as db:
        yield app, ids, db


def _visit(app, visitor, url, **environ):
    client = app.test_client()
    if VISITORS[visitor]:
        assert login(client, VISITORS[visitor]).status_code == 302
    return client, client.get(url, **environ)


def _expect(response, cell):
    if cell == "login":
        assert response.status_code == 302, response.status_code
        assert urlsplit(response.location).path == "/login"
    else:
        assert response.status_code == int(cell), response.get_data(as_text=True)[:300]


@pytest.mark.parametrize("visitor", list(VISITORS))
@pytest.mark.parametrize("page", list(WHO_SEES_WHAT))
def test_who_sees_what(reading_app, page, visitor):
    app, ids = reading_app
    app.config["WISHES_CORRIDOR_PUBLIC"] = page.endswith("?public")
    cell = dict(zip(VISITORS, WHO_SEES_WHAT[page].split(), strict=True))[visitor]
    _client, response = _visit(app, visitor, page.replace("?public", "").format(**ids))
    _expect(response, cell)


@pytest.mark.parametrize("visitor", list(VISITORS))
@pytest.mark.parametrize("stage", list(WHO_SCORES))
def test_who_may_enter_a_score(rounds_app, stage, visitor):
    app, ids, db = rounds_app
    round_id = stage.format(**ids)
    page = f"/assessment/rounds/{round_id}/branches/pediatrics"
    cell = dict(zip(VISITORS, WHO_SCORES[stage].split(), strict=True))[visitor]
    client, shown = _visit(app, visitor, page)
    token = page_token(shown if shown.status_code == 200 else client.get("/login"))
    before = list(db.query("SELECT * FROM assessment_scores ORDER BY 1, 2, 3"))
    response = client.post(
        f"{page}/items/dues",
        data={"csrf_token": token, "points": "11", "note": "党费台账", "reason": "少交两个月"},
    )
    _expect(response, cell)
    if cell == "400":
        assert "没有保存：" in response.get_data(as_text=True)
    after = list(db.query("SELECT * FROM assessment_scores ORDER BY 1, 2, 3"))
    assert (before != after) == (cell == "302")
    if cell == "200" and shown.status_code == 200:  # may read but not score: no form offered
        assert 'name="points"' not in shown.get_data(as_text=True)


def test_a_refused_score_comes_back_as_typed_with_the_reason(reading_app):
    app, ids = reading_app
    page = f"/assessment/rounds/{ids['i']}/branches/pediatrics"
    client, shown = _visit(app, "insp", page)
    response = client.post(
        f"{page}/items/dues", data={"csrf_token": page_token(shown), "points": "9.5", "reason": ""}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "与支部自评分不同，请写明改分理由" in html
    assert re.search(r'id="points-dues"[^>]*value="9.5"', html)
    response = client.post(
        f"{page}/items/dues",
        data={"csrf_token": page_token(shown), "points": "99", "reason": "台账缺三个月"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "得分应在 0 到 15 分之间" in html
    assert "台账缺三个月" in html


def test_the_xlsx_holds_the_numbers_on_the_page(reading_app):
    app, ids = reading_app
    client, page = _visit(app, "mgr", f"/assessment/rounds/{ids['p']}")
    html = page.get_data(as_text=True)
    table = html[
        html.index('id="ranking-table"') : html.index("</table>", html.index('id="ranking-table"'))
    ]
    shown = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S):
        name = re.search(r'<th scope="row"><a [^>]*>([^<]+)</a>', row).group(1)
        shown[name] = [float(v) for v in re.findall(r'data-value="([\d.]+)"', row)[:6]]
    book = load_workbook(io.BytesIO(client.get(f"/assessment/rounds/{ids['p']}/export.xlsx").data))
    rows = list(book.active.iter_rows(values_only=True))
    header = rows[2]
    written = {r[1]: list(r[3:9]) for r in rows[3:] if r and isinstance(r[0], int)}
    assert header[3:9] == (
        "组织生活正常化",
        "支部建设标准化",
        "管理服务精细化",
        "工作制度体系化",
        "阵地建设规范化",
        "总分",
    )
    assert written == shown and len(shown) == 2


def _upload(client, page, name, body):
    return client.post(
        f"{page}/items/dues/attachments",
        data={"csrf_token": page_token(client.get(page)), "file": (io.BytesIO(body), name)},
    )


def test_evidence_is_checked_by_content_and_size(rounds_app):
    app, ids, db = rounds_app
    page = f"/assessment/rounds/{ids['s']}/branches/pediatrics"
    client, _shown = _visit(app, "sec_a", page)
    refused = [
        ("minutes.pdf", b"MZ\x90\x00 not a pdf"),
        ("big.pdf", b"%PDF-" + b"0" * 6_000_000),
        ("notes.docx", b"%not a zip"),
    ]
    for name, body in refused:
        with warnings.catch_warnings():
            # Werkzeug's test client spools a body over 500 KB to a temporary file that it
            # never closes; collect it here, not in whichever test runs next.
            warnings.simplefilter("ignore", ResourceWarning)
            response = _upload(client, page, name, body)
            gc.collect()
        assert response.status_code == 302
    assert db["assessment_attachments"].count == 0
    response = _upload(client, page, "党费台账.pdf", b"%PDF-1.7 ledger")
    assert response.status_code == 302
    row = next(db.query("SELECT * FROM assessment_attachments"))
    assert (row["filename"], row["content_type"], row["size"]) == (
        "党费台账.pdf",
        "application/pdf",
        15,
    )
    download = client.get(f"/assessment/attachments/{row['id']}")
    try:
        assert download.data == b"%PDF-1.7 ledger"
        assert "attachment" in download.headers["Content-Disposition"]
    finally:
        download.close()
    _c, other = _visit(app, "sec_b", f"/assessment/attachments/{row['id']}")
    assert other.status_code == 403
    events = [r["action"] for r in db.query("SELECT action FROM audit_events")]
    assert "assessment_attachment_added" in events


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("证明材料\u202efdp.hta", "证明材料fdp.pdf"),  # shown as 证明材料ath.pdf by the override
        ("meeting.pdf.bat", "meeting.pdf"),
        ("../../会议纪要 2026.03.PDF", "会议纪要 2026.03.pdf"),
    ],
)
def test_evidence_is_kept_under_a_safe_name_with_the_extension_its_content_proves(
    rounds_app, typed, shown
):
    app, ids, db = rounds_app
    page = f"/assessment/rounds/{ids['s']}/branches/pediatrics"
    client, _shown = _visit(app, "sec_a", page)
    assert _upload(client, page, typed, b"%PDF-1.7 minutes").status_code == 302
    row = next(db.query("SELECT * FROM assessment_attachments ORDER BY id DESC"))
    assert row["filename"] == shown
    download = client.get(f"/assessment/attachments/{row['id']}")
    try:
        disposition = download.headers["Content-Disposition"]
        assert "\u202e" not in disposition and ".hta" not in disposition
        assert ".bat" not in disposition and disposition.endswith(('.pdf"', ".pdf"))
    finally:
        download.close()


def test_publishing_needs_every_manual_item_scored(app, db, staff):
    current = _october_round(db)
    _score_all_manual(db, current, "pediatrics")  # logistics has none
    store.move(db, current, store.RoundMove.CLOSE_SELF_ASSESSMENT, OFFICE)
    client = app.test_client()
    login(client, "triager")
    page = client.get(f"/assessment/rounds/{current.id}")
    response = client.post(
        f"/assessment/rounds/{current.id}/moves/publish",
        data={"csrf_token": page_token(page)},
        follow_redirects=True,
    )
    assert "还有 20 个项目没有评分，不能公布" in response.get_data(as_text=True)
    assert store.get_round(db, current.id).stage == "inspection"


def test_the_demo_has_two_published_rounds_and_one_in_self_assessment(runner, db):
    runner.invoke(args=["demo"])
    listed = store.rounds(db)
    assert [r.stage for r in listed] == ["self", "published", "published"]
    ranked = results.branch_scores(db, listed[1], 24, datetime.now(UTC))
    totals = [b.total for b in ranked]
    assert len(ranked) == 10 and max(totals) - min(totals) > 20  # branches differ
    assert all(b.change is not None for b in ranked)
    assert len({b.tier["label"] for b in ranked}) >= 2


def test_a_branch_still_being_scored_has_no_tier_or_change_yet(db):
    current = _october_round(db)
    _score_all_manual(db, current, "pediatrics", share=0.9)
    who = audit.Who(label="secretary")
    store.self_assess(db, current, "logistics", "dues", 15, "", who)  # 19 items left
    ranked = {b.code: b for b in results.branch_scores(db, current, 24, NOW)}
    assert ranked["logistics"].missing == 19 and ranked["logistics"].change is None
    rows = {r["branch"]: r for r in results.ranking_table(current, list(ranked.values())).rows}
    assert rows["总务后勤党支部"]["tier"] == "评分未完成（19 项未评）"
    # The hospital mean leaves out the unfinished branch.
    assert results.hospital_mean(list(ranked.values())) == ranked["pediatrics"].areas


def test_median_time_to_fulfil_per_branch(db):
    """Read off the index per branch: odd and even counts; wishes outside the period or not
    fulfilled left out; a branch with none has no figure (insufficient data), not zero."""
    from datetime import UTC, datetime, timedelta

    from wishes.assessment import metrics

    def wish(number, branch, day, hours):
        created = datetime.fromisoformat(f"{day} 02:00:00")  # 10:00 in Shanghai, same day
        fulfilled = created + timedelta(hours=hours) if hours is not None else None
        db["wishes"].insert(
            {
                "tracking_code": f"MEDIAN{number}",
                "text": "希望有人帮忙",
                "state": "open" if fulfilled is None else "fulfilled",
                "channel": "kiosk",
                "branch_code": branch,
                "created_at": str(created),
                "updated_at": str(created),
                "local_day": day,
                "fulfilled_at": str(fulfilled) if fulfilled else None,
            }
        )

    for number, (branch, day, hours) in enumerate(
        [
            ("pediatrics", "2026-03-02", 10),
            ("pediatrics", "2026-03-05", 1),
            ("pediatrics", "2026-03-31", 3),
            ("pediatrics", "2026-04-01", 0.5),  # after the period
            ("pediatrics", "2026-03-09", None),  # not fulfilled
            ("logistics", "2026-03-02", 9),
            ("logistics", "2026-03-03", 2),
            ("logistics", "2026-03-04", 6),
            ("logistics", "2026-03-05", 4),
        ]
    ):
        wish(number, branch, day, hours)
    figures = metrics.wish_figures(
        db,
        ["pediatrics", "logistics", "nursing"],
        ("2026-03-01", "2026-03-31"),
        24,
        datetime(2026, 4, 2, tzinfo=UTC),
    )
    assert figures["pediatrics"]["median_fulfil_hours"] == metrics.Figure(3.0, 3)
    assert figures["logistics"]["median_fulfil_hours"] == metrics.Figure(5.0, 4)
    assert figures["nursing"]["median_fulfil_hours"] == metrics.Figure(None, 0)


# ---- races: the stage is read where it is written --------------------------------------------

RACES = 40


def _at_once(path, *jobs) -> list:
    """Run each job(db) in a thread of its own, on a connection of its own, released together
    by a barrier; what each returned, or the exception it raised."""
    start = threading.Barrier(len(jobs))
    out: list = [None] * len(jobs)

    def run(index, job):
        with connect(path) as own:
            start.wait()
            try:
                out[index] = job(own)
            except (store.AssessmentError, IllegalMove) as error:
                out[index] = error

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def _event_id(db, action: str, subject: str, **detail) -> int | None:
    for row in db.query(
        "SELECT id, detail FROM audit_events WHERE action = ? AND subject_id = ? ORDER BY id",
        [action, subject],
    ):
        if all(json.loads(row["detail"]).get(k) == v for k, v in detail.items()):
            return row["id"]
    return None


def _round_in(db, stage: str) -> store.Round:
    current = _october_round(db, codes=("pediatrics",))
    if stage != "self":
        store.move(db, current, store.RoundMove.CLOSE_SELF_ASSESSMENT, OFFICE)
    return store.get_round(db, current.id)


# Each: the stage the round is in, the work (on a page read in that stage), the office's move
# racing it, the action the work leaves in the audit log, and its refusal.
WORK_RACES = {
    "an inspector's score racing the publication": (
        "inspection",
        lambda db, seen: store.inspect(
            db, seen, "pediatrics", "three_meetings", 20, "缺记录", audit.Who(label="inspector")
        ),
        store.RoundMove.PUBLISH,
        "assessment_inspected",
        "inspection_closed",
    ),
    "a secretary's score racing the end of self-assessment": (
        "self",
        lambda db, seen: store.self_assess(
            db, seen, "pediatrics", "three_meetings", 20, "", audit.Who(label="secretary")
        ),
        store.RoundMove.CLOSE_SELF_ASSESSMENT,
        "assessment_self_scored",
        "self_assessment_closed",
    ),
    "evidence racing the publication": (
        "inspection",
        lambda db, seen: store.add_attachment(
            db,
            seen,
            "pediatrics",
            "three_meetings",
            {"filename": "a.pdf", "stored_name": "x.pdf", "content_type": "x", "size": 1},
            audit.Who(label="inspector"),
            store.Work.INSPECT,
        ),
        store.RoundMove.PUBLISH,
        "assessment_attachment_added",
        "uploads_closed",
    ),
}


@pytest.mark.parametrize("race", list(WORK_RACES))
def test_work_racing_a_move_is_saved_before_it_or_refused_never_after(app, db, race):
    stage, work, move, action, refusal = WORK_RACES[race]
    path = database_path(app)
    outcomes = Counter()
    for _ in range(RACES):
        seen = _round_in(db, stage)  # the page the scorer has open
        done, _moved = _at_once(
            path,
            lambda own, seen=seen: work(own, seen),
            lambda own, seen=seen: store.move(own, seen, move, OFFICE),
        )
        moved = _event_id(db, "assessment_stage_changed", str(seen.id), to=stages.leads_to(move))
        worked = _event_id(db, action, f"{seen.id}:pediatrics:three_meetings")
        if isinstance(done, store.AssessmentError):
            assert done.code == refusal and worked is None
            outcomes["refused"] += 1
        else:
            outcomes["before" if worked < moved else "after"] += 1
    print(f"{race}: {dict(outcomes)}")
    assert outcomes["after"] == 0, outcomes


def test_two_office_moves_at_once_the_second_is_checked_against_the_first(app, db):
    """One of the office publishes while another sends the round back: one of them wins; the
    round never goes from published straight to self-assessment, published_at still set."""
    path = database_path(app)
    outcomes = Counter()
    for _ in range(RACES):
        seen = _round_in(db, "inspection")  # both have the round open in inspection
        published, sent_back = _at_once(
            path,
            lambda own, seen=seen: store.move(own, seen, store.RoundMove.PUBLISH, OFFICE),
            lambda own, seen=seen: store.move(
                own, seen, store.RoundMove.SEND_BACK, OFFICE, reason="补材料"
            ),
        )
        refused = [r for r in (published, sent_back) if isinstance(r, IllegalMove)]
        outcomes["one refused" if len(refused) == 1 else "both moved"] += 1
        after = store.get_round(db, seen.id)
        assert (after.stage is store.Stage.PUBLISHED) == (after.published_at is not None)
        chain = [
            (json.loads(r["detail"])["from"], json.loads(r["detail"])["to"])
            for r in db.query(
                "SELECT detail FROM audit_events WHERE action = 'assessment_stage_changed'"
                " AND subject_id = ? ORDER BY id",
                [str(seen.id)],
            )
        ]
        assert chain[0] == ("self", "inspection")
        assert all(a[1] == b[0] for a, b in zip(chain, chain[1:], strict=False)), chain
    print(f"two moves: {dict(outcomes)}")
    assert outcomes["both moved"] == 0, outcomes


def test_each_figure_on_a_branch_sheet_opens_a_board_of_exactly_the_wishes_it_counted(
    client, october, staff
):
    """Issue 21, item 7: one figure, one set of wishes: "统计 N 条" beside a figure and the
    board behind its "查看计入的心愿" link say the same N (by the hospital's calendar day)."""
    current = _october_round(october)
    login(client, "triager")
    html = client.get(f"/assessment/rounds/{current.id}/branches/pediatrics").get_data(as_text=True)
    pairs = re.findall(r'统计 (\d+) 条.*?<a href="([^"]+)">查看计入的心愿', html, re.DOTALL)
    assert len(pairs) == 5, pairs  # the five wish figures (patients' answers: none here)
    assert sorted(int(n) for n, _ in pairs) == [0, 3, 3, 5, 5]
    for counted, link in pairs:
        board = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
        assert f"共 {counted} 条" in board, (link, counted)
        assert "只显示计入" in board  # the board says which wishes it shows
