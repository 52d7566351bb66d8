"""What the assessment pages say: the stages, the office's moves, and why a change was
refused, keyed by the codes the store raises (`store.AssessmentError.code`, `IllegalMove`).

The store holds no sentences; the views turn a refusal into words here.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from ..assessment.stages import RoundMove, Stage, leads_to
from ..states import IllegalMove

STAGES = {
    Stage.SELF: "支部自评",
    Stage.INSPECTION: "考评组评分",
    Stage.PUBLISHED: "已公布",
}

# The buttons that make each move, as the office knows them.
MOVES = {
    RoundMove.CLOSE_SELF_ASSESSMENT: "结束自评，交考评组评分",
    RoundMove.PUBLISH: "公布结果（锁定）",
    RoundMove.SEND_BACK: "退回支部自评",
    RoundMove.REOPEN: "重新打开以更正",
}

REFUSALS = {
    "last_day_before_first": "结束日期不能早于开始日期",
    "no_branches": "请至少选择一个党支部",
    "branch_not_in_round": "这个党支部不在本轮考评之中",
    "item_not_in_scheme": "本轮考评方案中没有这个项目",
    "item_is_computed": "这一项由系统根据心愿和满意度数据自动计分，不能手工填写",
    "points_out_of_range": "得分应在 0 到 {most:g} 分之间",
    "change_needs_reason": "与支部自评分不同，请写明改分理由",
    "move_needs_reason": "退回或重新打开需要写明理由",
    "self_assessment_closed": "本轮已结束自评，不能再修改自评分",
    "inspection_closed": "只有在考评组评分阶段才能评分",
    "uploads_closed": "本轮已公布，不能再上传材料",
    "evidence_closed": "本轮现在是「{stage}」阶段，不能上传这份材料",
    "no_such_item": "本轮考评中没有这个项目",
    "no_such_round": "没有这个考评轮次",
    "illegal_move": "不能从「{now}」转到「{to}」",
}


class Refusal(Protocol):
    """What a `store.AssessmentError` carries (named here by shape: the store imports us)."""

    code: str
    detail: dict[str, Any]


def refusal(error: Refusal | IllegalMove) -> str:
    """Why the store refused (an AssessmentError or an IllegalMove), for the person who tried."""
    if isinstance(error, IllegalMove):
        # Raised by stages.ROUND_MOVES: a RoundMove from a Stage.
        now, move = cast(Stage, error.state), cast(RoundMove, error.move)
        return REFUSALS[error.code].format(now=STAGES[now], to=STAGES[leads_to(move)])
    detail = {k: STAGES.get(v, v) if k == "stage" else v for k, v in error.detail.items()}
    return REFUSALS[error.code].format(**detail)
