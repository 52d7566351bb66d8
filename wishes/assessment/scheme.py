"""An assessment scheme as data: areas, items with their points, tiers, vetoes, and how the
items the app can score itself turn a figure into points.

The default scheme (`default_scheme.json`, the seeds' 五化 review on a 500-point scale) is
checked by `parse`, as any edited scheme will be; scores never depend on code, only on this data.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SCORING = ("manual", "computed")
# The figures a computed item may use (wishes/assessment will compute each from the app's data).
METRICS = {
    "claim_in_time_share": "按时认领率（%）",
    "fulfilment_rate": "实现率（%）",
    "median_fulfil_hours": "实现用时中位数（小时）",
    "confirmed_share": "回访确认率（%）",
    "served_top_box": "所服务科室满意占比（%）",
    "patient_rating": "患者评价均分（1–5 分）",
}


class SchemeError(ValueError):
    """A scheme that cannot be used; the message says where and what, in Chinese."""


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SchemeError(f"{where}：应为不小于 0 的数")
    return float(value)


def _thresholds(value: Any, where: str) -> list[list[float]]:
    """At least two (figure, share of the points) pairs, the share between 0 and 1."""
    if not isinstance(value, list) or len(value) < 2:
        raise SchemeError(f"{where}：计分阈值至少需要两个点，例如 [[50, 0], [95, 1]]")
    points = []
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2:
            raise SchemeError(f"{where}：每个阈值应为 [数值, 得分比例]")
        figure, share = _number(pair[0], where), _number(pair[1], where)
        if share > 1:
            raise SchemeError(f"{where}：得分比例应在 0 到 1 之间")
        points.append([figure, share])
    figures = [figure for figure, _ in points]
    if len(set(figures)) != len(figures):
        raise SchemeError(f"{where}：阈值的数值不能重复")
    return sorted(points)


def _item(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value.get("key") or not value.get("name"):
        raise SchemeError(f"{where}：需要 key 和 name")
    scoring = value.get("scoring", "manual")
    if scoring not in SCORING:
        raise SchemeError(f"{where}：计分方式应为 manual 或 computed")
    item = {
        "key": str(value["key"]),
        "name": str(value["name"]),
        "points": _number(value.get("points"), f"{where}的分值"),
        "guidance": str(value.get("guidance", "")),
        "evidence": str(value.get("evidence", "")),
        "scoring": scoring,
        "veto": bool(value.get("veto", False)),
    }
    if scoring == "computed":
        if value.get("metric") not in METRICS:
            raise SchemeError(f"{where}：自动计分的指标应为 {', '.join(METRICS)} 之一")
        item["metric"] = value["metric"]
        item["thresholds"] = _thresholds(value.get("thresholds"), where)
        item["min_count"] = int(_number(value.get("min_count", 5), f"{where}的最少样本数"))
    return item


def parse(data: Any) -> dict[str, Any]:
    """Check a scheme and return it normalised; raise SchemeError saying what is wrong."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as error:
            raise SchemeError(f"不是有效的 JSON：{error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("areas"), list) or not data["areas"]:
        raise SchemeError("考评方案需要 areas（考评方面）")
    areas: list[dict[str, Any]] = []
    keys: set[str] = set()
    for a, area in enumerate(data["areas"], 1):
        where = f"第 {a} 个方面"
        if not isinstance(area, dict) or not area.get("key") or not area.get("name"):
            raise SchemeError(f"{where}：需要 key 和 name")
        items = [_item(i, f"{where}第 {n} 项") for n, i in enumerate(area.get("items") or [], 1)]
        if not items:
            raise SchemeError(f"{where}：至少要有一个考评项目")
        for item in items:
            if item["key"] in keys:
                raise SchemeError(f"考评项目 key「{item['key']}」重复")
            keys.add(item["key"])
        areas.append({"key": str(area["key"]), "name": str(area["name"]), "items": items})
    total = _number(data.get("total"), "总分")
    summed = sum(item["points"] for area in areas for item in area["items"])
    if abs(summed - total) > 1e-9:
        raise SchemeError(f"各项目分值合计 {summed:g} 分，与总分 {total:g} 分不符")
    tiers = sorted(data.get("tiers") or [], key=lambda t: -_number(t.get("min"), "档次下限"))
    if not tiers or tiers[-1]["min"] != 0:
        raise SchemeError("档次需要从高到低，最低一档的下限为 0")
    return {"name": str(data.get("name", "")), "total": total, "tiers": tiers, "areas": areas}


def load_default() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("default_scheme.json").read_text("utf-8")
    return parse(text)


def share_of_points(figure: float, thresholds: list[list[float]]) -> float:
    """The share (0–1) of an item's points a figure earns: linear between thresholds, flat
    beyond the first and the last (a lower-is-better figure simply has falling shares)."""
    if figure <= thresholds[0][0]:
        return thresholds[0][1]
    for (x0, y0), (x1, y1) in zip(thresholds, thresholds[1:], strict=False):
        if figure <= x1:
            return y0 + (y1 - y0) * (figure - x0) / (x1 - x0)
    return thresholds[-1][1]


def computed_points(item: dict[str, Any], figure: float | None, count: int) -> float | None:
    """Points for a computed item, or None ("insufficient data") below its minimum count."""
    if figure is None or count < item["min_count"]:
        return None
    return round(item["points"] * share_of_points(figure, item["thresholds"]), 1)


def tier(scheme: dict[str, Any], total: float, vetoed: bool = False) -> dict[str, Any]:
    """The tier a total reaches; a failed veto item caps it at the lowest tier."""
    if vetoed:
        return scheme["tiers"][-1]
    return next(t for t in scheme["tiers"] if total >= t["min"])
