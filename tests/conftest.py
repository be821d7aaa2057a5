"""Shared fixtures: the reference models in ../shared/models (skipped cleanly when absent), and
one ``cnnmem report --quick`` run shared by the report tests.

# NOTE: keep every conftest helper in this one file: test modules import them with
# ``from conftest import ...``, and a second ``conftest.py`` in a sub-folder would shadow this
# module under the same name.
"""

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


@pytest.fixture(scope="session")
def blazeface_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The output folder of ``cnnmem report blazeface --quick`` (BlazeFace at its 128x128
    input: every section has data and a figure) and its exit code; shared by the CLI, HTML and
    browser tests of the report."""
    from cnnmem.cli import main

    out = tmp_path_factory.mktemp("report") / "out"
    code = main(["report", "blazeface", "--quick", "-o", str(out)])
    return out, code
