import pytest
from conftest import CATEGORY_OF

from wishes import lifecycle
from wishes.lifecycle import Action, Actor, ClaimantKind, IllegalMove, Seen, State, WishEntry

STAFF = Actor("staff", "门诊党支部")

# The product's rule, written out by hand: each move, the states it may start from, and the
# state it leads to. lifecycle.TRANSITIONS must say the same; a change to one is a change to
# the other, made on purpose.
EXPECTED = {
    Action.TRIAGE: ({State.TRIAGE}, State.OPEN),
    Action.CLAIM: ({State.OPEN}, State.CLAIMED),
    Action.HAND_BACK: ({State.CLAIMED, State.IN_PROGRESS}, State.OPEN),
    Action.REROUTE: ({State.OPEN, State.CLAIMED, State.IN_PROGRESS}, State.OPEN),
    Action.START: ({State.CLAIMED}, State.IN_PROGRESS),
    Action.FULFIL: ({State.CLAIMED, State.IN_PROGRESS}, State.FULFILLED),
    # from followed_up only when a patient's low answer waits for it (tests/test_ratings.py)
    Action.FOLLOW_UP: ({State.FULFILLED, State.FOLLOWED_UP}, State.FOLLOWED_UP),
    Action.DECLINE: ({State.TRIAGE, State.OPEN, State.CLAIMED, State.IN_PROGRESS}, State.DECLINED),
}
# Allowed by the table, refused without what it needs: a follow-up again needs a low answer.
GUARDED = {(Action.FOLLOW_UP, State.FOLLOWED_UP)}

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


def perform(db, wish_id, action, **kwargs):
    moves = {
        Action.TRIAGE: lambda: lifecycle.triage(db, wish_id, "outpatient", STAFF, **kwargs),
        Action.CLAIM: lambda: lifecycle.claim(
            db, wish_id, STAFF, ClaimantKind.BRANCH, "门诊党支部", **kwargs
        ),
        Action.HAND_BACK: lambda: lifecycle.hand_back(db, wish_id, STAFF, "不是我们的", **kwargs),
        Action.REROUTE: lambda: lifecycle.reroute(
            db, wish_id, "logistics", STAFF, "属于后勤", **kwargs
        ),
        Action.START: lambda: lifecycle.start(db, wish_id, STAFF, **kwargs),
        Action.FULFIL: lambda: lifecycle.fulfil(db, wish_id, STAFF, "已办好", **kwargs),
        Action.FOLLOW_UP: lambda: lifecycle.follow_up(db, wish_id, STAFF, confirmed=True, **kwargs),
        Action.DECLINE: lambda: lifecycle.decline(db, wish_id, STAFF, "无法实现", **kwargs),
    }
    return moves[action]()


def test_the_state_machine_has_the_moves_the_product_has():
    assert list(lifecycle.TRANSITIONS) == list(EXPECTED)


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("action", list(EXPECTED))
def test_every_action_from_every_state_is_allowed_or_refused(db, state, action):
    wish = lifecycle.submit(db, WishEntry(text="想借个轮椅", channel="kiosk"), None)
    for step in PATHS[state]:
        perform(db, wish["id"], step)
    events_before = len(lifecycle.history(db, wish["id"]))
    allowed_from, to_state = EXPECTED[action]
    assert lifecycle.TRANSITIONS.allows(action, state) == (state in allowed_from)
    if state in allowed_from and (action, state) not in GUARDED:
        moved = perform(db, wish["id"], action)
        assert moved["state"] == to_state
        last = lifecycle.history(db, wish["id"])[-1]
        assert (last["action"], last["from_state"], last["to_state"]) == (action, state, to_state)
    else:
        with pytest.raises(IllegalMove):
            perform(db, wish["id"], action)
        assert len(lifecycle.history(db, wish["id"])) == events_before
        assert lifecycle.find_by_tracking_code(db, wish["tracking_code"])["state"] == state


def wish_at(db, branch="outpatient"):
    route = lifecycle.RouteDecision([(CATEGORY_OF[branch], 0.9)], [], "v1", True)
    return lifecycle.submit(db, WishEntry(text="想借个轮椅", channel="kiosk"), route, branch)


