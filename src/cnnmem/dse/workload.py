"""The scheduling workload: a network as an ordered list of layers with loop dimensions.

:func:`extract_workload` turns a (simplified) IR graph into a :class:`Workload`: one
:class:`Layer` per compute node, in the graph's schedule order, with its loop dimensions
(N, K output channels, C input channels, OY, OX, FY, FX, stride, pad, dilation, groups), the
activation tensors it reads and writes, its weight elements and MACs. A :class:`LayerGroup` is a
contiguous range of layers executed fused (:meth:`Workload.group`).

# NOTE: design decisions
# - Every tensor is seen as ``N x C x H x W`` (:class:`TensorShape`); a tensor of rank r != 4 is
#   ``N x prod(rest) x 1 x 1`` (a Gemm output ``1 x 1000`` has 1000 channels).
# - Alias ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout) are not layers: their
#   consumers read the aliased tensor. A layer that reads an alias whose shape differs from its
#   source's (Flatten before Gemm) needs its whole input anyway, so it is GLOBAL.
# - How each layer maps an output region to the input region it needs (its "kind"):
#     CONV           sliding window on H/W; output channels -> input channels of the same groups
#     POOL           sliding window on H/W; channel c -> channel c
#     ELEMENTWISE    same position in every input (broadcast axes of size 1 -> index 0)
#     CONCAT         channel concatenation: output channel -> (input, channel - offset)
#     CHANNEL_REDUCE global pooling: channel c <- all of H x W of channel c
#     DENSE          Gemm / MatMul with constant weights: needs the whole input; weights are
#                    sliced by output channel like a 1x1 conv
#     GLOBAL         any other modelled op (Transpose, Softmax, Pad, Resize...): needs the whole
#                    input for any output element; weights needed whole
#     OPAQUE         not tileable (ConvTranspose, multi-output ops, unmodelled ops): runs alone,
#                    whole tensors in and out
# - Branches (residual adds, concats, multi-consumer tensors). A group is a contiguous range of
#   the schedule. Every tensor a group reads but does not produce is a group input (read from
#   DRAM); every tensor it produces that a layer outside the group (or the graph output) reads
#   is a group output (written to DRAM once). Inside the group, tiles are defined on the last
#   layer's output (the "anchor"), and needed regions are propagated backwards, so every layer of
#   a group must feed the anchor through layers of the group ("anchored"): a group whose last
#   layer does not depend on one of its layers is not fusable (`Workload.group_problem`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from cnnmem.errors import ConfigError
from cnnmem.ir.graph import Graph, Node, Tensor
from cnnmem.ir.ops import category, is_alias, is_modelled, node_macs, param_inputs, state_inputs


class LayerKind(enum.Enum):
    """How a layer's output region maps to the input region it needs (module NOTE)."""

    CONV = "conv"
    POOL = "pool"
    ELEMENTWISE = "elementwise"
    CONCAT = "concat"
    CHANNEL_REDUCE = "channel_reduce"
    DENSE = "dense"
    GLOBAL = "global"
    OPAQUE = "opaque"


@dataclass(frozen=True, slots=True)
class TensorShape:
    """An activation tensor as ``n x c x h x w`` elements (see the module NOTE)."""

    name: str
    n: int
    c: int
    h: int
    w: int

    @property
    def elements(self) -> int:
        """``n * c * h * w``."""
        return self.n * self.c * self.h * self.w

    @property
    def dims(self) -> tuple[int, int, int, int]:
        """``(n, c, h, w)``."""
        return (self.n, self.c, self.h, self.w)


