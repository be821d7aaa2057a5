"""Spatial tiling of a segment of layers along H: ``TileSplitPass``.

A *segment* is a set of layers with one output: a chain ``L_1 .. L_m`` (each layer reads the
previous one's output) or, more generally, a single-output region such as a residual block, a
SqueezeNet fire module or an Inception module. Every tensor a segment layer writes is read by
segment layers only, except the segment output ``Y``, which the last layer (in schedule order)
writes. The tensors the segment reads but does not write are its inputs (``X``; a residual
block reads its input twice, in the first conv and in the Add). The pass computes ``Y`` in
``n`` horizontal bands (*tiles*) one after another, each from the bands of the inputs it needs,
and concatenates the bands, so only one tile's intermediates are alive at a time.

Receptive-field propagation (exact, per tile, from the output backwards):

1. ``Y``'s ``H_out`` rows are split into ``n`` balanced bands
   ``[a_t, b_t) = [floor(t * H_out / n), floor((t + 1) * H_out / n))``.
2. A window layer (Conv, MaxPool, AveragePool) with stride ``s``, dilated kernel extent
   ``k_eff = d * (k - 1) + 1`` and top padding ``p_top`` computes output row ``j`` from the
   padded-input rows ``j * s .. j * s + k_eff - 1``, i.e. the real input rows
   ``j * s - p_top .. j * s - p_top + k_eff - 1``. Output rows ``[a, b)`` therefore need input
   rows ``[lo, hi)`` with ``lo = a * s - p_top`` and ``hi = (b - 1) * s - p_top + k_eff``,
   clipped to the tensor: ``[max(lo, 0), min(hi, H_in))``. The tile's own pads are the parts of
   that window range outside the real tensor: ``top = max(0, -lo)``, ``bottom = max(0,
   hi - H_in)``; an interior tile border is never padding (its rows are real rows of the
   slice). With these pads the tile layer yields exactly ``b - a`` rows, since
   ``(hi - lo - k_eff) / s + 1 = b - a``.
3. Row-local layers (BatchNormalization, activations, element-wise ops with constants that do
   not vary along H, Concat along C) need exactly the rows they produce, from every input.
4. A layer computes the hull (smallest covering range) of the rows its readers inside the
   segment need; a reader that needs fewer rows gets a Slice of the tile tensor (in a chain the
   hull is the one reader's range and no Slice appears).
5. Segment inputs are sliced per tile to the rows each reader needs (one Slice per distinct
   range; none when a tile needs the whole input).

Halo recomputation: bands of an intermediate layer overlap where the windows of a later layer
straddle a tile border; the overlapping rows are computed once per tile. The extra
multiply-accumulates are ``sum_l row_macs_l * (sum_t rows_{l,t} - H_out_l)`` where
``row_macs_l = macs_l / H_out_l`` (the MACs of one output row), reported as the pass statistic
``recomputed_macs``; it equals ``macs_after - macs_before``.

``ceil_mode`` pooling: tile layers keep the layer's ``ceil_mode`` (it also governs W, which
is not split). Along H it changes nothing for a tile, whose rows plus pads span whole windows:
``ceil((hi - lo - k_eff) / s) = (hi - lo - k_eff) / s``, and the last window starts inside the
slice. The one exception is the last tile of a ``ceil_mode`` pool whose last window runs past
the end padding (``hi > H_in + p_bottom``): for ``AveragePool`` with ``count_include_pad = 1``
the overflow cells must stay uncounted (the ONNX / onnxruntime rule), so that tile's bottom pad
is clipped to ``p_bottom`` and ``ceil_mode`` yields the last row (the overflow is below one
stride). MaxPool and ``count_include_pad = 0`` ignore padding cells, so the exact pad is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cnnmem.errors import ConfigError, PostconditionError, PreconditionError
from cnnmem.ir.graph import Graph, Node, Tensor, TensorKind
from cnnmem.ir.ops import category, node_macs
from cnnmem.ir.types import DType, WindowGeometry
from cnnmem.ir.verify import verify
from cnnmem.passes.infra import Pass, PassResult
from cnnmem.passes.splice import concat_in_place_of, fresh_name

__all__ = [
    "LayerTiles",
    "TilePlan",
    "TileSplitPass",
    "balanced_ranges",
    "plan_tile_split",
    "row_local",
    "segment_error",
    "tileable_chains",
    "tileable_op",
]

WINDOW_OPS = ("Conv", "MaxPool", "AveragePool")
"""Window ops a segment may contain (ConvTranspose and LpPool are not supported)."""

_ROW_LOCAL_EXCLUDED = ("Softmax", "LogSoftmax", "InstanceNormalization", "LRN")
_ROW_LOCAL_CATEGORIES = ("activation", "elementwise")

Rows = tuple[int, int]
"""A half-open row range ``[start, end)``."""


def balanced_ranges(total: int, parts: int) -> tuple[Rows, ...]:
    """``parts`` contiguous ranges covering ``[0, total)`` whose sizes differ by at most one.

    Raises:
        ConfigError: ``parts`` is not in ``1 .. total``.
    """
    if not 1 <= parts <= total:
        raise ConfigError(f"cannot split {total} rows into {parts} parts")
    return tuple((t * total // parts, (t + 1) * total // parts) for t in range(parts))


def row_local(node: Node) -> bool:
    """True if each output row of ``node`` depends only on the same row of its activation
    inputs: BatchNormalization, activations, element-wise ops whose constant operands do not
    vary along H (their H extent, axis -2 after right-aligned broadcasting, is 1), and Concat
    along C."""
    op = node.op_type
    if op == "Concat":
        rank = len(node.outputs[0].shape) if node.outputs else 0
        return rank == 4 and node.attr_int("axis", 0) % 4 == 1 and not node.constant_inputs
    if op in _ROW_LOCAL_EXCLUDED:
        return False
    if op != "BatchNormalization" and category(op) not in _ROW_LOCAL_CATEGORIES:
        return False
    if op == "BatchNormalization":
        return all(t is not None and t.is_constant for t in node.inputs[1:])
    return all(len(c.shape) < 2 or c.shape[-2] == 1 for c in node.constant_inputs)


def tileable_op(node: Node) -> bool:
    """True if ``node`` may be part of a tiled segment (op and shape checks only).

    Window ops: 2-D Conv / MaxPool / AveragePool with one 4-D activation input (operand 0) and
    non-negative pads smaller than the dilated kernel. Row-local ops (:func:`row_local`): every
    activation input is 4-D with the output's H.
    """
    if len(node.outputs) != 1 or not node.activation_inputs:
        return False
    out = node.outputs[0]
    xs = node.activation_inputs
    if len(out.shape) != 4 or any(len(x.shape) != 4 for x in xs):
        return False
    if node.op_type in WINDOW_OPS:
        g = node.geometry
        if g is None or len(node.attr_ints("kernel_shape", ())) != 2 or g.transposed:
            return False
        if len(xs) != 1 or node.inputs[0] is not xs[0] or any(p < 0 for p in g.pads):
            return False
        # a window that lies wholly in the padding has no input rows to slice
        return g.pads[0] < g.effective_kernel[0] and g.pads[2] < g.effective_kernel[0]
    return row_local(node) and all(x.shape[2] == out.shape[2] for x in xs)


@dataclass(frozen=True, slots=True)
class LayerTiles:
    """How one layer of the segment is tiled.

    Attributes:
        name: the layer (node) name.
        in_rows: per tile, the rows of the layer's activation input(s) it reads (every input
            of a row-local layer is read over the same rows).
        out_rows: per tile, the rows of the layer's output it computes.
        pads: per tile, ``(top, bottom)`` padding rows of the tile layer (window ops; ``(0, 0)``
            otherwise).
        out_height: ``H`` of the layer's (untiled) output.
        row_macs: multiply-accumulates of one output row (0 for ops without MACs).
    """

    name: str
    in_rows: tuple[Rows, ...]
    out_rows: tuple[Rows, ...]
    pads: tuple[tuple[int, int], ...]
    out_height: int
    row_macs: int

    @property
    def recomputed_rows(self) -> int:
        """Output rows computed more than once: ``sum_t rows_t - H_out``."""
        return sum(b - a for a, b in self.out_rows) - self.out_height

    @property
    def recomputed_macs(self) -> int:
        """MACs of the recomputed rows."""
        return self.recomputed_rows * self.row_macs


@dataclass(frozen=True, slots=True)
class TilePlan:
    """The row ranges of every layer of a segment for every tile (no graph change).

    Attributes:
        segment: the layer names in schedule order (the last one writes the output).
        parts: number of tiles.
        layers: per layer, its :class:`LayerTiles` (same order as ``segment``).
        inputs: names of the segment's input tensors, in order of first use.
        input_rows: per input, per tile, the rows read (the hull of its readers' ranges).
    """

    segment: tuple[str, ...]
    parts: int
    layers: tuple[LayerTiles, ...]
    inputs: tuple[str, ...]
    input_rows: tuple[tuple[Rows, ...], ...]

    @property
    def recomputed_macs(self) -> int:
        """Extra MACs of the tiled segment (halo recomputation)."""
        return sum(layer.recomputed_macs for layer in self.layers)

    @property
    def segment_macs(self) -> int:
        """MACs of the untiled segment (``sum_l row_macs_l * H_out_l``)."""
        return sum(layer.row_macs * layer.out_height for layer in self.layers)


def segment_error(graph: Graph, nodes: Sequence[Node]) -> str | None:
    """Why ``nodes`` (in schedule order) is not a valid segment, or ``None`` if it is.

    A valid segment: every node passes :func:`tileable_op`; every tensor it writes is read
    inside it (and is not a graph output), except the output of its last node, which is read
    after it or is a graph output.
    """
    inside = {id(n) for n in nodes}
    outputs = {id(t) for t in graph.outputs}
    for k, node in enumerate(nodes):
        if not tileable_op(node):
            return (f"node {node.name!r} ({node.op_type}) cannot be tiled along H: a segment "
                    "holds 2-D Conv / MaxPool / AveragePool (non-negative pads smaller than the "
                    "kernel) and row-local ops (BatchNormalization, activations, element-wise "
                    "ops with H-invariant constants, Concat along C) on 4-D tensors")
        out = node.outputs[0]
        readers_inside = [c for c in out.consumers if id(c) in inside]
        escapes = id(out) in outputs or len(readers_inside) != len(out.consumers)
        if k == len(nodes) - 1:
            if not escapes:
                return (f"the output {out.name!r} of the last node {node.name!r} is not read "
                        "after the segment; end the segment at a layer whose output is used")
        elif escapes:
            return (f"{out.name!r} (output of {node.name!r}) is also read outside the segment "
                    "or is a graph output; a segment has one output, written by its last node")
        elif not readers_inside:
            return f"{out.name!r} (output of {node.name!r}) is not read by the segment"
    return None


def _segment(graph: Graph, segment: Sequence[str]) -> list[Node]:
    """The segment's nodes in schedule order, checked.

    Raises:
        PreconditionError: naming the offending node and why.
    """
    if not segment:
        raise PreconditionError("tile split: the segment is empty; name at least one layer")
    if len(set(segment)) != len(segment):
        raise PreconditionError(f"tile split: the segment names a layer twice: {segment}")
    position = {n.name: i for i, n in enumerate(graph.nodes)}
    missing = [name for name in segment if name not in position]
    if missing:
        raise PreconditionError(f"tile split: no node {missing[0]!r} in graph {graph.name!r}")
    nodes = [graph.nodes[position[name]] for name in sorted(segment, key=position.__getitem__)]
    why = segment_error(graph, nodes)
    if why is not None:
        raise PreconditionError(f"tile split: {why}")
    return nodes


def _window_rows(node: Node, g: WindowGeometry, rows: Rows, in_h: int
                 ) -> tuple[Rows, tuple[int, int]]:
    """Input rows and tile pads (top, bottom) for output rows ``rows`` of window op ``node``
    (geometry ``g``)."""
    s, k = g.stride[0], g.effective_kernel[0]
    p_top, p_bottom = g.pads[0], g.pads[2]
    a, b = rows
    lo = a * s - p_top
    hi = (b - 1) * s - p_top + k
    r0, r1 = max(lo, 0), min(hi, in_h)
    top, bottom = r0 - lo, hi - r1
    if bottom > p_bottom and node.op_type == "AveragePool" and \
            node.attr_int("count_include_pad", 0):
        bottom = p_bottom  # ceil-mode overflow cells are not counted (module docstring)
    if r1 <= r0:
        raise PreconditionError(f"tile split: output rows [{a}, {b}) of {node.name!r} read no "
                                "input row (a window lies wholly in the padding)")
    return (r0, r1), (top, bottom)


def _hull(ranges: Sequence[Rows]) -> Rows:
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def plan_tile_split(graph: Graph, segment: Sequence[str], parts: int) -> TilePlan:
    """Row ranges of every layer and tile of ``segment`` split into ``parts`` bands of H.

    Pure analysis: the graph is not changed. See the module docstring for the propagation rule.

    Raises:
        PreconditionError: the segment is not valid (:func:`segment_error`).
        ConfigError: ``parts`` exceeds the segment output's height.
    """
    return _plan(_segment(graph, segment), parts)


def _plan(nodes: list[Node], parts: int) -> TilePlan:
    """:func:`plan_tile_split` for checked segment nodes in schedule order."""
    y = nodes[-1].outputs[0]
    out_h = y.shape[2]
    if parts > out_h:
        raise ConfigError(f"tile split: {parts} parts for {out_h} output rows of "
                          f"{nodes[-1].name!r}; use at most {out_h}")
    bands = balanced_ranges(out_h, parts)
    # needs[tensor name][t]: ranges its readers inside the segment need in tile t
    needs: dict[str, list[list[Rows]]] = {y.name: [[band] for band in bands]}
    tiles: dict[str, LayerTiles] = {}
    for node in reversed(nodes):
        out = node.outputs[0]
        out_rows = tuple(_hull(needs[out.name][t]) for t in range(parts))
        in_h = node.activation_inputs[0].shape[2]
        g = node.geometry if node.op_type in WINDOW_OPS else None
        in_rows, pads = [], []
        for rows in out_rows:
            if g is not None:
                ir, pad = _window_rows(node, g, rows, in_h)
            else:
                ir, pad = rows, (0, 0)
            in_rows.append(ir)
            pads.append(pad)
        for x in node.activation_inputs:
            per_tile = needs.setdefault(x.name, [[] for _ in range(parts)])
            for t in range(parts):
                per_tile[t].append(in_rows[t])
        tiles[node.name] = LayerTiles(node.name, tuple(in_rows), out_rows, tuple(pads),
                                      out.shape[2], node_macs(node) // out.shape[2])
    written = {n.outputs[0].name for n in nodes}
    inputs = list(dict.fromkeys(x.name for n in nodes for x in n.activation_inputs
                                if x.name not in written))
    return TilePlan(
        segment=tuple(n.name for n in nodes),
        parts=parts,
        layers=tuple(tiles[n.name] for n in nodes),
        inputs=tuple(inputs),
        input_rows=tuple(tuple(_hull(needs[x][t]) for t in range(parts)) for x in inputs),
    )


def _with_rows(shape: tuple[int, ...], rows: Rows) -> tuple[int, ...]:
    return (shape[0], shape[1], rows[1] - rows[0], shape[3])


class TileSplitPass(Pass):
    """Split a segment of layers into ``parts`` horizontal tiles executed one after another.

    Rules:
      1. The segment (node names) is a chain or a single-output region: every tensor its layers
         write is read by its layers only, except the output of its last layer (schedule
         order). Layers: Conv (any group, stride, dilation, non-negative pads), MaxPool,
         AveragePool, BatchNormalization, activations, element-wise ops with H-invariant
         constants (several activation inputs allowed: residual Add), Concat along C; fused
         activations stay on their nodes.
      2. The output rows are split into ``parts`` balanced bands; the rows each tile needs are
         propagated backwards exactly (module docstring).
      3. Tile ``t`` runs one copy of every layer, in schedule order, with the SAME operand
         tensors (weights are shared, not copied), the layer's attributes and its per-tile
         ``pads``; nodes are named ``<layer>/tile<t>``, outputs ``<tensor>/tile<t>``. A
         segment input is read through ``Slice(X, rows, axis H)`` (omitted when the tile needs
         all of ``X``), and a tile tensor that holds more rows than a reader needs through a
         Slice of it; Slices are named ``<reader>/tile<t>.slice``.
      4. ``Concat(tile outputs, axis H)`` replaces the segment output and keeps its tensor
         name, so consumers and graph outputs see the original value.
      5. Nodes are inserted tile-major (tile 0's whole segment, then tile 1's ...) at the
         position of the segment's last layer, followed by the Concat (nodes between segment
         layers that do not belong to it keep running before the tiles).

    Statistics: ``tiles``, ``layers``, ``macs_before``, ``macs_after`` and ``recomputed_macs``
    (halo recomputation, ``== macs_after - macs_before``).

    Args:
        segment: node names of the segment (any order; they are taken in schedule order).
        parts: number of tiles (2 or more).
        axis: ``"H"`` (the only axis supported so far).

    Raises:
        ConfigError: ``parts < 2`` or an unsupported axis.
    """

    name = "tile-split"

    def __init__(self, segment: Sequence[str], parts: int, axis: str = "H") -> None:
        if axis != "H":
            raise ConfigError(f"tile split: axis {axis!r} is not supported; use 'H'")
        if parts < 2:
            raise ConfigError(f"tile split: parts must be >= 2, got {parts}")
        self.segment = tuple(segment)
        self.parts = parts
        self.axis = axis

    def describe(self) -> str:
        """``tile-split{layers=a..b,parts=n,axis=H}``."""
        span = self.segment[0] if len(self.segment) == 1 else \
            f"{self.segment[0]}..{self.segment[-1]}"
        return f"{self.name}{{layers={span},parts={self.parts},axis={self.axis}}}"

    def requires(self, graph: Graph) -> None:
        """The segment is valid and ``parts`` fits its output height."""
        try:
            plan_tile_split(graph, self.segment, self.parts)
        except ConfigError as e:
            raise PreconditionError(str(e)) from e

    def ensures(self, graph: Graph) -> None:
        """The rewritten graph verifies (topological order, shapes)."""
        try:
            verify(graph)
        except Exception as e:
            raise PostconditionError(f"tile split of {self.describe()} broke the graph: {e}"
                                     ) from e

    def call(self, graph: Graph) -> PassResult:
        """Rewrite the segment in place."""
        nodes = _segment(graph, self.segment)
        try:
            plan = _plan(nodes, self.parts)
        except ConfigError as e:
            raise PreconditionError(str(e)) from e
        macs_before = sum(node_macs(n) for n in graph.nodes)
        segment_macs = sum(node_macs(n) for n in nodes)
        y = nodes[-1].outputs[0]
        names = {n.name for n in graph.nodes}
        index = graph.index_of(nodes[-1])
        geometry = {n.name: n.geometry for n in nodes}
        tile_outputs: list[Tensor] = []
        tile_macs = 0
        for t in range(self.parts):
            index, out, macs = _emit_tile(graph, nodes, plan, t, names, index, geometry)
            tile_outputs.append(out)
            tile_macs += macs
        concat_in_place_of(graph, y, tile_outputs, 2, nodes, index,
                           f"{nodes[-1].name}/concat", names)
        graph.remove_unused_constants()
        # the MACs of the tile nodes replace those of the segment (counted by node_macs, an
        # independent check of the row-count formula)
        macs_after = macs_before - segment_macs + tile_macs
        if macs_after - macs_before != plan.recomputed_macs:
            raise PostconditionError(
                f"tile split {self.describe()}: MACs grew by {macs_after - macs_before}, but "
                f"the row count gives {plan.recomputed_macs} recomputed MACs")
        return PassResult(graph, True, {
            "tiles": self.parts, "layers": len(nodes), "macs_before": macs_before,
            "macs_after": macs_after, "recomputed_macs": plan.recomputed_macs})


def _slice_rows(graph: Graph, src: Tensor, rows: Rows, name: str, names: set[str],
                index: int) -> Tensor:
    """Insert ``Slice(src, rows, axis 2)`` at ``index``; return its output."""
    r0, r1 = rows
    base = graph.unique_name(f"{src.name}/rows{r0}_{r1}")
    operands = [graph.add_constant(graph.unique_name(f"{base}.{what}"), (1,), DType.INT64,
                                   data=np.asarray([v], np.int64))
                for what, v in (("starts", r0), ("ends", r1), ("axes", 2))]
    out = Tensor(base, _with_rows(src.shape, rows), src.dtype, TensorKind.ACTIVATION,
                 quant=src.quant)
    graph.add_node(Node(fresh_name(names, name), "Slice"), [src, *operands], [out],
                   index=index)
    return out


def _emit_tile(graph: Graph, nodes: list[Node], plan: TilePlan, t: int, names: set[str],
               index: int, geometry: Mapping[str, WindowGeometry | None]
               ) -> tuple[int, Tensor, int]:
    """Insert tile ``t`` (its Slices and layer copies) at ``index``; return the next index,
    the tile's output and the MACs of its layer copies."""
    macs = 0
    layer_of = {layer.name: layer for layer in plan.layers}
    # tile tensors: original tensor name -> (tile tensor, its rows in the original tensor)
    held: dict[str, tuple[Tensor, Rows]] = {}
    sliced: dict[tuple[str, Rows], Tensor] = {}
    current: Tensor | None = None
    for node in nodes:
        layer = layer_of[node.name]
        need = layer.in_rows[t]
        replace: dict[str, Tensor] = {}
        for x in node.activation_inputs:
            if (x.name, need) in sliced:
                replace[x.name] = sliced[(x.name, need)]
                continue
            if x.name in held:
                src, (h0, h1) = held[x.name]
                if (h0, h1) == need:
                    replace[x.name] = src
                    continue
                local = (need[0] - h0, need[1] - h0)
            else:
                src, local = x, need
                if need == (0, x.shape[2]):
                    replace[x.name] = x
                    continue
            piece = _slice_rows(graph, src, local, f"{node.name}/tile{t}.slice", names, index)
            index += 1
            sliced[(x.name, need)] = piece
            replace[x.name] = piece
        out = node.outputs[0]
        out_shape = _with_rows(out.shape, layer.out_rows[t])
        attrs = dict(node.attrs)
        if node.op_type in WINDOW_OPS:
            top, left, bottom, right = node.attr_ints("pads", (0, 0, 0, 0))
            top, bottom = layer.pads[t]
            attrs["pads"] = (top, left, bottom, right)
            g = geometry[node.name]
            assert g is not None
            _check_tile_shape(node, g, (top, left, bottom, right),
                              replace[node.activation_inputs[0].name].shape, out_shape)
        inputs = [replace.get(i.name, i) if i is not None else None for i in node.inputs]
        tile_out = Tensor(graph.unique_name(f"{out.name}/tile{t}"), out_shape, out.dtype,
                          TensorKind.ACTIVATION, quant=out.quant)
        copy = Node(fresh_name(names, f"{node.name}/tile{t}"), node.op_type, attrs,
                    activation=node.activation, source_op=node.source_op)
        graph.add_node(copy, inputs, [tile_out], index=index)
        macs += node_macs(copy)
        index += 1
        held[out.name] = (tile_out, layer.out_rows[t])
        current = tile_out
    assert current is not None
    return index, current, macs


