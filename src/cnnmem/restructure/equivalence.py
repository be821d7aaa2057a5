"""Function-preservation check of a rewrite: original vs rewritten graph in onnxruntime.

Both graphs are exported with :func:`cnnmem.frontend.onnx_export.to_onnx` and run on the same
seeded random inputs. Their constants must hold the same values. ``to_onnx(graph,
random_weights=True, seed)`` draws data-less weights in ``graph.constants`` order, which a
rewrite may change (and a channel split makes new, sliced constants); so the check first draws
the original's weights once (:func:`cnnmem.runtime.constant_values`) and attaches them *by
name* to copies of both graphs (:func:`attach_weights`). Tile splitting reuses the original
weight tensors, so this always works for it; sliced constants of a channel split carry data only
if the original weights had data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cnnmem.errors import CnnmemError
from cnnmem.ir.graph import Graph
from cnnmem.restructure.clone import clone_graph
from cnnmem.runtime import constant_values

__all__ = ["EquivalenceReport", "attach_weights", "check_equivalence", "run_onnxruntime"]


@dataclass(frozen=True, slots=True)
class EquivalenceReport:
    """Result of :func:`check_equivalence`.

    Attributes:
        equivalent: every output matches within ``rtol`` (and ``atol``).
        max_abs_error: largest absolute difference over all outputs.
        max_rel_error: largest ``|a - b| / max(|a|, atol)`` over all outputs.
        rtol: relative tolerance used.
        atol: absolute tolerance used (relative to the largest reference magnitude).
    """

    equivalent: bool
    max_abs_error: float
    max_rel_error: float
    rtol: float
    atol: float


def attach_weights(graph: Graph, values: Mapping[str, np.ndarray]) -> Graph:
    """A copy of ``graph`` whose data-less constants get ``values[name]``.

    Raises:
        CnnmemError: a data-less constant has no value in ``values``.
    """
    out = clone_graph(graph)
    for t in out.constants:
        if t.data is not None:
            continue
        if t.name not in values:
            raise CnnmemError(f"constant {t.name!r} has no data and no value to attach; build "
                              "the original graph with weights before rewriting it")
        t.data = np.asarray(values[t.name]).astype(t.dtype.numpy)
    return out


def run_onnxruntime(graph: Graph, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Outputs of ``graph`` (all constants with data) in onnxruntime's CPU provider."""
    import onnxruntime as ort

    from cnnmem.frontend.onnx_export import to_onnx

    model = to_onnx(graph)
    options = ort.SessionOptions()
    # no graph rewrites by onnxruntime itself: compare the graphs as written
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in session.run(None, dict(feeds))]


def check_equivalence(original: Graph, rewritten: Graph, *, seed: int = 0, rtol: float = 1e-4,
                      atol: float = 1e-5) -> EquivalenceReport:
    """Run both graphs in onnxruntime on the same random inputs and weights and compare.

    Args:
        original: the graph before the rewrite.
        rewritten: the graph after it (same inputs and outputs).
        seed: seed of the random weights (for data-less constants) and inputs.
        rtol: relative tolerance per element.
        atol: absolute tolerance, scaled by the largest reference magnitude of each output
            (so outputs near zero do not fail on rounding noise).

    Returns:
        The report; ``equivalent`` is False if any output differs or output names differ.
    """
    values = constant_values(original, seed)
    a_graph = attach_weights(original, values)
    b_graph = attach_weights(rewritten, values)
    rng = np.random.default_rng(seed)
    feeds = {t.name: rng.normal(size=t.shape).astype(t.dtype.numpy) for t in original.inputs}
    if [t.name for t in original.outputs] != [t.name for t in rewritten.outputs]:
        return EquivalenceReport(False, float("inf"), float("inf"), rtol, atol)
    ok, max_abs, max_rel = True, 0.0, 0.0
    for a, b in zip(run_onnxruntime(a_graph, feeds), run_onnxruntime(b_graph, feeds),
                    strict=True):
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        scale = max(1.0, float(np.abs(a64).max(initial=0.0)))
        diff = np.abs(a64 - b64)
        max_abs = max(max_abs, float(diff.max(initial=0.0)))
        max_rel = max(max_rel, float((diff / np.maximum(np.abs(a64), atol * scale)).max(
            initial=0.0)))
        ok &= a.shape == b.shape and bool(np.all(diff <= atol * scale + rtol * np.abs(a64)))
    return EquivalenceReport(ok, max_abs, max_rel, rtol, atol)
