"""Satisfaction questionnaires: definitions and their versions, answers, and comments."""

from __future__ import annotations

from .answering import checked as check_answers
from .answering import save as save_answers
from .comments import comment_for_wish_form, thanks_to_pass_on
from .definition import SCALES, flat_questions, text_in
from .sample import load as load_sample
from .sentiment import bundled as comment_sentiment
from .store import live_version, open_now, questionnaire, questionnaires, questions_over_versions

__all__ = [
    "check_answers",
    "SCALES",
    "comment_for_wish_form",
    "comment_sentiment",
    "flat_questions",
    "live_version",
    "open_now",
    "load_sample",
    "questionnaire",
    "questionnaires",
    "save_answers",
    "questions_over_versions",
    "text_in",
    "thanks_to_pass_on",
]
