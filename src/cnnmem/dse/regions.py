"""Per-axis region algebra of a fused group: which part of every tensor each tile needs.

The region a tile needs of a tensor is a box: a product of one interval per axis. The axes are
the tile loops: ``n`` (image), ``k`` (output-channel tile of the anchor), ``c`` (input-channel
tile of the anchor), ``y`` (row tile), ``x`` (column tile). Every tensor's extent along one data
dimension depends on exactly one loop axis (its channel range on ``k``, or on ``c`` for the
input of an input-channel-tiled convolution; rows on ``y``; columns on ``x``; the image on
``n``); along the other loop axes its "interval" is the constant dummy ``[0, 1)``. Because the
tile loops visit the full product of their indices, every sum, maximum or coverage over tiles
factorises into per-axis quantities (:class:`AxisStats`), which is what makes the cost model
analytical.

Receptive-field propagation (Alwani et al., "Fused-layer CNN accelerators", MICRO 2016): the
anchor's tile is ``[i*T, min((i+1)*T, extent))`` on each axis; walking the group's layers
backwards, each layer maps the interval of its output to the interval of each input:

- window (CONV/POOL) on rows: output rows ``[a, b)`` read input rows ``o*s - p + j*d`` for
  ``o`` in ``[a, b)`` and taps ``j < f``; the needed interval is the tight hull of those inside
  ``[0, H)`` (taps in the padding are not fetched);
- CONV channels: output channels ``[a, b)`` read the input channels of the groups they belong
  to: ``[floor(a / (K/g)) * C/g, (floor((b-1) / (K/g)) + 1) * C/g)``;
- channel-wise kinds keep channels, ELEMENTWISE keeps positions (index 0 on broadcast axes),
  CONCAT shifts channels by the input's offset and clips, CHANNEL_REDUCE needs all rows and
  columns, DENSE / GLOBAL need the whole input.

A tensor read by several layers of the group needs, per axis, the hull of the intervals its
readers need (per-axis hulls: the region is a box, as a DMA engine would fetch it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnmem.dse.workload import Layer, LayerGroup, LayerKind, TensorShape

AXES = ("n", "k", "c", "y", "x")
"""Loop axes: image, output-channel tile, input-channel tile, row tile, column tile."""

ItemKey = tuple[str, str]
"""``("act", tensor)`` for activations; ``("w" | "b" | "o", layer)`` for a layer's main weight,
bias and other constants."""

IntArray = np.ndarray
Intervals = tuple[IntArray, IntArray]


@dataclass(frozen=True, slots=True)
class AxisStats:
    """Sums over the tiles of one loop axis of an item's interval ``I(m)``, ``m < count``.

    Every field is an int64 array (0-d for one tile size, 1-d over several tile sizes).

    Attributes:
        count: number of tiles along the axis.
        total: ``sum_m |I(m)|``.
        maximum: ``max_m |I(m)|``.
        adjacent_overlap: ``sum_{m>=1} |I(m-1) & I(m)|`` (what CACHE keeps between tiles).
        wrap_overlap: ``|I(count-1) & I(0)|`` (what survives when an outer loop advances and
            this loop restarts).
        adjacent_identical: ``sum_{m>=1} [I(m-1) == I(m)] * |I(m)|`` (what RECOMPUTE keeps).
        wrap_identical: ``[I(count-1) == I(0)] * |I(0)|``.
        covers: ``union_m I(m) == [0, extent)`` (bool array).
    """

    count: IntArray
    total: IntArray
    maximum: IntArray
    adjacent_overlap: IntArray
    wrap_overlap: IntArray
    adjacent_identical: IntArray
    wrap_identical: IntArray
    covers: IntArray


STAT_FIELDS = ("count", "total", "maximum", "adjacent_overlap", "wrap_overlap",
               "adjacent_identical", "wrap_identical", "covers")
"""Field names of :class:`AxisStats`, in order."""


def tile_intervals(extent: int, tile: int) -> Intervals:
    """The anchor's tiles ``[i*T, min((i+1)*T, extent))`` as ``(lo, hi)`` arrays."""
    lo = np.arange(0, extent, tile, dtype=np.int64)
    return lo, np.minimum(lo + tile, extent)


