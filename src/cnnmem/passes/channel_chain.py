"""Channel split of a chain of layers: ``ChannelChainSplitPass``.

A *chain* is a run of layers ``L0, L1, ..., Lk`` (``k >= 1``) that are consecutive in the
schedule and each read the previous one's output:

- ``L0`` is a float Conv with a constant weight (dense, or grouped / depthwise);
- ``L1 .. L(k-1)`` are channel-wise: depthwise or grouped Convs, BatchNormalization,
  InstanceNormalization, activations, pooling, element-wise ops with per-channel or scalar
  constants (output channel ``c`` depends only on input channels of the same band);
- ``Lk`` is a dense float Conv (``group = 1``) with a constant weight.

The MobileNetV2 inverted residual block ``expand 1x1 -> depthwise 3x3 -> project 1x1`` is the
typical chain: its hidden tensors have ``t`` (6) times the channels of the block's input and
output, and set the memory peak of the network.

The pass computes the chain in ``parts`` bands of the hidden channels, one after another, and
sums the last layer's contributions. Band ``p`` runs ``L0`` for its output channels only (the
weight rows ``W0[o0:o1]``, bias ``b0[o0:o1]``, from the whole input ``x``), the channel-wise
layers on the band (per-channel constants sliced), and ``Lk`` on the band of its input
channels (``W_k[:, band p]``), which gives a partial sum of ``Lk``'s full output. Adds
accumulate the partial sums; the last Add writes ``Lk``'s output under its name and carries its
fused activation::

    y[o] = b[o] + sum_p sum_{c in band p} W_k[o, c] * h_c(x)

where ``h_c(x)`` is hidden channel ``c`` (output of ``L(k-1)``), which depends only on the
channels of ``L0``'s output in the same band. Every product is computed once: the MACs do not
change.

Why the peak drops: layer by layer, the chain's worst step holds the input and two hidden
tensors (``x + h0 + h1`` for expand / depthwise). Split, the hidden tensors are never whole:
a band's step holds ``x + 2 x (band of the hidden tensors) + accumulator + one partial sum``
(and an Add step ``x + accumulator + partial sum + new accumulator``), with bands ``1/parts`` of
the hidden tensors and accumulators the size of the (small) chain output. The schedule is band
by band: part 0's layers, then part 1's layers and ``Add(acc, partial_1)``, then part 2's...,
so that at most one partial sum and the accumulator are live. Example (tests): a block with
8 -> 48 -> 48 -> 8 channels on 8x8 pixels with a residual Add, float32: 26,624 B layer by
layer, 16,384 B in 2 parts, 12,288 B in 3. The price is the partial sums: ``parts - 1`` extra
tensors of the chain output's size, each live next to the accumulator for a few steps.

Exactness and dtypes: the rewrite is exact in real arithmetic. In float32 only the association
of the final sum changes (rounding level; tested at ``rtol = 1e-4`` in onnxruntime). Quantised
chains (int8 / QDQ: quantisation parameters on any tensor or weight of the chain, or a
non-float dtype) are refused: exact partial sums need int32 accumulators and one
requantisation after the sum, which the int8 operator sets (TFLite, QDQ) cannot express; each
part would be requantised to int8 before the sum, which is not the original function.

Bands are contiguous ranges of *units* of the hidden channels: a unit is one channel of
``L0``'s output for a dense ``L0`` (one group of a grouped ``L0``), coarsened to whole groups
by every grouped Conv of the chain (``units = gcd(units, group)``); a depthwise Conv with
channel multiplier ``m`` maps a unit of ``a`` channels to ``a * m`` output channels. The
number of units (:func:`chain_channels`) bounds ``parts``.

# NOTE: names. Part nodes are ``<layer>/cc<p>``, accumulating Adds ``<Lk>/acc<p>`` and the input
# Slices of a grouped ``L0`` ``<L0>/cc<p>.slice``, so that ``name.rpartition("/")[0]`` maps
# every new node back to the original layer it comes from.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

from cnnmem.errors import ConfigError, PostconditionError, PreconditionError
from cnnmem.ir.graph import AttrValue, Graph, Node, Tensor, TensorKind
from cnnmem.ir.ops import node_macs
from cnnmem.ir.types import DType
from cnnmem.ir.verify import verify
from cnnmem.passes.channel_split import (
    _channel_axis,
    _slice_activation,
    _slice_constant,
    channel_split_kind,
)
from cnnmem.passes.infra import Pass, PassResult
from cnnmem.passes.splice import fresh_name
from cnnmem.passes.tile_split import balanced_ranges

__all__ = ["ChannelChainSplitPass", "chain_channels", "channel_chain_error"]

_Cut = Callable[[int], tuple[int, int]]
"""Maps a channel extent of the chain to the current band's ``[start, end)`` of it."""

