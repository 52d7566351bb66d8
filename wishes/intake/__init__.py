"""The patient's wish form, at the kiosk and on a phone; owns the wishes as patients wrote them."""

from __future__ import annotations

from ..notifications import mask_phone  # shown masked wherever a number is shown
from .forms import normalise_phone
from .receive import checked_form, link_similar, receive, route_and_place

__all__ = [
    "checked_form",
    "link_similar",
    "receive",
    "mask_phone",
    "normalise_phone",
    "route_and_place",
]
