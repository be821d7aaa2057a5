"""Exhaustive search: the oracle that checks the explorer's optimality on small workloads.

:func:`exhaustive` enumerates EVERY partition of the layer list into fusable groups (contiguous
ranges, :meth:`~cnnmem.dse.workload.Workload.group_problem`, at most ``max_group_layers``
layers) and, for every group, EVERY schedule of a stated space (:class:`Space`), costs each
one with the analytical model, and returns the true Pareto front of (buffer, DRAM traffic) of
the whole network over that space. There is no pruning, no dominance argument between
schedules and no dynamic programming; the only reduction is exact:

    best(B) = min over partitions P of  sum over groups g in P of  best_g(B),
    best_g(B) = min { dram(s) : s a schedule of g in the space, s fits the hardware,
                      buffer(s) <= B },

because a network's buffer is the maximum and its traffic the sum over its groups (groups run
one after another). ``best`` is evaluated at every distinct buffer size of every admissible
group schedule (the only places the staircase can step), so the front is exact: a point
``(B, best(B))`` is on it iff ``best(B)`` is below ``best`` at every smaller breakpoint, and
its buffer is then exactly ``B``.

Admissible schedules are those the explorer may report: the model accepts them (structure and
coverage, :func:`cnnmem.dse.cost.evaluate`), they fit ``hw`` (:func:`cnnmem.dse.cost.fits`),
and, with ``CandidateOptions.max_recompute`` set, they recompute no more than the explorer's
cap allows (same comparison as the explorer).

Costing: by default each schedule is costed on spatial grids
(:meth:`cnnmem.dse.cost.GroupModel.evaluate_tiles`, the same model as
:func:`~cnnmem.dse.cost.evaluate`, equal to it point by point - ``tests/test_dse_trace.py``);
``pointwise=True`` calls :func:`~cnnmem.dse.cost.evaluate` once per schedule (slow; used by
the tests on the smallest cases to confirm the grids).

Cost: ``2^(n-1)`` partitions and, in :attr:`Space.FULL`, ``OY*OX*K*(C+1)*24*2*2`` schedules
for a single convolution: use it on networks of a few layers and small tensors (the tests use
chains of 2-5 layers at <= 12x12; ``bench/dse.py`` network slices at reduced resolution).
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np

from cnnmem.dse.cost import (
    CostBreakdown,
    CostGrid,
    CostView,
    GroupModel,
    NetworkCost,
    evaluate,
)
from cnnmem.dse.hw import HardwareSpec
from cnnmem.dse.pareto import HasCost
from cnnmem.dse.space import (
    DEFAULT_OPTIONS,
    LOOP_AXES,
    CandidateOptions,
    GroupSchedule,
    HaloPolicy,
    NetworkSchedule,
    group_candidates,
    schedule_problem,
    templates,
    tile_sizes,
)
from cnnmem.dse.workload import LayerGroup, LayerKind, Workload
from cnnmem.errors import ConfigError, PlanningError

_NONE = np.iinfo(np.int64).max // 1024
"""'Nothing fits' in sums of per-group traffic (a sum of up to 1024 of them cannot wrap)."""

ALL_LOOP_ORDERS = tuple("".join(p) for p in itertools.permutations(LOOP_AXES))
"""The 24 loop orders."""

P = TypeVar("P", bound=HasCost)


class Space(enum.Enum):
    """The per-group schedule space searched exhaustively.

    ``EXPLORER``: exactly the explorer's candidates, :func:`cnnmem.dse.space.group_candidates`
    with the same :class:`~cnnmem.dse.space.CandidateOptions`: tile-count ladders for rows and
    columns, power-of-two channel tiles, the loop orders of ``space._orders``, CACHE halos
    (RECOMPUTE only with ``include_recompute``), streamed weights only where a weight slice
    changes. (The explorer additionally tries buffer-driven sizes off the ladder; with
    ``refine_templates=0`` its space is exactly this one.)

    ``ORDERS``: the explorer's tile sizes (row / column ladders, its output- and input-channel
    tiles), with every loop order (24), CACHE and RECOMPUTE, weights resident and streamed:
    checks the explorer's pruning of loop orders, halo policies and weight modes on layers too
    wide for ``FULL``.

    ``FULL``: every schedule the cost model accepts: every ``Th`` in ``1..OY``, ``Tw`` in
    ``1..OX``, ``Tc`` in ``1..K``; ``Tci`` = ``None`` or every value in ``1..C`` (single
    ungrouped convolutions only); all 24 loop orders; CACHE and RECOMPUTE; weights resident and
    streamed. (OPAQUE layers run whole: one tile.) It contains ``EXPLORER`` and every
    buffer-driven size of the explorer.
    """

    EXPLORER = "explorer"
    ORDERS = "orders"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class ExhaustivePoint(CostView):
    """One point of the exhaustive front (``buffer_bytes``, ``dram_bytes``, ``macs`` from
    :class:`~cnnmem.dse.cost.CostView`).

    Attributes:
        schedule: an optimal network schedule at this buffer size.
        cost: its per-group costs.
    """

    schedule: NetworkSchedule
    cost: NetworkCost


@dataclass(frozen=True, slots=True)
class ExhaustiveResult:
    """The true Pareto front of a workload over a space (module docstring).

    Attributes:
        workload: the network's name.
        space: the per-group space.
        hw: the hardware (admissible schedules fit it).
        front: buffer strictly ascending, DRAM strictly descending; each point is an optimum.
        partitions: group partitions enumerated.
        groups: fusable groups enumerated.
        schedules_evaluated: group schedules costed (admissible or not).
    """

    workload: str
    space: Space
    hw: HardwareSpec
    front: tuple[ExhaustivePoint, ...]
    partitions: int
    groups: int
    schedules_evaluated: int

    def best(self, budget_bytes: int | None = None) -> ExhaustivePoint | None:
        """The least-traffic point within ``budget_bytes`` (default: the hardware's)."""
        budget = self.hw.total_buffer_bytes if budget_bytes is None else budget_bytes
        return _best_within(self.front, budget)


def _best_within(front: Sequence[P], budget: int) -> P | None:
    best = None
    for p in front:
        if p.buffer_bytes <= budget:
            best = p
    return best


# ----------------------------------------------------------------------------- per group
def _full_schedules(group: LayerGroup) -> Iterator[GroupSchedule]:
    """Every schedule of :attr:`Space.FULL` with ``Th = Tw = 1`` (the grid sets them)."""
    anchor = group.anchor
    channel_tiles = [anchor.k] if anchor.kind is LayerKind.OPAQUE else range(1, anchor.k + 1)
    tci: list[int | None] = [None]
    if len(group.layers) == 1 and anchor.can_tile_input_channels:
        tci += list(range(1, anchor.c + 1))
    for tc, ci, order, halo, resident in itertools.product(
            channel_tiles, tci, ALL_LOOP_ORDERS, HaloPolicy, (True, False)):
        yield GroupSchedule(group.first, group.stop, 1, 1, tc, ci, order, halo, resident)


def _grids(group: LayerGroup, space: Space, hw: HardwareSpec,
           options: CandidateOptions) -> Iterator[tuple[GroupSchedule, tuple[int, ...],
                                                        tuple[int, ...]]]:
    """(schedule, rows, cols): the space as spatial grids of one template each."""
    anchor = group.anchor
    if space is not Space.FULL:
        if anchor.kind is LayerKind.OPAQUE:
            rows: tuple[int, ...] = (anchor.oy,)
            cols: tuple[int, ...] = (anchor.ox,)
        else:
            rows, cols = tile_sizes(anchor.oy), tile_sizes(anchor.ox)
        explorer = templates(group, weights_in_separate_memory=hw.weights_in_separate_memory,
                             options=options)
        if space is Space.EXPLORER:
            for t in explorer:
                yield t.schedule(group, rows[0], cols[0]), rows, cols
            return
        channel_tiles = dict.fromkeys((t.tile_channels, t.tile_in_channels) for t in explorer)
        for (tc, ci), order, halo, resident in itertools.product(
                channel_tiles, ALL_LOOP_ORDERS, HaloPolicy, (True, False)):
            yield (GroupSchedule(group.first, group.stop, rows[0], cols[0], tc, ci, order, halo,
                                 resident), rows, cols)
        return
    if anchor.kind is LayerKind.OPAQUE:
        rows, cols = (anchor.oy,), (anchor.ox,)
    else:
        rows, cols = tuple(range(1, anchor.oy + 1)), tuple(range(1, anchor.ox + 1))
    for s in _full_schedules(group):
        yield replace(s, tile_rows=rows[0], tile_cols=cols[0]), rows, cols


def _pointwise(group: LayerGroup, space: Space, hw: HardwareSpec,
               options: CandidateOptions) -> Iterator[tuple[GroupSchedule, CostBreakdown | None]]:
    """Every schedule of the space costed by :func:`evaluate` (``None``: rejected)."""
    if space is Space.EXPLORER:
        schedules: Iterator[GroupSchedule] = group_candidates(
            group, weights_in_separate_memory=hw.weights_in_separate_memory, options=options)
    else:
        schedules = (replace(s, tile_rows=th, tile_cols=tw)
                     for s, rows, cols in _grids(group, space, hw, options)
                     for th in rows for tw in cols)
    for s in schedules:
        try:
            yield s, evaluate(group, s, hw)
        except ConfigError:
            yield s, None


@dataclass(frozen=True, slots=True)
class _GroupTable:
    """Admissible schedules of one group, sorted by buffer, with the running optimum.

    Schedule ``e`` is ``replace(bases[chunk[e]], tile_rows=rows[e], tile_cols=cols[e])`` and
    its cost ``grids[chunk[e]]`` at ``(row_index[e], col_index[e])``; ``best_entry[i]`` is the
    admissible schedule with the least DRAM (then buffer, then MACs, then enumeration order)
    among the first ``i + 1`` by buffer, ``best_dram[i]`` its DRAM.
    """

    buffers: np.ndarray
    best_dram: np.ndarray
    best_entry: np.ndarray
    bases: list[GroupSchedule]
    costs: list[CostGrid | CostBreakdown]
    chunk: np.ndarray
    row_index: np.ndarray
    col_index: np.ndarray

    def at(self, budgets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(best_g(B), position)`` for every budget; ``_NONE`` / -1 where nothing fits."""
        pos = np.searchsorted(self.buffers, budgets, side="right") - 1
        if len(self.buffers) == 0:
            return np.full(len(budgets), _NONE, dtype=np.int64), pos
        return np.where(pos >= 0, self.best_dram[np.maximum(pos, 0)], _NONE), pos

    def choice(self, pos: int) -> tuple[GroupSchedule, CostBreakdown]:
        """The optimal schedule among the first ``pos + 1`` by buffer, and its cost."""
        e = int(self.best_entry[pos])
        c, i, j = int(self.chunk[e]), int(self.row_index[e]), int(self.col_index[e])
        cost = self.costs[c]
        if isinstance(cost, CostGrid):
            schedule = replace(self.bases[c], tile_rows=cost.rows[i], tile_cols=cost.cols[j])
            return schedule, cost.breakdown(i, j)
        return self.bases[c], cost


def _fit_grid(grid: CostGrid, hw: HardwareSpec) -> np.ndarray:
    """:meth:`HardwareSpec.fits` at every grid point."""
    v = grid.values
    act = v["buffer_act_bytes"] + v["buffer_psum_bytes"]
    weight = v["buffer_weight_bytes"]
    if hw.shared_buffer_bytes is not None:
        return np.asarray(act + weight <= hw.shared_buffer_bytes)
    assert hw.activation_buffer_bytes is not None
    return np.asarray((act <= hw.activation_buffer_bytes) &
                      (weight <= (hw.weight_buffer_bytes or 0)))


def _group_table(group: LayerGroup, space: Space, hw: HardwareSpec, options: CandidateOptions,
                 pointwise: bool) -> tuple[_GroupTable, int]:
    """Cost every schedule of ``group`` in ``space``; keep the admissible ones."""
    base_macs = sum(layer.macs for layer in group.layers)
    cap = None if options.max_recompute is None else base_macs * (1 + options.max_recompute)
    bases: list[GroupSchedule] = []
    costs: list[CostGrid | CostBreakdown] = []
    parts: list[tuple[np.ndarray, ...]] = []  # chunk, row, col, buffer, dram, macs per entry
    evaluated = 0
    if pointwise:
        for s, cost in _pointwise(group, space, hw, options):
            evaluated += 1
            if cost is None or (cap is not None and not cost.macs <= cap) or \
                    not hw.fits(cost.buffer_weight_bytes,
                                cost.buffer_act_bytes + cost.buffer_psum_bytes):
                continue
            zero = np.zeros(1, dtype=np.int64)
            parts.append((zero + len(bases), zero, zero, zero + cost.buffer_bytes,
                          zero + cost.dram_bytes, zero + cost.macs))
            bases.append(s)
            costs.append(cost)
    else:
        model = GroupModel(group)
        for s, rows, cols in _grids(group, space, hw, options):
            if schedule_problem(group, s) is not None:
                continue  # cannot happen for generated spaces; kept as a guard
            grid = model.evaluate_tiles(s, hw, rows, cols)
            evaluated += len(rows) * len(cols)
            ok = grid.valid & _fit_grid(grid, hw)
            if cap is not None:
                ok = ok & (grid.values["macs"] <= cap)
            ii, jj = np.nonzero(ok)
            if len(ii) == 0:
                continue
            parts.append((np.full(len(ii), len(bases), dtype=np.int64), ii, jj,
                          grid.field("buffer_bytes")[ii, jj], grid.field("dram_bytes")[ii, jj],
                          grid.values["macs"][ii, jj]))
            bases.append(s)
            costs.append(grid)
    cols_ = [np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
             for k in range(6)]
    chunk, row_index, col_index, buffers, dram, macs = cols_
    order = np.lexsort((np.arange(len(dram)), macs, dram, buffers))
    d = dram[order]
    # a record: strictly less DRAM than everything with a smaller (or equal, earlier) buffer
    prev = np.minimum.accumulate(np.concatenate(([_NONE], d[:-1]))) if len(d) else d
    record = d < prev
    last_record = np.maximum.accumulate(np.where(record, np.arange(len(d)), 0))
    best_entry = order[last_record] if len(d) else order
    table = _GroupTable(buffers[order], d[last_record] if len(d) else d, best_entry, bases,
                        costs, chunk, row_index, col_index)
    return table, evaluated


# ----------------------------------------------------------------------------- partitions
def workload_slice(workload: Workload, first: int, stop: int) -> Workload:
    """Layers ``[first, stop)`` of ``workload`` as a network of their own (renumbered from 0):
    tensors they read but do not produce are its inputs; tensors they produce that a later layer
    or the user reads are its outputs. Group costs inside the slice are those of the full
    network (the same tensors cross DRAM), so a slice keeps exhaustive search tractable.

    Raises:
        ConfigError: the range is empty or outside the workload.
    """
    if not 0 <= first < stop <= len(workload.layers):
        raise ConfigError(f"slice [{first}, {stop}) is not inside 0..{len(workload.layers)} "
                          f"layers of {workload.name}")
    layers = workload.layers[first:stop]
    produced = {t for layer in layers for t in layer.outputs}
    read_later = {t for layer in workload.layers[stop:] for t in layer.inputs}
    inputs = list(dict.fromkeys(t for layer in layers for t in layer.inputs
                                if t not in produced))
    outputs = [t for layer in layers for t in layer.outputs
               if t in read_later or t in workload.graph_outputs]
    names = {*inputs, *produced}
    return Workload(f"{workload.name}[{first}:{stop}]",
                    tuple(replace(layer, index=i) for i, layer in enumerate(layers)),
                    {t: shape for t, shape in workload.tensors.items() if t in names},
                    tuple(inputs), tuple(outputs))



def partitions(workload: Workload, max_group_layers: int | None = None,
               ) -> Iterator[tuple[tuple[int, int], ...]]:
    """Every split of the layers into consecutive fusable groups of at most
    ``max_group_layers`` layers (default: any length), in lexicographic order of the cuts."""
    n = len(workload.layers)
    limit = n if max_group_layers is None else max_group_layers

    def rest(start: int) -> Iterator[tuple[tuple[int, int], ...]]:
        if start == n:
            yield ()
            return
        for stop in range(start + 1, min(n, start + limit) + 1):
            if workload.group_problem(start, stop) is None:
                for tail in rest(stop):
                    yield ((start, stop), *tail)

    return rest(0)


def exhaustive(workload: Workload, hw: HardwareSpec, space: Space = Space.FULL, *,
               options: CandidateOptions = DEFAULT_OPTIONS, max_group_layers: int | None = None,
               pointwise: bool = False) -> ExhaustiveResult:
    """The true Pareto front of ``workload`` over ``space`` on ``hw`` (module docstring).

    Args:
        workload: the network (a few layers: every partition is enumerated).
        hw: hardware; admissible schedules fit it.
        space: the per-group schedule space.
        options: the explorer's knobs: :attr:`Space.EXPLORER` uses them to generate
            candidates; in both spaces ``max_recompute`` restricts admissible schedules.
        max_group_layers: longest group (default: the whole network).
        pointwise: cost every schedule with :func:`evaluate` instead of spatial grids.

    Raises:
        PlanningError: ``max_group_layers`` < 1.
    """
    if max_group_layers is not None and max_group_layers < 1:
        raise PlanningError(f"max_group_layers must be >= 1, got {max_group_layers}")
    splits = list(partitions(workload, max_group_layers))
    ranges = sorted({g for split in splits for g in split})
    tables: dict[tuple[int, int], _GroupTable] = {}
    evaluated = 0
    for first, stop in ranges:
        tables[(first, stop)], count = _group_table(workload.group(first, stop), space, hw,
                                                    options, pointwise)
        evaluated += count
    budgets = np.unique(np.concatenate([t.buffers for t in tables.values()]
                                       + [np.zeros(0, dtype=np.int64)]))
    per_group = {g: t.at(budgets) for g, t in tables.items()}
    best = np.full(len(budgets), _NONE, dtype=np.int64)
    best_split = np.full(len(budgets), -1, dtype=np.int64)
    for k, split in enumerate(splits):
        total = np.zeros(len(budgets), dtype=np.int64)
        for g in split:
            total = total + per_group[g][0]
        better = total < best  # strict: ties keep the earlier partition
        best = np.where(better, total, best)
        best_split = np.where(better, k, best_split)
    front: list[ExhaustivePoint] = []
    previous = _NONE
    for b in range(len(budgets)):
        if best[b] >= _NONE or best[b] >= previous:
            continue
        previous = int(best[b])
        chosen = []
        for g in splits[int(best_split[b])]:
            chosen.append(tables[g].choice(int(per_group[g][1][b])))
        point = ExhaustivePoint(NetworkSchedule(tuple(s for s, _ in chosen)),
                                NetworkCost(tuple(c for _, c in chosen)))
        assert point.dram_bytes == previous and point.buffer_bytes == int(budgets[b])
        front.append(point)
    return ExhaustiveResult(workload.name, space, hw, tuple(front), len(splits), len(ranges),
                            evaluated)


def front_differences(found: Sequence[HasCost], reference: Sequence[HasCost]) -> list[str]:
    """Where two fronts' staircases ``best(B) = min{dram : buffer <= B}`` differ, checked at
    every breakpoint of either; empty iff both fronts have the same (buffer, DRAM) points.

    Each entry reads ``"at B bytes: found D1, reference D2"`` (``-`` where nothing fits).
    """
    out = []
    for budget in sorted({p.buffer_bytes for p in (*found, *reference)}):
        a, b = _best_within(found, budget), _best_within(reference, budget)
        da = a.dram_bytes if a is not None else None
        db = b.dram_bytes if b is not None else None
        if da != db:
            out.append(f"at {budget} bytes: found {'-' if da is None else da}, "
                       f"reference {'-' if db is None else db}")
    return out
