"""The schedule space: how a network is split into fused groups and how each group is tiled.

A :class:`NetworkSchedule` splits the workload's layers into contiguous :class:`GroupSchedule`
ranges. Each group runs tile by tile over the output of its last layer (the anchor):

- ``tile_rows x tile_cols x tile_channels`` is the anchor output tile (Th x Tw x Tc); the last
  tile along an axis may be smaller;
- ``tile_in_channels`` (Tci) tiles the anchor's reduction over input channels (single-layer
  ungrouped convolutions only); ``None`` means the whole reduction per tile;
- ``loop_order`` orders the four tile loops, outermost first: ``k`` output-channel tiles, ``c``
  input-channel tiles, ``y`` row tiles, ``x`` column tiles (a batch loop ``n`` is always
  outermost). ``"yxkc"`` is row-major spatial with channels inner;
- ``halo`` says what happens to data that the next tile needs again (halo rows/columns of fused
  layers, and any region the next tile shares): ``CACHE`` keeps it on chip, ``RECOMPUTE``
  recomputes / reloads it unless the next tile needs exactly the same region;
- ``weights_resident``: all of the group's weights are loaded once and kept; otherwise weights
  are streamed: a weight slice is loaded when a tile needs it and kept only while the following
  tiles need it (so the anchor's output-channel slices are reloaded when the channel tile changes).

Partial sums stay on chip while consecutive tiles accumulate into the same output tile; when the
loop order leaves an output tile unfinished they are spilled to DRAM and read back (cost model).

Candidate generators (:func:`group_candidates`) yield the schedules the explorer evaluates. Tile
sizes come from tile *counts*: the size for ``n`` tiles is ``ceil(extent / n)`` (the divisor
``extent / n`` when ``n`` divides the extent): the smallest size giving that many tiles, which
dominates every other size with the same count. Counts follow a ~sqrt(2) geometric ladder, not
every integer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cnnmem.dse.workload import LayerGroup, LayerKind, Workload
from cnnmem.errors import ConfigError

LOOP_AXES = "kcyx"
"""The tile loops: output-channel tiles, input-channel tiles, row tiles, column tiles."""


class HaloPolicy(enum.Enum):
    """What happens to on-chip data the next tile needs again."""

    RECOMPUTE = "recompute"  #: dropped after each tile unless the next tile's region is the same
    CACHE = "cache"  #: the overlap with the next tile's region stays on chip


@dataclass(frozen=True, slots=True)
class GroupSchedule:
    """How one fused group of layers ``[first, stop)`` is executed (module docstring).

    Attributes:
        first: index of the group's first layer.
        stop: one past the index of its last layer (the anchor).
        tile_rows: Th, rows of the anchor output per tile.
        tile_cols: Tw, columns of the anchor output per tile.
        tile_channels: Tc, anchor output channels per tile.
        tile_in_channels: Tci, anchor input channels reduced per tile, or ``None`` for all.
        loop_order: permutation of ``"kcyx"``, outermost loop first.
        halo: :class:`HaloPolicy`.
        weights_resident: all group weights stay on chip for the whole group.
    """

    first: int
    stop: int
    tile_rows: int
    tile_cols: int
    tile_channels: int
    tile_in_channels: int | None = None
    loop_order: str = "yxkc"
    halo: HaloPolicy = HaloPolicy.CACHE
    weights_resident: bool = True

    def __post_init__(self) -> None:
        if sorted(self.loop_order) != sorted(LOOP_AXES):
            raise ConfigError(f"loop order {self.loop_order!r} must be a permutation of "
                              f"{LOOP_AXES!r}")
        for name in ("tile_rows", "tile_cols", "tile_channels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.tile_in_channels is not None and self.tile_in_channels < 1:
            raise ConfigError(f"tile_in_channels must be >= 1, got {self.tile_in_channels}")
        if not 0 <= self.first < self.stop:
            raise ConfigError(f"group range [{self.first}, {self.stop}) is empty")

    @property
    def num_layers(self) -> int:
        """Layers in the group."""
        return self.stop - self.first

    def describe(self) -> str:
        """Compact text, e.g. ``"[3,7) tile 8x64x32 yxkc cache resident"``."""
        tci = f"/ci{self.tile_in_channels}" if self.tile_in_channels is not None else ""
        weights = "resident" if self.weights_resident else "streamed"
        return (f"[{self.first},{self.stop}) tile {self.tile_rows}x{self.tile_cols}x"
                f"{self.tile_channels}{tci} {self.loop_order} {self.halo.value} {weights}")


@dataclass(frozen=True, slots=True)
class NetworkSchedule:
    """A split of the whole workload into consecutive fused groups.

    Attributes:
        groups: group schedules covering layers ``0 .. n-1`` in order without gaps.
    """

    groups: tuple[GroupSchedule, ...]

    def check(self, workload: Workload) -> None:
        """Raise ConfigError unless the groups cover the workload's layers in order and each
        range is a fusable group."""
        expected = 0
        for g in self.groups:
            if g.first != expected:
                raise ConfigError(f"schedule of {workload.name}: group {g.describe()} starts at "
                                  f"layer {g.first}, expected {expected}")
            problem = workload.group_problem(g.first, g.stop)
            if problem is not None:
                raise ConfigError(f"schedule of {workload.name}: group {g.describe()}: "
                                  f"{problem}")
            expected = g.stop
        if expected != len(workload.layers):
            raise ConfigError(f"schedule of {workload.name} covers {expected} of "
                              f"{len(workload.layers)} layers")


def anchor_extents(group: LayerGroup) -> tuple[int, int, int, int]:
    """``(OY, OX, K, C)`` of the group's anchor: the extents its tiles divide."""
    a = group.anchor
    return a.oy, a.ox, a.k, a.c


