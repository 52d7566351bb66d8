"""The patient's wish form, at the kiosk and on a phone; owns the wishes as patients wrote them."""

from __future__ import annotations

from .forms import mask_phone, normalise_phone

__all__ = [
    "mask_phone",
    "normalise_phone",
]
