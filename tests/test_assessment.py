"""The assessment scheme: the default 五化 rubric, tiers with their boundaries, vetoes, and
computed items scored by interpolation between thresholds."""

import json

import pytest

from wishes.assessment import scheme


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


@pytest.mark.parametrize(("total", "label"), [(500, "优秀"), (450, "优秀"), (449.9, "良好"),
                                               (400, "良好"), (399, "合格"), (300, "合格"),
                                               (299, "不合格"), (0, "不合格")])  # fmt: skip
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
        db, ["pediatrics", "logistics", "nursing"], ("2026-03-01", "2026-03-31"), 24,
        datetime(2026, 4, 2, tzinfo=UTC),
    )  # fmt: skip
    assert figures["pediatrics"]["median_fulfil_hours"] == metrics.Figure(3.0, 3)
    assert figures["logistics"]["median_fulfil_hours"] == metrics.Figure(5.0, 4)
    assert figures["nursing"]["median_fulfil_hours"] == metrics.Figure(None, 0)
