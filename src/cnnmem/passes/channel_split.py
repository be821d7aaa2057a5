"""Channel splitting of one layer: ``ChannelSplitPass``.

A layer whose output channels can be computed independently of each other is replaced by
``parts`` layers that each compute a contiguous band of output channels, followed by a Concat
along C. Three forms:

- **Dense convolution** (``group = 1``): output-channel split. Part ``p`` is the same Conv with
  the weight rows ``W[o0:o1]`` and bias ``b[o0:o1]`` (new constants); every part reads the whole
  input. Output channel ``o`` is ``sum_{c, i, j} W[o, c, i, j] * x[c, ...] + b[o]`` in both
  graphs: the same products of the same operands.
- **Grouped and depthwise convolution** (``group = g > 1``): split by groups. Part ``p`` handles
  groups ``[g0, g1)``: it reads the input channels ``[g0 * C/g, g1 * C/g)`` (a Slice), uses the
  weight rows ``[g0 * O/g, g1 * O/g)`` and has ``group = g1 - g0``.
- **Channel-wise layers** (BatchNormalization, InstanceNormalization, activations, pooling,
  global pooling, element-wise ops): every activation input whose channel extent equals the
  output's is sliced to the band (extent-1 inputs broadcast and are shared), per-channel
  constants are sliced, scalar and channel-invariant constants are shared.

Exactness: the split computes every output element from the same operands with the same
operation, so it is exact in real arithmetic. In float, a kernel may order the reduction of a
convolution differently for a different number of output channels (blocking), which changes
results at rounding level only (tested at ``rtol = 1e-4`` in onnxruntime). For TFLite-style
int8 convolutions with per-channel (or per-tensor) quantisation the accumulation is in exact
integer arithmetic and each output channel is requantised with its own (sliced) multiplier, so
the split is bit-exact; per-channel ``QuantParams`` of sliced constants are sliced with them.

A fourth form, :class:`InputChannelSplitPass`, splits the *reduction* of a dense convolution:
part ``p`` convolves the input-channel band ``[c0, c1)`` with ``W[:, c0:c1]`` into a partial
sum, and Adds accumulate the parts (the bias joins the first part, the fused activation moves
to the last Add). ``y[o] = b[o] + sum_p sum_{c in band p} W[o, c] * x[c]``: exact in real
arithmetic; in float32 only the association of the sum changes (rounding level, tested at
``rtol = 1e-4``). It is NOT offered for quantised (int8 / QDQ) convolutions: there each part
would be requantised to int8 before the sum, which is not the original function; exactness
needs int32 partial sums and one requantisation after the last Add, which the TFLite and QDQ
operator sets cannot express as a graph.

Weights without data (graph-only models) give sliced constants without data: equivalence
checks with random weights must attach weights first (see
:func:`cnnmem.restructure.equivalence.attach_weights`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cnnmem.errors import ConfigError, PostconditionError, PreconditionError
from cnnmem.ir.graph import AttrValue, Graph, Node, Tensor, TensorKind
from cnnmem.ir.ops import category, node_macs
from cnnmem.ir.types import DType, QuantParams
from cnnmem.ir.verify import verify
from cnnmem.passes.infra import Pass, PassResult
from cnnmem.passes.splice import concat_in_place_of, fresh_name
from cnnmem.passes.tile_split import balanced_ranges

__all__ = ["ChannelSplitPass", "InputChannelSplitPass", "channel_split_kind"]

_CHANNELWISE = ("BatchNormalization", "InstanceNormalization", "MaxPool", "AveragePool",
                "GlobalAveragePool", "GlobalMaxPool")
_NOT_CHANNELWISE = ("Softmax", "LogSoftmax", "LRN")


def channel_split_kind(node: Node) -> str | None:
    """``"output"`` (dense conv), ``"group"`` (grouped/depthwise conv), ``"channel"``
    (channel-wise layer) or ``None`` if ``node`` cannot be split by channels."""
    if len(node.outputs) != 1 or len(node.outputs[0].shape) < 2:
        return None
    if node.op_type == "Conv":
        w = node.input(1)
        if w is None or not w.is_constant or len(node.activation_inputs) != 1:
            return None
        return "group" if node.attr_int("group", 1) > 1 else "output"
    op = node.op_type
    if op in _NOT_CHANNELWISE:
        return None
    if op in _CHANNELWISE or category(op) in ("activation", "elementwise"):
        if not node.activation_inputs or node.inputs[0] not in node.activation_inputs:
            return None
        if op in ("BatchNormalization", "InstanceNormalization") and \
                not all(t is not None and t.is_constant for t in node.inputs[1:]):
            return None
        return "channel"
    return None


def _slice_constant(graph: Graph, t: Tensor, axis: int, lo: int, hi: int, tag: str) -> Tensor:
    """A new constant holding ``t[lo:hi]`` along ``axis`` (data and per-channel quantisation
    sliced when present)."""
    shape = list(t.shape)
    shape[axis] = hi - lo
    data = None
    if t.data is not None:
        index = [slice(None)] * len(t.shape)
        index[axis] = slice(lo, hi)
        data = np.ascontiguousarray(np.asarray(t.data)[tuple(index)])
    return graph.add_constant(graph.unique_name(f"{t.name}.{tag}"), shape, t.dtype, data=data,
                              quant=_slice_quant(t, axis, lo, hi))


def _slice_quant(t: Tensor, axis: int, lo: int, hi: int) -> QuantParams | None:
    """``t``'s quantisation for the band ``[lo, hi)`` of ``axis`` (per-channel parameters on
    that axis are sliced; anything else is kept)."""
    quant = t.quant
    if quant is None or not quant.per_channel or quant.axis is None or \
            quant.axis % len(t.shape) != axis:
        return quant
    zp = quant.zero_point
    return replace(quant, scale=quant.scale[lo:hi], zero_point=zp[lo:hi] if len(zp) > 1 else zp)


def _channel_axis(t: Tensor, out_rank: int) -> int | None:
    """The axis of ``t`` that broadcasts against the output's channel axis (1), or ``None``."""
    axis = 1 - (out_rank - len(t.shape))
    return axis if 0 <= axis < len(t.shape) else None


