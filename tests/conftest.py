"""Shared fixtures: the reference models in ../shared/models (skipped cleanly when absent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT.parent / "shared" / "models"


def models_dir() -> Path:
    """The reference-model folder, or skip the calling test if it is absent."""
    if not (MODELS_DIR / "manifest.json").is_file():
        pytest.skip(f"reference models not found at {MODELS_DIR}")
    return MODELS_DIR


def manifest() -> dict[str, Any]:
    """The parsed manifest.json of the reference models (skips if absent)."""
    return json.loads((models_dir() / "manifest.json").read_text())


def manifest_entries(kind: str) -> list[dict[str, Any]]:
    """Manifest entries of ``kind`` (``onnx`` / ``tflite``) for parametrisation; empty if the
    folder is absent (the parametrised test is then reported as skipped)."""
    path = MODELS_DIR / "manifest.json"
    if not path.is_file():
        return []
    return list(json.loads(path.read_text())[kind])


def entry_id(entry: dict[str, Any]) -> str:
    """Readable test id from a manifest entry."""
    return Path(entry["file"]).stem
