"""The branches' 500-point assessment: the scheme, rounds and their stages, scores, evidence."""

from __future__ import annotations

from .sample import load as load_sample
from .store import ensure_default

__all__ = [
    "ensure_default",
    "load_sample",
]