class _NodeSplitPass(Pass):
    """What the one-node splitting passes share: a node name, a number of parts (2 or more),
    ``describe`` and a verifying ``ensures``."""

    name = "node-split"

    def __init__(self, node: str, parts: int) -> None:
        if parts < 2:
            raise ConfigError(f"{self.name.replace('-', ' ')}: parts must be >= 2, got {parts}")
        self.node = node
        self.parts = parts

    def describe(self) -> str:
        """``<pass name>{node=...,parts=n}``."""
        return f"{self.name}{{node={self.node},parts={self.parts}}}"

    def _node(self, graph: Graph) -> Node:
        """The node named ``self.node``.

        Raises:
            PreconditionError: no such node.
        """
        node = next((n for n in graph.nodes if n.name == self.node), None)
        if node is None:
            raise PreconditionError(f"{self.name.replace('-', ' ')}: no node {self.node!r} in "
                                    f"graph {graph.name!r}")
        return node

    def ensures(self, graph: Graph) -> None:
        """The rewritten graph verifies."""
        try:
            verify(graph)
        except Exception as e:
            raise PostconditionError(f"{self.describe()} broke the graph: {e}") from e


class ChannelSplitPass(_NodeSplitPass):
    """Split one layer into ``parts`` layers over bands of output channels, then Concat.

    Rules:
      1. Dense Conv (``group = 1``): part ``p`` = Conv(x, W[o0:o1], b[o0:o1]); ``parts <= O``.
      2. Grouped / depthwise Conv: part ``p`` = Conv(Slice(x, channels of groups [g0, g1)),
         W[rows of those groups], b[...], group = g1 - g0); ``parts <= group``.
      3. Channel-wise layer: part ``p`` = the op on the channel band of every activation input
         whose C extent is the output's (others are shared), with per-channel constants
         (extent C on the broadcast channel axis; BatchNormalization / InstanceNormalization
         parameters) sliced; ``parts <= C``.
      4. Bands are balanced; ``Concat(parts, axis=1)`` replaces the output and keeps its name;
         parts and the Concat are inserted where the layer was. Fused activations stay on the
         parts.

    Statistics: ``parts``, ``macs_before``, ``macs_after`` (equal: no recomputation).

    Args:
        node: name of the layer.
        parts: number of channel bands (2 or more).

    Raises:
        ConfigError: ``parts < 2``.
    """

    name = "channel-split"

    def _target(self, graph: Graph) -> tuple[Node, str, int]:
        """The node, its split kind and the number of splittable units (channels/groups)."""
        node = self._node(graph)
        kind = channel_split_kind(node)
        if kind is None:
            raise PreconditionError(
                f"channel split: node {node.name!r} ({node.op_type}) cannot be split by "
                "channels: use a Conv with a constant weight or a channel-wise layer "
                "(BatchNormalization, activation, pooling, element-wise)")
        out = node.outputs[0]
        units = node.attr_int("group", 1) if kind == "group" else out.shape[1]
        if self.parts > units:
            what = "groups" if kind == "group" else "output channels"
            raise PreconditionError(f"channel split: {self.parts} parts for {units} {what} of "
                                    f"{node.name!r}")
        return node, kind, units

    def requires(self, graph: Graph) -> None:
        """The node exists, is splittable, and has at least ``parts`` channels/groups."""
        self._target(graph)

    def call(self, graph: Graph) -> PassResult:
        """Rewrite the layer in place."""
        node, kind, units = self._target(graph)
        macs_before = sum(node_macs(n) for n in graph.nodes)
        names = {n.name for n in graph.nodes}
        index = graph.index_of(node)
        out = node.outputs[0]
        part_outputs = []
        for p, (u0, u1) in enumerate(balanced_ranges(units, self.parts)):
            if kind == "output":
                inputs, attrs, c0, c1 = self._conv_part(graph, node, u0, u1, p)
            elif kind == "group":
                inputs, attrs, c0, c1 = self._group_part(graph, node, u0, u1, p, names, index)
                index += 1  # the input Slice
            else:
                attrs, c0, c1 = dict(node.attrs), u0, u1
                inputs, added = self._channel_inputs(graph, node, c0, c1, p, names, index)
                index += added
            shape = list(out.shape)
            shape[1] = c1 - c0
            part_out = Tensor(graph.unique_name(f"{out.name}/ch{p}"), shape, out.dtype,
                              TensorKind.ACTIVATION, quant=_slice_quant(out, 1, c0, c1))
            copy = Node(fresh_name(names, f"{node.name}/ch{p}"), node.op_type, attrs,
                        activation=node.activation, source_op=node.source_op)
            graph.add_node(copy, inputs, [part_out], index=index)
            index += 1
            part_outputs.append(part_out)
        concat_in_place_of(graph, out, part_outputs, 1, [node], index,
                           f"{node.name}/concat", names)
        graph.remove_unused_constants()
        macs_after = sum(node_macs(n) for n in graph.nodes)
        return PassResult(graph, True, {"parts": self.parts, "macs_before": macs_before,
                                        "macs_after": macs_after})

    @staticmethod
    def _conv_part(graph: Graph, node: Node, o0: int, o1: int, p: int
                   ) -> tuple[list[Tensor | None], dict[str, AttrValue], int, int]:
        w, b = node.input(1), node.input(2)
        assert w is not None
        inputs: list[Tensor | None] = [node.inputs[0], _slice_constant(graph, w, 0, o0, o1,
                                                                        f"ch{p}")]
        if b is not None:
            inputs.append(_slice_constant(graph, b, 0, o0, o1, f"ch{p}"))
        return inputs, dict(node.attrs), o0, o1

    @staticmethod
    def _group_part(graph: Graph, node: Node, g0: int, g1: int, p: int, names: set[str],
                    index: int) -> tuple[list[Tensor | None], dict[str, AttrValue], int, int]:
        x, w, b = node.inputs[0], node.input(1), node.input(2)
        assert x is not None and w is not None
        group = node.attr_int("group", 1)
        cg, og = x.shape[1] // group, w.shape[0] // group
        xs = _slice_activation(graph, x, 1, g0 * cg, g1 * cg, f"{node.name}/ch{p}.slice",
                               names, index)
        inputs: list[Tensor | None] = [xs, _slice_constant(graph, w, 0, g0 * og, g1 * og,
                                                           f"ch{p}")]
        if b is not None:
            inputs.append(_slice_constant(graph, b, 0, g0 * og, g1 * og, f"ch{p}"))
        attrs = dict(node.attrs)
        attrs["group"] = g1 - g0
        return inputs, attrs, g0 * og, g1 * og

    @staticmethod
    def _channel_inputs(graph: Graph, node: Node, c0: int, c1: int, p: int, names: set[str],
                        index: int) -> tuple[list[Tensor | None], int]:
        """Inputs of one part of a channel-wise layer, and how many Slices were inserted."""
        out = node.outputs[0]
        rank, channels = len(out.shape), out.shape[1]
        per_channel_params = node.op_type in ("BatchNormalization", "InstanceNormalization")
        inputs: list[Tensor | None] = []
        added = 0
        sliced: dict[str, Tensor] = {}
        for i, t in enumerate(node.inputs):
            if t is None:
                inputs.append(None)
                continue
            if t.name in sliced:
                inputs.append(sliced[t.name])
                continue
            if t.kind is TensorKind.CONSTANT:
                if per_channel_params and i > 0:
                    axis: int | None = 0
                else:
                    axis = _channel_axis(t, rank)
                if axis is not None and t.shape[axis] == channels and channels > 1 \
                        and t.dtype not in (DType.INT64,):
                    new = _slice_constant(graph, t, axis, c0, c1, f"ch{p}")
                else:
                    new = t
            else:
                axis = _channel_axis(t, rank)
                if axis is not None and t.shape[axis] == channels:
                    new = _slice_activation(graph, t, axis, c0, c1,
                                            f"{node.name}/ch{p}.slice{i}", names, index + added)
                    added += 1
                else:
                    new = t
            sliced[t.name] = new
            inputs.append(new)
        return inputs, added


