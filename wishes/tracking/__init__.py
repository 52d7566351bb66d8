"""The patient's tracking pages: a wish's state and history by its tracking code."""

from __future__ import annotations

__all__: list[str] = []
