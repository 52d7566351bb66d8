"""Every staff member's inbox: what asks for their attention, with an unread count in the
navigation (a new wish for my branch, a wish assigned to me, an overdue wish, a wish a
patient's low answer sent back), and per kind whether it also goes out to the branch's webhook.

Items are written in the same transaction as the change they tell of (`deliver`); the page is
views.py.
"""

from __future__ import annotations

from .store import (
    ASSIGNED,
    KINDS,
    NEW_WISH,
    OVERDUE,
    SENT_BACK,
    branch_people,
    deliver,
    mark_wish_read,
    unread_count,
)

__all__ = [
    "ASSIGNED",
    "KINDS",
    "NEW_WISH",
    "OVERDUE",
    "SENT_BACK",
    "branch_people",
    "deliver",
    "mark_wish_read",
    "unread_count",
]