class InputChannelSplitPass(_NodeSplitPass):
    """Split the input-channel reduction of one dense Conv into ``parts`` partial sums.

    Rules:
      1. The node is a float Conv with ``group = 1``, a constant weight and one activation
         input; quantised convolutions are refused (module docstring).
      2. Input channels are split into balanced bands; part ``p`` is
         ``Conv(Slice(x, band p, axis C), W[:, band p], b if p == 0)`` with the same attributes
         and no activation (nodes ``<node>/ci<p>``).
      3. ``Add`` nodes accumulate the parts in order (``<node>/acc<p>``); the last one writes
         the original output (same name) and carries the conv's fused activation.

    Statistics: ``parts``, ``macs_before``, ``macs_after`` (equal: every product is computed
    once), ``partial_sum_elements`` (elements of the partial-sum tensors, ``parts - 1`` times
    the output's: the extra activation memory the split may need).

    Args:
        node: name of the Conv.
        parts: number of input-channel bands (2 or more).

    Raises:
        ConfigError: ``parts < 2``.
    """

    name = "input-channel-split"

    def _target(self, graph: Graph) -> Node:
        node = self._node(graph)
        w = node.input(1)
        if node.op_type != "Conv" or w is None or not w.is_constant or \
                len(node.activation_inputs) != 1 or node.attr_int("group", 1) != 1:
            raise PreconditionError(
                f"input-channel split: node {node.name!r} ({node.op_type}) is not a dense Conv "
                "with a constant weight and one activation input")
        x, out = node.inputs[0], node.outputs[0]
        assert x is not None
        if not out.dtype.is_float or x.quant is not None or out.quant is not None or \
                w.quant is not None:
            raise PreconditionError(
                f"input-channel split: {node.name!r} is quantised ({out.dtype.name}); exact "
                "partial sums need int32 accumulators and one requantisation after the sum, "
                "which the int8 operator set cannot express: split float graphs only")
        if self.parts > x.shape[1]:
            raise PreconditionError(f"input-channel split: {self.parts} parts for "
                                    f"{x.shape[1]} input channels of {node.name!r}")
        return node

    def requires(self, graph: Graph) -> None:
        """The node is a float dense Conv with at least ``parts`` input channels."""
        self._target(graph)

    def call(self, graph: Graph) -> PassResult:
        """Rewrite the Conv in place."""
        node = self._target(graph)
        macs_before = sum(node_macs(n) for n in graph.nodes)
        names = {n.name for n in graph.nodes}
        index = graph.index_of(node)
        x, w, b, out = node.inputs[0], node.input(1), node.input(2), node.outputs[0]
        assert x is not None and w is not None
        partials: list[Tensor] = []
        for p, (c0, c1) in enumerate(balanced_ranges(x.shape[1], self.parts)):
            xs = _slice_activation(graph, x, 1, c0, c1, f"{node.name}/ci{p}.slice", names,
                                   index)
            index += 1
            inputs: list[Tensor | None] = [xs, _slice_constant(graph, w, 1, c0, c1, f"ci{p}")]
            if p == 0 and b is not None:
                inputs.append(b)
            part = Tensor(graph.unique_name(f"{out.name}/ci{p}"), out.shape, out.dtype,
                          TensorKind.ACTIVATION)
            graph.add_node(Node(fresh_name(names, f"{node.name}/ci{p}"), "Conv",
                                dict(node.attrs), source_op=node.source_op), inputs, [part],
                           index=index)
            index += 1
            partials.append(part)
        acc = partials[0]
        for p in range(1, self.parts - 1):
            nxt = Tensor(graph.unique_name(f"{out.name}/acc{p}"), out.shape, out.dtype,
                         TensorKind.ACTIVATION)
            graph.add_node(Node(fresh_name(names, f"{node.name}/acc{p}"), "Add"),
                           [acc, partials[p]], [nxt], index=index)
            index += 1
            acc = nxt
        # the last Add replaces the Conv's output under its name (through a temporary tensor:
        # the IR has no rename)
        tmp = Tensor(graph.unique_name(f"{out.name}.sum"), out.shape, out.dtype,
                     TensorKind.ACTIVATION)
        last = Node(fresh_name(names, f"{node.name}/acc.tmp"), "Add")
        graph.add_node(last, [acc, partials[-1]], [tmp], index=index)
        graph.replace_all_uses(out, tmp)
        graph.remove_node(node)
        final = Tensor(out.name, out.shape, out.dtype, TensorKind.ACTIVATION)
        add = Node(fresh_name(names, f"{node.name}/acc{self.parts - 1}"), "Add",
                   activation=node.activation)
        graph.add_node(add, [acc, partials[-1]], [final], index=graph.index_of(last) + 1)
        graph.replace_all_uses(tmp, final)
        graph.remove_node(last)
        graph.remove_unused_constants()
        macs_after = sum(node_macs(n) for n in graph.nodes)
        return PassResult(graph, True, {
            "parts": self.parts, "macs_before": macs_before, "macs_after": macs_after,
            "partial_sum_elements": (self.parts - 1) * int(np.prod(out.shape))})


def _slice_activation(graph: Graph, x: Tensor, axis: int, lo: int, hi: int, node_name: str,
                      names: set[str], index: int) -> Tensor:
    """Insert ``Slice(x, [lo, hi) on axis)`` at ``index``; return its output."""
    operands = [graph.add_constant(graph.unique_name(f"{node_name}.{what}"), (1,), DType.INT64,
                                   data=np.asarray([v], np.int64))
                for what, v in (("starts", lo), ("ends", hi), ("axes", axis))]
    shape = list(x.shape)
    shape[axis] = hi - lo
    out = Tensor(graph.unique_name(f"{x.name}/c{lo}_{hi}"), shape, x.dtype,
                 TensorKind.ACTIVATION, quant=_slice_quant(x, axis, lo, hi))
    graph.add_node(Node(fresh_name(names, node_name), "Slice"), [x, *operands], [out],
                   index=index)
    return out
