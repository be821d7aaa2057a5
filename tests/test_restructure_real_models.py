"""Restructuring the real models of ../shared/models (graph-only torchvision ONNX exports with
random weights, int8 TFLite files): a short search on each, the rewrite checked for
equivalence (onnxruntime for float graphs, cnnmem's bit-exact integer interpreter for TFLite),
and the memory profile after the rewrite recomputed independently from the exported ONNX file
re-imported from disk (float graphs). Skipped cleanly when the folder is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cnnmem.analysis.liveness import compute_liveness
from cnnmem.api import make_accounting, restructure
from cnnmem.frontend import load_model
from cnnmem.frontend.onnx_export import save_onnx
from cnnmem.passes.simplify import simplify
from cnnmem.restructure.measure import measure
from conftest import entry_id, manifest_entries, models_dir

QUICK = {"parts": (2, 4), "max_iterations": 2, "max_layers": 4}
ONNX = manifest_entries("onnx")
TFLITE = manifest_entries("tflite")


def _restructured(entry: dict[str, Any]) -> Any:
    path = models_dir() / entry["file"]
    return restructure(str(path), max_overhead=0.1, dtype="int8" if path.suffix == ".onnx"
                       else None, **QUICK)


@pytest.mark.parametrize("entry", ONNX, ids=[entry_id(e) for e in ONNX])
def test_onnx_model_rewrite_is_equivalent_and_profile_recomputes(entry: dict[str, Any],
                                                                 tmp_path: Path) -> None:
    out = _restructured(entry)
    r = out.result
    assert r.macs_after <= r.macs_before * 1.1
    assert r.peak_after_bytes <= r.peak_before_bytes
    if not r.segments:
        return
    assert r.equivalent is True
    assert r.peak_after_bytes < r.peak_before_bytes
    # independent profile: the rewritten graph written to ONNX, read back by the importer,
    # simplified again, then liveness and arena computed from scratch
    file = save_onnx(out.rewritten, tmp_path / "rewritten.onnx", random_weights=True)
    again = load_model(str(file))
    simplify(again)
    acc = make_accounting(dtype="int8")
    assert compute_liveness(again, acc, concat_in_place=True).live_bytes == out.live_after
    m, _ = measure(again, acc)
    assert (m.arena_bytes, m.macs) == (r.peak_after_bytes, r.macs_after)


@pytest.mark.parametrize("entry", TFLITE, ids=[entry_id(e) for e in TFLITE])
def test_tflite_model_rewrite_is_bit_exact(entry: dict[str, Any]) -> None:
    out = _restructured(entry)
    r = out.result
    assert r.macs_after <= r.macs_before * 1.1
    assert r.peak_after_bytes <= r.peak_before_bytes
    if r.segments:
        assert r.equivalent is True  # every tensor the two graphs share, bit for bit
        assert r.peak_after_bytes < r.peak_before_bytes