@dataclass(frozen=True, slots=True)
class Layer:
    """One compute layer with its loop dimensions.

    Attributes:
        index: position in :attr:`Workload.layers`.
        name: node name.
        op_type: IR op name (ONNX vocabulary).
        kind: how output regions map to input regions (:class:`LayerKind`).
        inputs: distinct activation tensors read, in operand order (alias-resolved).
        outputs: tensors written (one, except for OPAQUE multi-output ops).
        n: batch.
        k: output channels.
        c: input channels (the reduction's channels for CONV; ``k`` for POOL / ELEMENTWISE /
            CONCAT / CHANNEL_REDUCE; input features for DENSE; the first input's channels
            otherwise).
        oy: output rows.
        ox: output columns.
        fy: kernel rows (1 for non-window kinds).
        fx: kernel columns.
        stride: ``(sy, sx)``.
        pad: ``(top, left)`` padding in input elements (bottom/right padding only changes the
            output size, already in ``oy``/``ox``).
        dilation: ``(dy, dx)``.
        groups: channel groups: CONV's ``group``; ``k`` for channel-wise kinds; 1 otherwise.
        macs: multiply-accumulates of the whole layer (:func:`cnnmem.ir.ops.node_macs`).
        macs_per_output: ``macs / output elements`` (uniform for every tileable kind).
        kc_weight_elements: weight elements per (output channel, input channel of its group)
            pair, sliced with the output tile: ``fy * fx`` for CONV, 1 for DENSE, 0 if none.
        bias_elements: per-output-channel constants (bias): ``k`` or 0.
        other_weight_elements: constants needed whole (BN / PReLU parameters of a layer
            that is not a conv, element-wise constant operands...).
        concat_offsets: CONCAT: first output channel of each input; empty otherwise.
    """

    index: int
    name: str
    op_type: str
    kind: LayerKind
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    n: int
    k: int
    c: int
    oy: int
    ox: int
    fy: int = 1
    fx: int = 1
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    macs: int = 0
    macs_per_output: int = 0
    kc_weight_elements: int = 0
    bias_elements: int = 0
    other_weight_elements: int = 0
    concat_offsets: tuple[int, ...] = ()

    @property
    def output(self) -> str:
        """The (first) output tensor."""
        return self.outputs[0]

    @property
    def in_channels_per_group(self) -> int:
        """``c / groups`` for CONV, ``c`` for DENSE (the weight's second dimension)."""
        return self.c // self.groups if self.kind is LayerKind.CONV else self.c

    @property
    def main_weight_elements(self) -> int:
        """``k * in_channels_per_group * kc_weight_elements`` (0 without a sliced weight)."""
        return self.k * self.in_channels_per_group * self.kc_weight_elements

    @property
    def weight_elements(self) -> int:
        """Every constant element the layer reads: main weight + bias + other."""
        return self.main_weight_elements + self.bias_elements + self.other_weight_elements

    @property
    def can_tile_input_channels(self) -> bool:
        """True if the reduction over input channels may be tiled (ungrouped CONV)."""
        return self.kind is LayerKind.CONV and self.groups == 1


@dataclass(frozen=True, slots=True)
class LayerGroup:
    """A contiguous range of layers executed fused, tile by tile, with its DRAM interface.

    Attributes:
        first: index of the first layer in the workload.
        layers: the layers, in schedule order; the last one is the anchor whose output is tiled.
        tensors: every activation tensor the group reads or writes.
        external_inputs: tensors read by the group but produced outside it (read from DRAM).
        outputs: tensors produced in the group and needed outside it (written to DRAM); the
            anchor's output comes first.
    """

    first: int
    layers: tuple[Layer, ...]
    tensors: tuple[TensorShape, ...]
    external_inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def stop(self) -> int:
        """One past the last layer's index."""
        return self.first + len(self.layers)

    @property
    def anchor(self) -> Layer:
        """The last layer: the group's output tile is a tile of its output."""
        return self.layers[-1]

    def tensor(self, name: str) -> TensorShape:
        """The shape of tensor ``name``.

        Raises:
            KeyError: not a tensor of this group.
        """
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def internal_tensors(self) -> tuple[str, ...]:
        """Outputs of the non-anchor layers (held on chip between layers)."""
        return tuple(layer.output for layer in self.layers[:-1])

    @property
    def weight_elements(self) -> int:
        """All constant elements of the group's layers."""
        return sum(layer.weight_elements for layer in self.layers)

    def describe(self) -> str:
        """``"conv1..conv3 (3 layers)"``."""
        if len(self.layers) == 1:
            return self.layers[0].name
        return f"{self.layers[0].name}..{self.anchor.name} ({len(self.layers)} layers)"


