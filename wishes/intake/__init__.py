"""The patient's wish form, at the kiosk and on a phone; owns the wishes as patients wrote them."""

from __future__ import annotations

from .forms import mask_phone, normalise_phone
from .receive import checked_form, receive, route_and_place

__all__ = [
    "checked_form",
    "receive",
    "mask_phone",
    "normalise_phone",
    "route_and_place",
]
