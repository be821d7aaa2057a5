"""Heuristic planners: naive, ping-pong, greedy-by-size (TFLM) and the overlap planner.

All share :class:`~cnnmem.planning.interface.PlanProblem` and return a verified
:class:`~cnnmem.planning.interface.MemoryPlan`. The exact planner is in
:mod:`cnnmem.planning.optimal`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence

from cnnmem.planning.interface import (
    BufferSpec,
    MemoryPlan,
    OverlapAllowance,
    PlanProblem,
    align_up,
    live_sets,
    lower_bound,
)

Interval = tuple[int, int]


def _forbidden(x: BufferSpec, y: BufferSpec, off_y: int,
               allowance: OverlapAllowance | None) -> Interval:
    """Open interval of offsets of ``x`` that conflict with ``y`` placed at ``off_y``.

    Without an allowance: ``(off_y - size_x, off_y + size_y)``. An allowance shrinks it from
    both sides (``O``, ``I``: output and input sizes): if ``x`` is the output, forward order
    lets it start as high as ``off_y - d_fwd`` and reverse order as low as
    ``off_y + I + d_rev - O``; if ``x`` is the input, forward lets it start as low as
    ``off_y + d_fwd`` and reverse as high as ``off_y + O - d_rev - I``.
    """
    lo, hi = off_y - x.size_bytes, off_y + y.size_bytes
    if allowance is not None:
        d_fwd = allowance.min_distance_bytes
        d_rev = allowance.reverse_distance_bytes
        if allowance.output == x.name:
            o, i = x.size_bytes, y.size_bytes
            lo = max(lo, off_y - d_fwd)
            if d_rev is not None:
                hi = min(hi, off_y + i + d_rev - o)
        else:
            o, i = y.size_bytes, x.size_bytes
            hi = min(hi, off_y + d_fwd)
            if d_rev is not None:
                lo = max(lo, off_y + o - d_rev - i)
    return lo, hi


def _allowance_map(problem: PlanProblem) -> dict[frozenset[str], OverlapAllowance]:
    return {frozenset((a.output, a.input)): a for a in problem.allowances}


Neighbours = list[list[tuple[int, "OverlapAllowance | None"]]]
"""Per buffer: the buffers live at some common step, each with the allowance of the pair."""


def neighbours(problem: PlanProblem) -> Neighbours:
    """For every buffer, the buffers whose lifetimes share a step with it (inclusive ends), in
    index order, each with the pair's overlap allowance (``None``: disjoint). Computed once
    per problem and shared by the placements of :func:`place` (a sweep over first uses:
    ``O(n log n + pairs)`` instead of a scan of every placed buffer per placement)."""
    bufs = problem.buffers
    allow = _allowance_map(problem)
    index = {b.name: i for i, b in enumerate(bufs)}
    pair_allow: dict[tuple[int, int], OverlapAllowance] = {}
    for a in allow.values():
        if a.output in index and a.input in index:
            i, j = index[a.output], index[a.input]
            pair_allow[(i, j)] = pair_allow[(j, i)] = a
    order = sorted(range(len(bufs)), key=lambda i: bufs[i].first_use)
    out: list[list[int]] = [[] for _ in bufs]
    for pos, i in enumerate(order):
        last = bufs[i].last_use
        for j in order[pos + 1:]:
            if bufs[j].first_use > last:
                break
            out[i].append(j)
            out[j].append(i)
    return [[(j, pair_allow.get((i, j))) for j in sorted(js)] for i, js in enumerate(out)]


def _first_fit(x: BufferSpec, intervals: Sequence[Interval], align: int) -> int:
    """TFLM's rule: the lowest offset >= 0 below the next conflicting buffer, scanning buffers
    in offset order (``GreedyMemoryPlanner::CalculateOffsetsIfNeeded``)."""
    candidate = 0
    for lo, hi in sorted(intervals):
        if hi <= lo:
            continue  # an allowance that never conflicts
        if candidate <= lo:
            break
        candidate = max(candidate, align_up(hi, align))
    return candidate


def _best_fit(x: BufferSpec, intervals: Sequence[Interval], align: int,
              placed_extent: tuple[int, int]) -> int:
    """The feasible offset (possibly negative: the arena is re-based later) that keeps the
    arena's extent smallest; ties: the offset closest to the current bottom.

    Candidates: the extent's bottom, the extent's top minus the size, and the aligned ends of
    every forbidden (open) interval; an offset is feasible if no interval contains it (checked
    against the merged intervals by bisection)."""
    real = sorted((lo, hi) for lo, hi in intervals if hi > lo)
    # merge open intervals that share interior points ((1, 3) and (3, 5) leave 3 free)
    merged_lo: list[int] = []
    merged_hi: list[int] = []
    for lo, hi in real:
        if merged_hi and lo < merged_hi[-1]:
            if hi > merged_hi[-1]:
                merged_hi[-1] = hi
        else:
            merged_lo.append(lo)
            merged_hi.append(hi)
    candidates = {placed_extent[0], placed_extent[1] - x.size_bytes}
    for lo, hi in real:
        candidates.add(align_up(hi, align))
        candidates.add((lo // align) * align)
    size = x.size_bytes
    bottom, top = placed_extent
    best: tuple[int, int, int] | None = None
    for c in candidates:
        if c % align:
            continue
        k = bisect_right(merged_lo, c - 1) - 1  # last merged interval with lo < c
        if k >= 0 and c < merged_hi[k]:
            continue
        key = (max(top, c + size) - min(bottom, c), abs(c - bottom), c)
        if best is None or key < best:
            best = key
    assert best is not None  # the top of everything placed is always feasible
    return best[2]


def tflm_order(buffers: Sequence[BufferSpec]) -> list[int]:
    """TFLM's placement order: size descending; equal sizes in reverse order of addition
    (its stable bubble sort runs over an array filled from the tail)."""
    return sorted(range(len(buffers)), key=lambda i: (-buffers[i].size_bytes, -i))


def place(problem: PlanProblem, order: Sequence[int], *, best_fit: bool = False,
          near: Neighbours | None = None, allowances: bool = True) -> list[int]:
    """Place buffers one by one in ``order`` around those already placed.

    ``near``: :func:`neighbours` of ``problem`` if already computed (placements of the same
    buffers share it). ``allowances=False`` ignores the problem's allowances (every live pair
    disjoint)."""
    offsets = place_below(problem, order, None, best_fit=best_fit, near=near,
                          allowances=allowances)
    assert offsets is not None
    return offsets


def place_below(problem: PlanProblem, order: Sequence[int], cap: int | None, *,
                best_fit: bool = False, near: Neighbours | None = None,
                allowances: bool = True) -> list[int] | None:
    """:func:`place`, giving up (``None``) as soon as the placed buffers span ``cap`` bytes or
    more: the arena, at least that span, could not be below ``cap`` (``None``: no cap)."""
    bufs = problem.buffers
    if near is None:
        near = neighbours(problem)
    align = max(1, problem.alignment)
    sizes = [b.size_bytes for b in bufs]
    offsets: list[int] = [0] * len(bufs)
    is_placed = [False] * len(bufs)
    placed: list[int] = []
    extent = (0, 0)
    for i in order:
        x = bufs[i]
        size = sizes[i]
        # conflicts with the placed buffers live at the same time as x
        if allowances and problem.allowances:
            intervals = [_forbidden(x, bufs[j], offsets[j], a) if a is not None
                         else (offsets[j] - size, offsets[j] + sizes[j])
                         for j, a in near[i] if is_placed[j]]
        else:
            intervals = [(offsets[j] - size, offsets[j] + sizes[j])
                         for j, _ in near[i] if is_placed[j]]
        if best_fit:
            off_x = _best_fit(x, intervals, align, extent)
        else:
            off_x = _first_fit(x, intervals, align)
        offsets[i] = off_x
        is_placed[i] = True
        placed.append(i)
        extent = (min(extent[0], off_x), max(extent[1], off_x + size))
        if cap is not None and extent[1] - extent[0] >= cap:
            return None
    if not placed:
        return []
    base = (min(offsets[i] for i in placed) // align) * align
    return [int(offsets[i]) - base for i in sorted(placed)]


class NaivePlanner:
    """No reuse: every buffer gets its own bytes (the sum), like tflite-micro's
    ``LinearMemoryPlanner``. The worst case every other plan is compared with."""

    name = "naive"

    def plan(self, problem: PlanProblem) -> MemoryPlan:
        """Place buffers back to back in problem order."""
        offsets, cursor = [], 0
        for b in problem.buffers:
            offsets.append(cursor)
            cursor += align_up(b.size_bytes, problem.alignment)
        rules = problem.without_allowances()
        return MemoryPlan(self.name, rules, tuple(offsets), lower_bound(rules))


class GreedyBySizePlanner:
    """Greedy by size, as tflite-micro's ``GreedyMemoryPlanner`` (its arena is reproduced
    byte for byte on the reference models).

    Steps:
      1. Sort buffers by size, largest first (ties: later-added first, as TFLM).
      2. Place the first at offset 0.
      3. For each next buffer, walk the already-placed buffers that are live at the same time
         in offset order and take the first gap large enough; else go above all of them.
      4. The arena is the highest end address.
    Not guaranteed optimal: the problem is NP-complete (it contains bin packing).
    Overlap allowances, if the problem has them, are honoured (that is the ``overlap``
    planner's first variant); this planner itself plans with all buffers disjoint.
    """

    name = "greedy"

    def plan(self, problem: PlanProblem) -> MemoryPlan:
        """Plan with every simultaneously live pair disjoint."""
        rules = problem.without_allowances()
        offsets = place(rules, tflm_order(rules.buffers))
        return MemoryPlan(self.name, rules, tuple(offsets), lower_bound(rules))


class PingPongPlanner:
    """The traditional mapping the overlap paper compares against.

    Chains (every step has at most two live buffers: the layer's input and output): two
    regions, one growing from the bottom of the arena and one from the top; consecutive
    buffers alternate, so every layer's input and output are disjoint and the arena is
    ``max over layers (input + output)``. Other graphs (branches, skip connections): a
    lifetime-based arena in which live tensors never share bytes (greedy by size), noted in the
    plan.
    """

    name = "pingpong"

    def plan(self, problem: PlanProblem) -> MemoryPlan:
        """Plan ``problem`` with each layer's input and output disjoint."""
        rules = problem.without_allowances()
        bufs = rules.buffers
        lb = lower_bound(rules)
        if bufs and all(len(s) <= 2 for s in live_sets(bufs)):
            arena = align_up(lb, rules.alignment)
            order = sorted(range(len(bufs)), key=lambda i: (bufs[i].first_use, i))
            offsets = [0] * len(bufs)
            for rank, i in enumerate(order):
                top = arena - align_up(bufs[i].size_bytes, rules.alignment)
                offsets[i] = 0 if rank % 2 == 0 else top
            plan = MemoryPlan(self.name, rules, tuple(offsets), lb,
                              notes=("chain: two regions (bottom-up and top-down)",))
            try:
                plan.verify()
                return plan
            except Exception:
                pass
        offsets = place(rules, tflm_order(bufs))
        return MemoryPlan(self.name, rules, tuple(offsets), lb,
                          notes=("not a chain: lifetime-based arena, live tensors disjoint "
                                 "(greedy by size)",))


def _orders(bufs: Sequence[BufferSpec]) -> list[tuple[str, list[int]]]:
    n = range(len(bufs))
    return [
        ("size", tflm_order(bufs)),
        ("first-use", sorted(n, key=lambda i: (bufs[i].first_use, -bufs[i].size_bytes, i))),
        ("last-use-desc", sorted(n, key=lambda i: (-bufs[i].last_use, -bufs[i].size_bytes, i))),
        ("lifetime", sorted(n, key=lambda i: (-(bufs[i].last_use - bufs[i].first_use),
                                              -bufs[i].size_bytes, i))),
    ]


class OverlapPlanner:
    """The overlap mapping generalised to DAGs: a layer's output may overlap its dying input
    by what the dataflow's overlap model allows; everything else live stays disjoint.

    Heuristic: greedy placement under the allowances, trying four orders (size, first use,
    last use, lifetime) x two rules (TFLM first fit; best fit that may slide an output below
    or above its input, re-basing the arena), plus the all-disjoint TFLM plan (so ``overlap``
    is never worse than ``greedy``), and keeping the smallest arena (first in that list on
    ties, so the result is deterministic). Not guaranteed optimal; ``optimal`` is exact.
    """

    name = "overlap"

    def plan(self, problem: PlanProblem) -> MemoryPlan:
        """Plan ``problem`` honouring its overlap allowances."""
        near = neighbours(problem)
        disjoint = place(problem, tflm_order(problem.buffers), near=near, allowances=False)
        best: tuple[int, list[int], str] = (
            max((o + b.size_bytes for o, b in zip(disjoint, problem.buffers, strict=True)),
                default=0), disjoint, "greedy without overlap")
        for label, order in _orders(problem.buffers):
            for best_fit in (False, True):
                # a variant is kept only if strictly smaller: stop it once it spans the best
                offsets = place_below(problem, order, best[0], best_fit=best_fit, near=near)
                if offsets is None:
                    continue
                arena = max((o + b.size_bytes for o, b in zip(offsets, problem.buffers,
                                                              strict=True)), default=0)
                if arena < best[0]:
                    best = (arena, offsets, f"{label}/{'best' if best_fit else 'first'}-fit")
        offsets = best[1]
        note = (f"order {best[2]}",)
        return MemoryPlan(self.name, problem, tuple(offsets), lower_bound(problem), notes=note)


PLANNERS: dict[str, Callable[[], object]] = {
    "naive": NaivePlanner,
    "pingpong": PingPongPlanner,
    "greedy": GreedyBySizePlanner,
    "overlap": OverlapPlanner,
}
