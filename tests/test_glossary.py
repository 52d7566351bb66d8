"""One name for each thing: the board, the tracking page, the audit log and the dashboard
take their words from wishes/glossary."""

from __future__ import annotations

from pathlib import Path

import pytest

from wishes import glossary, lifecycle
from wishes.lifecycle import Action, State

ROOT = Path(__file__).resolve().parent.parent


def test_every_state_move_and_refusal_has_its_words():
    assert set(glossary.STATES) == set(glossary.PATIENT_STATES) == set(State)
    assert set(glossary.ACTIONS) == set(glossary.PATIENT_EVENTS) == set(Action)
    assert set(glossary.DONE) == set(lifecycle.TRANSITIONS)
    refusals = [
        lifecycle.IllegalMove,
        lifecycle.AlreadyClaimed,
        lifecycle.BranchChanged,
        lifecycle.ClaimerChanged,
        lifecycle.SameBranch,
        lifecycle.UnknownBranch,
        lifecycle.WishNotFound,
        lifecycle.Merged,
        lifecycle.NotMergeable,
        lifecycle.NotAMember,
    ]
    assert {error.code for error in refusals} == set(glossary.REFUSALS)
    assert {f"wish_{action}" for action in Action} == set(glossary.WISH_EVENTS)


@pytest.mark.parametrize("other_name", ["转派", "登记实现", "模型分派"])
def test_a_move_is_not_called_by_a_second_name_anywhere(other_name):
    for folder in ("wishes", "templates"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".html"):
                assert other_name not in path.read_text(encoding="utf-8"), path


def test_a_refusal_names_the_state_and_the_move(app):
    with app.test_request_context("/board"):
        error = lifecycle.IllegalMove(Action.FULFIL, State.OPEN, {})
        assert glossary.refusal(error) == (
            "这个心愿现在是「待认领」，不能登记办结。页面已刷新为最新状态。"
        )
        claimed = lifecycle.AlreadyClaimed(Action.CLAIM, State.CLAIMED, {"claimant_name": "张三"})
        assert glossary.refusal(claimed) == "手慢了一步：这个心愿已被「张三」认领。"
        assert glossary.refusal(lifecycle.UnknownBranch("x")) == "没有这个党支部，或它已停用。"
