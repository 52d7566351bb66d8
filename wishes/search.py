"""Full-text search over wishes in Chinese: jieba cuts the words, SQLite FTS5 finds them.

FTS5's tokenizers split on spaces and punctuation, which Chinese does not have, so each
wish's text is cut into words by the router's jieba tokenizer (with the hospital dictionary)
and stored space-separated in `wishes.search_text`; `wishes_fts` indexes that column.
Queries are cut the same way, so 吹风机 in a query finds 吹风机 in a wish, whether either was
typed in Simplified or Traditional characters.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from sqlite_utils import Database

from .routing import WORDS_VERSION, normalise, tokenizer
from .storage import transaction

MAX_QUERY_TERMS = 12


def _is_word(token: str) -> bool:
    return bool(token.strip()) and not all(unicodedata.category(ch)[0] in "PSZ" for ch in token)


def _words(text: str, *, search_mode: bool) -> list[str]:
    cut = tokenizer().cut_for_search if search_mode else tokenizer().lcut
    return [token for token in cut(normalise(text)) if _is_word(token)]


def cut(text: str) -> list[str]:
    """Search words of a text: jieba's search mode, which adds the short words inside long ones."""
    return _words(text, search_mode=True)


def index_text(wish: Mapping[str, Any]) -> str:
    """What FTS5 indexes for a wish: its text, reason, location and router tags, cut into words."""
    tags = json.loads(wish.get("tags") or "[]")
    parts = [wish.get("text") or "", wish.get("reason") or "", wish.get("location") or "", *tags]
    return " ".join(cut(" ".join(parts)))


def fts_query(typed: str) -> str | None:
    """An FTS5 MATCH expression requiring every word of what was typed; None if nothing is left.

    Each word is quoted, so FTS5 operators and punctuation in the query are taken literally.
    """
    terms = list(dict.fromkeys(_words(typed, search_mode=False)))[:MAX_QUERY_TERMS]
    if not terms:
        return None
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms)


def reindex_if_needed(db: Database, progress=lambda done, total: None, batch: int = 2000) -> int:
    """Cut every stored wish's search text again when the words changed since it was stored
    (a new dictionary: `routing.WORDS_VERSION`, kept as the database's user_version), or a
    query would be cut one way and the wishes it should find another. Returns how many."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= WORDS_VERSION:
        return 0
    total = db.execute("SELECT count(*) FROM wishes").fetchone()[0]
    done, after = 0, 0
    while rows := list(
        db.query(
            "SELECT id, text, reason, location, tags FROM wishes WHERE id > ? ORDER BY id LIMIT ?",
            [after, batch],
        )
    ):
        with transaction(db):
            db.conn.executemany(
                "UPDATE wishes SET search_text = ? WHERE id = ?",
                [(index_text(row), row["id"]) for row in rows],
            )
        after, done = rows[-1]["id"], done + len(rows)
        progress(done, total)
    db.execute(f"PRAGMA user_version = {int(WORDS_VERSION)}")
    return done
