"""Dataflow scenarios S1..S5 of one layer, each a family of single-layer group schedules.

Every scenario is a well-defined family of :class:`~cnnmem.dse.space.GroupSchedule` objects for
the one-layer group ``[l, l+1)``, costed by the DSE's own model
(:func:`cnnmem.dse.cost.evaluate` / :meth:`~cnnmem.dse.cost.GroupModel.evaluate_tiles`; no
second cost model). Notation for a layer: input tensor(s) ``X`` (``C x H x W``), output ``Y``
(``K x OY x OX``), kernel ``FY x FX``, weights ``W`` (every constant: kernel, bias, other),
element sizes ``a`` (activation), ``w`` (weight), ``p`` (partial sum) bytes. Every scenario
writes ``Y`` to DRAM exactly once; they differ in what stays on chip and how often ``X`` and
``W`` cross the DRAM interface.

S1 - everything on chip, layer by layer
    One tile: the whole layer. On chip ``a*|X| + a*|Y| + w*|W|``; off chip ``X`` and ``W``
    read once, ``Y`` written once: ``a*|X| + w*|W| + a*|Y|`` (the layer-by-layer traffic).
    Family: that single schedule.
S2 - weights streamed, activations resident
    Whole spatial extent, output channels in tiles of ``Tc`` (``Tc`` over the DSE's tile
    ladder :func:`~cnnmem.dse.space.tile_sizes` of ``K``), weights streamed slice by slice
    (``weights_resident=False``). On chip: the input region an output-channel tile needs (the
    whole ``X`` for a dense convolution; only the matching channels for depthwise / pooling /
    element-wise layers) + one ``Tc x OY x OX`` output tile + one weight slice
    ``Tc x C/g x FY x FX`` (+ ``Tc`` biases). Off chip: same as S1 (each input element, weight
    slice and output tile crosses once). Minimum at ``Tc = 1``.
S3 - weights resident, activations streamed
    All weights loaded once and kept; the output computed in spatial tiles ``Th x Tw`` with all
    ``K`` channels (``Th``, ``Tw`` over the tile ladders of ``OY``, ``OX``), row-major, cached
    halos (the overlap with the next tile stays on chip). On chip ``w*|W|`` + the input window
    of one tile + one output tile. Off chip: ``W`` once, ``Y`` once, ``X`` once plus the halo
    rows re-read when the next tile row starts (cached halos only bridge consecutive tiles).
    Minimum: ``1 x 1`` output tiles (one ``C x FY x FX`` input window); its traffic re-reads
    each input row about ``FY / stride`` times (with a stride larger than the kernel, such
    tiles also skip input columns, so S3 can move less than S4).
S4 - line buffer
    Weights resident; one output row (``Th = 1``, ``Tw = OX``, all ``K`` channels) per tile,
    cached halos. On chip ``w*|W|`` + ``(FY - 1) * dy + 1`` input rows (all ``C`` channels, full
    width) + one output row: ``a*C*rows*W_in + a*K*OX + w*|W|``. Off chip: every input row
    needed is read once (fewer than ``|X|`` when a stride skips rows), ``W`` and ``Y`` once.
    Family: that single schedule.
S5 - output tiles with halos
    The DSE's whole single-layer space (:func:`~cnnmem.dse.space.templates`: output tiles
    ``Th x Tw x Tc``, input-channel tiles with on-chip or spilled partial sums, loop orders,
    weights resident or streamed, cached halos) reduced to its Pareto front of buffer vs
    traffic (:func:`cnnmem.dse.explore.group_front`). The scenario's minimum is taken over the
    members that move **no more data than S1** (no net re-reads): without that condition the
    minimum is a ``1 x 1 x 1`` tile re-reading everything. Design points (a budget) may use any
    member.

Opaque layers (ConvTranspose, multi-output ops: ``LayerKind.OPAQUE``) run whole: every family
is the S1 schedule.

"Minimum on-chip memory" of a scenario is the smallest ``buffer_bytes`` over its family (ties:
less traffic, then fewer MACs, then candidate order); the traffic reported is that member's.

# NOTE: buffers are the cost model's static accounting (one buffer per tensor and weight at its
# peak tile size, summed: :class:`~cnnmem.dse.cost.CostBreakdown`). Families are evaluated on an
# unbounded shared buffer with the hardware's element sizes (:func:`unbounded`), so nothing is
# pruned; design points then filter by the real budget (:func:`cnnmem.dse.cost.fits`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from cnnmem.dse.cost import CostBreakdown, CostView, GroupModel, evaluate, fits
from cnnmem.dse.explore import _num_tiles as num_tiles  # the DSE's own tile count
from cnnmem.dse.explore import group_front
from cnnmem.dse.hw import HardwareSpec
from cnnmem.dse.space import (
    CandidateOptions,
    GroupSchedule,
    HaloPolicy,
    tile_sizes,
    whole_tile_schedule,
)
from cnnmem.dse.workload import LayerGroup, LayerKind

UNBOUNDED_BUFFER_BYTES = 1 << 60
"""The shared buffer families are evaluated with: large enough to prune nothing."""

S5_OPTIONS = CandidateOptions(refine_templates=0)
"""Candidate knobs of S5: the DSE defaults without budget-driven refinement (there is no
budget)."""


class Scenario(enum.Enum):
    """The dataflow scenarios (module docstring; S6 is fused groups from the DSE)."""

    S1 = "S1"
    S2 = "S2"
    S3 = "S3"
    S4 = "S4"
    S5 = "S5"
    S6 = "S6"

    @property
    def title(self) -> str:
        """Short description, e.g. ``"weights streamed, activations resident"``."""
        return _TITLES[self]


_TITLES = {
    Scenario.S1: "everything on chip, layer by layer",
    Scenario.S2: "weights streamed, activations resident",
    Scenario.S3: "weights resident, activations streamed",
    Scenario.S4: "line buffer (input rows + weights)",
    Scenario.S5: "output tiles with halos",
    Scenario.S6: "fused groups (DSE)",
}

LAYER_SCENARIOS = (Scenario.S1, Scenario.S2, Scenario.S3, Scenario.S4, Scenario.S5)
"""The per-layer scenarios, in order (also the tie-break order of design points)."""


@dataclass(frozen=True, slots=True)
class ScenarioPoint(CostView):
    """One member of a scenario family: a single-layer schedule and its exact cost
    (``buffer_bytes``, ``dram_bytes`` per frame and ``macs`` from
    :class:`~cnnmem.dse.cost.CostView`).

    Attributes:
        scenario: the family it belongs to.
        schedule: the one-layer group schedule.
        cost: :func:`cnnmem.dse.cost.evaluate` of it.
        tiles: tiles per frame, ``N x ceil(OY/Th) x ceil(OX/Tw) x ceil(K/Tc) x ceil(C/Tci)``
            (the count the DSE's re-tiling minimises).
    """

    scenario: Scenario
    schedule: GroupSchedule
    cost: CostBreakdown
    tiles: int


@dataclass(frozen=True, slots=True)
class Family:
    """The members of one scenario for one layer, in a fixed (deterministic) order.

    Attributes:
        scenario: which scenario.
        points: the members.
        traffic_cap_bytes: members counted by :meth:`minimum` move at most this many bytes
            (S5: the layer's S1 traffic); ``None``: no condition.
    """

    scenario: Scenario
    points: tuple[ScenarioPoint, ...]
    traffic_cap_bytes: int | None = None

    def minimum(self) -> ScenarioPoint:
        """The member with the smallest buffer (ties: less traffic, fewer MACs, order) among
        those within :attr:`traffic_cap_bytes`."""
        cap = self.traffic_cap_bytes
        members = [(p.buffer_bytes, p.dram_bytes, p.cost.macs, i)
                   for i, p in enumerate(self.points) if cap is None or p.dram_bytes <= cap]
        assert members, f"{self.scenario.value} family has no member within its cap"
        return self.points[min(members)[3]]

    def best_within(self, hw: HardwareSpec) -> ScenarioPoint | None:
        """The member with the least traffic whose buffers fit ``hw``
        (:func:`cnnmem.dse.cost.fits`), ties broken as the DSE's re-tiling does: fewer MACs,
        fewer tiles, smaller buffer, then order; ``None`` if none fits. Any member counts,
        whatever :attr:`traffic_cap_bytes`."""
        members = [(p.dram_bytes, p.cost.macs, p.tiles, p.buffer_bytes, i)
                   for i, p in enumerate(self.points) if fits(p.cost, hw)]
        return self.points[min(members)[4]] if members else None


def unbounded(hw: HardwareSpec) -> HardwareSpec:
    """``hw`` with one shared buffer large enough to prune nothing (same element sizes,
    weight storage, bandwidth and compute)."""
    return hw.with_shared_buffer(UNBOUNDED_BUFFER_BYTES)


def _grid(model: GroupModel, scenario: Scenario, schedule: GroupSchedule, hw: HardwareSpec,
          rows: tuple[int, ...], cols: tuple[int, ...]) -> list[ScenarioPoint]:
    """Every valid ``rows x cols`` tile size of ``schedule`` (row-major), costed at once."""
    grid = model.evaluate_tiles(schedule, hw, rows, cols)
    out = []
    for i, th in enumerate(rows):
        for j, tw in enumerate(cols):
            if bool(grid.valid[i, j]):
                sched = replace(schedule, tile_rows=th, tile_cols=tw)
                out.append(ScenarioPoint(scenario, sched, grid.breakdown(i, j),
                                         num_tiles(model.group, sched)))
    return out


def layer_families(group: LayerGroup, hw: HardwareSpec) -> tuple[Family, ...]:
    """The families S1..S5 of a one-layer group (module docstring), costed on
    :func:`unbounded` ``hw``.

    Raises:
        ConfigError: ``group`` is not a single layer.
    """
    from cnnmem.errors import ConfigError

    if len(group.layers) != 1:
        raise ConfigError(f"scenarios are per layer; {group.describe()} has "
                          f"{len(group.layers)} layers")
    big = unbounded(hw)
    layer = group.anchor
    whole = whole_tile_schedule(group)
    s1 = ScenarioPoint(Scenario.S1, whole, evaluate(group, whole, big),
                       num_tiles(group, whole))
    if layer.kind is LayerKind.OPAQUE:
        return tuple(Family(s, (replace(s1, scenario=s),)) for s in LAYER_SCENARIOS)
    model = GroupModel(group)
    first, stop = group.first, group.stop
    oy, ox, k = layer.oy, layer.ox, layer.k
    s2: list[ScenarioPoint] = []
    for tc in tile_sizes(k):
        sched = GroupSchedule(first, stop, oy, ox, tc, None, "yxkc", HaloPolicy.CACHE,
                              weights_resident=False)
        s2.extend(_grid(model, Scenario.S2, sched, big, (oy,), (ox,)))
    s3 = _grid(model, Scenario.S3, GroupSchedule(first, stop, oy, ox, k), big,
               tile_sizes(oy), tile_sizes(ox))
    s4 = _grid(model, Scenario.S4, GroupSchedule(first, stop, 1, ox, k), big, (1,), (ox,))
    front, _ = group_front(group, big, S5_OPTIONS)
    s5 = [ScenarioPoint(Scenario.S5, c.schedule, c.cost, num_tiles(group, c.schedule))
          for c in front]
    return (Family(Scenario.S1, (s1,)), Family(Scenario.S2, tuple(s2)),
            Family(Scenario.S3, tuple(s3)), Family(Scenario.S4, tuple(s4)),
            Family(Scenario.S5, tuple(s5), traffic_cap_bytes=s1.dram_bytes))