def schedule_problem(group: LayerGroup, schedule: GroupSchedule) -> str | None:
    """Why ``schedule`` does not apply to ``group`` (structure only), or ``None``.

    Checks: the layer range, tile sizes within the anchor's extents, input-channel tiling only
    on a single ungrouped convolution, and a whole-tensor tile for OPAQUE layers. (Whether every
    group output is fully written depends on the region algebra: see
    :func:`cnnmem.dse.cost.evaluate`.)
    """
    if (schedule.first, schedule.stop) != (group.first, group.stop):
        return (f"schedule range [{schedule.first}, {schedule.stop}) is not the group's "
                f"[{group.first}, {group.stop})")
    oy, ox, k, c = anchor_extents(group)
    for name, size, extent in (("tile_rows", schedule.tile_rows, oy),
                               ("tile_cols", schedule.tile_cols, ox),
                               ("tile_channels", schedule.tile_channels, k)):
        if size > extent:
            return f"{name} {size} exceeds the anchor's extent {extent}"
    anchor = group.anchor
    if schedule.tile_in_channels is not None:
        if len(group.layers) != 1 or not anchor.can_tile_input_channels:
            return ("input-channel tiling needs a single-layer group of an ungrouped "
                    "convolution")
        if schedule.tile_in_channels > c:
            return f"tile_in_channels {schedule.tile_in_channels} exceeds {c} input channels"
    if anchor.kind is LayerKind.OPAQUE and (schedule.tile_rows, schedule.tile_cols,
                                             schedule.tile_channels) != (oy, ox, k):
        return f"layer {anchor.name!r} ({anchor.op_type}) runs whole: use a {oy}x{ox}x{k} tile"
    return None