@dataclass(frozen=True, slots=True)
class Workload:
    """A network as an ordered list of layers over named tensors.

    Attributes:
        name: the network's name.
        layers: compute layers in schedule (topological) order.
        tensors: every activation tensor by name.
        graph_inputs: tensors fed by the user.
        graph_outputs: tensors the user reads (alias-resolved).
    """

    name: str
    layers: tuple[Layer, ...]
    tensors: Mapping[str, TensorShape] = field(compare=False)
    graph_inputs: tuple[str, ...]
    graph_outputs: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.layers)

    def consumers(self, tensor: str) -> tuple[int, ...]:
        """Indices of the layers that read ``tensor``."""
        return tuple(layer.index for layer in self.layers if tensor in layer.inputs)

    @property
    def weight_elements(self) -> int:
        """All constant elements of all layers."""
        return sum(layer.weight_elements for layer in self.layers)

    def group_problem(self, first: int, stop: int) -> str | None:
        """Why layers ``[first, stop)`` cannot be one fused group, or ``None`` if they can.

        A group is fusable if it is a non-empty range, holds no OPAQUE layer unless it is a
        single layer, and every layer feeds the last one through layers of the group.
        """
        if not 0 <= first < stop <= len(self.layers):
            return f"layer range [{first}, {stop}) is not inside 0..{len(self.layers)}"
        layers = self.layers[first:stop]
        if len(layers) > 1:
            for layer in layers:
                if layer.kind is LayerKind.OPAQUE:
                    return f"layer {layer.name!r} ({layer.op_type}) cannot be fused"
        needed = set(layers[-1].inputs)
        for layer in reversed(layers[:-1]):
            if layer.output not in needed:
                return (f"layer {layer.name!r} does not feed the group's last layer "
                        f"{layers[-1].name!r}")
            needed.update(layer.inputs)
        return None

    def group(self, first: int, stop: int) -> LayerGroup:
        """The fused group of layers ``[first, stop)``.

        Raises:
            ConfigError: the range is not a fusable group (:meth:`group_problem`).
        """
        problem = self.group_problem(first, stop)
        if problem is not None:
            raise ConfigError(f"group [{first}, {stop}) of {self.name}: {problem}")
        layers = self.layers[first:stop]
        produced = {t for layer in layers for t in layer.outputs}
        external: list[str] = []
        for layer in layers:
            for t in layer.inputs:
                if t not in produced and t not in external:
                    external.append(t)
        outside = {t for layer in self.layers[:first] + self.layers[stop:] for t in layer.inputs}
        graph_out = set(self.graph_outputs)
        outputs = [layers[-1].output]
        for layer in layers:
            for t in layer.outputs:
                if t not in outputs and (t in outside or t in graph_out):
                    outputs.append(t)
        names = [*external, *(t for layer in layers for t in layer.outputs)]
        return LayerGroup(first, layers, tuple(self.tensors[t] for t in names), tuple(external),
                          tuple(outputs))


# ----------------------------------------------------------------------------- extraction
def canonical_shape(name: str, shape: Sequence[int]) -> TensorShape:
    """``n x c x h x w`` view of a tensor of any rank (module NOTE)."""
    dims = [int(d) for d in shape]
    if len(dims) == 4:
        return TensorShape(name, *dims)
    if len(dims) > 4:
        return TensorShape(name, dims[0], math.prod(dims[1:-2]), dims[-2], dims[-1])
    if not dims:
        return TensorShape(name, 1, 1, 1, 1)
    if len(dims) == 1:
        return TensorShape(name, 1, dims[0], 1, 1)
    return TensorShape(name, dims[0], math.prod(dims[1:]), 1, 1)


_CHANNEL_WISE_NORMALIZATION = ("BatchNormalization",)
_ELEMENTWISE_CATEGORIES = ("elementwise", "activation", "quantization")
_NOT_ELEMENTWISE = ("Softmax", "LogSoftmax")


