"""The claim board: the list of wishes, one wish's page, and one view per move on a wish.

Other front ends (the JSON API, wishes/api) read and move wishes through the functions named
here: the board's own query, visibility and move checks. A wish's moves are lifecycle's, its
deadlines deadlines'.
"""

from __future__ import annotations

from .moving import REMOTE_MOVES, MoveForbidden, MoveInvalid, add_note, move, wish_for_staff
from .store import (
    PER_PAGE,
    SIMILAR_DAYS,
    BoardQuery,
    board_page,
    link_similar,
    notes,
    similar_candidates,
    timeline,
)

__all__ = [
    "PER_PAGE",
    "SIMILAR_DAYS",
    "REMOTE_MOVES",
    "BoardQuery",
    "MoveForbidden",
    "MoveInvalid",
    "add_note",
    "board_page",
    "link_similar",
    "move",
    "notes",
    "similar_candidates",
    "timeline",
    "wish_for_staff",
]
