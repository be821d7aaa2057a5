"""Fixtures of the report tests: one ``cnnmem report --quick`` run shared by the CLI, HTML and
browser tests (BlazeFace at its 128x128 input: every section has data and a figure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnmem.cli import main


@pytest.fixture(scope="session")
def blazeface_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The output folder of ``cnnmem report blazeface --quick`` and its exit code."""
    out = tmp_path_factory.mktemp("report") / "out"
    code = main(["report", "blazeface", "--quick", "-o", str(out)])
    return out, code