_QUANTISED = ("exact partial sums need int32 accumulators and one requantisation after the "
              "sum, which the int8 operator set cannot express: split float graphs only")


def _chain_nodes(graph: Graph, layers: Sequence[str]) -> tuple[list[Node], str | None]:
    """The chain's nodes if ``layers`` names two or more distinct nodes that are consecutive in
    the schedule (in that order); otherwise ``([], reason)``."""
    if len(layers) < 2:
        return [], (f"a chain needs two or more layers (a first Conv and a last dense Conv), "
                    f"got {list(layers)}")
    if len(set(layers)) != len(layers):
        return [], f"the chain names a layer twice: {list(layers)}"
    nodes = graph.nodes
    start = next((i for i, n in enumerate(nodes) if n.name == layers[0]), None)
    if start is None:
        return [], f"no node {layers[0]!r} in graph {graph.name!r}"
    chain = list(nodes[start:start + len(layers)])
    for want, node in zip(layers, chain, strict=False):
        if node.name != want:
            return [], (f"layers {list(layers)} are not consecutive in the schedule: "
                        f"{node.name!r} runs where {want!r} is expected; name the layers in "
                        "schedule order, with no other node between them")
    if len(chain) < len(layers):
        return [], (f"layers {list(layers)} are not consecutive in the schedule: the graph "
                    f"ends after {len(chain)} of them")
    return chain, None


def _dense_conv(node: Node) -> bool:
    """A Conv with ``group = 1``, a constant weight and one activation input (operand 0)."""
    return channel_split_kind(node) == "output"


def _quantised(node: Node) -> bool:
    """True if any tensor ``node`` reads or writes is quantised or (except int64 shape operands)
    not floating point."""
    for t in (*node.inputs, *node.outputs):
        if t is None:
            continue
        if t.quant is not None:
            return True
        if not t.dtype.is_float and not (t.is_constant and t.dtype is DType.INT64):
            return True
    return False


def _units(chain: Sequence[Node]) -> int:
    """Number of band units of a structurally valid chain (module docstring)."""
    first = chain[0]
    group = first.attr_int("group", 1)
    units = first.outputs[0].shape[1] if group == 1 else group
    for node in chain[1:-1]:
        if node.op_type == "Conv":
            units = math.gcd(units, node.attr_int("group", 1))
    return units


def _chain_error(graph: Graph, chain: Sequence[Node]) -> str | None:
    """Why the consecutive nodes ``chain`` are not a valid chain, or ``None``."""
    first, last = chain[0], chain[-1]
    if channel_split_kind(first) not in ("output", "group"):
        return (f"the first layer {first.name!r} ({first.op_type}) must be a Conv with a "
                "constant weight and one activation input")
    outputs = {id(t) for t in graph.outputs}
    for prev, node in itertools.pairwise(chain):
        h = prev.outputs[0]
        if id(h) in outputs:
            return (f"{h.name!r} (output of {prev.name!r}) is a graph output; every hidden "
                    "tensor of the chain must be read by the next layer only")
        if not h.consumers or any(c is not node for c in h.consumers):
            return (f"{h.name!r} (output of {prev.name!r}) is read by "
                    f"{sorted({c.name for c in h.consumers})}; every hidden tensor of the "
                    f"chain must be read by the next layer ({node.name!r}) only")
        if node.activation_inputs != (h,):
            return (f"{node.name!r} ({node.op_type}) must read {h.name!r} (the output of "
                    f"{prev.name!r}) as its only activation input")
        if node is last:
            if not _dense_conv(node) or node.inputs[0] is not h:
                return (f"the last layer {node.name!r} ({node.op_type}) must be a dense Conv "
                        "(group = 1) with a constant weight, reading the chain as operand 0")
            continue
        kind = channel_split_kind(node)
        out = node.outputs[0]
        if kind == "output":
            return (f"{node.name!r} is a dense Conv in the middle of the chain: it mixes all "
                    "channels; end the chain at it")
        if kind not in ("group", "channel") or node.inputs[0] is not h or \
                len(out.shape) != len(h.shape) or \
                (kind == "channel" and out.shape[1] != h.shape[1]):
            return (f"{node.name!r} ({node.op_type}) is not channel-wise: the middle of a "
                    "chain holds depthwise / grouped Convs, BatchNormalization, activations, "
                    "pooling and element-wise ops with per-channel or scalar constants")
    for node in chain:
        if _quantised(node):
            return f"{node.name!r} is quantised or not floating point; {_QUANTISED}"
    return None


