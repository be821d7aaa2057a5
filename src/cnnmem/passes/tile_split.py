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

Two-dimensional tiles (``axis="HW"``): the same propagation runs independently along W
(strides, kernels, left/right pads), since every supported layer maps a box of its output to
a box of its input. Tile ``(t, u)`` computes row band ``t`` x column band ``u``; the column
tiles of a row band are joined by a Concat along W, and the bands by the Concat along H. A
layer computing ``R = sum_t rows_t`` row-tile rows and ``C = sum_u cols_u`` column-tile columns
recomputes ``macs_per_element * (R * C - H_out * W_out)`` MACs.

``ceil_mode`` pooling: tile layers keep the layer's ``ceil_mode``. Along H it changes nothing
for a tile, whose rows plus pads span whole windows:
``ceil((hi - lo - k_eff) / s) = (hi - lo - k_eff) / s``, and the last window starts inside the
slice. The one exception is the last tile of a ``ceil_mode`` pool whose last window runs past
the end padding (``hi > H_in + p_bottom``): for ``AveragePool`` with ``count_include_pad = 1``
the overflow cells must stay uncounted (the ONNX / onnxruntime rule), so that tile's bottom pad
is clipped to ``p_bottom`` and ``ceil_mode`` yields the last row (the overflow is below one
stride). MaxPool and ``count_include_pad = 0`` ignore padding cells, so the exact pad is kept.
The same holds along W for column tiles (right pad clipped to ``p_right``).
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
AXES = ("H", "HW")
"""Tiling axes: row bands, or row bands x column bands."""
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


def row_local(node: Node, axis: int = 2) -> bool:
    """True if each output row of ``node`` depends only on the same row of its activation
    inputs: BatchNormalization, activations, element-wise ops whose constant operands do not
    vary along H (their H extent, axis -2 after right-aligned broadcasting, is 1), and Concat
    along C. ``axis=3``: the same for columns (constants' W extent, axis -1, is 1)."""
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
    back = 4 - axis  # 2 for H (axis -2), 1 for W (axis -1)
    return all(len(c.shape) < back or c.shape[-back] == 1 for c in node.constant_inputs)


def tileable_op(node: Node, axis: str = "H") -> bool:
    """True if ``node`` may be part of a segment tiled along ``axis`` (``"H"``, or ``"HW"``
    for two-dimensional tiles); op and shape checks only.

    Window ops: 2-D Conv / MaxPool / AveragePool with one 4-D activation input (operand 0) and
    non-negative pads smaller than the dilated kernel (along each tiled axis). Row-local ops
    (:func:`row_local`, along each tiled axis): every activation input is 4-D with the output's
    H (and W).
    """
    if axis not in AXES:
        raise ConfigError(f"tile split: axis {axis!r} is not supported; use one of {AXES}")
    dims = (2, 3) if axis == "HW" else (2,)
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
        return all(g.pads[d - 2] < g.effective_kernel[d - 2] and
                   g.pads[d] < g.effective_kernel[d - 2] for d in dims)
    return all(row_local(node, d) and all(x.shape[d] == out.shape[d] for x in xs)
               for d in dims)


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


def segment_error(graph: Graph, nodes: Sequence[Node], axis: str = "H") -> str | None:
    """Why ``nodes`` (in schedule order) is not a valid segment, or ``None`` if it is.

    A valid segment: every node passes :func:`tileable_op`; every tensor it writes is read
    inside it (and is not a graph output), except the output of its last node, which is read
    after it or is a graph output.
    """
    inside = {id(n) for n in nodes}
    outputs = {id(t) for t in graph.outputs}
    for k, node in enumerate(nodes):
        if not tileable_op(node, axis):
            return (f"node {node.name!r} ({node.op_type}) cannot be tiled along {axis}: a "
                    "segment "
                    "holds 2-D Conv / MaxPool / AveragePool (non-negative pads smaller than the "
                    "kernel) and row-local ops (BatchNormalization, activations, element-wise "
                    f"ops with {axis}-invariant constants, Concat along C) on 4-D tensors")
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


def _segment(graph: Graph, segment: Sequence[str], axis: str = "H") -> list[Node]:
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
    why = segment_error(graph, nodes, axis)
    if why is not None:
        raise PreconditionError(f"tile split: {why}")
    return nodes


