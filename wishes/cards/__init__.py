"""Printed bedside and department cards, and the QR codes that open the app's pages on a phone."""

from __future__ import annotations

from .qr import public_url, qr_svg

__all__ = [
    "public_url",
    "qr_svg",
]
