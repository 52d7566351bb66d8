"""The one idiom for everything that moves through states: wishes, assessment rounds and
questionnaire versions.

Each owner declares a `StrEnum` of states, a `StrEnum` of moves and one `Transitions` table.
A store function that makes a move reads the current state *inside* its write transaction,
asks the table where the move leads (`Transitions.target`), and writes the new state in that
same transaction; a move the table does not allow raises `IllegalMove`, which carries codes,
never words: templates say the words (wishes/glossary.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Generic, TypeVar

S = TypeVar("S", bound=StrEnum)
M = TypeVar("M", bound=StrEnum)


class IllegalMove(Exception):
    """A move that the thing's current state does not allow; `code` names why for the page."""

    code = "illegal_move"

    def __init__(self, move: StrEnum, state: StrEnum | None, subject: Any = None) -> None:
        self.move = move
        self.state = state
        self.subject = subject
        super().__init__(f"cannot {move} from {state}")


class Transitions(Generic[S, M]):
    """One table: move -> (the states it may start from, the state it leads to)."""

    def __init__(self, table: Mapping[M, tuple[Iterable[S], S]]) -> None:
        self._table = {
            move: (frozenset(sources), target) for move, (sources, target) in table.items()
        }

    def __iter__(self):
        return iter(self._table)

    def sources(self, move: M) -> frozenset[S]:
        return self._table[move][0]

    def allows(self, move: M, state: S) -> bool:
        return move in self._table and state in self._table[move][0]

    def target(self, move: M, state: S, subject: Any = None) -> S:
        """Where `move` leads from `state`; raises IllegalMove when it may not start there."""
        if not self.allows(move, state):
            raise IllegalMove(move, state, subject)
        return self._table[move][1]

    def moves_from(self, state: S) -> list[M]:
        """The moves that may start from `state`, in the table's order."""
        return [move for move, (sources, _) in self._table.items() if state in sources]
