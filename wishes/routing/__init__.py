"""The router: sends a wish to the branch best placed to fulfil it.

Intake calls `route(text)` and nothing else. The serving app loads the active model at start
(with gunicorn's --preload, before the workers fork); it is swapped in without a restart
when `wishes train` activates a new version. When no model is usable, or the model is unsure,
the wish waits for triage by the Party-building office — never an error page.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app

from .. import hospital
from ..needs import NOT_A_WISH
from . import artifacts, text
from .artifacts import ModelError, library_versions, load_file, save_file
from .text import (
    WORDS_VERSION,
    char_text,
    keyword_tags,
    normalise,
    tokenizer,
    traditional_to_simplified,
    word_features,
)
from .training import DataError, Example, predict_top, read_examples

log = logging.getLogger(__name__)

EXTENSION = "wishes.router"


@dataclass(frozen=True)
class RouteDecision:
    """What the router said about a wish: the top categories of need with probabilities, and
    tags. The hospital's routing map, not the router, says which branch handles a category."""

    suggestions: list[tuple[str, float]]
    tags: list[str] = field(default_factory=list)
    model_version: str = ""
    confident: bool = False

    @property
    def category(self) -> str | None:
        return self.suggestions[0][0] if self.suggestions else None

    @property
    def confidence(self) -> float | None:
        return self.suggestions[0][1] if self.suggestions else None

    @property
    def is_a_wish(self) -> bool:
        """False for greetings, tests and nonsense: those are never routed."""
        return self.category != NOT_A_WISH

    def routes_to(self, branch: str | None) -> bool:
        """Whether the wish opens at `branch` (the routing map's for its category) with no
        person deciding: the router is sure, it is a wish, and the map places it."""
        return self.confident and self.is_a_wish and branch is not None


def give_back_freed_memory() -> None:
    """Return to the system what loading a model freed: skops reads the model through a large
    description that is dropped once the model is built, and glibc keeps the freed pages
    (21 MB of a worker's 266 MB; docs/routing.md). Elsewhere than glibc, nothing to do."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Router:
    """The active model of one models folder, re-read when `active.json` changes."""

    RECHECK_SECONDS = 2.0

    def __init__(self, models_dir: str | Path, threshold: float):
        self.models_dir = Path(models_dir)
        self.threshold = threshold
        self._model: artifacts.LoadedModel | None = None
        self._pointer_stamp: float | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def _pointer_mtime(self) -> float | None:
        try:
            return (self.models_dir / artifacts.ACTIVE_FILE).stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def refresh(self) -> artifacts.LoadedModel | None:
        """Load the active version if it changed since the last look (cheap: one stat)."""
        stamp = self._pointer_mtime()
        if stamp == self._pointer_stamp:
            return self._model
        with self._lock:
            if stamp != self._pointer_stamp:
                version = artifacts.active_version(self.models_dir) if stamp else None
                model = None
                if version:
                    try:
                        model = artifacts.load(self.models_dir, version)
                        model.pipeline.predict_proba(["预热"])  # builds jieba's dictionary now
                        _ = model.word_idf, model.word_tags
                        give_back_freed_memory()
                        log.info("router model %s loaded", version)
                    except artifacts.ModelError as error:
                        log.error("router model %s not usable: %s", version, error)
                self._model, self._pointer_stamp = model, stamp
        return self._model

    @property
    def model(self) -> artifacts.LoadedModel | None:
        now = time.monotonic()
        if now - self._checked_at >= self.RECHECK_SECONDS:
            self._checked_at = now
            return self.refresh()
        return self._model

    def route(self, wish_text: str, threshold: float | None = None) -> RouteDecision | None:
        """`threshold`: the settings page's (None: the one the router was made with)."""
        model = self.model
        if model is None:
            return None
        top = predict_top(model.pipeline, [wish_text])[0]
        return RouteDecision(
            suggestions=[(label, round(p, 4)) for label, p in top],
            tags=text.keyword_tags(wish_text, model.word_idf, model.word_tags),
            model_version=model.version,
            confident=top[0][1] >= (self.threshold if threshold is None else threshold),
        )


def init_app(app: Flask) -> None:
    text.set_cache_dir(Path(app.config["WISHES_DATA_DIR"]) / "jieba-cache")
    # Loaded on first use, so commands that never route (init-db, train…) do not pay for it;
    # the serving app loads it up front (`wishes.create_serving_app`).
    app.extensions[EXTENSION] = Router(
        app.config["WISHES_MODELS_DIR"], app.config["WISHES_ROUTER_THRESHOLD"]
    )


def route(wish_text: str) -> RouteDecision | None:
    """Top categories with probabilities and keyword tags for one wish, or None (no model)."""
    threshold = hospital.value("WISHES_ROUTER_THRESHOLD")
    return current_app.extensions[EXTENSION].route(wish_text, threshold)


__all__ = [
    "EXTENSION",
    "WORDS_VERSION",
    "DataError",
    "Example",
    "ModelError",
    "RouteDecision",
    "Router",
    "char_text",
    "give_back_freed_memory",
    "init_app",
    "keyword_tags",
    "library_versions",
    "load_file",
    "normalise",
    "read_examples",
    "route",
    "save_file",
    "tokenizer",
    "traditional_to_simplified",
    "word_features",
]
