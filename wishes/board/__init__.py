"""The claim board: the list of wishes, one wish's page, and one view per move on a wish.

Other front ends (the JSON API, wishes/api) read and move wishes through the functions named
here: the board's own query, visibility and move checks. A wish's moves are lifecycle's, its
deadlines deadlines'.
"""

from __future__ import annotations

from .moving import REMOTE_MOVES, MoveForbidden, MoveInvalid, move, wish_for_staff
from .store import PER_PAGE, BoardQuery, board_page, timeline

__all__ = [
    "PER_PAGE",
    "REMOTE_MOVES",
    "BoardQuery",
    "MoveForbidden",
    "MoveInvalid",
    "board_page",
    "move",
    "timeline",
    "wish_for_staff",
]
