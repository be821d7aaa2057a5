"""Per-layer memory profile (``cnnmem profile``): pure function, frozen report.

For every node of the schedule: op, shapes, weight bytes, input/output activation bytes, MACs,
arithmetic intensity and the live activation bytes while it runs; totals for the network.

Definitions (stated in the report's ``accounting`` block):

- ``weight_bytes`` of a layer: its parameter and stored-state operands (see
  :mod:`cnnmem.analysis.counts`), at the accounting's element size. Network total: each distinct
  constant once.
- ``input_bytes`` / ``output_bytes``: the layer's distinct non-constant inputs / its outputs.
- ``arithmetic_intensity``: MACs per byte moved when the layer runs on its own (layer-by-layer
  execution: inputs, weights and outputs each cross the memory interface once):
  ``macs / (input_bytes + weight_bytes + output_bytes)``.
- ``live_bytes``: activation bytes live while the layer runs (its inputs, its outputs and every
  tensor kept for a later layer), per :mod:`cnnmem.analysis.liveness`.
- ``activation_bytes``: sum of the sizes of all intermediate activation buffers (graph inputs
  and outputs excluded; with the fused accounting, alias outputs share their input's buffer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cnnmem.analysis.accounting import Accounting
from cnnmem.analysis.counts import count_graph, weight_tensors
from cnnmem.analysis.liveness import Liveness, compute_liveness
from cnnmem.ir.graph import Graph, Node
from cnnmem.ir.ops import is_modelled, node_macs, param_inputs, state_inputs, unmodelled_ops

PROFILE_SCHEMA = "cnnmem.profile/1"


@dataclass(frozen=True, slots=True)
class LayerProfile:
    """One row of the profile: a node of the schedule."""

    index: int
    name: str
    op: str
    source_op: str
    activation: str | None
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    weight_bytes: int
    input_bytes: int
    output_bytes: int
    macs: int
    arithmetic_intensity: float
    live_bytes: int
    modelled: bool


@dataclass(frozen=True, slots=True)
class ProfileTotals:
    """Network totals (see the module docstring for definitions)."""

    params: int
    weight_elements: int
    weight_bytes: int
    macs: int
    activation_bytes: int
    input_bytes: int
    output_bytes: int
    largest_activation_bytes: int
    largest_activation: str
    peak_live_activation_bytes: int
    peak_layer: str
    peak_step: int


@dataclass(frozen=True, slots=True)
class MemoryProfile:
    """The whole profile of one model under one accounting."""

    model: str
    source: str
    accounting: Accounting
    layers: tuple[LayerProfile, ...]
    totals: ProfileTotals
    not_modelled: dict[str, list[str]]
    metadata: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (schema ``cnnmem.profile/1``, documented in the README)."""
        acct = self.accounting
        return {
            "schema": PROFILE_SCHEMA,
            "model": self.model,
            "source": self.source,
            "accounting": {
                "dtype": acct.dtype.short_name if acct.dtype else "file",
                "bytes_per_element": acct.dtype.itemsize if acct.dtype else None,
                "fused": acct.fused,
                "graph_io_in_live_bytes": acct.include_io,
                "alignment_bytes": acct.alignment,
                "macs": "multiply-accumulates of Conv, ConvTranspose, Gemm, MatMul",
                "description": acct.describe(),
            },
            "metadata": dict(sorted(self.metadata.items())),
            "not_modelled": self.not_modelled,
            "layers": [
                {**asdict(layer),
                 "input_shapes": [list(s) for s in layer.input_shapes],
                 "output_shape": list(layer.output_shape),
                 "arithmetic_intensity": round(layer.arithmetic_intensity, 6)}
                for layer in self.layers
            ],
            "totals": asdict(self.totals),
        }


def _layer(index: int, node: Node, acct: Accounting, live: int) -> LayerProfile:
    weights = {t.name: t for t in (*param_inputs(node), *state_inputs(node))}
    weight_bytes = sum(acct.raw_bytes(t) for t in weights.values())
    in_bytes = sum(acct.raw_bytes(t) for t in node.activation_inputs)
    out_bytes = sum(acct.raw_bytes(t) for t in node.outputs)
    macs = node_macs(node)
    moved = in_bytes + weight_bytes + out_bytes
    return LayerProfile(
        index=index,
        name=node.name,
        op=node.op_type,
        source_op=node.source_op,
        activation=node.activation.describe() if node.activation else None,
        input_shapes=tuple(t.shape for t in node.activation_inputs),
        output_shape=node.outputs[0].shape if node.outputs else (),
        weight_bytes=weight_bytes,
        input_bytes=in_bytes,
        output_bytes=out_bytes,
        macs=macs,
        arithmetic_intensity=macs / moved if moved else 0.0,
        live_bytes=live,
        modelled=is_modelled(node.op_type),
    )


def profile_memory(graph: Graph, accounting: Accounting, *, model: str | None = None,
                   schedule: Sequence[Node] | None = None,
                   liveness: Liveness | None = None) -> MemoryProfile:
    """Profile ``graph`` under ``accounting`` for a layer-by-layer schedule."""
    live = liveness or compute_liveness(graph, accounting, schedule)
    order = list(schedule) if schedule is not None else list(graph.nodes)
    layers = tuple(_layer(i, n, accounting, live.live_bytes[i]) for i, n in enumerate(order))
    counts = count_graph(graph)
    weight_bytes = sum(accounting.raw_bytes(t) for t in weight_tensors(graph))
    intermediates = [b for b in live.buffers if not (b.is_input or b.is_output)]
    largest = max(intermediates, key=lambda b: (b.size_bytes, b.name), default=None)
    peak_step = live.peak_step
    totals = ProfileTotals(
        params=counts.params,
        weight_elements=counts.weight_elements,
        weight_bytes=weight_bytes,
        macs=counts.macs,
        activation_bytes=sum(b.size_bytes for b in intermediates),
        input_bytes=sum(accounting.raw_bytes(t) for t in graph.inputs),
        output_bytes=sum(accounting.raw_bytes(t) for t in graph.outputs),
        largest_activation_bytes=largest.size_bytes if largest else 0,
        largest_activation=largest.name if largest else "",
        peak_live_activation_bytes=live.peak_bytes,
        peak_layer=live.steps[peak_step] if live.steps else "",
        peak_step=peak_step,
    )
    return MemoryProfile(
        model=model or graph.name,
        source=graph.metadata.get("source_path", graph.metadata.get("network", graph.name)),
        accounting=accounting,
        layers=layers,
        totals=totals,
        not_modelled=unmodelled_ops(graph),
        metadata=dict(graph.metadata),
    )
