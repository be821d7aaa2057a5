"""Every zoo network exports to valid ONNX, runs in onnxruntime, and simplification (BN folding,
activation fusion...) preserves its function on random weights (rtol 1e-4)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from cnnmem.frontend.onnx_export import to_onnx
from cnnmem.ir import verify
from cnnmem.passes.simplify import simplify
from cnnmem.zoo import build_network, list_networks

NAMES = [e.name for e in list_networks()]


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "vgg16"
                                  else n for n in NAMES])
def test_export_runs_and_fusion_preserves_function(name: str) -> None:
    graph = build_network(name, weights=True, seed=7)
    model = to_onnx(graph)
    onnx.checker.check_model(model, full_check=True)
    rng = np.random.default_rng(0)
    feeds = {t.name: rng.normal(size=t.shape).astype(np.float32) for t in graph.inputs}
    before = _session(model).run(None, feeds)
    assert [tuple(o.shape) for o in before] == [t.shape for t in graph.outputs]
    result = simplify(graph)
    verify(graph)
    assert result.modified
    assert not any(n.op_type == "BatchNormalization" for n in graph.nodes)
    after = _session(to_onnx(graph)).run(None, feeds)
    for a, b in zip(before, after, strict=True):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * float(np.abs(a).max()))
