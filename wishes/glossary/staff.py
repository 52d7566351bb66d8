"""Staff words: the board's states, moves and messages, the audit log's events, the refusals.

Staff pages are in Simplified Chinese only (README, "Languages"): babel.cfg leaves this file
out of the catalogues, as it does the board's and the dashboard's modules.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from ..lifecycle import Action, State

# A wish's state, as the board, its filters and its timeline name it.
STATES = {
    State.TRIAGE: _l("待分诊"),
    State.OPEN: _l("待认领"),
    State.CLAIMED: _l("已认领"),
    State.IN_PROGRESS: _l("办理中"),
    State.FULFILLED: _l("已实现"),
    State.FOLLOWED_UP: _l("已回访"),
    State.DECLINED: _l("未能实现"),
}

# What happens to a wish: one name each, on the board's buttons and timeline, in the audit
# log ("心愿：改派") and in the dashboard's columns ("改派率").
ACTIONS = {
    Action.SUBMIT: _l("患者提交"),
    Action.ROUTE: _l("系统分派"),
    Action.TRIAGE: _l("分诊"),
    Action.CLAIM: _l("认领"),
    Action.HAND_BACK: _l("退回"),
    Action.REROUTE: _l("改派"),
    Action.START: _l("开始办理"),
    Action.FULFIL: _l("登记办结"),
    Action.FOLLOW_UP: _l("登记回访"),
    Action.DECLINE: _l("标记为未能实现"),
    Action.RATE: _l("患者评价办理结果"),
    Action.MERGE: _l("合并相同心愿"),
    Action.UNMERGE: _l("取消合并"),
    Action.ASSIGN: _l("指派给支部成员"),
}

# What the board says after a move; each is formatted with the moved wish's columns.
DONE = {
    Action.TRIAGE: _l("已分诊，心愿已转交给所选党支部。"),
    Action.CLAIM: _l("认领成功：患者会看到由「%(claimant_name)s」认领。"),
    Action.HAND_BACK: _l("已退回，心愿重新等待认领。"),
    Action.REROUTE: _l("已改派给其他党支部。"),
    Action.START: _l("已标记为办理中。"),
    Action.FULFIL: _l("已登记办结，患者可以在查询页看到。"),
    Action.FOLLOW_UP: _l("已登记回访。"),
    Action.DECLINE: _l("已标记为未能实现，患者会看到您写的原因。"),
}

# Why a move was refused, by the exception's `code` (lifecycle.py): %(state)s and %(action)s
# are the names above, %(claimant)s who holds the wish now.
REFUSALS = {
    "illegal_move": _l("这个心愿现在是「%(state)s」，不能%(action)s。页面已刷新为最新状态。"),
    "already_claimed": _l("手慢了一步：这个心愿已被「%(claimant)s」认领。"),
    "branch_changed": _l("这个心愿刚被改派到其他党支部，不能%(action)s。页面已刷新为最新状态。"),
    "claimer_changed": _l(
        "这个心愿刚刚改由「%(claimant)s」认领，不能%(action)s。页面已刷新为最新状态。"
    ),
    "same_branch": _l("心愿已经在这个党支部了。"),
    "unknown_branch": _l("没有这个党支部，或它已停用。"),
    "wish_not_found": _l("没有这个心愿。"),
    "merged": _l("这个心愿已合并到另一个心愿，随它一起办理：请在那个心愿上%(action)s。"),
    "not_mergeable": _l("不能合并：两个心愿都须尚未办结，且不能合并到已被合并的心愿。"),
    "not_a_member": _l("只能指派给本支部在职的成员。"),
}
SOMEONE = _l("他人")

# The audit log (audit_events), by event name.
AUDIT_EVENTS = {
    "login": _l("登录成功"),
    "login_failed": _l("登录失败"),
    "login_throttled": _l("登录被限速"),
    "logout": _l("退出登录"),
    "password_changed": _l("修改密码"),
    "password_reset": _l("重置密码"),
    "user_created": _l("创建用户"),
    "user_updated": _l("修改用户"),
    "staff_imported": _l("批量导入员工"),
    "staff_phone_revealed": _l("查看员工电话"),
    "phone_revealed": _l("查看患者电话"),
    "exported": _l("导出数据"),
    "questionnaire_saved": _l("保存问卷草稿"),
    "questionnaire_published": _l("发布问卷"),
    "questionnaire_open_days": _l("修改问卷开放时间"),
    "thanks_passed_on": _l("转达患者的感谢"),
    "database_restored": _l("从备份恢复数据库"),
    "assessment_scheme_saved": _l("考评：保存考评方案"),
    "assessment_round_created": _l("考评：新建轮次"),
    "assessment_stage_changed": _l("考评：变更阶段"),
    "assessment_self_scored": _l("考评：支部自评"),
    "assessment_inspected": _l("考评：考评组评分"),
    "assessment_attachment_added": _l("考评：上传佐证材料"),
    "organisation_unit_added": _l("组织：新增单位"),
    "organisation_unit_changed": _l("组织：修改单位"),
    "router_corrections_accepted": _l("分派：审核并采纳一个账号一周的类别纠正"),
    "organisation_unit_deactivated": _l("组织：停用单位"),
    "organisation_unit_reactivated": _l("组织：恢复启用单位"),
    "organisation_branches_merged": _l("组织：合并支部"),
    "organisation_imported": _l("组织：导入工作簿"),
    "hospital_setting_changed": _l("修改系统设置"),
    "patient_data_erased": _l("删除患者个人信息"),
    "setup_finished": _l("首次设置完成"),
    "kiosk_registered": _l("登记自助机"),
    "kiosk_revoked": _l("停用自助机"),
    "delivery_replayed": _l("通知：重新发送一条投递"),
    "api_token_created": _l("接口：创建访问令牌"),
    "api_token_revoked": _l("接口：吊销访问令牌"),
    "api_token_used": _l("接口：使用访问令牌"),
    "api_token_refused": _l("接口：访问令牌被拒绝"),
    "wish_note_added": _l("心愿：写内部备注"),
}
# Every change of a wish (wish_events), shown in the same log as "wish_<action>".
WISH_EVENTS = {
    f"wish_{action}": _l("心愿：%(action)s", action=name) for action, name in ACTIONS.items()
}
LOG_EVENTS = {**AUDIT_EVENTS, **WISH_EVENTS}


def done(action: Action, wish: dict[str, Any]) -> str:
    """What to tell the person who made `action`, which left the wish as `wish`."""
    return DONE[action] % wish


def refusal(error: Exception) -> str:
    """Why a move was refused, in words the person who tried it understands."""
    code = getattr(error, "code", "illegal_move")
    wish = getattr(error, "subject", None) or {}
    move: Any = getattr(error, "move", None)  # any exception's: an Action, or None
    state: Any = getattr(error, "state", None)  # a State, or None
    return REFUSALS[code] % {
        "state": STATES.get(state, state),
        "action": ACTIONS.get(move, move),
        "claimant": wish.get("claimant_name") or SOMEONE,
    }
