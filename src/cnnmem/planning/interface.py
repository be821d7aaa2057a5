"""Activation-buffer planning: assign arena offsets to buffers with known lifetimes.

Times are schedule step indices; ``last_use`` is INCLUSIVE (the tflite-micro convention): two
buffers conflict when ``a.first_use <= b.last_use and b.first_use <= a.last_use``.

An :class:`OverlapAllowance` relaxes one conflict: at the step where a layer writes ``output``
and reads ``input`` for the last time, the output may overlap the dying input provided either
the input starts at least ``d_fwd`` above the output's start (the layer runs forward) or the
output ends at least ``d_rev`` above the input's end (the layer runs in reverse), the exact
conditions derived in :mod:`cnnmem.planning.overlap`; placing them disjoint is always allowed.

:meth:`MemoryPlan.verify` checks every plan: no two buffers that are live at once share a byte,
except as an allowance permits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cnnmem.errors import PlanningError


@dataclass(frozen=True, slots=True)
class BufferSpec:
    """One buffer to place.

    Attributes:
        name: identifies the buffer (its tensor).
        size_bytes: bytes it needs (already aligned by the caller).
        first_use: step that writes it.
        last_use: last step that reads it, INCLUSIVE.
    """

    name: str
    size_bytes: int
    first_use: int
    last_use: int

    def overlaps_in_time(self, other: BufferSpec) -> bool:
        """True if the two lifetimes share a step (inclusive ends)."""
        return self.first_use <= other.last_use and other.first_use <= self.last_use


@dataclass(frozen=True, slots=True)
class OverlapAllowance:
    """``output`` may overlap the dying ``input`` if ``off(in) - off(out) >= d_fwd`` or
    ``(off(out) + O) - (off(in) + I) >= d_rev``; otherwise they are placed disjoint.

    Attributes:
        output: name of the buffer the layer writes.
        input: name of the buffer the layer reads for the last time.
        min_distance_bytes: ``d_fwd``, the forward-order distance (see
            :mod:`cnnmem.planning.overlap`).
        step: the layer's step.
        layer: the layer's name (for reports).
        reverse_distance_bytes: ``d_rev``, the reverse-order distance (``None``: the layer may
            only run forward).
    """

    output: str
    input: str
    min_distance_bytes: int
    step: int
    layer: str = ""
    reverse_distance_bytes: int | None = None

    def best_distance(self) -> int:
        """The smaller distance of the allowed directions."""
        if self.reverse_distance_bytes is None:
            return self.min_distance_bytes
        return min(self.min_distance_bytes, self.reverse_distance_bytes)


@dataclass(frozen=True, slots=True)
class PlanProblem:
    """Buffers, the overlap allowances between them, and the alignment of offsets."""

    buffers: tuple[BufferSpec, ...]
    allowances: tuple[OverlapAllowance, ...] = ()
    alignment: int = 1

    def allowance_between(self, a: str, b: str) -> OverlapAllowance | None:
        """The allowance for the pair (either order), if any."""
        for al in self.allowances:
            if {al.output, al.input} == {a, b}:
                return al
        return None

    def without_allowances(self) -> PlanProblem:
        """The same buffers with every pair of simultaneously live buffers disjoint."""
        return PlanProblem(self.buffers, (), self.alignment)


def pair_is_compatible(a: BufferSpec, off_a: int, b: BufferSpec, off_b: int,
                       allowance: OverlapAllowance | None) -> bool:
    """True if ``a`` at ``off_a`` and ``b`` at ``off_b`` may coexist.

    Disjoint in time or in address: always. Otherwise only under ``allowance`` with the
    input at least ``d`` bytes above the output.
    """
    if not a.overlaps_in_time(b):
        return True
    if off_a + a.size_bytes <= off_b or off_b + b.size_bytes <= off_a:
        return True
    if a.size_bytes == 0 or b.size_bytes == 0:
        return True
    if allowance is None:
        return False
    (out, out_off), (inp, in_off) = (((a, off_a), (b, off_b)) if allowance.output == a.name
                                     else ((b, off_b), (a, off_a)))
    if in_off - out_off >= allowance.min_distance_bytes:
        return True
    d_rev = allowance.reverse_distance_bytes
    return d_rev is not None and (out_off + out.size_bytes) - (in_off + inp.size_bytes) >= d_rev


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """Offsets for every buffer of a :class:`PlanProblem`, with what the planner knows.

    Attributes:
        planner: name of the algorithm.
        problem: what was planned.
        offsets: ``offsets[i]`` belongs to ``problem.buffers[i]``.
        lower_bound_bytes: a proven lower bound of the arena under the problem's rules.
        optimal: True if the planner proved the arena minimal, False if it proved nothing,
            None for heuristics.
        notes: planner remarks (e.g. which ping-pong variant, solver status).
    """

    planner: str
    problem: PlanProblem
    offsets: tuple[int, ...]
    lower_bound_bytes: int
    optimal: bool | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def arena_bytes(self) -> int:
        """Arena size: the highest end address of any buffer."""
        return max((o + b.size_bytes for o, b in zip(self.offsets, self.problem.buffers,
                                                      strict=True)), default=0)

    def offset_of(self, name: str) -> int:
        """Offset of the buffer called ``name``."""
        for b, o in zip(self.problem.buffers, self.offsets, strict=True):
            if b.name == name:
                return o
        raise KeyError(name)

    def verify(self) -> None:
        """Raise :class:`PlanningError` on the first pair of buffers that may not coexist.

        Also checks offsets are non-negative and aligned. O(n^2) pairs, sorted by time so only
        pairs live at once are compared.
        """
        bufs = self.problem.buffers
        if len(self.offsets) != len(bufs):
            raise PlanningError(f"{self.planner}: {len(self.offsets)} offsets for "
                                f"{len(bufs)} buffers")
        align = max(1, self.problem.alignment)
        for b, o in zip(bufs, self.offsets, strict=True):
            if o < 0 or o % align:
                raise PlanningError(f"{self.planner}: buffer {b.name!r} at offset {o} is "
                                    f"negative or not aligned to {align} bytes")
        allow = {(al.output, al.input): al for al in self.problem.allowances}
        order = sorted(range(len(bufs)), key=lambda i: (bufs[i].first_use, i))
        for pos, i in enumerate(order):
            a, oa = bufs[i], self.offsets[i]
            for j in order[pos + 1:]:
                b, ob = bufs[j], self.offsets[j]
                if b.first_use > a.last_use:
                    break
                al = allow.get((a.name, b.name)) or allow.get((b.name, a.name))
                if not pair_is_compatible(a, oa, b, ob, al):
                    rule = (f" (overlap allowed only with the input start >= "
                            f"{al.min_distance_bytes} B above the output start, or the output "
                            f"end >= {al.reverse_distance_bytes} B above the input end)"
                            if al else "")
                    raise PlanningError(
                        f"{self.planner}: buffers {a.name!r} (steps {a.first_use}-"
                        f"{a.last_use}, bytes {oa}-{oa + a.size_bytes}) and {b.name!r} (steps "
                        f"{b.first_use}-{b.last_use}, bytes {ob}-{ob + b.size_bytes}) are live "
                        f"at the same time and share bytes{rule}")


class Planner(Protocol):
    """A memory planner: buffers with lifetimes in, offsets out."""

    name: str

    def plan(self, problem: PlanProblem) -> MemoryPlan:
        """Place every buffer of ``problem``."""
        ...


def align_up(value: int, alignment: int) -> int:
    """``value`` rounded up to a multiple of ``alignment``."""
    a = max(1, alignment)
    return -(-value // a) * a


def live_sets(buffers: Sequence[BufferSpec]) -> list[list[int]]:
    """For every step, the indices of the buffers live at it."""
    if not buffers:
        return []
    horizon = max(b.last_use for b in buffers) + 1
    steps: list[list[int]] = [[] for _ in range(horizon)]
    for i, b in enumerate(buffers):
        for s in range(b.first_use, b.last_use + 1):
            steps[s].append(i)
    return steps


def lower_bound(problem: PlanProblem) -> int:
    """Max over steps of the bytes that must coexist under the problem's rules.

    Without allowances: the sum of live sizes. An allowance ``(out, in, d)`` at its step lets
    the pair occupy ``max(O, I + min(d_fwd, d_rev))`` instead of ``O + I`` (the overlap model's
    footprint); no arena can be smaller than this bound.
    """
    bufs = problem.buffers
    index = {b.name: i for i, b in enumerate(bufs)}
    best = 0
    by_step: dict[int, list[OverlapAllowance]] = {}
    for al in problem.allowances:
        by_step.setdefault(al.step, []).append(al)
    for step, live in enumerate(live_sets(bufs)):
        total = sum(bufs[i].size_bytes for i in live)
        for al in by_step.get(step, []):
            if al.output in index and al.input in index:
                o, i_ = bufs[index[al.output]].size_bytes, bufs[index[al.input]].size_bytes
                total -= max(0, o + i_ - max(o, i_ + al.best_distance()))
        best = max(best, total)
    return best
