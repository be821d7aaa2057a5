"""The channel-splitting rewrites on every zoo network and on the real models.

For each network, representative targets: the dense Conv, the depthwise (grouped) Conv and the
channel-wise layer with the largest output and the last of each in the schedule; for the
input-channel split, the dense Conv with the largest input and the last one; the valid chain
(:func:`channel_chain_error`, 2 to 6 layers) with the largest hidden tensors and the last one.
Each is rewritten with parts = 2:

- float graphs (zoo networks as built, unfused, at small resolutions; the ONNX files of
  ../shared/models, simplified as the restructuring pipeline does): ``ChannelSplitPass``,
  ``InputChannelSplitPass`` and ``ChannelChainSplitPass``. The rewrite of the whole network must
  verify and keep the MACs; the function is checked in onnxruntime (random weights and inputs,
  rtol 1e-4) on the network's *prefix* that ends at the rewritten region's output (every node
  that output depends on; the region's output is compared directly), or, where that prefix
  holds more than 6 M weights (VGG16, the ResNets, Inception v3, Tiny YOLOv2, FCN deep
  layers), on the region alone with its input tensors fed random values: exporting large
  weights to onnxruntime would dominate the run time;
- int8 TFLite files: ``ChannelSplitPass`` must be bit-exact in cnnmem's integer interpreter on
  every tensor the two whole graphs share; ``InputChannelSplitPass`` and
  ``ChannelChainSplitPass`` must be refused (exact partial sums need int32 accumulators).

The real-model tests skip cleanly when ../shared/models is absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cnnmem.errors import PreconditionError
from cnnmem.frontend import load_model
from cnnmem.ir import Graph, Node, Tensor, TensorKind, verify
from cnnmem.ir.ops import node_macs
from cnnmem.passes.channel_chain import ChannelChainSplitPass, channel_chain_error
from cnnmem.passes.channel_split import (
    ChannelSplitPass,
    InputChannelSplitPass,
    channel_split_kind,
)
from cnnmem.passes.infra import Pass
from cnnmem.passes.simplify import simplify
from cnnmem.restructure import attach_weights, check_equivalence, clone_graph
from cnnmem.runtime import constant_values, evaluate
from cnnmem.zoo import build_network, list_networks
from conftest import entry_id, manifest_entries, models_dir

ONNX = manifest_entries("onnx")
TFLITE = manifest_entries("tflite")
MAX_CHAIN = 6
MAX_PREFIX_WEIGHTS = 6_000_000
"""Weight elements above which a rewrite is checked on its region alone, not on the prefix
(exporting large weights to onnxruntime dominates the run time)."""


# ----------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Rewrite:
    """One rewrite of one network: what it is, the pass, and the tensor it must preserve."""

    label: str
    make: Callable[[], Pass]
    layers: tuple[str, ...]
    output: str


def _picks(nodes: list[Node]) -> list[Node]:
    """The node with the largest output (the first of equals) and the last node with a 4-D
    output (deep in the network: its prefix is most of the network), without repeats."""
    if not nodes:
        return []
    largest = max(nodes, key=lambda n: n.outputs[0].num_elements)
    last = next((n for n in reversed(nodes) if len(n.outputs[0].shape) == 4), largest)
    return [largest] if last is largest else [largest, last]


def _chains(g: Graph) -> list[tuple[str, ...]]:
    """Valid chains of 2 to ``MAX_CHAIN`` layers: the one whose hidden tensors (outputs of all
    but the last layer) have the most elements, and the last one in the schedule (the longest
    of those that start at the same layer)."""
    nodes = g.nodes
    found: list[tuple[int, tuple[str, ...]]] = []
    for i, first in enumerate(nodes):
        if first.op_type != "Conv":
            continue
        for k in range(2, min(MAX_CHAIN, len(nodes) - i) + 1):
            names = tuple(n.name for n in nodes[i:i + k])
            if channel_chain_error(g, names) is None:
                found.append((sum(n.outputs[0].num_elements for n in nodes[i:i + k - 1]),
                              names))
    if not found:
        return []
    largest = max(found, key=lambda f: f[0])[1]
    last = found[-1][1]
    return [largest] if last == largest else [largest, last]


def _rewrites(g: Graph) -> list[Rewrite]:
    """The representative rewrites of ``g`` (module docstring)."""
    kinds: dict[str, list[Node]] = {"output": [], "group": [], "channel": []}
    for n in g.nodes:
        kind = channel_split_kind(n)
        if kind is not None and _units(n) >= 2:
            kinds[kind].append(n)
    out: list[Rewrite] = []
    for kind, label in (("output", "dense"), ("group", "depthwise"), ("channel", "channelwise")):
        for node in _picks(kinds[kind]):
            out.append(Rewrite(f"ChannelSplitPass({label} {node.name})",
                               _factory(ChannelSplitPass, node.name), (node.name,),
                               node.outputs[0].name))
    # the input-channel split of the dense conv with the largest input, and of the last one
    dense = [n for n in kinds["output"] if _in_channels(n) >= 2]
    if dense:
        largest = max(dense, key=_input_elements)
        last = next((n for n in reversed(dense) if len(n.outputs[0].shape) == 4), largest)
        for node in [largest] if last is largest else [largest, last]:
            out.append(Rewrite(f"InputChannelSplitPass({node.name})",
                               _factory(InputChannelSplitPass, node.name), (node.name,),
                               node.outputs[0].name))
    for chain in _chains(g):
        out.append(Rewrite(f"ChannelChainSplitPass({' -> '.join(chain)})",
                           _chain_factory(chain), chain, g.node(chain[-1]).outputs[0].name))
    return out


def _input_elements(node: Node) -> int:
    x = node.inputs[0]
    return x.num_elements if x is not None else 0


def _units(node: Node) -> int:
    """Channels (groups for a grouped conv) a ChannelSplitPass of ``node`` splits."""
    if channel_split_kind(node) == "group":
        return node.attr_int("group", 1)
    return node.outputs[0].shape[1]


def _in_channels(node: Node) -> int:
    x = node.inputs[0]
    return x.shape[1] if x is not None else 0


def _factory(cls: type[ChannelSplitPass] | type[InputChannelSplitPass], name: str
             ) -> Callable[[], Pass]:
    return lambda: cls(name, 2)


def _chain_factory(chain: tuple[str, ...]) -> Callable[[], Pass]:
    return lambda: ChannelChainSplitPass(chain, 2)


# ----------------------------------------------------------------------------- checks
def _macs(g: Graph) -> int:
    return sum(node_macs(n) for n in g.nodes)


def _prefix(graph: Graph, outputs: list[str]) -> Graph:
    """A copy of ``graph`` whose outputs are the tensors ``outputs``, without the nodes and
    constants they do not depend on (constant data is shared, not copied): the network from its
    inputs to ``outputs``."""
    g = clone_graph(graph)
    g.outputs = [g.tensor(name) for name in outputs]
    keep = {id(t) for t in g.outputs}
    for node in reversed(g.nodes):
        if all(not t.consumers and id(t) not in keep for t in node.outputs):
            g.remove_node(node)
    g.remove_unused_constants()
    verify(g)
    return g


def _region(graph: Graph, layers: tuple[str, ...], output: str) -> Graph:
    """The nodes ``layers`` of ``graph`` alone: the activation tensors they read from other
    nodes become graph inputs (same names and shapes), ``output`` the graph output."""
    g = Graph(f"{graph.name}.region")
    tensors: dict[str, Tensor] = {}
    for node in graph.nodes:
        if node.name not in layers:
            continue
        for t in node.inputs:
            if t is None or t.name in tensors:
                continue
            tensors[t.name] = (g.add_constant(t.name, t.shape, t.dtype, data=t.data,
                                              quant=t.quant) if t.is_constant
                               else g.add_input(t.name, t.shape, t.dtype, t.quant))
        outs = [Tensor(o.name, o.shape, o.dtype, TensorKind.ACTIVATION, quant=o.quant)
                for o in node.outputs]
        g.add_node(Node(node.name, node.op_type, dict(node.attrs), activation=node.activation,
                        source_op=node.source_op),
                   [tensors[t.name] if t is not None else None for t in node.inputs], outs)
        tensors.update((o.name, o) for o in outs)
    g.outputs = [tensors[output]]
    verify(g)
    return g


def _check_float(graph: Graph, rewrites: list[Rewrite], seed: int = 0) -> list[str]:
    """Apply every rewrite to a copy of the whole graph (must verify and keep the MACs) and
    to a weighted copy of its prefix, or of the region alone when the prefix holds more than
    ``MAX_PREFIX_WEIGHTS`` weights (onnxruntime equivalence); return the failures."""
    failures = []
    macs = _macs(graph)
    for rw in rewrites:
        whole = clone_graph(graph)
        rw.make()(whole)
        verify(whole)
        if _macs(whole) != macs:
            failures.append(f"{rw.label}: MACs {macs} -> {_macs(whole)}")
        part = _prefix(graph, [rw.output])
        if sum(t.num_elements for t in part.constants) > MAX_PREFIX_WEIGHTS:
            part = _region(graph, rw.layers, rw.output)
        original = attach_weights(part, constant_values(part, seed))
        rewritten = clone_graph(original)
        rw.make()(rewritten)
        report = check_equivalence(original, rewritten, seed=seed)
        if not report.equivalent:
            failures.append(f"{rw.label} on {len(original.nodes)} nodes: {report}")
    return failures


def _zoo_resolution(name: str) -> tuple[int, int]:
    """The smallest valid resolution of at least 32 (VGG16 accepts only 224)."""
    entry = next(e for e in list_networks() if e.name == name)
    m = entry.resolution_multiple
    side = -(-max(entry.min_resolution, 32) // m) * m
    return side, side


ZOO = [e.name for e in list_networks()]


@pytest.mark.parametrize("name", ZOO)
def test_zoo_network_channel_splits_are_equivalent(name: str) -> None:
    g = build_network(name, resolution=_zoo_resolution(name))
    rewrites = _rewrites(g)
    labels = [rw.label for rw in rewrites]
    # every zoo network has dense convolutions, channel-wise layers (BN / ReLU / pooling) and
    # a chain; MobileNetV2 and BlazeFace have depthwise convolutions
    assert sum(label.startswith("ChannelSplitPass") for label in labels) >= 2
    assert any(label.startswith("InputChannelSplitPass") for label in labels)
    assert any(label.startswith("ChannelChainSplitPass") for label in labels)
    if name in ("mobilenet_v2", "blazeface"):
        assert any("depthwise" in label for label in labels)
    assert _check_float(g, rewrites) == []


# ----------------------------------------------------------------------------- real models
@pytest.mark.parametrize("entry", ONNX, ids=[entry_id(e) for e in ONNX])
def test_onnx_model_channel_splits_are_equivalent(entry: dict[str, Any]) -> None:
    g = load_model(str(models_dir() / entry["file"]))
    simplify(g)
    rewrites = _rewrites(g)
    assert any(rw.label.startswith("InputChannelSplitPass") for rw in rewrites)
    assert any(rw.label.startswith("ChannelChainSplitPass") for rw in rewrites)
    assert _check_float(g, rewrites) == []


def _integer_values(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {t.name: (rng.normal(size=t.shape) if t.dtype.is_float else
                      rng.integers(-128, 128, size=t.shape)).astype(t.dtype.numpy)
             for t in graph.inputs}
    return evaluate(graph, feeds, seed=seed)


@pytest.mark.parametrize("entry", TFLITE, ids=[entry_id(e) for e in TFLITE])
def test_tflite_channel_split_is_bit_exact_and_partial_sums_are_refused(
        entry: dict[str, Any]) -> None:
    path: Path = models_dir() / entry["file"]
    g = load_model(str(path))
    simplify(g)
    rewrites = _rewrites(g)
    splits = [rw for rw in rewrites if rw.label.startswith("ChannelSplitPass")]
    convs = [n for n in g.nodes if n.op_type == "Conv"]
    if not convs:
        assert not rewrites  # e.g. the Gemm-only anomaly detector: nothing to split
        return
    assert splits
    reference = _integer_values(g)
    for rw in splits:
        rewritten = clone_graph(g)
        rw.make()(rewritten)
        verify(rewritten)
        assert _macs(rewritten) == _macs(g)
        values = _integer_values(rewritten)
        shared = [n for n in reference if n in values and not g.tensor(n).is_constant]
        assert rw.output in shared and all(o.name in shared for o in g.outputs)
        different = [n for n in shared if not np.array_equal(reference[n], values[n])]
        assert different == [], f"{rw.label}: {different[:3]}"
    # partial sums in int8: refused, for every dense conv and every chain of the file
    for conv in convs:
        if channel_split_kind(conv) == "output" and _in_channels(conv) >= 2:
            with pytest.raises(PreconditionError, match="int32 accumulators"):
                InputChannelSplitPass(conv.name, 2).requires(g)
    nodes = g.nodes
    chains = [tuple(n.name for n in nodes[i:i + k]) for i in range(len(nodes))
              for k in range(2, MAX_CHAIN + 1) if i + k <= len(nodes)]
    quantised = [c for c in chains
                 if "int32 accumulators" in (channel_chain_error(g, c) or "")]
    assert all(channel_chain_error(g, c) is not None for c in chains)
    for chain in quantised:
        with pytest.raises(PreconditionError, match="int32 accumulators"):
            ChannelChainSplitPass(chain, 2).requires(g)
    if len(convs) > 2:
        assert quantised  # conv chains exist; they are refused because they are int8
