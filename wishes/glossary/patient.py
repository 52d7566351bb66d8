"""Patient words for a wish's states and events (the tracking page), in three languages.

These strings are extracted into the catalogues (babel.cfg; README, "Languages").
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..lifecycle import Action, State

# What a patient reads as the state of their wish.
PATIENT_STATES = {
    State.TRIAGE: _l("已收到，正在安排"),
    State.OPEN: _l("等待认领"),
    State.CLAIMED: _l("已被认领"),
    State.IN_PROGRESS: _l("正在办理"),
    State.FULFILLED: _l("已实现"),
    State.FOLLOWED_UP: _l("已实现并回访"),
    State.DECLINED: _l("未能实现"),
}

# One line of the wish's history; %(branch)s is the branch's name in the page's language.
PATIENT_EVENTS = {
    Action.SUBMIT: _l("您提交了心愿"),
    Action.ROUTE: _l("已转交%(branch)s"),
    Action.TRIAGE: _l("已转交%(branch)s"),
    Action.REROUTE: _l("改由%(branch)s负责"),
    Action.CLAIM: _l("已被认领"),
    Action.HAND_BACK: _l("重新等待认领"),
    Action.START: _l("开始办理"),
    Action.FULFIL: _l("心愿已实现"),
    Action.FOLLOW_UP: _l("工作人员完成了回访"),
    Action.DECLINE: _l("未能实现"),
    Action.RATE: _l("您评价了心愿的实现情况"),
    Action.MERGE: _l("与其他患者的相同心愿合并办理"),
    Action.UNMERGE: _l("改为单独办理"),
    Action.ASSIGN: _l("已安排专人负责"),
}

# The tracking page's question once a wish is fulfilled (issue 19, item 2): each answer 1–5.
RATING_WORDS = {
    1: _l("完全不符合"),
    2: _l("不太符合"),
    3: _l("一般"),
    4: _l("比较符合"),
    5: _l("完全符合"),
}