def _check_tile_shape(node: Node, g: WindowGeometry, pads: tuple[int, int, int, int],
                      in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    """Internal check: the tile layer's geometry yields exactly the planned output (H and W)."""
    tile = WindowGeometry(g.kernel, g.stride, pads, g.dilation, g.groups, g.ceil_mode)
    got = tile.output_size(in_shape[2], in_shape[3])
    if got != out_shape[2:]:
        raise PostconditionError(f"tile split: tile of {node.name!r} with pads {pads} yields "
                                 f"{got[0]}x{got[1]}, expected {out_shape[2]}x{out_shape[3]}")


def tileable_chains(graph: Graph) -> list[tuple[str, ...]]:
    """Maximal tileable chains of ``graph`` (single-input layers), in schedule order.

    Every run of consecutive layers of a returned chain is a valid segment for
    :class:`TileSplitPass` (as long as ``parts`` fits its output height).
    """
    outputs = {id(t) for t in graph.outputs}
    chain_of: dict[str, list[str]] = {}
    chains: list[list[str]] = []
    for node in graph.nodes:
        if not tileable_op(node) or len(node.activation_inputs) != 1:
            continue
        x = node.activation_inputs[0]
        prev = x.producer
        if (prev is not None and prev.name in chain_of and len(x.consumers) == 1
                and id(x) not in outputs and chain_of[prev.name][-1] == prev.name):
            chain = chain_of[prev.name]
        else:
            chain = []
            chains.append(chain)
        chain.append(node.name)
        chain_of[node.name] = chain
    return [tuple(c) for c in chains]