def test_a_move_on_a_wish_seen_at_another_branch_is_refused_and_changes_nothing(db):
    wish = wish_at(db)
    seen = Seen.of(wish)  # a member of the branch decides to claim it…
    lifecycle.reroute(db, wish["id"], "logistics", STAFF, "属于后勤")  # …the office moves it
    with pytest.raises(lifecycle.BranchChanged) as refused:
        perform(db, wish["id"], Action.CLAIM, seen=seen)
    assert refused.value.code == "branch_changed"
    stored = db["wishes"].get(wish["id"])
    assert (stored["branch_code"], stored["state"], stored["claimed_by_user_id"]) == (
        "logistics",
        State.OPEN,
        None,
    )
    assert lifecycle.history(db, wish["id"])[-1]["action"] == Action.REROUTE


def test_a_move_on_a_claim_seen_before_it_changed_hands_is_refused(db, staff):
    wish = wish_at(db)
    first = Actor("staff", "甲", staff["member_a"]["id"])
    second = Actor("staff", "乙", staff["secretary_a"]["id"])
    lifecycle.claim(db, wish["id"], first, ClaimantKind.PERSON, "甲")
    seen = Seen.of(db["wishes"].get(wish["id"]))  # 甲 opens the page to hand it back…
    lifecycle.hand_back(db, wish["id"], STAFF, "换人")  # …the secretary hands it back,
    lifecycle.claim(db, wish["id"], second, ClaimantKind.PERSON, "乙")  # and 乙 claims it
    with pytest.raises(lifecycle.ClaimerChanged) as refused:
        lifecycle.hand_back(db, wish["id"], first, "排不开", seen=seen)
    assert refused.value.code == "claimer_changed"
    assert db["wishes"].get(wish["id"])["claimed_by_user_id"] == second.user_id
    # The office's re-route does not depend on who claimed: it goes through.
    lifecycle.reroute(db, wish["id"], "logistics", STAFF, "属于后勤", seen=seen)


def test_refusals_carry_codes_for_the_page_to_put_in_words(db):
    wish = wish_at(db)
    perform(db, wish["id"], Action.CLAIM)
    with pytest.raises(lifecycle.AlreadyClaimed) as refused:
        perform(db, wish["id"], Action.CLAIM)
    assert refused.value.code == "already_claimed"
    with pytest.raises(lifecycle.SameBranch) as refused:
        lifecycle.reroute(db, wish["id"], "outpatient", STAFF, "同一个")
    assert refused.value.code == "same_branch"
    with pytest.raises(lifecycle.UnknownBranch) as refused:
        lifecycle.reroute(db, wish["id"], "no-such-branch", STAFF, "没有")
    assert refused.value.code == "unknown_branch"
    with pytest.raises(lifecycle.WishNotFound) as refused:
        perform(db, 999999, Action.START)
    assert refused.value.code == "wish_not_found"


def test_confident_route_opens_the_wish_at_the_branch(db):
    route = lifecycle.RouteDecision(
        [("daily_items", 0.91), ("nursing_care", 0.05)], ["吹风机"], "v1", True
    )
    wish = lifecycle.submit(db, WishEntry(text="想借吹风机", channel="phone"), route, "logistics")
    assert wish["state"] == State.OPEN and wish["branch_code"] == "logistics"
    assert wish["category"] == "daily_items"
    assert [e["action"] for e in lifecycle.history(db, wish["id"])] == ["submit", "route"]


def test_unsure_route_waits_for_triage_with_its_suggestions_kept(db):
    route = lifecycle.RouteDecision(
        [("room_repairs", 0.41), ("nursing_care", 0.38)], [], "v1", False
    )
    wish = lifecycle.submit(db, WishEntry(text="晚上冷", channel="phone"), route, "logistics")
    assert wish["state"] == State.TRIAGE and wish["branch_code"] is None
    assert wish["router_branch_code"] == "logistics"


def test_reroute_keeps_the_routers_first_choice_beside_the_new_branch(db):
    route = lifecycle.RouteDecision([("nursing_care", 0.9)], [], "v1", True)
    wish = lifecycle.submit(db, WishEntry(text="护士真好", channel="phone"), route, "nursing")
    moved = lifecycle.reroute(db, wish["id"], "office", STAFF, "表扬归投诉中心")
    assert (moved["router_branch_code"], moved["branch_code"]) == ("nursing", "office")
    assert lifecycle.history(db, wish["id"])[-1]["reason"] == "表扬归投诉中心"