def _window_rows(node: Node, g: WindowGeometry, rows: Rows, in_h: int, dim: int = 0
                 ) -> tuple[Rows, tuple[int, int]]:
    """Input rows and tile pads (top, bottom) for output rows ``rows`` of window op ``node``
    (geometry ``g``); ``dim=1``: columns and (left, right) pads instead."""
    s, k = g.stride[dim], g.effective_kernel[dim]
    p_top, p_bottom = g.pads[dim], g.pads[dim + 2]
    a, b = rows
    lo = a * s - p_top
    hi = (b - 1) * s - p_top + k
    r0, r1 = max(lo, 0), min(hi, in_h)
    top, bottom = r0 - lo, hi - r1
    if bottom > p_bottom and node.op_type == "AveragePool" and \
            node.attr_int("count_include_pad", 0):
        bottom = p_bottom  # ceil-mode overflow cells are not counted (module docstring)
    if r1 <= r0:
        what = "rows" if dim == 0 else "columns"
        raise PreconditionError(f"tile split: output {what} [{a}, {b}) of {node.name!r} read "
                                "nothing (a window lies wholly in the padding)")
    return (r0, r1), (top, bottom)


def _hull(ranges: Sequence[Rows]) -> Rows:
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def plan_tile_split(graph: Graph, segment: Sequence[str], parts: int, axis: str = "H"
                    ) -> TilePlan:
    """Row ranges of every layer and tile of ``segment`` split into ``parts`` bands of H
    (``axis="W"``: column ranges of ``parts`` bands of W; the plan's ``rows`` fields then hold
    columns).

    Pure analysis: the graph is not changed. See the module docstring for the propagation rule.

    Raises:
        PreconditionError: the segment is not valid (:func:`segment_error`).
        ConfigError: ``parts`` exceeds the segment output's height.
    """
    if axis not in ("H", "W"):
        raise ConfigError(f"tile split plan: axis {axis!r}; use 'H' or 'W'")
    nodes = _segment(graph, segment, "H" if axis == "H" else "HW")
    return _plan(nodes, parts, 0 if axis == "H" else 1)


