"""The router: sends a wish to the branch best placed to fulfil it.

Intake calls `route(text)` and nothing else. When no model is active, or the model is
unsure, the wish waits for triage by the Party-building office — never an error.
"""

from __future__ import annotations

from ..lifecycle import RouteDecision


def route(text: str) -> RouteDecision | None:
    """Top branches with probabilities and keyword tags for one wish, or None (triage)."""
    return None