class _Extractor:
    """Builds the layers of one graph (alias resolution, kind classification, weights)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.source: dict[str, str] = {}  # alias tensor -> the tensor that holds its data
        self.tensors: dict[str, TensorShape] = {}
        self.layers: list[Layer] = []

    def resolve(self, t: Tensor) -> str:
        name = t.name
        while name in self.source:
            name = self.source[name]
        return name

    def view_matches(self, t: Tensor) -> bool:
        """True if ``t`` is read in its source's own 4-D shape."""
        src = self.tensors.get(self.resolve(t))
        return len(t.shape) == 4 and src is not None and src.dims == tuple(t.shape)

    def run(self) -> Workload:
        for t in self.graph.inputs:
            self.tensors[t.name] = canonical_shape(t.name, t.shape)
        for node in self.graph.nodes:
            acts = node.activation_inputs
            if is_alias(node) and len(acts) == 1 and len(node.outputs) == 1:
                self.source[node.outputs[0].name] = self.resolve(acts[0])
                continue
            self.add_layer(node)
        outputs = []
        for t in self.graph.outputs:
            name = self.resolve(t)
            if name not in outputs:
                outputs.append(name)
        return Workload(self.graph.name, tuple(self.layers), dict(self.tensors),
                        tuple(t.name for t in self.graph.inputs), tuple(outputs))

    def add_layer(self, node: Node) -> None:
        inputs: list[str] = []
        for t in node.activation_inputs:
            name = self.resolve(t)
            if name not in inputs:
                inputs.append(name)
        for t in node.outputs:
            self.tensors[t.name] = canonical_shape(t.name, t.shape)
        out = self.tensors[node.outputs[0].name]
        kind = self.classify(node)
        macs = node_macs(node) if is_modelled(node.op_type) else 0
        if kind is not LayerKind.OPAQUE and macs % out.elements:
            kind = LayerKind.OPAQUE
        first_in = self.tensors[inputs[0]] if inputs else out
        layer = Layer(index=len(self.layers), name=node.name, op_type=node.op_type, kind=kind,
                      inputs=tuple(inputs), outputs=tuple(t.name for t in node.outputs),
                      n=out.n, k=out.c, c=first_in.c, oy=out.h, ox=out.w, macs=macs,
                      macs_per_output=0 if kind is LayerKind.OPAQUE else macs // out.elements,
                      other_weight_elements=_constant_elements(node))
        if kind is LayerKind.CONV:
            layer = self.conv_fields(node, layer)
        elif kind is LayerKind.POOL:
            layer = self.window_fields(node, layer, groups=out.c)
        elif kind in (LayerKind.ELEMENTWISE, LayerKind.CHANNEL_REDUCE):
            layer = replace(layer, c=out.c, groups=out.c)
        elif kind is LayerKind.CONCAT:
            offsets, acc = [], 0
            for t in node.activation_inputs:
                offsets.append(acc)
                acc += t.shape[1]
            # a tensor concatenated twice keeps its first offset (``inputs`` is distinct)
            first_offset: dict[str, int] = {}
            for t, off in zip(node.activation_inputs, offsets, strict=True):
                first_offset.setdefault(self.resolve(t), off)
            if len(first_offset) != len(node.activation_inputs):
                layer = replace(layer, kind=LayerKind.GLOBAL)
            else:
                layer = replace(layer, c=out.c, groups=out.c,
                                 concat_offsets=tuple(first_offset[t] for t in inputs))
        elif kind is LayerKind.DENSE:
            layer = self.dense_fields(node, layer)
        self.layers.append(layer)

    def classify(self, node: Node) -> LayerKind:
        op = node.op_type
        if len(node.outputs) != 1 or not is_modelled(op):
            return LayerKind.OPAQUE
        acts = node.activation_inputs
        out = node.outputs[0]
        rank4 = len(out.shape) == 4 and all(self.view_matches(t) for t in acts)
        if op == "Conv":
            w = node.input(1)
            geom = node.geometry
            if w is None or not w.is_constant or geom is None or len(acts) != 1:
                return LayerKind.GLOBAL
            return LayerKind.CONV if rank4 and _windows_touch_input(node) else LayerKind.GLOBAL
        if op == "ConvTranspose":
            return LayerKind.OPAQUE
        if op in ("MaxPool", "AveragePool"):
            return LayerKind.POOL if rank4 and len(acts) == 1 and _windows_touch_input(node) \
                else LayerKind.GLOBAL
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            return LayerKind.CHANNEL_REDUCE if rank4 and len(acts) == 1 else LayerKind.GLOBAL
        if op == "Concat":
            axis = node.attr_int("axis", 0)
            return LayerKind.CONCAT if rank4 and acts and axis in (1, -3) and \
                len(acts) == sum(1 for t in node.inputs if t is not None) else LayerKind.GLOBAL
        if op in ("Gemm", "MatMul"):
            return LayerKind.DENSE if _is_dense(node) else LayerKind.GLOBAL
        cat = category(op)
        if (cat in _ELEMENTWISE_CATEGORIES or op in _CHANNEL_WISE_NORMALIZATION) and \
                op not in _NOT_ELEMENTWISE and rank4 and acts and \
                all(d_in in (1, d_out) for t in acts
                    for d_in, d_out in zip(t.shape, out.shape, strict=True)):
            return LayerKind.ELEMENTWISE
        return LayerKind.GLOBAL

    def conv_fields(self, node: Node, layer: Layer) -> Layer:
        w = node.input(1)
        assert w is not None
        layer = self.window_fields(node, layer, groups=node.attr_int("group", 1))
        bias = node.input(2)
        return replace(layer, kc_weight_elements=layer.fy * layer.fx,
                        bias_elements=layer.k if bias is not None and bias.is_constant else 0,
                        other_weight_elements=0)

    def window_fields(self, node: Node, layer: Layer, *, groups: int) -> Layer:
        geom = node.geometry
        assert geom is not None
        return replace(layer, fy=geom.kernel[0], fx=geom.kernel[1], stride=geom.stride,
                        pad=(geom.pads[0], geom.pads[1]), dilation=geom.dilation, groups=groups)

    def dense_fields(self, node: Node, layer: Layer) -> Layer:
        a = node.input(0)
        assert a is not None
        features = a.shape[-1]
        bias = node.input(2) if node.op_type == "Gemm" else None
        has_bias = bias is not None and bias.is_constant and bias.num_elements == layer.k
        other = bias.num_elements if bias is not None and bias.is_constant and not has_bias \
            else 0
        return replace(layer, c=features, kc_weight_elements=1,
                        bias_elements=layer.k if has_bias else 0, other_weight_elements=other)


