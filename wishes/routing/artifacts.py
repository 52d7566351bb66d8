"""Trained models on disk: one folder per version, a metadata file beside it, one active pointer.

    models/
      active.json                  {"version": "20261124-230512-3f9a"}
      20261124-230512-3f9a/
        model.skops                the pipeline, in skops' safe format (never pickle)
        metadata.json              labels, training data hash and size, metrics, versions

Following scikit-learn's persistence notes: the library versions used for training are saved
beside the model, and a mismatch on load is an error, not a warning.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import skops.io as sio
from sklearn.pipeline import Pipeline

from .text import dictionary_tags

MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
ACTIVE_FILE = "active.json"

# The only types beyond skops' defaults a model file may contain: our own named text functions
# and the private helpers of scikit-learn's probability calibration.
TRUSTED_TYPES = frozenset(
    {
        "wishes.routing.text.char_text",
        "wishes.routing.text.word_features",
        "wishes.routing.pipeline.SigmoidSVC",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
    }
)

# Libraries whose version must match between training and serving.
PINNED_LIBRARIES = ("scikit-learn", "skops", "numpy", "scipy", "jieba", "opencc")


class ModelError(RuntimeError):
    """A model file that cannot be used: missing, untrusted content, or other library versions."""


@dataclass(frozen=True)
class LoadedModel:
    version: str
    pipeline: Pipeline
    metadata: dict[str, Any]

    @property
    def labels(self) -> list[str]:
        return list(self.pipeline.classes_)

    @cached_property
    def word_idf(self) -> dict[str, float]:
        """IDF of single words from the pipeline's word vectoriser (for keyword tags)."""
        features = self.pipeline.named_steps.get("features")
        transformers = dict(getattr(features, "transformer_list", []))
        words = transformers.get("words")
        if words is None or not hasattr(words, "idf_"):
            return {}
        return {
            term: float(words.idf_[index])
            for term, index in words.vocabulary_.items()
            if " " not in term
        }

    @cached_property
    def word_tags(self) -> dict[str, str]:
        """Parts of speech of the words the model knows (for keyword tags: nouns, phrases)."""
        return dictionary_tags(self.word_idf)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PINNED_LIBRARIES:
        versions[name] = package_metadata.version(name)
    return versions


def new_version() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def save(models_dir: Path, pipeline: Pipeline, info: dict[str, Any]) -> str:
    """Write a new version (model + metadata) and return its name; it is not activated."""
    version = new_version()
    folder = Path(models_dir) / version
    folder.mkdir(parents=True)
    # Compressed: the fitted vocabularies are most of the file and compress about tenfold.
    sio.dump(pipeline, folder / MODEL_FILE, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    meta = {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "labels": [str(label) for label in pipeline.classes_],
        "libraries": library_versions(),
        "package_version": package_metadata.version("wishes"),
        **info,
    }
    (folder / METADATA_FILE).write_text(
        json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return version


def read_metadata(models_dir: Path, version: str) -> dict[str, Any]:
    path = Path(models_dir) / version / METADATA_FILE
    try:
        found = path.exists()
    except OSError as error:  # a name longer than the file system allows, for one
        raise ModelError(f"no model version {version[:40]}… in {models_dir}: {error}") from None
    if not found:
        raise ModelError(f"no model version {version} in {models_dir}")
    return json.loads(path.read_text(encoding="utf-8"))


def load(models_dir: Path, version: str) -> LoadedModel:
    """Load one version, refusing untrusted content and models built with other libraries."""
    meta = read_metadata(models_dir, version)
    mismatched = {
        name: (trained, current)
        for name, current in library_versions().items()
        if name != "python" and (trained := meta.get("libraries", {}).get(name)) != current
    }
    if mismatched:
        detail = ", ".join(f"{n} {t} (now {c})" for n, (t, c) in mismatched.items())
        raise ModelError(f"model {version} was trained with other library versions: {detail}")
    path = Path(models_dir) / version / MODEL_FILE
    untrusted = set(sio.get_untrusted_types(file=path))
    unexpected = untrusted - TRUSTED_TYPES
    if unexpected:
        raise ModelError(f"model {version} contains untrusted types: {sorted(unexpected)}")
    pipeline = sio.load(path, trusted=sorted(untrusted))
    return LoadedModel(version=version, pipeline=pipeline, metadata=meta)


def load_file(path: Path) -> Pipeline:
    """A pipeline from one model file, refusing content beyond TRUSTED_TYPES (ModelError)."""
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
        if untrusted - TRUSTED_TYPES:
            raise ModelError(
                f"{path} contains untrusted types: {sorted(untrusted - TRUSTED_TYPES)}"
            )
        return sio.load(path, trusted=sorted(untrusted))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ModelError(f"{path}: {error}") from None


def save_file(pipeline: Pipeline, path: Path) -> None:
    """Write a pipeline to one model file, whole or not at all (a reader never sees half)."""
    written = path.with_suffix(".tmp")
    sio.dump(pipeline, written, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    os.replace(written, path)


def active_version(models_dir: Path) -> str | None:
    path = Path(models_dir) / ACTIVE_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("version")


def activate(models_dir: Path, version: str) -> None:
    """Point `active.json` at a version, atomically (serving processes notice the change)."""
    read_metadata(models_dir, version)
    path = Path(models_dir) / ACTIVE_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"version": version}), encoding="utf-8")
    os.replace(temporary, path)


def versions(models_dir: Path) -> list[str]:
    folder = Path(models_dir)
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / METADATA_FILE).exists())


def record_decision(models_dir: Path, version: str, *, activated: bool, reason: str) -> None:
    """Write beside a version whether it was activated and why (its figures are already in
    its metadata), so every activation can be explained later."""
    path = Path(models_dir) / version / METADATA_FILE
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["decision"] = {
        "activated": activated,
        "reason": reason,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")


def prune(models_dir: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` versions and the active one; returns those deleted."""
    active = active_version(models_dir)
    folder = Path(models_dir)
    # oldest first, by when the model was written (names of one second sort at random)
    names = sorted(versions(models_dir), key=lambda n: (folder / n / MODEL_FILE).stat().st_mtime_ns)
    doomed = [name for name in names[:-keep] if name != active] if keep else []
    for name in doomed:
        shutil.rmtree(Path(models_dir) / name, ignore_errors=True)
    return doomed