def _empty_like(lo: IntArray, hi: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    empty = hi <= lo
    return empty, np.where(empty, 0, lo), np.where(empty, 0, hi)


def window_span(lo: IntArray, hi: IntArray, *, stride: int, pad: int, dilation: int,
                kernel: int, size: int) -> Intervals:
    """Tight hull of the input positions ``o*stride - pad + j*dilation`` inside ``[0, size)``
    for outputs ``o`` in ``[lo, hi)`` and taps ``j < kernel`` (vectorised over intervals).

    For each tap ``j`` the smallest valid position comes from the smallest ``o >= lo`` with
    ``o*s + off >= 0`` (``off = j*d - p``), the largest from the largest ``o < hi`` with
    ``o*s + off <= size - 1``; the hull takes the extremes over taps. Empty if no tap lands
    inside the input.
    """
    best_lo = np.full(lo.shape, np.iinfo(np.int64).max, dtype=np.int64)
    best_hi = np.full(lo.shape, -1, dtype=np.int64)
    for j in range(kernel):
        off = j * dilation - pad
        o_min = np.maximum(lo, -((off) // stride))  # ceil(-off / s) = -floor(off / s)
        v_min = o_min * stride + off
        ok = (o_min < hi) & (v_min < size)
        best_lo = np.where(ok, np.minimum(best_lo, v_min), best_lo)
        o_max = np.minimum(hi - 1, (size - 1 - off) // stride)
        v_max = o_max * stride + off
        ok = (o_max >= lo) & (v_max >= 0)
        best_hi = np.where(ok, np.maximum(best_hi, v_max + 1), best_hi)
    valid = (best_hi > 0) & (best_lo < size) & (hi > lo)
    return np.where(valid, best_lo, 0), np.where(valid, best_hi, 0)


def _hull(a: Intervals | None, b: Intervals) -> Intervals:
    if a is None:
        return b
    ea, la, ha = _empty_like(*a)
    eb, lb, hb = _empty_like(*b)
    lo = np.where(ea, lb, np.where(eb, la, np.minimum(la, lb)))
    hi = np.where(ea, hb, np.where(eb, ha, np.maximum(ha, hb)))
    return lo, hi


def _full(o: Intervals, size: int) -> Intervals:
    """``[0, size)`` where the output interval is non-empty, else empty."""
    nonempty = o[1] > o[0]
    return np.zeros_like(o[0]), np.where(nonempty, size, 0).astype(np.int64)


def _same(o: Intervals, in_size: int, out_size: int) -> Intervals:
    """Element-wise mapping: same interval, or ``[0, 1)`` on a broadcast axis."""
    if in_size == out_size:
        return o
    nonempty = o[1] > o[0]
    return np.zeros_like(o[0]), nonempty.astype(np.int64)


def _dummy(count: int) -> Intervals:
    return np.zeros(count, dtype=np.int64), np.ones(count, dtype=np.int64)


def _const(count: int, size: int) -> Intervals:
    return np.zeros(count, dtype=np.int64), np.full(count, size, dtype=np.int64)


def input_interval(layer: Layer, x: TensorShape, out: TensorShape, axis: str,
                   o: Intervals) -> Intervals:
    """The interval of input ``x`` that ``layer`` needs for output interval ``o`` on ``axis``
    (``n``, ``k`` = channels, ``y`` = rows, ``x`` = columns); the module docstring gives the
    rules."""
    kind = layer.kind
    if kind in (LayerKind.DENSE, LayerKind.GLOBAL, LayerKind.OPAQUE):
        size = {"n": x.n, "k": x.c, "y": x.h, "x": x.w}[axis]
        return _full(o, size)
    if axis == "n":
        return _same(o, x.n, out.n)
    if axis in ("y", "x"):
        size = x.h if axis == "y" else x.w
        if kind in (LayerKind.CONV, LayerKind.POOL):
            a = 0 if axis == "y" else 1
            return window_span(o[0], o[1], stride=layer.stride[a], pad=layer.pad[a],
                               dilation=layer.dilation[a],
                               kernel=layer.fy if axis == "y" else layer.fx, size=size)
        if kind is LayerKind.CHANNEL_REDUCE:
            return _full(o, size)
        return _same(o, size, out.h if axis == "y" else out.w)
    # channels
    if kind is LayerKind.CONV:
        kg, cg = layer.k // layer.groups, layer.c // layer.groups
        empty = o[1] <= o[0]
        g_lo = o[0] // kg
        g_hi = (o[1] - 1) // kg + 1
        return np.where(empty, 0, g_lo * cg), np.where(empty, 0, g_hi * cg)
    if kind is LayerKind.CONCAT:
        off = layer.concat_offsets[layer.inputs.index(x.name)]
        lo = np.clip(o[0] - off, 0, x.c)
        hi = np.clip(o[1] - off, 0, x.c)
        empty = hi <= lo
        return np.where(empty, 0, lo), np.where(empty, 0, hi)
    return _same(o, x.c, out.c)  # POOL, CHANNEL_REDUCE, ELEMENTWISE


def _anchor_axis(group: LayerGroup, axis: str, tile: int) -> Intervals:
    a = group.anchor
    extent = {"n": a.n, "k": a.k, "c": a.c, "y": a.oy, "x": a.ox}[axis]
    return tile_intervals(extent, tile)


def propagate(group: LayerGroup, axis: str, tile: int, c_tiled: bool) -> dict[ItemKey, Intervals]:
    """Intervals along ``axis`` of every item of ``group`` for the anchor tiles of size
    ``tile`` on that axis (``c_tiled``: the anchor's input channels are tiled, on axis ``c``).

    Activations: the anchor output's intervals are the tiles; other tensors get the per-axis
    hull of what their readers in the group need. Weights: the anchor's main weight and bias
    follow its output-channel tiles (axis ``k``) and, if ``c_tiled``, its input-channel tiles
    (axis ``c``); everything else is constant.
    """
    anchor = group.anchor
    tiles = _anchor_axis(group, axis, tile)
    count = len(tiles[0])
    shapes = {t.name: t for t in group.tensors}
    acts: dict[str, Intervals | None] = dict.fromkeys(shapes)
    if axis == "c":
        for name in acts:
            acts[name] = _dummy(count)
        if c_tiled:
            acts[anchor.inputs[0]] = tiles
    else:
        acts[anchor.output] = tiles
        for layer in reversed(group.layers):
            o = acts[layer.output]
            assert o is not None, f"{layer.name} does not feed the anchor"
            out = shapes[layer.output]
            for name in layer.inputs:
                if axis == "k" and c_tiled and layer is anchor:
                    need = _dummy(count)
                else:
                    need = input_interval(layer, shapes[name], out, axis, o)
                acts[name] = _hull(acts[name], need)
    items: dict[ItemKey, Intervals] = {}
    for name, iv in acts.items():
        assert iv is not None
        items[("act", name)] = iv
    for layer in group.layers:
        is_anchor = layer is anchor
        if axis == "k":
            w_iv = tiles if is_anchor else _const(count, layer.k)
        elif axis == "c" and is_anchor and c_tiled:
            w_iv = tiles
        else:
            w_iv = _dummy(count)
        if layer.kc_weight_elements:
            items[("w", layer.name)] = w_iv
        if layer.bias_elements:
            items[("b", layer.name)] = w_iv if axis == "k" else _dummy(count)
        if layer.other_weight_elements:
            items[("o", layer.name)] = _dummy(count)
    return items


def _stats(lo: IntArray, hi: IntArray, extents: IntArray) -> IntArray:
    """The :class:`AxisStats` fields of every row (item) of ``lo``/``hi`` (items x tiles), as
    an ``8 x items`` array."""
    size = hi - lo
    items, count = size.shape
    out = np.zeros((len(STAT_FIELDS), items), dtype=np.int64)
    out[0] = count
    out[1] = size.sum(axis=1)
    out[2] = size.max(axis=1)
    if count > 1:
        inter = np.minimum(hi[:, :-1], hi[:, 1:]) - np.maximum(lo[:, :-1], lo[:, 1:])
        out[3] = np.maximum(inter, 0).sum(axis=1)
        same = (lo[:, :-1] == lo[:, 1:]) & (hi[:, :-1] == hi[:, 1:])
        out[5] = (size[:, 1:] * same).sum(axis=1)
    out[4] = np.maximum(np.minimum(hi[:, -1], hi[:, 0]) - np.maximum(lo[:, -1], lo[:, 0]), 0)
    out[6] = np.where((lo[:, -1] == lo[:, 0]) & (hi[:, -1] == hi[:, 0]), size[:, 0], 0)
    # coverage: sort the non-empty intervals by start; no gap between the running reach and
    # the next start; starts at 0 and reaches the extent
    big = np.iinfo(np.int64).max
    nonempty = size > 0
    lo_k = np.where(nonempty, lo, big)
    hi_k = np.where(nonempty, hi, -1)
    order = np.argsort(lo_k, axis=1, kind="stable")
    lo_s = np.take_along_axis(lo_k, order, axis=1)
    hi_s = np.take_along_axis(hi_k, order, axis=1)
    reach = np.maximum.accumulate(hi_s, axis=1)
    no_gap = ((lo_s[:, 1:] <= reach[:, :-1]) | (lo_s[:, 1:] == big)).all(axis=1)
    out[7] = nonempty.any(axis=1) & (lo_s[:, 0] == 0) & (reach[:, -1] >= extents) & no_gap
    return out


def _extent(group: LayerGroup, key: ItemKey, axis: str) -> int:
    if key[0] != "act" or axis == "c":
        return 1  # coverage is only asked of activations on their real axes
    t = group.tensor(key[1])
    return {"n": t.n, "k": t.c, "y": t.h, "x": t.w}[axis]


def item_keys(group: LayerGroup) -> tuple[ItemKey, ...]:
    """Every item of ``group`` in a fixed order: its activation tensors (group order), then
    each layer's main weight, bias and other constants (those it has)."""
    keys: list[ItemKey] = [("act", t.name) for t in group.tensors]
    for layer in group.layers:
        if layer.kc_weight_elements:
            keys.append(("w", layer.name))
        if layer.bias_elements:
            keys.append(("b", layer.name))
        if layer.other_weight_elements:
            keys.append(("o", layer.name))
    return tuple(keys)


def axis_table(group: LayerGroup, axis: str, tiles: tuple[int, ...], c_tiled: bool,
               ) -> AxisStats:
    """:class:`AxisStats` of every item (rows, in :func:`item_keys` order) for every tile size
    in ``tiles`` (columns): each field is an ``items x len(tiles)`` int64 array."""
    keys = item_keys(group)
    extents = np.array([_extent(group, key, axis) for key in keys], dtype=np.int64)
    table = np.zeros((len(STAT_FIELDS), len(keys), len(tiles)), dtype=np.int64)
    for col, tile in enumerate(tiles):
        items = propagate(group, axis, tile, c_tiled)
        lo = np.stack([items[key][0] for key in keys])
        hi = np.stack([items[key][1] for key in keys])
        table[:, :, col] = _stats(lo, hi, extents)
    return AxisStats(*table)
