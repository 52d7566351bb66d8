"""Normalising and tokenising wish text for the router.

Wishes arrive in Simplified or Traditional characters, full-width or half-width, with emoji
and stray control characters. The router sees one canonical form; the wish itself is stored
as typed. The functions used inside the scikit-learn pipeline are named module-level
functions, so the safe model format (skops) can list them as trusted types.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Mapping
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


# jieba's dictionary without its rarest words: the 80,000 words of frequency 20 or more, of
# 349,000. A process holds 13 MB of it instead of 62 MB; the router's cross-validated accuracy
# is the same (docs/routing.md). Words it lacks are cut by jieba's HMM, as unknown words are.
MAIN_DICTIONARY_MIN_FREQUENCY = 20
# Which words search_text holds: a change of dictionary re-cuts stored wishes (search.py).
WORDS_VERSION = 2


def _main_dictionary(folder: Path) -> Path:
    """The trimmed main dictionary, written once into the cache folder from jieba's own."""
    path = folder / f"jieba-{jieba.__version__}-min{MAIN_DICTIONARY_MIN_FREQUENCY}.txt"
    if not path.exists():
        source = Path(jieba.__file__).with_name("dict.txt")
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        with open(source, encoding="utf-8") as full, open(partial, "w", encoding="utf-8") as out:
            for line in full:
                if int(line.split()[1]) >= MAIN_DICTIONARY_MIN_FREQUENCY:
                    out.write(line)
        os.replace(partial, path)
    return path


def tokenizer() -> jieba.Tokenizer:
    """The process's jieba tokenizer with the hospital dictionary, built once (1–3 s)."""
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                folder = _cache_dir or Path(tempfile.gettempdir()) / "wishes-jieba"
                folder.mkdir(parents=True, exist_ok=True)
                built = jieba.Tokenizer(dictionary=str(_main_dictionary(folder)))
                built.tmp_dir = str(folder)
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


# Parts of speech (jieba's dictionary tags) that make a tag: nouns of every kind, verbal and
# adjectival nouns, abbreviations. Pronouns, numerals, measure words, time words, particles and
# bare verbs (过个, 有个, 一个月, 哪个, 不能, de…) never do.
NOUN_TAGS = frozenset({"n", "nr", "nrt", "nrfg", "ns", "nt", "nz", "ng", "vn", "an", "j"})
VERB_TAGS = frozenset({"v", "vd", "vi"})
# Verbs too light to make a verb–object phrase with the noun after them.
# A new word jieba found that holds one of these is filler or a clause (借个, 太热, 没回音).
_FUNCTION_CHARACTERS = frozenset("个了的着过能不没太很完吗呢吧啊哦一这那些点下")
_LIGHT_VERBS = frozenset("能 想 要 有 是 去 做 给 让 帮 请 来 到 在 说 问 看 会 用 找 叫".split())


def dictionary_tags(words: Iterable[str]) -> dict[str, str]:
    """The part of speech jieba's dictionary and the hospital dictionary give each of `words`
    (the hospital's wins). Read once per model from the two files, keeping only the words the
    model knows: jieba.posseg would hold all 350,000 words and its HMM, ~100 MB per worker."""
    wanted = set(words)
    found: dict[str, str] = {}
    jieba_dict = Path(jieba.__file__).with_name("dict.txt")
    hospital = resources.files(__package__).joinpath("data/hospital_dict.txt")
    with open(jieba_dict, encoding="utf-8") as main, hospital.open(encoding="utf-8") as ours:
        for handle in (main, ours):
            for line in handle:
                parts = line.split()
                if len(parts) == 3 and parts[0] in wanted:
                    found[parts[0]] = parts[2]
    return found


def keyword_tags(
    text: str, idf: Mapping[str, float], pos: Mapping[str, str] | None = None, count: int = 5
) -> list[str]:
    """Up to `count` keywords of a wish: its nouns and verb–object phrases (借轮椅, 修空调),
    ranked by TF-IDF.

    `idf` comes from the router's own word vectoriser, so the weights are learned from hospital
    wishes; a word the router never saw gets the highest weight: it is rare. `pos` gives the
    words' parts of speech (`dictionary_tags`); a word it does not list is a new word that
    jieba found, a noun unless it holds a function character. Filler never makes a tag.
    """
    unseen = max(idf.values(), default=1.0)
    pos = pos or {}
    tokens = words(normalise(text))
    counts: dict[str, int] = {}

    def noun(word: str) -> bool:
        if word.isascii():  # wifi, mri; never pinyin filler (de, ge) or bare numbers
            return len(word) >= 3 and word.isalpha()
        if word in pos:
            return pos[word] in NOUN_TAGS
        return not _FUNCTION_CHARACTERS.intersection(word)  # a new word: 遥控车 yes, 过个 no

    for index, word in enumerate(tokens):
        if word in _TAG_STOP_WORDS or word.isdigit():
            continue
        if len(word) >= 2 and noun(word):
            counts[word] = counts.get(word, 0) + 1
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if (
            pos.get(word) in VERB_TAGS
            and word not in _LIGHT_VERBS
            and following not in _TAG_STOP_WORDS
            and noun(following)
        ):
            phrase = word + following
            counts[phrase] = counts.get(phrase, 0) + 1

    def weight(tag: str) -> float:
        return counts[tag] * idf.get(tag, idf.get(tag[-2:], unseen))

    # Python's sort is stable: equal weights keep the order the words appear in.
    return sorted(counts, key=lambda tag: -weight(tag))[:count]
