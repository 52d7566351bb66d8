import pytest

from wishes import lifecycle
from wishes.lifecycle import Action, Actor, ClaimantKind, IllegalMove, State, WishEntry

STAFF = Actor("staff", "门诊党支部")

# How to bring a fresh wish into each state through legal moves.
PATHS = {
    State.TRIAGE: [],
    State.OPEN: [Action.TRIAGE],
    State.CLAIMED: [Action.TRIAGE, Action.CLAIM],
    State.IN_PROGRESS: [Action.TRIAGE, Action.CLAIM, Action.START],
    State.FULFILLED: [Action.TRIAGE, Action.CLAIM, Action.FULFIL],
    State.FOLLOWED_UP: [Action.TRIAGE, Action.CLAIM, Action.FULFIL, Action.FOLLOW_UP],
    State.DECLINED: [Action.DECLINE],
}


def perform(db, wish_id, action):
    moves = {
        Action.TRIAGE: lambda: lifecycle.triage(db, wish_id, "outpatient", STAFF),
        Action.CLAIM: lambda: lifecycle.claim(
            db, wish_id, STAFF, ClaimantKind.BRANCH, "门诊党支部"
        ),
        Action.HAND_BACK: lambda: lifecycle.hand_back(db, wish_id, STAFF, "不是我们的"),
        Action.REROUTE: lambda: lifecycle.reroute(db, wish_id, "logistics", STAFF, "属于后勤"),
        Action.START: lambda: lifecycle.start(db, wish_id, STAFF),
        Action.FULFIL: lambda: lifecycle.fulfil(db, wish_id, STAFF, "已办好"),
        Action.FOLLOW_UP: lambda: lifecycle.follow_up(db, wish_id, STAFF, confirmed=True),
        Action.DECLINE: lambda: lifecycle.decline(db, wish_id, STAFF, "无法实现"),
    }
    return moves[action]()


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("action", list(lifecycle.TRANSITIONS))
def test_every_action_from_every_state_is_allowed_or_refused(db, state, action):
    wish = lifecycle.submit(db, WishEntry(text="想借个轮椅", channel="kiosk"), None)
    for step in PATHS[state]:
        perform(db, wish["id"], step)
    events_before = len(lifecycle.history(db, wish["id"]))
    allowed_from, to_state = lifecycle.TRANSITIONS[action]
    if state in allowed_from:
        moved = perform(db, wish["id"], action)
        assert moved["state"] == to_state
        last = lifecycle.history(db, wish["id"])[-1]
        assert (last["action"], last["from_state"], last["to_state"]) == (action, state, to_state)
    else:
        with pytest.raises(IllegalMove):
            perform(db, wish["id"], action)
        assert len(lifecycle.history(db, wish["id"])) == events_before
        assert lifecycle.find_by_tracking_code(db, wish["tracking_code"])["state"] == state


def test_confident_route_opens_the_wish_at_the_branch(db):
    route = lifecycle.RouteDecision(
        [("logistics", 0.91), ("nursing", 0.05)], ["吹风机"], "v1", True
    )
    wish = lifecycle.submit(db, WishEntry(text="想借吹风机", channel="phone"), route)
    assert wish["state"] == State.OPEN and wish["branch_code"] == "logistics"
    assert [e["action"] for e in lifecycle.history(db, wish["id"])] == ["submit", "route"]


def test_unsure_route_waits_for_triage_with_its_suggestions_kept(db):
    route = lifecycle.RouteDecision([("logistics", 0.41), ("nursing", 0.38)], [], "v1", False)
    wish = lifecycle.submit(db, WishEntry(text="晚上冷", channel="phone"), route)
    assert wish["state"] == State.TRIAGE and wish["branch_code"] is None
    assert wish["router_branch_code"] == "logistics"


def test_reroute_keeps_the_routers_first_choice_beside_the_new_branch(db):
    route = lifecycle.RouteDecision([("nursing", 0.9)], [], "v1", True)
    wish = lifecycle.submit(db, WishEntry(text="护士真好", channel="phone"), route)
    moved = lifecycle.reroute(db, wish["id"], "office", STAFF, "表扬归投诉中心")
    assert (moved["router_branch_code"], moved["branch_code"]) == ("nursing", "office")
    assert lifecycle.history(db, wish["id"])[-1]["reason"] == "表扬归投诉中心"
