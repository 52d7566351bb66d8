"""The claim board: the list of wishes, one wish's page, and one view per move on a wish.

Nothing here is for other areas: a wish's moves are lifecycle's, its deadlines deadlines'.
"""

from __future__ import annotations

__all__: list[str] = []
