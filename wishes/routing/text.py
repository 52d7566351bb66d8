"""Normalising and tokenising wish text for the router.

Wishes arrive in Simplified or Traditional characters, full-width or half-width, with emoji
and stray control characters. The router sees one canonical form; the wish itself is stored
as typed. The functions used inside the scikit-learn pipeline are named module-level
functions, so the safe model format (skops) can list them as trusted types.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jieba
import opencc

_converter_lock = threading.Lock()
_tokenizer_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None
_cache_dir: Path | None = None

# Filler words patients use in almost every wish: useless as tags.
_TAG_STOP_WORDS = frozenset(
    """希望 想 想要 能不能 能否 可以 可不可以 一下 一个 麻烦 谢谢 请问 请 我们 我 你们 你 他 她
    这个 那个 什么 怎么 怎么办 有没有 没有 还是 就是 因为 所以 但是 现在 今天 明天 已经 时候 需要
    帮忙 帮助 一点 能够 问问 知道 不知道 医院 老人 家里""".split()
)


@lru_cache(maxsize=1)
def _opencc() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _keep(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category in {"Cc", "Cf", "Cs", "Co", "Cn"}:
        return ch in " \n"
    # Emoji and pictographs are symbols (So, Sk); ordinary punctuation and CJK stay.
    return category not in {"So", "Sk"}


def traditional_to_simplified(text: str) -> str:
    with _converter_lock:  # OpenCC's converter is not documented as thread-safe
        return _opencc().convert(text)


def normalise(text: str) -> str:
    """One canonical form: NFKC (full-width → half-width), Simplified, lower case, no emoji."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if _keep(ch))
    return " ".join(traditional_to_simplified(text).lower().split())


def set_cache_dir(path: str | Path) -> None:
    """Keep jieba's dictionary cache in the data dir instead of the system temp folder."""
    global _cache_dir
    _cache_dir = Path(path)


def tokenizer() -> jieba.Tokenizer:
    """The process's jieba tokenizer with the hospital dictionary, built once (1–3 s)."""
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                built = jieba.Tokenizer()
                if _cache_dir is not None:
                    _cache_dir.mkdir(parents=True, exist_ok=True)
                    built.tmp_dir = str(_cache_dir)
                built.initialize()
                dictionary = resources.files(__package__).joinpath("data/hospital_dict.txt")
                with dictionary.open("rb") as handle:  # jieba leaves a file it opened unclosed
                    built.load_userdict(handle)
                _tokenizer = built
    return _tokenizer


def words(text: str) -> list[str]:
    """jieba words of normalised text, without spaces and punctuation."""
    return [
        token
        for token in tokenizer().lcut(text)
        if token.strip() and not all(unicodedata.category(ch).startswith("P") for ch in token)
    ]


def word_features(text: str) -> list[str]:
    """Analyzer for the word vectoriser: jieba words and adjacent word pairs."""
    tokens = words(normalise(text))
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


def char_text(text: str) -> str:
    """Preprocessor for the character vectoriser."""
    return normalise(text)


def keyword_tags(text: str, idf: Mapping[str, float], count: int = 5) -> list[str]:
    """Up to `count` keywords of a wish: its jieba words ranked by TF-IDF.

    `idf` comes from the router's own word vectoriser, so the weights are learned from hospital
    wishes (jieba.analyse's general-news table would cost ~130 MB per process; see
    docs/routing.md). A word the router never saw gets the highest weight: it is rare.
    """
    unseen = max(idf.values(), default=1.0)
    counts: dict[str, int] = {}
    for word in words(normalise(text)):
        if len(word) >= 2 and not word.isdigit() and word not in _TAG_STOP_WORDS:
            counts[word] = counts.get(word, 0) + 1
    # Python's sort is stable: equal weights keep the order the words appear in.
    return sorted(counts, key=lambda word: -counts[word] * idf.get(word, unseen))[:count]