def _plan(nodes: list[Node], parts: int, dim: int = 0) -> TilePlan:
    """:func:`plan_tile_split` for checked segment nodes in schedule order (``dim`` 0: rows,
    1: columns)."""
    y = nodes[-1].outputs[0]
    axis = 2 + dim
    out_h = y.shape[axis]
    if parts > out_h:
        what = "rows" if dim == 0 else "columns"
        raise ConfigError(f"tile split: {parts} parts for {out_h} output {what} of "
                          f"{nodes[-1].name!r}; use at most {out_h}")
    bands = balanced_ranges(out_h, parts)
    # needs[tensor name][t]: ranges its readers inside the segment need in tile t
    needs: dict[str, list[list[Rows]]] = {y.name: [[band] for band in bands]}
    tiles: dict[str, LayerTiles] = {}
    for node in reversed(nodes):
        out = node.outputs[0]
        out_rows = tuple(_hull(needs[out.name][t]) for t in range(parts))
        in_h = node.activation_inputs[0].shape[axis]
        g = node.geometry if node.op_type in WINDOW_OPS else None
        in_rows, pads = [], []
        for rows in out_rows:
            if g is not None:
                ir, pad = _window_rows(node, g, rows, in_h, dim)
            else:
                ir, pad = rows, (0, 0)
            in_rows.append(ir)
            pads.append(pad)
        for x in node.activation_inputs:
            per_tile = needs.setdefault(x.name, [[] for _ in range(parts)])
            for t in range(parts):
                per_tile[t].append(in_rows[t])
        tiles[node.name] = LayerTiles(node.name, tuple(in_rows), out_rows, tuple(pads),
                                      out.shape[axis], node_macs(node) // out.shape[axis])
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


def _with_rows(shape: tuple[int, ...], rows: Rows, cols: Rows | None = None
               ) -> tuple[int, ...]:
    width = shape[3] if cols is None else cols[1] - cols[0]
    return (shape[0], shape[1], rows[1] - rows[0], width)


def grid_recomputed_macs(rows: TilePlan, cols: TilePlan | None) -> int:
    """Extra MACs of a segment tiled into ``rows`` bands x ``cols`` bands (module docstring:
    ``sum_l macs_per_element_l * (R_l * C_l - H_l * W_l)``); ``cols=None``: rows only."""
    if cols is None:
        return rows.recomputed_macs
    total = 0
    for r, c in zip(rows.layers, cols.layers, strict=True):
        per_element = r.row_macs // c.out_height if c.out_height else 0
        computed_rows = sum(b - a for a, b in r.out_rows)
        computed_cols = sum(b - a for a, b in c.out_rows)
        total += per_element * (computed_rows * computed_cols - r.out_height * c.out_height)
    return total


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

      6. ``axis="HW"``: every row band is further split into ``col_parts`` column bands
         (tile ``(t, u)`` runs after ``(t, u - 1)``); the column tiles of a band are joined by
         ``Concat(axis W)`` (``<last layer>/band<t>.concat``) before the Concat along H.
         Slices then cut rows and columns.

    Statistics: ``tiles``, ``layers``, ``macs_before``, ``macs_after`` and ``recomputed_macs``
    (halo recomputation, ``== macs_after - macs_before``).

    Args:
        segment: node names of the segment (any order; they are taken in schedule order).
        parts: number of row bands (2 or more for ``"H"``; 1 or more for ``"HW"``).
        axis: ``"H"`` (row bands) or ``"HW"`` (row bands x column bands).
        col_parts: column bands per row band (``"HW"`` only; 2 or more).

    Raises:
        ConfigError: bad ``parts`` / ``col_parts`` or an unsupported axis.
    """

    name = "tile-split"

    def __init__(self, segment: Sequence[str], parts: int, axis: str = "H",
                 col_parts: int = 1) -> None:
        if axis not in AXES:
            raise ConfigError(f"tile split: axis {axis!r} is not supported; use one of {AXES}")
        if axis == "H" and (parts < 2 or col_parts != 1):
            raise ConfigError(f"tile split along H: parts must be >= 2 and col_parts 1, got "
                              f"{parts} and {col_parts}")
        if axis == "HW" and (parts < 1 or col_parts < 2):
            raise ConfigError(f"tile split along HW: parts must be >= 1 and col_parts >= 2, "
                              f"got {parts} and {col_parts}")
        self.segment = tuple(segment)
        self.parts = parts
        self.axis = axis
        self.col_parts = col_parts

    def describe(self) -> str:
        """``tile-split{layers=a..b,parts=n,axis=H}`` (``parts=RxC`` for ``HW``)."""
        span = self.segment[0] if len(self.segment) == 1 else \
            f"{self.segment[0]}..{self.segment[-1]}"
        parts = str(self.parts) if self.axis == "H" else f"{self.parts}x{self.col_parts}"
        return f"{self.name}{{layers={span},parts={parts},axis={self.axis}}}"

    def _plans(self, graph: Graph) -> tuple[list[Node], TilePlan, TilePlan | None]:
        nodes = _segment(graph, self.segment, self.axis)
        try:
            rows = _plan(nodes, self.parts, 0)
            cols = _plan(nodes, self.col_parts, 1) if self.axis == "HW" else None
        except ConfigError as e:
            raise PreconditionError(str(e)) from e
        return nodes, rows, cols

    def requires(self, graph: Graph) -> None:
        """The segment is valid and the tile counts fit its output height (and width)."""
        self._plans(graph)

    def ensures(self, graph: Graph) -> None:
        """The rewritten graph verifies (topological order, shapes)."""
        try:
            verify(graph)
        except Exception as e:
            raise PostconditionError(f"tile split of {self.describe()} broke the graph: {e}"
                                     ) from e

    def call(self, graph: Graph) -> PassResult:
        """Rewrite the segment in place."""
        nodes, plan, cols = self._plans(graph)
        recomputed = grid_recomputed_macs(plan, cols)
        macs_before = sum(node_macs(n) for n in graph.nodes)
        segment_macs = sum(node_macs(n) for n in nodes)
        y = nodes[-1].outputs[0]
        names = {n.name for n in graph.nodes}
        index = graph.index_of(nodes[-1])
        geometry = {n.name: n.geometry for n in nodes}
        tile_outputs: list[Tensor] = []
        tile_macs = 0
        for t in range(self.parts):
            band: list[Tensor] = []
            for u in range(self.col_parts):
                index, out, macs = _emit_tile(graph, nodes, plan, cols, (t, u), names, index,
                                              geometry)
                band.append(out)
                tile_macs += macs
            if len(band) == 1:
                tile_outputs.append(band[0])
                continue
            joined = Tensor(graph.unique_name(f"{y.name}/band{t}"),
                            _with_rows(y.shape, plan.layers[-1].out_rows[t]), y.dtype,
                            TensorKind.ACTIVATION, quant=y.quant)
            graph.add_node(Node(fresh_name(names, f"{nodes[-1].name}/band{t}.concat"),
                                "Concat", {"axis": 3}), band, [joined], index=index)
            index += 1
            tile_outputs.append(joined)
        concat_in_place_of(graph, y, tile_outputs, 2, nodes, index,
                           f"{nodes[-1].name}/concat", names)
        graph.remove_unused_constants()
        # the MACs of the tile nodes replace those of the segment (counted by node_macs, an
        # independent check of the row-count formula)
        macs_after = macs_before - segment_macs + tile_macs
        if macs_after - macs_before != recomputed:
            raise PostconditionError(
                f"tile split {self.describe()}: MACs grew by {macs_after - macs_before}, but "
                f"the row count gives {recomputed} recomputed MACs")
        return PassResult(graph, True, {
            "tiles": self.parts * self.col_parts, "layers": len(nodes),
            "macs_before": macs_before, "macs_after": macs_after,
            "recomputed_macs": recomputed})


def _slice_rows(graph: Graph, src: Tensor, rows: Rows, name: str, names: set[str],
                index: int, cols: Rows | None = None) -> Tensor:
    """Insert ``Slice(src, rows, axis 2)`` (and ``cols`` on axis 3 unless ``None`` or
    whole) at ``index``; return its output."""
    r0, r1 = rows
    cut = [(2, r0, r1)] if (r0, r1) != (0, src.shape[2]) else []
    if cols is not None and cols != (0, src.shape[3]):
        cut.append((3, cols[0], cols[1]))
    assert cut, "a whole-tensor slice is never inserted"
    label = "_".join(f"{'rows' if a == 2 else 'cols'}{lo}_{hi}" for a, lo, hi in cut)
    base = graph.unique_name(f"{src.name}/{label}")
    operands = [graph.add_constant(graph.unique_name(f"{base}.{what}"), (len(cut),),
                                   DType.INT64, data=np.asarray(values, np.int64))
                for what, values in (("starts", [c[1] for c in cut]),
                                     ("ends", [c[2] for c in cut]),
                                     ("axes", [c[0] for c in cut]))]
    out = Tensor(base, _with_rows(src.shape, rows, cols), src.dtype, TensorKind.ACTIVATION,
                 quant=src.quant)
    graph.add_node(Node(fresh_name(names, name), "Slice"), [src, *operands], [out],
                   index=index)
    return out


def _emit_tile(graph: Graph, nodes: list[Node], plan: TilePlan, cols: TilePlan | None,
               tile: tuple[int, int], names: set[str], index: int,
               geometry: Mapping[str, WindowGeometry | None]) -> tuple[int, Tensor, int]:
    """Insert tile ``tile = (t, u)`` (row band ``t``, column band ``u`` of ``cols``, or the
    whole width when ``cols`` is ``None``: its Slices and layer copies) at ``index``; return
    the next index, the tile's output and the MACs of its layer copies."""
    t, u = tile
    macs = 0
    layer_of = {layer.name: layer for layer in plan.layers}
    col_of = {layer.name: layer for layer in cols.layers} if cols is not None else {}
    suffix = f"tile{t}" if cols is None else f"tile{t}_{u}"
    Box = tuple[Rows, Rows]
    # tile tensors: original tensor name -> (tile tensor, its rows and columns in the original)
    held: dict[str, tuple[Tensor, Box]] = {}
    sliced: dict[tuple[str, Box], Tensor] = {}
    current: Tensor | None = None
    for node in nodes:
        layer = layer_of[node.name]
        width = node.activation_inputs[0].shape[3]
        need = (layer.in_rows[t], col_of[node.name].in_rows[u] if cols is not None
                else (0, width))
        replace: dict[str, Tensor] = {}
        for x in node.activation_inputs:
            if (x.name, need) in sliced:
                replace[x.name] = sliced[(x.name, need)]
                continue
            if x.name in held:
                src, (rows_h, cols_h) = held[x.name]
                if (rows_h, cols_h) == need:
                    replace[x.name] = src
                    continue
                local_rows = (need[0][0] - rows_h[0], need[0][1] - rows_h[0])
                local_cols = (need[1][0] - cols_h[0], need[1][1] - cols_h[0])
            else:
                src, (local_rows, local_cols) = x, need
                if need == ((0, x.shape[2]), (0, x.shape[3])):
                    replace[x.name] = x
                    continue
            piece = _slice_rows(graph, src, local_rows, f"{node.name}/{suffix}.slice", names,
                                index, local_cols)
            index += 1
            sliced[(x.name, need)] = piece
            replace[x.name] = piece
        out = node.outputs[0]
        out_cols = col_of[node.name].out_rows[u] if cols is not None else (0, out.shape[3])
        out_shape = _with_rows(out.shape, layer.out_rows[t], out_cols)
        attrs = dict(node.attrs)
        if node.op_type in WINDOW_OPS:
            top, left, bottom, right = node.attr_ints("pads", (0, 0, 0, 0))
            top, bottom = layer.pads[t]
            if cols is not None:
                left, right = col_of[node.name].pads[u]
            attrs["pads"] = (top, left, bottom, right)
            g = geometry[node.name]
            assert g is not None
            _check_tile_shape(node, g, (top, left, bottom, right),
                              replace[node.activation_inputs[0].name].shape, out_shape)
        inputs = [replace.get(i.name, i) if i is not None else None for i in node.inputs]
        tile_out = Tensor(graph.unique_name(f"{out.name}/{suffix}"), out_shape, out.dtype,
                          TensorKind.ACTIVATION, quant=out.quant)
        copy = Node(fresh_name(names, f"{node.name}/{suffix}"), node.op_type, attrs,
                    activation=node.activation, source_op=node.source_op)
        graph.add_node(copy, inputs, [tile_out], index=index)
        macs += node_macs(copy)
        index += 1
        held[out.name] = (tile_out, (layer.out_rows[t], out_cols))
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
