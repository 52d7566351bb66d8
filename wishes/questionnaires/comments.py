"""Free-text comments: how each reads (keyword tags, sentiment, need category) for the
dashboard, and spotting a comment that is a wish."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app, request, session

from ..routing import EXTENSION as ROUTER
from ..routing import keyword_tags, route, traditional_to_simplified
from ..storage import get_db
from . import sentiment, store

# "希望病房有微波炉", "能不能…", "要是有…就好了": a patient asking for something concrete
# (Traditional characters are read as Simplified first).
_WISH_CUES = re.compile(
    r"希望|想要|想请|能不能|能否|可不可以|可否|麻烦|请帮|需要|建议(?:增加|添置|配|安装|提供)"
    r"|要是.{0,20}就好|如果.{0,20}就好|盼望|期待(?:能|有)"
)
# The same asked in English ("I wish the ward had…", "could you…", "it would be nice if…").
_WISH_CUES_EN = re.compile(
    r"\b(?:i wish|i hope|hoping|i'd like|i would like|we'd like|we would like"
    r"|could (?:you|we|there)|can (?:you|we|there)"
    r"|please (?:add|provide|bring|put|install|fix|have|help)"
    r"|it would be (?:nice|great|good|helpful|better) if|(?:i|we) need|would be (?:nice|great) to)"
    r"\b",
    re.IGNORECASE,
)
_WISH_MIN_CHARS = 5


def tags(comment: str) -> list[str]:
    """Keyword tags of a comment, weighted by the router's IDF (none without a model)."""
    if not comment:
        return []
    model = current_app.extensions[ROUTER].model
    if model is None:
        return keyword_tags(comment, {})
    return keyword_tags(comment, model.word_idf, model.word_tags)


@dataclass(frozen=True)
class Reading:
    """How one comment reads; nothing for an empty comment."""

    tags: list[str]
    sentiment: str | None = None  # negative · neutral · positive
    category: str | None = None  # a need category (needs.toml); None without a router model


def read(comment: str) -> Reading:
    """Tags and need category from the router (one prediction), sentiment from the comments'
    own classifier (trained on first use: about a second, once a process)."""
    if not comment:
        return Reading([])
    feeling = str(sentiment.bundled().predict([comment])[0])
    decision = route(comment)
    if decision is None:
        return Reading(tags(comment), feeling)
    return Reading(decision.tags, feeling, decision.category)


def reads_like_wish(comment: str) -> bool:
    """True when a comment asks for something a branch could do: offer to make it a wish."""
    text = traditional_to_simplified(comment or "")
    if len(text) < _WISH_MIN_CHARS:
        return False
    return _WISH_CUES.search(text) is not None or _WISH_CUES_EN.search(text) is not None


# ---- a comment sent on as a wish ------------------------------------------------------------

# The session key that carries it from the questionnaire's thank-you page to the wish form.
COMMENT_AS_WISH = "comment_as_wish"


def offer_as_wish(comment: str) -> None:
    """Keep a comment that reads like a wish for the thank-you page to offer (else forget one)."""
    session[COMMENT_AS_WISH] = comment if reads_like_wish(comment) else ""


def comment_offered() -> str:
    """The comment the thank-you page offers to send on as a wish ("" when there is none)."""
    return session.get(COMMENT_AS_WISH, "")


def comment_for_wish_form() -> str:
    """The comment a patient chose to turn into a wish (once; the next patient gets a blank)."""
    if request.args.get("from") != "survey":
        return ""
    return session.pop(COMMENT_AS_WISH, "") or ""


def thanks_to_pass_on() -> int:
    """How many praises from comments wait for the office to pass on (the navigation's badge)."""
    return store.thanks_waiting(get_db())
