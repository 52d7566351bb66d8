"""What the questionnaire pages and commands say when the store refuses a change, keyed by
the codes it raises (`store.QuestionnaireError.code`, `IllegalMove`). The store holds no
sentences.
"""

from __future__ import annotations

from ..questionnaires import definition as definitions
from ..questionnaires.store import QuestionnaireError
from ..states import IllegalMove

REFUSALS = {
    "slug_taken": "已有网址名为「{slug}」的问卷",
    "slug_fixed": "问卷的网址名不能修改（已印出的二维码会失效）",
    "key_changes_type": "题目「{key}」在以前的版本里是「{was}」，换题型请用新的 key",
    "no_such_version": "没有这个版本",
    "already_published": "版本 {number} 已经是患者在答的版本",
    "no_questions": "没有发布：这个版本还没有题目，先添加题目再发布",
}


def refusal(error: Exception) -> str:
    """Why a change was refused, for the person who tried."""
    if isinstance(error, IllegalMove):
        return REFUSALS["already_published"].format(number=error.subject.number)
    if isinstance(error, QuestionnaireError):
        detail = dict(error.detail)
        if "was" in detail:
            detail["was"] = definitions.QUESTION_TYPES[detail["was"]]
        return REFUSALS[error.code].format(**detail)
    return str(error)  # a DefinitionError says what is wrong with the definition itself