def channel_chain_error(graph: Graph, layers: Sequence[str]) -> str | None:
    """Why ``layers`` is not a chain :class:`ChannelChainSplitPass` can split, or ``None``.

    Cheap (one scan of the schedule plus a look at each layer), for filtering candidates in a
    search. Structural problems are reported before quantisation, so a chain of a quantised
    graph that is otherwise valid gets the quantisation reason.

    Args:
        graph: the graph.
        layers: node names, in schedule order.

    Returns:
        ``None`` if valid, else a one-line reason.
    """
    chain, why = _chain_nodes(graph, layers)
    if why is not None:
        return why
    return _chain_error(graph, chain)


def chain_channels(graph: Graph, layers: Sequence[str]) -> int:
    """The largest ``parts`` the chain ``layers`` can be split into: its number of band units
    (hidden channels of ``L0``, or groups where the chain has grouped / depthwise Convs).

    Raises:
        PreconditionError: the chain is not valid (:func:`channel_chain_error`).
    """
    return _units(_checked_chain(graph, layers))


def _checked_chain(graph: Graph, layers: Sequence[str]) -> list[Node]:
    """The chain's nodes, checked.

    Raises:
        PreconditionError: the reason from :func:`channel_chain_error`.
    """
    chain, why = _chain_nodes(graph, layers)
    if why is None:
        why = _chain_error(graph, chain)
    if why is not None:
        raise PreconditionError(f"channel chain split: {why}")
    return chain


