"""The words for a wish's states, moves and events, and for the audit log: one place.

Python passes codes and enums (lifecycle.State, lifecycle.Action, an exception's `code`, an
audit event's name); the board, the tracking page, the audit log and the dashboard take their
words from here, so one thing has one name everywhere (the board's 改派 and 登记办结 once
had other names in the audit log and the dashboard). Templates reach it as the global
`glossary`.

One file per audience or area, as babel.cfg separates them:
- `staff`: the words of staff pages (board, audit log, dashboard), in Simplified Chinese only
  (README, "Languages"), so left out of the catalogues like every staff module;
- `patient`: the words of the tracking page, translated (English, Traditional Chinese);
- `assessment`, `questionnaires`, `organisation`: the rounds' stages and moves, and why those
  areas' stores refused a change or a workbook (staff words, Simplified Chinese).
Every word goes through flask-babel's lazy_gettext, read when a page is drawn.
"""

from __future__ import annotations

from .patient import PATIENT_EVENTS, PATIENT_STATES, RATING_WORDS
from .staff import (
    ACTIONS,
    AUDIT_EVENTS,
    DONE,
    LOG_EVENTS,
    REFUSALS,
    STATES,
    WISH_EVENTS,
    done,
    refusal,
)

__all__ = [
    "ACTIONS",
    "AUDIT_EVENTS",
    "DONE",
    "LOG_EVENTS",
    "PATIENT_EVENTS",
    "PATIENT_STATES",
    "RATING_WORDS",
    "REFUSALS",
    "STATES",
    "WISH_EVENTS",
    "done",
    "refusal",
]
