"""The assessment round's state machine, declared once (the wishes.states idiom).

A round goes self-assessment → inspection → published; the office sends it back one stage,
or reopens a published round, with a reason. What may be done to a round's scores and
evidence depends on its stage too (`OPEN_FOR`). The store reads a round's stage inside the
write transaction that acts on it and checks it against these tables there.
"""

from __future__ import annotations

from enum import StrEnum

from ..states import Transitions


class Stage(StrEnum):
    SELF = "self"  # 支部自评: each branch's secretary scores the manual items
    INSPECTION = "inspection"  # 考评组评分: the inspection team confirms or changes them
    PUBLISHED = "published"  # 已公布: locked, the computed figures frozen


class RoundMove(StrEnum):
    """What the office does to a round, named as its buttons name it."""

    CLOSE_SELF_ASSESSMENT = "close_self_assessment"  # 结束自评，交考评组评分
    PUBLISH = "publish"  # 公布结果（锁定）
    SEND_BACK = "send_back"  # 退回支部自评
    REOPEN = "reopen"  # 重新打开以更正


ROUND_MOVES: Transitions[Stage, RoundMove] = Transitions(
    {
        RoundMove.CLOSE_SELF_ASSESSMENT: ([Stage.SELF], Stage.INSPECTION),
        RoundMove.PUBLISH: ([Stage.INSPECTION], Stage.PUBLISHED),
        RoundMove.SEND_BACK: ([Stage.INSPECTION], Stage.SELF),
        RoundMove.REOPEN: ([Stage.PUBLISHED], Stage.INSPECTION),
    }
)
# A move backwards is a correction: it says why.
NEEDS_REASON = frozenset({RoundMove.SEND_BACK, RoundMove.REOPEN})


def leads_to(move: RoundMove) -> Stage:
    """The stage a move ends in (every round move has one)."""
    return ROUND_MOVES.target(move, next(iter(ROUND_MOVES.sources(move))))


class Work(StrEnum):
    """What is done to a round without moving it: scores, and the evidence that goes with them."""

    SELF_ASSESS = "self_assess"  # a branch secretary's
    INSPECT = "inspect"  # the inspection team's


OPEN_FOR: dict[Stage, frozenset[Work]] = {
    Stage.SELF: frozenset({Work.SELF_ASSESS}),
    Stage.INSPECTION: frozenset({Work.INSPECT}),
    Stage.PUBLISHED: frozenset(),
}
# The refusal's code when the round's stage is closed to a score of that work.
CLOSED = {
    Work.SELF_ASSESS: "self_assessment_closed",
    Work.INSPECT: "inspection_closed",
}