class ChannelChainSplitPass(Pass):
    """Split a chain ``L0 .. Lk`` into ``parts`` bands of hidden channels whose ``Lk`` partial
    sums are accumulated by Adds (module docstring).

    Rules:
      1. The chain is valid (:func:`channel_chain_error`); ``2 <= parts <=``
         :func:`chain_channels`. Units are split into balanced bands.
      2. Part ``p`` of ``L0``: Conv(x, W0[band p rows], b0[band p]) with ``L0``'s attributes and
         fused activation; a grouped ``L0`` reads ``Slice(x, channels of its groups)`` and has
         ``group`` = its number of groups.
      3. Part ``p`` of a middle layer: the same op on part ``p`` of the previous layer, with
         per-channel constants (extent C on the broadcast channel axis; BatchNormalization /
         InstanceNormalization parameters; Conv weight rows and biases) sliced to the band;
         scalar constants are shared. Grouped Convs get ``group`` = their number of groups in
         the band. Fused activations stay.
      4. Part ``p`` of ``Lk``: Conv(part p of L(k-1), W_k[:, band p], b_k if p == 0), no fused
         activation: a partial sum of ``Lk``'s full output.
      5. ``Add(acc, partial_p)`` (``<Lk>/acc<p>``) follows part ``p >= 1``; the last Add writes
         a tensor named like ``Lk``'s output (consumers and graph outputs are unchanged) and
         carries ``Lk``'s fused activation.
      6. Schedule: part 0, then part 1 and its Add, part 2 and its Add, ... where the chain
         was.

    Statistics: ``parts``, ``macs_before``, ``macs_after`` (equal: every product is computed
    once; checked after the rewrite), ``partial_sum_elements`` (elements of the partial sums
    of parts 1 and later, ``(parts - 1)`` times ``Lk``'s output: each is live next to the
    accumulator).

    Args:
        layers: node names of the chain, consecutive in the schedule and in schedule order.
        parts: number of bands (2 or more).

    Raises:
        ConfigError: ``parts < 2``.
    """

    name = "channel-chain-split"

    def __init__(self, layers: Sequence[str], parts: int) -> None:
        if parts < 2:
            raise ConfigError(f"channel chain split: parts must be >= 2, got {parts}")
        self.layers = tuple(layers)
        self.parts = parts

    def describe(self) -> str:
        """``channel-chain-split{layers=a..b,parts=n}``."""
        span = "..".join(self.layers[:1] + self.layers[-1:]) if self.layers else ""
        return f"{self.name}{{layers={span},parts={self.parts}}}"

    def _target(self, graph: Graph) -> tuple[list[Node], int]:
        chain = _checked_chain(graph, self.layers)
        units = _units(chain)
        if self.parts > units:
            raise PreconditionError(
                f"channel chain split: {self.parts} parts for {units} channel units (hidden "
                f"channels, or groups of its grouped convolutions) of the chain "
                f"{chain[0].name!r}..{chain[-1].name!r}")
        return chain, units

    def requires(self, graph: Graph) -> None:
        """The chain is valid and has at least ``parts`` units.

        Raises:
            PreconditionError: why not.
        """
        self._target(graph)

    def ensures(self, graph: Graph) -> None:
        """The rewritten graph verifies (topological order, shapes); the MACs are checked
        against the original's in :meth:`call`, which knows them.

        Raises:
            PostconditionError: the graph does not verify.
        """
        try:
            verify(graph)
        except Exception as e:
            raise PostconditionError(f"{self.describe()} broke the graph: {e}") from e

    def call(self, graph: Graph) -> PassResult:
        """Rewrite the chain in place.

        Raises:
            PostconditionError: the rewrite changed the number of MACs (an internal error).
        """
        chain, units = self._target(graph)
        macs_before = sum(node_macs(n) for n in graph.nodes)
        chain_macs = sum(node_macs(n) for n in chain)
        names = {n.name for n in graph.nodes}
        last = chain[-1]
        out = last.outputs[0]
        index = graph.index_of(chain[0])
        new_macs = 0
        acc: Tensor | None = None
        final: Node | None = None
        for p, band in enumerate(balanced_ranges(units, self.parts)):
            index, partial, macs = self._emit_part(graph, chain, units, band, p, names, index)
            new_macs += macs
            if acc is None:
                acc = partial
                continue
            if p < self.parts - 1:
                nxt = Tensor(graph.unique_name(f"{out.name}/acc{p}"), out.shape, out.dtype,
                             TensorKind.ACTIVATION)
                graph.add_node(Node(fresh_name(names, f"{last.name}/acc{p}"), "Add"),
                               [acc, partial], [nxt], index=index)
                index += 1
                acc = nxt
                continue
            # the last Add replaces Lk's output under its name (through a temporary tensor:
            # the IR has no rename)
            tmp = Tensor(graph.unique_name(f"{out.name}.sum"), out.shape, out.dtype,
                         TensorKind.ACTIVATION)
            tmp_node = Node(fresh_name(names, f"{last.name}/acc.tmp"), "Add")
            graph.add_node(tmp_node, [acc, partial], [tmp], index=index)
            graph.replace_all_uses(out, tmp)
            for node in reversed(chain):
                graph.remove_node(node)
            y = Tensor(out.name, out.shape, out.dtype, TensorKind.ACTIVATION)
            final = Node(fresh_name(names, f"{last.name}/acc{p}"), "Add",
                         activation=last.activation)
            graph.add_node(final, [acc, partial], [y], index=graph.index_of(tmp_node) + 1)
            graph.replace_all_uses(tmp, y)
            graph.remove_node(tmp_node)
            names.discard(tmp_node.name)
        assert final is not None
        graph.remove_unused_constants()
        macs_after = macs_before - chain_macs + new_macs
        if macs_after != macs_before or macs_after != sum(node_macs(n) for n in graph.nodes):
            raise PostconditionError(f"{self.describe()}: MACs changed from {macs_before} to "
                                     f"{macs_after}; every product must be computed once")
        return PassResult(graph, True, {
            "parts": self.parts, "macs_before": macs_before, "macs_after": macs_after,
            "partial_sum_elements": (self.parts - 1) * out.num_elements})

    def _emit_part(self, graph: Graph, chain: Sequence[Node], units: int,
                   band: tuple[int, int], p: int, names: set[str], index: int
                   ) -> tuple[int, Tensor, int]:
        """Insert part ``p`` (units ``band``) of every chain layer at ``index``; return the next
        index, the part's partial sum (output of ``Lk``'s part) and the MACs of its nodes."""
        u0, u1 = band

        def cut(extent: int) -> tuple[int, int]:
            # units divide every channel extent of the chain (module docstring)
            return u0 * extent // units, u1 * extent // units

        macs = 0
        current: Tensor | None = None  # part p of the previous layer's output
        for i, node in enumerate(chain):
            out = node.outputs[0]
            attrs: dict[str, AttrValue] = dict(node.attrs)
            activation = node.activation
            if i == len(chain) - 1:
                assert current is not None
                inputs = self._last_inputs(graph, node, current, cut, p)
                shape = list(out.shape)
                activation = None
            else:
                if node.op_type == "Conv":
                    inputs, attrs = self._conv_inputs(graph, node, current, cut, p, names,
                                                      index)
                    index += int(current is None and node.attr_int("group", 1) > 1)
                else:
                    assert current is not None
                    inputs = self._channel_inputs(graph, node, current, cut, p)
                shape = list(out.shape)
                c0, c1 = cut(out.shape[1])
                shape[1] = c1 - c0
            part_out = Tensor(graph.unique_name(f"{out.name}/cc{p}"), shape, out.dtype,
                              TensorKind.ACTIVATION)
            copy = Node(fresh_name(names, f"{node.name}/cc{p}"), node.op_type, attrs,
                        activation=activation, source_op=node.source_op)
            graph.add_node(copy, inputs, [part_out], index=index)
            index += 1
            macs += node_macs(copy)
            current = part_out
        assert current is not None
        return index, current, macs

    @staticmethod
    def _conv_inputs(graph: Graph, node: Node, current: Tensor | None,
                     cut: _Cut, p: int, names: set[str], index: int
                     ) -> tuple[list[Tensor | None], dict[str, AttrValue]]:
        """Inputs and attributes of part ``p`` of a Conv before ``Lk``: ``L0`` (``current`` is
        ``None``: it reads the whole input, or a Slice of its groups' channels) or a grouped
        Conv in the middle (it reads ``current``)."""
        x, w, b = node.inputs[0], node.input(1), node.input(2)
        assert x is not None and w is not None
        group = node.attr_int("group", 1)
        attrs: dict[str, AttrValue] = dict(node.attrs)
        o0, o1 = cut(w.shape[0])
        src: Tensor
        if current is not None:
            src = current
        elif group > 1:
            c0, c1 = cut(x.shape[1])
            src = _slice_activation(graph, x, 1, c0, c1, f"{node.name}/cc{p}.slice", names,
                                    index)
        else:
            src = x
        if group > 1:
            g0, g1 = cut(group)
            attrs["group"] = g1 - g0
        inputs: list[Tensor | None] = [src, _slice_constant(graph, w, 0, o0, o1, f"cc{p}")]
        if b is not None:
            inputs.append(_slice_constant(graph, b, 0, o0, o1, f"cc{p}"))
        return inputs, attrs

    @staticmethod
    def _channel_inputs(graph: Graph, node: Node, current: Tensor, cut: _Cut, p: int
                        ) -> list[Tensor | None]:
        """Inputs of part ``p`` of a channel-wise middle layer: its activation input becomes
        ``current``; per-channel constants are sliced, the others shared."""
        h, out = node.activation_inputs[0], node.outputs[0]
        rank, channels = len(out.shape), out.shape[1]
        c0, c1 = cut(channels)
        per_channel_params = node.op_type in ("BatchNormalization", "InstanceNormalization")
        inputs: list[Tensor | None] = []
        sliced: dict[str, Tensor] = {}
        for i, t in enumerate(node.inputs):
            if t is None or t is h:
                inputs.append(current if t is h else None)
                continue
            if t.name not in sliced:
                axis = 0 if per_channel_params and i > 0 else _channel_axis(t, rank)
                per_channel = axis is not None and t.shape[axis] == channels and \
                    channels > 1 and t.dtype is not DType.INT64
                sliced[t.name] = _slice_constant(graph, t, axis, c0, c1, f"cc{p}") \
                    if per_channel and axis is not None else t
            inputs.append(sliced[t.name])
        return inputs

    @staticmethod
    def _last_inputs(graph: Graph, node: Node, current: Tensor, cut: _Cut, p: int
                     ) -> list[Tensor | None]:
        """Inputs of part ``p`` of ``Lk``: ``current``, ``W_k[:, band]``, the bias in part 0
        only."""
        w, b = node.input(1), node.input(2)
        assert w is not None
        c0, c1 = cut(w.shape[1])
        inputs: list[Tensor | None] = [current, _slice_constant(graph, w, 1, c0, c1, f"cc{p}")]
        if p == 0 and b is not None:
            inputs.append(b)
        return inputs