# ----------------------------------------------------------------------------- candidates
def tile_counts(extent: int) -> tuple[int, ...]:
    """Tile counts ``1, 2, 3, 4, 6, 8, 12, 16, 24, ...`` (about sqrt(2) apart) up to ``extent``,
    always including ``extent`` itself (size-1 tiles)."""
    counts = {extent}
    power = 1
    while power < extent:
        counts.add(power)
        if 3 * power // 2 < extent and power >= 2:
            counts.add(3 * power // 2)
        power *= 2
    return tuple(sorted(counts))


def tile_sizes(extent: int, *, max_count: int | None = None) -> tuple[int, ...]:
    """Distinct tile sizes ``ceil(extent / n)`` for the counts of :func:`tile_counts`, largest
    first; ``max_count`` limits the number of tiles (the smallest size)."""
    sizes: list[int] = []
    for n in tile_counts(extent):
        if max_count is not None and n > max_count:
            break
        size = -(-extent // n)
        if size not in sizes:
            sizes.append(size)
    return tuple(sorted(sizes, reverse=True))


@dataclass(frozen=True, slots=True)
class CandidateOptions:
    """Knobs of the candidate generator.

    Attributes:
        include_recompute: also yield RECOMPUTE halo schedules. In this cost model RECOMPUTE
            never beats CACHE (same buffer, no less traffic or MACs), so the search skips it
            by default; the cost model and the trace still support it.
        fused_channel_tiles: output-channel tile counts tried for multi-layer groups (tiling
            the anchor's channels there only shrinks its weight slice).
        max_channel_tiles: largest output-channel tile count for single layers (counts are
            powers of two, and the channel count itself).
        max_input_channel_tiles: largest input-channel tile count (single ungrouped convs).
        refine_templates: for this many of a group's best templates, also try the largest
            balanced tile sizes between the ladder's that fit the budget (buffer-driven).
        max_recompute: if set, drop candidates whose MACs exceed ``(1 + max_recompute)`` times
            the group's own MACs. The front trades buffer for DRAM traffic only; fusing many
            layers with small tiles can buy traffic with large halo recomputation (e.g. 5x
            MACs), which this caps.
    """

    include_recompute: bool = False
    fused_channel_tiles: tuple[int, ...] = (1, 2, 4)
    max_channel_tiles: int | None = None
    max_input_channel_tiles: int = 16
    refine_templates: int = 3
    max_recompute: float | None = None


DEFAULT_OPTIONS = CandidateOptions()
"""The candidate generator's default knobs."""


@dataclass(frozen=True, slots=True)
class TilingTemplate:
    """A group schedule without its spatial tile sizes: the explorer evaluates each template
    on a grid of (tile_rows, tile_cols) at once.

    Attributes:
        tile_channels: Tc.
        tile_in_channels: Tci or ``None``.
        loop_order: loop order (``"kcyx"`` permutation).
        halo: halo policy.
        weights_resident: weights policy.
    """

    tile_channels: int
    tile_in_channels: int | None
    loop_order: str
    halo: HaloPolicy
    weights_resident: bool

    def schedule(self, group: LayerGroup, tile_rows: int, tile_cols: int) -> GroupSchedule:
        """The group schedule with these spatial tile sizes."""
        return GroupSchedule(group.first, group.stop, tile_rows, tile_cols, self.tile_channels,
                             self.tile_in_channels, self.loop_order, self.halo,
                             self.weights_resident)


_SPATIAL_ORDERS = ("yx", "xy")


def _powers_of_two(extent: int) -> list[int]:
    """Tile counts 1, 2, 4, ... below ``extent``, and ``extent``."""
    out, n = [], 1
    while n < extent:
        out.append(n)
        n *= 2
    return [*out, extent]


def _orders(n_k: int, n_c: int, spatial_tiled: bool) -> list[str]:
    """Loop orders worth trying; orders equal up to loops of trip count 1 are yielded once.

    Without input-channel tiles: channels inner (``yxkc``: intermediates and the input tile
    are reused across output-channel tiles) and output channels outer (``kyxc``: the anchor's
    weight slice stays while the image streams). With input-channel tiles: reduction inner
    (``yxkc``, partial sums stay on chip) and weight-stationary (``kcyx``: each (k, c) weight
    slice is loaded once, partial sums spill to DRAM). Each with row-major and column-major
    spatial order when both spatial axes are tiled.
    """
    out: list[str] = []
    spatial = _SPATIAL_ORDERS if spatial_tiled else _SPATIAL_ORDERS[:1]
    for sp in spatial:
        out.append(f"{sp}kc")
        if n_c > 1:
            out.append(f"kc{sp}")
        elif n_k > 1:
            out.append(f"k{sp}c")
    return out


def templates(group: LayerGroup, *, weights_in_separate_memory: bool,
              options: CandidateOptions = DEFAULT_OPTIONS) -> Iterator[TilingTemplate]:
    """Tiling templates for ``group`` in a fixed, deterministic order.

    Output-channel tiles: 1, 2, 4... tiles for single layers (down to 1 channel),
    ``options.fused_channel_tiles`` for fused groups. Input-channel tiles: none, and for single
    ungrouped convolutions 2, 4, ... ``options.max_input_channel_tiles`` tiles. Loop orders
    from :func:`_orders`.
    Weights resident and streamed (only resident when weights are in a separate memory, or
    when no weight slice changes between tiles).
    """
    anchor = group.anchor
    if anchor.kind is LayerKind.OPAQUE:
        yield TilingTemplate(anchor.k, None, "yxkc", HaloPolicy.CACHE, True)
        return
    if len(group.layers) == 1:
        k_counts = [n for n in _powers_of_two(anchor.k)
                    if options.max_channel_tiles is None or n <= options.max_channel_tiles]
    else:
        # a count above K means one channel per tile (K = 3 with counts (1, 2, 4): 3, 2, 1
        # channels); dropping it instead lost the per-channel tiles (exhaustive search)
        k_counts = sorted({min(n, anchor.k) for n in options.fused_channel_tiles})
    tk_sizes = sorted({-(-anchor.k // n) for n in k_counts}, reverse=True)
    tci_sizes: list[int | None] = [None]
    if len(group.layers) == 1 and anchor.can_tile_input_channels:
        tci_sizes += sorted({-(-anchor.c // n) for n in _powers_of_two(anchor.c)
                             if 2 <= n <= options.max_input_channel_tiles}, reverse=True)
    halos = [HaloPolicy.CACHE, HaloPolicy.RECOMPUTE] if options.include_recompute else \
        [HaloPolicy.CACHE]
    spatial_tiled = anchor.oy > 1 or anchor.ox > 1
    for tc in tk_sizes:
        n_k = -(-anchor.k // tc)
        for tci in tci_sizes:
            n_c = 1 if tci is None else -(-anchor.c // tci)
            sliced = (n_k > 1 or n_c > 1) and not weights_in_separate_memory
            for order in _orders(n_k, n_c, spatial_tiled):
                for halo in halos:
                    yield TilingTemplate(tc, tci, order, halo, True)
                    if sliced:
                        yield TilingTemplate(tc, tci, order, halo, False)


def group_candidates(group: LayerGroup, *, weights_in_separate_memory: bool,
                     options: CandidateOptions = DEFAULT_OPTIONS,
                     ) -> Iterator[GroupSchedule]:
    """Every candidate schedule of ``group``: :func:`templates` x row sizes x column sizes
    (:func:`tile_sizes`). Deterministic order."""
    oy, ox, _, _ = anchor_extents(group)
    rows: Sequence[int] = tile_sizes(oy)
    cols: Sequence[int] = tile_sizes(ox)
    if group.anchor.kind is LayerKind.OPAQUE:
        rows, cols = (oy,), (ox,)
    for template in templates(group, weights_in_separate_memory=weights_in_separate_memory,
                              options=options):
        for th in rows:
            for tw in cols:
                yield template.schedule(group, th, tw)


def whole_tile_schedule(group: LayerGroup) -> GroupSchedule:
    """The untiled schedule: one tile holding the anchor's whole output, weights resident."""
    oy, ox, k, _ = anchor_extents(group)
    return GroupSchedule(group.first, group.stop, oy, ox, k)

