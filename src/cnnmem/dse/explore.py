"""Design-space exploration: the network's Pareto front of on-chip buffer vs DRAM traffic.

``explore(workload, hw)`` runs generate -> evaluate -> reduce twice:

1. For every fusable group of at most ``max_group_layers`` consecutive layers, every tiling
   template (:func:`cnnmem.dse.space.templates`) is evaluated on the whole grid of row x column
   tile sizes at once (:func:`cnnmem.dse.cost.evaluate_tiles`); candidates that do not fit the
   hardware's buffer(s) or leave a group output uncomputed are pruned; the rest are reduced to
   the group's Pareto front.
2. Dynamic programming over the prefixes of the layer list: the front of layers ``[0, j)`` is
   the Pareto front, over the last group ``[i, j)``, of ``front[i]`` combined with the group's
   front (buffer = max, traffic = sum; :func:`cnnmem.dse.pareto.combine`). Only non-dominated
   (buffer, DRAM) pairs are kept per prefix.

Within step 1, the best templates of each group are also tried with buffer-driven tile sizes
(the largest balanced tile that still fits, between two ladder sizes), and
``CandidateOptions.max_recompute`` can cap halo recomputation. :func:`relax` re-tiles the
groups of a chosen network point as coarsely as its buffer allows (same traffic and MACs).

Everything is deterministic: candidates come in a fixed order and ties are broken by MACs,
then by that order. There is no randomness and no printing; ``progress`` receives
``(groups done, groups total)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cnnmem.dse.cost import (
    CostBreakdown,
    CostView,
    GroupModel,
    NetworkCost,
    compulsory_traffic,
)
from cnnmem.dse.hw import HardwareSpec
from cnnmem.dse.pareto import best_within, combine, pareto_front, pareto_indices
from cnnmem.dse.space import (
    DEFAULT_OPTIONS,
    CandidateOptions,
    GroupSchedule,
    NetworkSchedule,
    TilingTemplate,
    templates,
    tile_sizes,
)
from cnnmem.dse.workload import LayerGroup, LayerKind, Workload
from cnnmem.errors import PlanningError

ProgressFn = Callable[[int, int], None]
DEFAULT_MAX_GROUP_LAYERS = 16


@dataclass(frozen=True, slots=True)
class GroupChoice(CostView):
    """One point of a group's Pareto front (``buffer_bytes``, ``dram_bytes``, ``macs`` from
    :class:`~cnnmem.dse.cost.CostView`).

    Attributes:
        schedule: the group schedule.
        cost: its cost breakdown.
    """

    schedule: GroupSchedule
    cost: CostBreakdown


@dataclass(frozen=True, slots=True)
class _Prefix:
    """A front point of a prefix of the layers, linked to its predecessor (no copying)."""

    buffer_bytes: int
    dram_bytes: int
    macs: int
    last: GroupChoice | None
    parent: _Prefix | None

    def choices(self) -> list[GroupChoice]:
        out: list[GroupChoice] = []
        node: _Prefix | None = self
        while node is not None and node.last is not None:
            out.append(node.last)
            node = node.parent
        return out[::-1]


def _join(prefix: _Prefix, choice: GroupChoice) -> _Prefix:
    return _Prefix(max(prefix.buffer_bytes, choice.buffer_bytes),
                   prefix.dram_bytes + choice.dram_bytes, prefix.macs + choice.macs, choice,
                   prefix)


@dataclass(frozen=True, slots=True)
class FrontPoint(CostView):
    """One point of the network's Pareto front (``buffer_bytes``, ``dram_bytes``, ``macs``
    from :class:`~cnnmem.dse.cost.CostView`).

    Attributes:
        schedule: the network schedule (consecutive groups).
        cost: per-group costs; ``cost.buffer_bytes`` is the max, traffic and MACs the sums.
    """

    schedule: NetworkSchedule
    cost: NetworkCost


def _front_point(prefix: _Prefix) -> FrontPoint:
    choices = prefix.choices()
    return FrontPoint(NetworkSchedule(tuple(c.schedule for c in choices)),
                      NetworkCost(tuple(c.cost for c in choices)))


@dataclass(frozen=True, slots=True)
class ExplorationResult:
    """The network's buffer/DRAM trade-off and its physical limits.

    Attributes:
        workload: the network's name.
        hw: the hardware explored (its buffer is the pruning budget).
        max_group_layers: the longest fused group considered.
        front: Pareto front, buffer ascending, DRAM strictly descending; every point fits.
        layer_by_layer_front: the same with one layer per group (the baseline at any budget).
        compulsory: each graph input, weight and output crossing DRAM once.
        groups_evaluated: fusable groups explored.
        candidates_evaluated: group schedules evaluated (grid points included).
    """

    workload: str
    hw: HardwareSpec
    max_group_layers: int
    front: tuple[FrontPoint, ...]
    layer_by_layer_front: tuple[FrontPoint, ...]
    compulsory: CostBreakdown
    groups_evaluated: int
    candidates_evaluated: int

    def best(self, budget_bytes: int | None = None) -> FrontPoint | None:
        """Least-traffic point within ``budget_bytes`` of buffer (default: the hardware's);
        ``None`` if nothing fits."""
        if budget_bytes is None:
            return self.front[-1] if self.front else None
        return best_within(self.front, budget_bytes)

    def layer_by_layer(self, budget_bytes: int | None = None) -> FrontPoint | None:
        """The layer-by-layer baseline within ``budget_bytes`` (default: the hardware's)."""
        if budget_bytes is None:
            return self.layer_by_layer_front[-1] if self.layer_by_layer_front else None
        return best_within(self.layer_by_layer_front, budget_bytes)


# ----------------------------------------------------------------------------- group fronts
def _fit_mask(grid_values: dict[str, np.ndarray], hw: HardwareSpec) -> np.ndarray:
    act = grid_values["buffer_act_bytes"] + grid_values["buffer_psum_bytes"]
    weight = grid_values["buffer_weight_bytes"]
    if hw.shared_buffer_bytes is not None:
        return act + weight <= hw.shared_buffer_bytes
    assert hw.activation_buffer_bytes is not None
    return (act <= hw.activation_buffer_bytes) & (weight <= (hw.weight_buffer_bytes or 0))


@dataclass(frozen=True, slots=True)
class _Candidates:
    """Fitting grid points of one template: tile sizes and every cost field, as arrays."""

    template: TilingTemplate
    rows: np.ndarray
    cols: np.ndarray
    values: dict[str, np.ndarray]

    @property
    def buffer_bytes(self) -> np.ndarray:
        v = self.values
        return v["buffer_act_bytes"] + v["buffer_weight_bytes"] + v["buffer_psum_bytes"]

    @property
    def dram_bytes(self) -> np.ndarray:
        v = self.values
        return (v["dram_act_read_bytes"] + v["dram_weight_read_bytes"] +
                v["dram_psum_read_bytes"] + v["dram_act_write_bytes"] +
                v["dram_psum_write_bytes"])


def _fitting(model: GroupModel, template: TilingTemplate, hw: HardwareSpec,
             rows: tuple[int, ...], cols: tuple[int, ...],
             options: CandidateOptions) -> _Candidates | None:
    group = model.group
    grid = model.evaluate_tiles(template.schedule(group, rows[0], cols[0]), hw, rows, cols,
                                check=False)
    values = dict(grid.values)
    ok = grid.valid & _fit_mask(values, hw)
    if options.max_recompute is not None:
        base = sum(layer.macs for layer in group.layers)
        ok = ok & (values["macs"] <= base * (1 + options.max_recompute))
    if not ok.any():
        return None
    ii, jj = np.nonzero(ok)
    return _Candidates(template, np.asarray(rows)[ii], np.asarray(cols)[jj],
                       {k: v[ii, jj] for k, v in values.items()})


def _grow(model: GroupModel, template: TilingTemplate, hw: HardwareSpec, th: int, tw: int,
          axis: str, ladder: tuple[int, ...],
          options: CandidateOptions) -> tuple[_Candidates | None, int]:
    """Buffer-driven size: the largest balanced tile ``ceil(E / m)`` between ``th`` (or
    ``tw``) and the next larger ladder size that still fits ``hw`` (binary search on the tile
    count ``m``; the buffer grows with the tile). Returns the fitting point and the number of
    evaluations."""
    extent = model.group.anchor.oy if axis == "y" else model.group.anchor.ox
    size = th if axis == "y" else tw
    larger = [t for t in ladder if t > size]
    if not larger:
        return None, 0
    lo_count, hi_count = -(-extent // min(larger)), -(-extent // size)  # counts: lo < m < hi
    best: _Candidates | None = None
    evaluations = 0
    lo, hi = lo_count + 1, hi_count - 1
    while lo <= hi:
        m = (lo + hi) // 2
        probe = -(-extent // m)
        rows, cols = ((probe,), (tw,)) if axis == "y" else ((th,), (probe,))
        found = _fitting(model, template, hw, rows, cols, options)
        evaluations += 1
        if found is None:
            lo = m + 1
        else:
            best, hi = found, m - 1
    return best, evaluations


def group_front(group: LayerGroup, hw: HardwareSpec,
                options: CandidateOptions = DEFAULT_OPTIONS) -> tuple[list[GroupChoice], int]:
    """The Pareto front of ``group``'s candidate schedules that fit ``hw``, and the number of
    candidates evaluated.

    Candidates: every template on the grid of ladder tile sizes; then, for the
    ``options.refine_templates`` templates reaching the least traffic, buffer-driven sizes
    (:func:`_grow`: the largest rows, then columns, that still fit the budget).
    """
    anchor = group.anchor
    if anchor.kind is LayerKind.OPAQUE:
        rows: tuple[int, ...] = (anchor.oy,)
        cols: tuple[int, ...] = (anchor.ox,)
    else:
        rows, cols = tile_sizes(anchor.oy), tile_sizes(anchor.ox)
    model = GroupModel(group)
    found: list[_Candidates] = []
    evaluated = 0
    for template in templates(group, weights_in_separate_memory=hw.weights_in_separate_memory,
                              options=options):
        evaluated += len(rows) * len(cols)
        cands = _fitting(model, template, hw, rows, cols, options)
        if cands is not None:
            found.append(cands)
    if not found:
        return [], evaluated
    if anchor.kind is not LayerKind.OPAQUE and options.refine_templates:
        # the least-traffic fitting point of each template, best templates first
        tops: list[tuple[int, int, int, _Candidates, int]] = []
        for c in found:
            k = int(np.lexsort((c.buffer_bytes, c.dram_bytes))[0])
            tops.append((int(c.dram_bytes[k]), int(c.buffer_bytes[k]), len(tops), c, k))
        tops.sort(key=lambda t: t[:3])
        for _, _, _, c, k in tops[:options.refine_templates]:
            th, tw = int(c.rows[k]), int(c.cols[k])
            grown, count = _grow(model, c.template, hw, th, tw, "y", rows, options)
            evaluated += count
            if grown is not None:
                found.append(grown)
                th = int(grown.rows[0])
            grown, count = _grow(model, c.template, hw, th, tw, "x", cols, options)
            evaluated += count
            if grown is not None:
                found.append(grown)
    flat_b = np.concatenate([c.buffer_bytes for c in found])
    flat_d = np.concatenate([c.dram_bytes for c in found])
    flat_m = np.concatenate([c.values["macs"] for c in found])
    offsets = np.cumsum([0, *(len(c.rows) for c in found)])
    front: list[GroupChoice] = []
    for idx in pareto_indices(flat_b, flat_d, flat_m):
        t = int(np.searchsorted(offsets, idx, side="right") - 1)
        k = int(idx - offsets[t])
        c = found[t]
        schedule = c.template.schedule(group, int(c.rows[k]), int(c.cols[k]))
        cost = CostBreakdown(**{name: int(v[k]) for name, v in c.values.items()})
        front.append(GroupChoice(schedule, cost))
    return front, evaluated


# ----------------------------------------------------------------------------- the DP
def _dp(fronts: dict[tuple[int, int], list[GroupChoice]], n: int) -> list[_Prefix]:
    prefix: list[list[_Prefix]] = [[_Prefix(0, 0, 0, None, None)]] + [[] for _ in range(n)]
    for j in range(1, n + 1):
        candidates: list[_Prefix] = []
        for i in range(j):
            gf = fronts.get((i, j))
            if gf and prefix[i]:
                candidates.extend(combine(prefix[i], gf, _join))
        prefix[j] = pareto_front(candidates)
    return prefix[n]


def explore(workload: Workload, hw: HardwareSpec, *,
            max_group_layers: int = DEFAULT_MAX_GROUP_LAYERS,
            options: CandidateOptions = DEFAULT_OPTIONS,
            progress: ProgressFn | None = None) -> ExplorationResult:
    """Pareto front of buffer vs DRAM traffic over group partitions and tilings (module
    docstring), pruned to schedules that fit ``hw``.

    Raises:
        PlanningError: ``max_group_layers`` < 1.
    """
    if max_group_layers < 1:
        raise PlanningError(f"max_group_layers must be >= 1, got {max_group_layers}")
    n = len(workload.layers)
    ranges = [(i, j) for j in range(1, n + 1) for i in range(max(0, j - max_group_layers), j)
              if workload.group_problem(i, j) is None]
    fronts: dict[tuple[int, int], list[GroupChoice]] = {}
    evaluated = 0
    for done, (i, j) in enumerate(ranges):
        fronts[(i, j)], count = group_front(workload.group(i, j), hw, options)
        evaluated += count
        if progress is not None:
            progress(done + 1, len(ranges))
    best = _dp(fronts, n)
    singles = {(i, j): f for (i, j), f in fronts.items() if j - i == 1}
    lbl = _dp(singles, n)
    return ExplorationResult(
        workload=workload.name, hw=hw, max_group_layers=max_group_layers,
        front=tuple(_front_point(p) for p in best),
        layer_by_layer_front=tuple(_front_point(p) for p in lbl),
        compulsory=compulsory_traffic(workload, hw), groups_evaluated=len(ranges),
        candidates_evaluated=evaluated)


def layer_by_layer(workload: Workload, hw: HardwareSpec,
                   options: CandidateOptions = DEFAULT_OPTIONS) -> FrontPoint:
    """The layer-by-layer baseline: every layer alone (whole tensors in from and out to DRAM),
    each with its least-traffic schedule that fits ``hw`` (tiled only as much as the buffer
    forces; re-tiled by :func:`relax`).

    Raises:
        PlanningError: some layer fits in no schedule.
    """
    choices = []
    for layer in workload.layers:
        front, _ = group_front(workload.group(layer.index, layer.index + 1), hw, options)
        if not front:
            raise PlanningError(f"{workload.name}: layer {layer.name!r} does not fit "
                                f"{hw.describe()} with any tiling")
        choices.append(front[-1])
    point = FrontPoint(NetworkSchedule(tuple(c.schedule for c in choices)),
                       NetworkCost(tuple(c.cost for c in choices)))
    return relax(workload, point, hw, options)


def _num_tiles(group: LayerGroup, schedule: GroupSchedule) -> int:
    a = group.anchor
    n_c = 1 if schedule.tile_in_channels is None else -(-a.c // schedule.tile_in_channels)
    return (a.n * -(-a.oy // schedule.tile_rows) * -(-a.ox // schedule.tile_cols) *
            -(-a.k // schedule.tile_channels) * n_c)


def relax_group(group: LayerGroup, chosen: GroupChoice, buffer_limit: int, hw: HardwareSpec,
                options: CandidateOptions = DEFAULT_OPTIONS) -> GroupChoice:
    """The candidate of ``group`` with the fewest MACs, then the fewest tiles, then the least
    buffer, among those with no more DRAM traffic than ``chosen`` and a buffer within
    ``buffer_limit``: the network's traffic and buffer stay, recomputation and tile count drop.

    The Pareto front keeps the smallest buffer for a given traffic, which for a group that is
    not the network's largest can mean needless halo recomputation or tiny tiles (an
    element-wise layer tiled 1x1); the cost model has no per-tile overhead to prefer otherwise.
    """
    anchor = group.anchor
    rows = (anchor.oy,) if anchor.kind is LayerKind.OPAQUE else tile_sizes(anchor.oy)
    cols = (anchor.ox,) if anchor.kind is LayerKind.OPAQUE else tile_sizes(anchor.ox)
    model = GroupModel(group)
    best_key: tuple[int, int, int] | None = None
    best = chosen
    for template in templates(group, weights_in_separate_memory=hw.weights_in_separate_memory,
                              options=options):
        grid = model.evaluate_tiles(template.schedule(group, rows[0], cols[0]), hw, rows, cols,
                                    check=False)
        buf = grid.field("buffer_bytes")
        ok = grid.valid & _fit_mask(dict(grid.values), hw) & (buf <= buffer_limit) & \
            (grid.field("dram_bytes") <= chosen.dram_bytes) & \
            (grid.values["macs"] <= chosen.macs)
        for i, j in zip(*np.nonzero(ok), strict=True):
            schedule = template.schedule(group, rows[int(i)], cols[int(j)])
            key = (int(grid.values["macs"][i, j]), _num_tiles(group, schedule), int(buf[i, j]))
            if best_key is None or key < best_key:
                best_key, best = key, GroupChoice(schedule, grid.breakdown(int(i), int(j)))
    return best


def relax(workload: Workload, point: FrontPoint, hw: HardwareSpec,
          options: CandidateOptions = DEFAULT_OPTIONS) -> FrontPoint:
    """``point`` with every group re-tiled by :func:`relax_group`: no more DRAM traffic, MACs
    or buffer; then the fewest tiles."""
    limit = point.buffer_bytes
    choices = [relax_group(workload.group(g.first, g.stop), GroupChoice(g, c), limit, hw,
                           options)
               for g, c in zip(point.schedule.groups, point.cost.groups, strict=True)]
    return FrontPoint(NetworkSchedule(tuple(c.schedule for c in choices)),
                      NetworkCost(tuple(c.cost for c in choices)))


def best_schedule(workload: Workload, result: ExplorationResult,
                  budget_bytes: int | None = None) -> FrontPoint:
    """The least-traffic schedule within ``budget_bytes`` (default: the hardware's buffer),
    with its groups re-tiled as coarsely as that allows (:func:`relax`).

    Raises:
        PlanningError: nothing fits.
    """
    point = result.best(budget_bytes)
    if point is None:
        limit = budget_bytes if budget_bytes is not None else result.hw.total_buffer_bytes
        raise PlanningError(f"{result.workload}: no schedule fits {limit} bytes of on-chip "
                            "buffer")
    return relax(workload, point, result.hw)


def fronts_summary(result: ExplorationResult, budgets: Sequence[int]) -> list[dict[str, int]]:
    """Best and layer-by-layer traffic at each budget (-1 where nothing fits), for tables."""
    rows = []
    for b in budgets:
        best = result.best(b)
        lbl = result.layer_by_layer(b)
        rows.append({"budget_bytes": b,
                     "best_dram_bytes": best.dram_bytes if best else -1,
                     "best_buffer_bytes": best.buffer_bytes if best else -1,
                     "layer_by_layer_dram_bytes": lbl.dram_bytes if lbl else -1,
                     "compulsory_dram_bytes": result.compulsory.dram_bytes})
    return rows