def _constant_elements(node: Node) -> int:
    """Elements of the node's parameter and state constants (weights, biases, BN stats)."""
    seen: dict[str, int] = {}
    for t in (*param_inputs(node), *state_inputs(node)):
        seen.setdefault(t.name, t.num_elements)
    return sum(seen.values())


def _is_dense(node: Node) -> bool:
    """Gemm / MatMul ``(M x C) @ W`` with a constant 2-D ``W`` and an activation ``A``."""
    a, b = node.input(0), node.input(1)
    if a is None or b is None or a.is_constant or not b.is_constant:
        return False
    if len(a.shape) != 2 or len(b.shape) != 2 or len(node.outputs[0].shape) != 2:
        return False
    if node.op_type == "Gemm":
        if node.attr_int("transA", 0):
            return False
        c = node.input(2)
        if c is not None and not c.is_constant:
            return False
    return len(node.activation_inputs) == 1


def _windows_touch_input(node: Node) -> bool:
    """True if every output row/column's window has at least one tap inside the input.

    Windows lying wholly in padding would make a tile need nothing on one axis and break the
    per-axis region algebra; such (degenerate) layers are modelled as GLOBAL.
    """
    geom = node.geometry
    x = node.inputs[0]
    assert geom is not None and x is not None
    out = node.outputs[0].shape
    for axis in (0, 1):
        size, n_out = x.shape[2 + axis], out[2 + axis]
        s, p, d, k = geom.stride[axis], geom.pads[axis], geom.dilation[axis], geom.kernel[axis]
        for o in range(n_out):
            if not any(0 <= o * s - p + j * d < size for j in range(k)):
                return False
    return True


def extract_workload(graph: Graph) -> Workload:
    """The scheduling workload of ``graph`` (module docstring: kinds, aliases, branches).

    ``graph`` should be verified and simplified (``cnnmem.api.load``), so that BatchNorm and
    activations are fused into their producers.
    """
    return _Extractor(graph).run()
