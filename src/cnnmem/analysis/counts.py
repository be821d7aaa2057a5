"""Whole-graph counts: parameters, weight elements/bytes and MACs.

Accounting (stated in every report):
- ``params``: elements of trainable constants (conv/linear weights and biases, BN scale and
  shift, PReLU slopes), each distinct constant counted once: PyTorch's
  ``sum(p.numel() for p in model.parameters())`` for the modules that run.
- ``weight_elements``: ``params`` plus stored non-trainable state (BN running mean/var): what a
  file's weight initializers hold. Shape-like constants (Reshape targets, Clip bounds, Resize
  scales...) are not weights.
- ``macs``: multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul (see
  :func:`cnnmem.ir.ops.node_macs`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnmem.ir.graph import Graph, Tensor
from cnnmem.ir.ops import node_macs, param_inputs, state_inputs


@dataclass(frozen=True, slots=True)
class GraphCounts:
    """Totals over a graph; see the module docstring for what each counts."""

    params: int
    weight_elements: int
    weight_bytes: int
    macs: int


def weight_tensors(graph: Graph) -> tuple[Tensor, ...]:
    """Distinct constant tensors that are parameters or stored state, in first-use order."""
    seen: dict[str, Tensor] = {}
    for node in graph.nodes:
        for t in (*param_inputs(node), *state_inputs(node)):
            seen.setdefault(t.name, t)
    return tuple(seen.values())


def count_graph(graph: Graph) -> GraphCounts:
    """Parameters, weight elements/bytes (at the file's dtypes) and MACs of ``graph``."""
    params: dict[str, int] = {}
    for node in graph.nodes:
        for t in param_inputs(node):
            params.setdefault(t.name, t.num_elements)
    weights = weight_tensors(graph)
    return GraphCounts(
        params=sum(params.values()),
        weight_elements=sum(t.num_elements for t in weights),
        weight_bytes=sum(t.size_bytes for t in weights),
        macs=sum(node_macs(n) for n in graph.nodes),
    )
