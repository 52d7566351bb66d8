"""A round's results: each branch's item points, area scores, total, tier and movement; the
general branches as the mean of their branches; the ranking as a downloadable table.

Which points count for an item: the inspection team's when it scored the item, else the
branch's self-assessment; a computed item's points come from its figure (frozen at
publication). A computed item with too little data is "insufficient data": it is left out and
its area is scaled from the items that were scored (缺项按比例折算), so a small branch is
neither punished nor rewarded for what it could not be measured on. A veto item scored 0
caps the tier at the lowest one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from .. import organisation
from ..dashboard import Column, Table
from . import metrics
from . import scheme as schemes
from .metrics import Figure
from .store import Round, previous_round, scores


@dataclass
class ItemScore:
    item: dict[str, Any]
    points: float | None = None  # what counts; None: not scored yet, or insufficient data
    self_points: float | None = None
    self_note: str = ""
    inspected_points: float | None = None
    reason: str = ""
    inspected_by: str = ""  # the inspector's display name
    figure: Figure | None = None  # computed items

    @property
    def insufficient(self) -> bool:
        return self.item["scoring"] == "computed" and self.points is None

    @property
    def missing(self) -> bool:
        return self.item["scoring"] == "manual" and self.points is None

    @property
    def changed(self) -> bool:
        return self.inspected_points is not None and self.inspected_points != self.self_points


@dataclass
class BranchScore:
    code: str
    name: str
    general_code: str
    general_name: str
    items: dict[str, ItemScore]
    # None while an item of it is still unscored: an unscored item is not worth zero, so no
    # total, place or tier is shown before every item is scored.
    areas: dict[str, float | None]
    total: float | None
    scaled: bool  # an insufficient item was left out and its area scaled
    missing: int  # manual items nobody has scored yet
    vetoed: bool
    tier: dict[str, Any]
    previous_total: float | None = None
    rank: int | None = None  # among the branches scored in full

    @property
    def change(self) -> float | None:
        """Against the previous round; none while items are still unscored."""
        if self.previous_total is None or self.total is None:
            return None
        return round(self.total - self.previous_total, 1)


@dataclass
class GeneralScore:
    code: str
    name: str
    branches: list[BranchScore]
    areas: dict[str, float | None] = field(default_factory=dict)
    total: float | None = None  # None until one of its branches is scored in full
    tier: dict[str, Any] = field(default_factory=dict)
    previous_total: float | None = None
    vetoed: bool = False  # a general branch has no veto of its own

    @property
    def missing(self) -> int:
        return sum(b.missing for b in self.branches)

    @property
    def change(self) -> float | None:
        if self.previous_total is None or self.total is None or self.missing:
            return None
        return round(self.total - self.previous_total, 1)


def computed_figures(
    db: Database, current: Round, codes: list[str], claim_hours: int, now: datetime, stored: dict
) -> dict[str, dict[str, Figure]]:
    """Branch → metric → Figure: frozen ones (in `stored`, the round's score rows) for a
    published round, else from the data now."""
    if current.stage != "published":
        return metrics.figures_for(db, codes, current.days, claim_hours, now)
    out: dict[str, dict[str, Figure]] = {code: {} for code in codes}
    metric_of = {i["key"]: i["metric"] for i in current.scheme.items if i["scoring"] == "computed"}
    for (branch, key), row in stored.items():
        if key in metric_of and branch in out:
            out[branch][metric_of[key]] = Figure(row["figure"], row["count"] or 0)
    return out


def frozen(ranked: list[BranchScore]) -> dict[str, dict[str, tuple[float | None, int]]]:
    """Branch → computed item key → (figure, count): what publishing freezes, taken from the
    results the office saw when it pressed "publish"."""
    return {
        entry.code: {
            key: (score.figure.value, score.figure.count)
            for key, score in entry.items.items()
            if score.figure is not None
        }
        for entry in ranked
    }


def snapshot(db: Database, current: Round, claim_hours: int, now: datetime) -> dict:
    """What publishing the round now would freeze."""
    return frozen(branch_scores(db, current, claim_hours, now, with_previous=False))


def _item_scores(
    current: Round, stored: dict, code: str, figures: dict[str, Figure]
) -> dict[str, ItemScore]:
    out = {}
    for item in current.scheme.items:
        row = stored.get((code, item["key"]), {})
        score = ItemScore(
            item,
            self_points=row.get("self_points"),
            self_note=row.get("self_note") or "",
            inspected_points=row.get("points"),
            reason=row.get("reason") or "",
            inspected_by=row.get("inspector") or row.get("inspected_by") or "",
        )
        if item["scoring"] == "computed":
            score.figure = figures.get(item["metric"], Figure(None, 0))
            score.points = schemes.computed_points(item, score.figure.value, score.figure.count)
        else:
            score.points = (
                score.inspected_points if score.inspected_points is not None else score.self_points
            )
        out[item["key"]] = score
    return out


def _branch(current: Round, branch: dict[str, Any], items: dict[str, ItemScore]) -> BranchScore:
    definition = current.scheme.definition
    areas: dict[str, float | None] = {}
    scaled = vetoed = False
    for area in definition["areas"]:
        scores_here = [items[i["key"]] for i in area["items"]]
        possible = sum(s.item["points"] for s in scores_here if not s.insufficient)
        earned = sum(s.points or 0 for s in scores_here)
        full = sum(s.item["points"] for s in scores_here)
        scaled = scaled or possible < full
        vetoed = vetoed or any(s.item["veto"] and s.points == 0 for s in scores_here)
        if any(s.missing for s in scores_here):
            areas[area["key"]] = None
        else:
            areas[area["key"]] = round(earned * full / possible, 1) if possible else 0.0
    missing = sum(1 for s in items.values() if s.missing)
    total = None if missing else round(sum(v or 0.0 for v in areas.values()), 1)
    return BranchScore(
        code=branch["code"],
        name=branch["name"],
        general_code=branch["general_branch_code"],
        general_name=branch["general_branch_name"],
        items=items,
        areas=areas,
        total=total,
        scaled=scaled,
        missing=missing,
        vetoed=vetoed,
        tier=schemes.tier(definition, total or 0.0, vetoed),
    )


def branch_scores(
    db: Database,
    current: Round,
    claim_hours: int,
    now: datetime,
    codes: list[str] | None = None,
    *,
    with_previous: bool = True,
) -> list[BranchScore]:
    """The round's branches (or `codes` of them), ranked by total, highest first."""
    wanted = [c for c in current.branch_codes if codes is None or c in codes]
    branches = {b["code"]: b for b in organisation.branches(db, active_only=False)}
    stored = scores(db, current.id)
    figures = computed_figures(db, current, wanted, claim_hours, now, stored)
    out = [
        _branch(current, branches[code], _item_scores(current, stored, code, figures[code]))
        for code in wanted
    ]
    # Scored in full first, by total; then the unfinished, by name, without a place.
    out.sort(key=lambda b: (b.total is None, -(b.total or 0.0), b.name))
    for rank, entry in enumerate((b for b in out if b.total is not None), 1):
        entry.rank = rank
    if with_previous and (before := previous_round(db, current)):
        totals = {
            b.code: b.total
            for b in branch_scores(db, before, claim_hours, now, wanted, with_previous=False)
        }
        for entry in out:
            entry.previous_total = totals.get(entry.code)
    return out


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 1) if known else None


