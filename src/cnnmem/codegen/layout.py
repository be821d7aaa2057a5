"""On-chip layout of one fused group: every tensor / weight item, its boxes and its buffer slice.

The cost model (:mod:`cnnmem.dse.cost`) gives every item of a group its own buffer of its peak
box size ``max_t``; the group's buffer is their sum. This module places those buffers one after
another in one on-chip array and describes, for each item and each of its four data
dimensions, which tile loop drives the interval it needs (:mod:`cnnmem.dse.regions`) and the
interval tables themselves.

Every item is seen as a 4-D array ``d0 x d1 x d2 x d3`` (row-major in DRAM):

- activation tensor ``n x c x h x w``: driven by the loops ``n``, ``k`` (``c`` for the input of
  an input-channel-tiled anchor), ``y``, ``x``;
- main weight ``1 x K x C/g x (FY*FX)``: ``K`` follows ``k`` and ``C/g`` follows ``c`` for the
  anchor's streamed weight, everything else is constant;
- bias ``1 x 1 x 1 x K`` (``K`` follows ``k`` for the anchor's streamed bias);
- other constants ``1 x 1 x 1 x E``: constant.

# NOTE: modular (circular) addressing. An item's slice has ``E_0 x E_1 x E_2 x E_3`` elements,
# ``E_d`` the largest interval length along dimension ``d`` over all tiles; their product is the
# model's ``max_t`` (the per-axis maxima factorise, :mod:`cnnmem.dse.regions`). Element
# ``(i0, i1, i2, i3)`` lives at ``(i0 mod E_0, ..., i3 mod E_3)``. Any box fits without two of its
# elements sharing a slot, so elements kept from the previous tile (a sub-box of the new box)
# never move, and newly loaded or computed elements never overwrite kept ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from cnnmem.dse.regions import AXES, Intervals, propagate
from cnnmem.dse.space import GroupSchedule
from cnnmem.dse.workload import LayerGroup

Table = tuple[tuple[int, ...], tuple[int, ...]]
"""``(lo, hi)`` per tile index of the driving loop (half-open intervals)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One on-chip buffer of a group.

    Attributes:
        key: ``("act", tensor)``, ``("w" | "b" | "o", layer)``, or ``("out", tensor)`` for the
            anchor's output tile (``("psum", tensor)`` when it holds partial sums).
        dims: the item's full 4-D dimensions (its DRAM array).
        axes: per dimension, the tile loop that drives its interval, or ``None`` (constant
            ``[0, dims[d])``).
        tables: per dimension, the interval table over the driving loop's tile indices (``None``
            for constant dimensions).
        extents: modular extents ``E_d`` (largest interval length per dimension).
        offset: first BYTE of the item's slice in the on-chip array.
        element_bytes: bytes per element (its C type's size).
    """

    key: tuple[str, str]
    dims: tuple[int, int, int, int]
    axes: tuple[str | None, ...]
    tables: tuple[Table | None, ...]
    extents: tuple[int, int, int, int]
    offset: int
    element_bytes: int = 4

    @property
    def size(self) -> int:
        """Elements of the slice: ``prod(extents)`` (the model's ``max_t``)."""
        return math.prod(self.extents)

    @property
    def nbytes(self) -> int:
        """Bytes of the slice: ``size * element_bytes``."""
        return self.size * self.element_bytes


@dataclass(frozen=True, slots=True)
class GroupLayout:
    """Items of a group in on-chip order, with the tile loop trip counts.

    Attributes:
        items: external inputs, intermediates (group order), the anchor's output tile, then
            weights (layer order: main weight, bias, other constants).
        counts: trip count of every loop axis ``n k c y x``.
        c_tiled: the anchor reduces over input-channel tiles (partial sums).
        c_table: the anchor's input-channel tiles (``c`` loop), ``(lo, hi)``.
    """

    items: tuple[Item, ...]
    counts: dict[str, int]
    c_tiled: bool
    c_table: Table

    @property
    def total(self) -> int:
        """Elements of the group's on-chip array: the sum of the slices."""
        return sum(item.size for item in self.items)

    @property
    def nbytes(self) -> int:
        """Bytes of the group's on-chip array: the sum of the slices' bytes."""
        return sum(item.nbytes for item in self.items)

    def item(self, key: tuple[str, str]) -> Item:
        """The item with ``key``.

        Raises:
            KeyError: no such item.
        """
        for it in self.items:
            if it.key == key:
                return it
        raise KeyError(key)


def _table(iv: Intervals) -> Table:
    return tuple(int(v) for v in iv[0]), tuple(int(v) for v in iv[1])


def group_layout(group: LayerGroup, schedule: GroupSchedule, offset: int = 0,
                 element_bytes: Mapping[str, int] | None = None) -> GroupLayout:
    """The on-chip layout of ``group`` under ``schedule`` (module docstring).

    ``element_bytes`` maps an item kind (``act out psum w b o``) to its element size (default 4
    for all); offsets are in bytes, slices placed one after another without padding.

    Intervals come from :func:`cnnmem.dse.regions.propagate`, the same algebra as the cost
    model, so that loads, computations and buffer sizes follow it exactly.
    """
    anchor = group.anchor
    c_tiled = schedule.tile_in_channels is not None
    sizes = {"n": 1, "k": schedule.tile_channels,
             "c": schedule.tile_in_channels if schedule.tile_in_channels is not None
             else anchor.c, "y": schedule.tile_rows, "x": schedule.tile_cols}
    per_axis = {a: propagate(group, a, sizes[a], c_tiled) for a in AXES}
    counts = {a: len(next(iter(per_axis[a].values()))[0]) for a in AXES}
    resident = schedule.weights_resident

    def make(key: tuple[str, str], dims: tuple[int, int, int, int],
             axes: tuple[str | None, ...], source: tuple[str, str]) -> Item:
        tables: list[Table | None] = []
        extents: list[int] = []
        for d, axis in enumerate(axes):
            if axis is None:
                tables.append(None)
                extents.append(dims[d])
            else:
                table = _table(per_axis[axis][source])
                tables.append(table)
                extents.append(max(h - lo for lo, h in zip(*table, strict=True)))
        return Item(key, dims, axes, tuple(tables),
                    (extents[0], extents[1], extents[2], extents[3]), 0)

    items: list[Item] = []
    held = [*group.external_inputs, *group.internal_tensors]
    for name in held:
        t = group.tensor(name)
        c_axis = "c" if c_tiled and name == anchor.inputs[0] else "k"
        items.append(make(("act", name), t.dims, ("n", c_axis, "y", "x"), ("act", name)))
    out = group.tensor(anchor.output)
    items.append(make(("psum" if c_tiled else "out", anchor.output), out.dims,
                      ("n", "k", "y", "x"), ("act", anchor.output)))
    for layer in group.layers:
        streamed = layer is anchor and not resident
        if layer.kc_weight_elements:
            dims = (1, layer.k, layer.in_channels_per_group, layer.kc_weight_elements)
            axes = (None, "k" if streamed else None,
                    "c" if streamed and c_tiled else None, None)
            items.append(make(("w", layer.name), dims, axes, ("w", layer.name)))
        if layer.bias_elements:
            items.append(make(("b", layer.name), (1, 1, 1, layer.k),
                              (None, None, None, "k" if streamed else None), ("b", layer.name)))
        if layer.other_weight_elements:
            items.append(make(("o", layer.name), (1, 1, 1, layer.other_weight_elements),
                              (None, None, None, None), ("o", layer.name)))
    placed: list[Item] = []
    for it in items:
        es = 4 if element_bytes is None else element_bytes[it.key[0]]
        placed.append(Item(it.key, it.dims, it.axes, it.tables, it.extents, offset, es))
        offset += it.size * es
    c_table = _table(per_axis["c"][("act", anchor.inputs[0])]) if c_tiled else \
        ((0,), (anchor.c,))
    return GroupLayout(tuple(placed), counts, c_tiled, c_table)