def general_scores(current: Round, ranked: list[BranchScore]) -> list[GeneralScore]:
    """Each general branch as the mean of its branches scored in full, highest first."""
    groups: dict[str, GeneralScore] = {}
    for entry in ranked:
        group = groups.setdefault(
            entry.general_code, GeneralScore(entry.general_code, entry.general_name, [])
        )
        group.branches.append(entry)
    for group in groups.values():
        done = [b for b in group.branches if b.total is not None]
        keys = group.branches[0].areas
        group.areas = {k: _mean([b.areas[k] for b in done]) for k in keys}
        group.total = _mean([b.total for b in done])
        group.tier = schemes.tier(current.scheme.definition, group.total or 0.0)
        group.previous_total = _mean([b.previous_total for b in group.branches])
    return sorted(groups.values(), key=lambda g: (g.total is None, -(g.total or 0.0), g.name))


def hospital_mean(ranked: list[BranchScore]) -> dict[str, float | None]:
    """Area key → the mean over the round's branches (the radar chart's reference line)."""
    if not ranked:
        return {}
    return {key: _mean([b.areas[key] for b in ranked]) for key in ranked[0].areas}


def _tier_text(entry: BranchScore) -> str:
    if entry.missing:
        return f"评分未完成（{entry.missing} 项未评）"
    return entry.tier["label"] + ("（一票否决）" if entry.vetoed else "")


def ranking_table(current: Round, ranked: list[BranchScore]) -> Table:
    """The ranking as the page shows it and the CSV/XLSX downloads write it."""
    areas = current.scheme.definition["areas"]
    rows = [
        {
            "rank": b.rank,
            "branch": b.name,
            "general": b.general_name,
            **{f"area_{a['key']}": b.areas[a["key"]] for a in areas},
            "total": b.total,
            "tier": _tier_text(b),
            "change": b.change,
        }
        for b in ranked
    ]
    return Table(
        "assessment",
        f"{current.name} 党支部考评排名",
        [
            Column("rank", "名次", "count"),
            Column("branch", "党支部"),
            Column("general", "所属总支"),
            *[Column(f"area_{a['key']}", a["name"], "number") for a in areas],
            Column("total", "总分", "number"),
            Column("tier", "档次"),
            Column("change", "较上轮", "number"),
        ],
        rows,
        note=(
            f"满分 {current.scheme.definition['total']:g} 分。系统计分项目数据不足时不计入，"
            "该方面按已评项目折算；一票否决项得 0 分的，档次为不合格。"
        ),
    )
