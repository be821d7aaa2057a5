"""Pareto fronts of (buffer bytes, DRAM bytes) and their combination for sequential groups.

A front is a list of points sorted by buffer ascending with DRAM strictly descending: no point
is dominated (another with no more buffer and no more DRAM). Ties on both are broken by fewer
MACs, then by the input order (deterministic).

Groups run one after another and reuse the buffer, so a network's buffer is the *maximum* over
its groups and its DRAM traffic the *sum*. For two fronts seen as staircase functions
``best(B) = min{dram : buffer <= B}``, the best combination within a buffer ``B`` is
``best_P(B) + best_G(B)``: :func:`combine` evaluates that at the union of both fronts'
breakpoints, in linear time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

import numpy as np


class HasCost(Protocol):
    """Anything with a buffer size, a DRAM traffic and a MAC count."""

    @property
    def buffer_bytes(self) -> int: ...

    @property
    def dram_bytes(self) -> int: ...

    @property
    def macs(self) -> int: ...


P = TypeVar("P", bound=HasCost)
Q = TypeVar("Q", bound=HasCost)
R = TypeVar("R", bound=HasCost)


def pareto_front(points: Iterable[P]) -> list[P]:
    """Non-dominated points of ``points`` sorted by buffer ascending (module docstring)."""
    indexed = sorted(enumerate(points),
                     key=lambda ip: (ip[1].buffer_bytes, ip[1].dram_bytes, ip[1].macs, ip[0]))
    front: list[P] = []
    for _, p in indexed:
        if not front or p.dram_bytes < front[-1].dram_bytes:
            front.append(p)
    return front


def pareto_indices(buffer_bytes: np.ndarray, dram_bytes: np.ndarray,
                   macs: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated entries of flat arrays (same rule as
    :func:`pareto_front`, ties by MACs then by index), ordered by buffer ascending."""
    order = np.lexsort((np.arange(len(buffer_bytes)), macs, dram_bytes, buffer_bytes))
    d = dram_bytes[order]
    if len(d) == 0:
        return order
    prev_min = np.minimum.accumulate(np.concatenate(([np.iinfo(np.int64).max], d[:-1])))
    return order[d < prev_min]


def is_front(points: Sequence[HasCost]) -> bool:
    """True if ``points`` is sorted by buffer strictly ascending and DRAM strictly
    descending (hence no point dominates another)."""
    return all(a.buffer_bytes < b.buffer_bytes and a.dram_bytes > b.dram_bytes
               for a, b in itertools.pairwise(points))


def best_within(front: Sequence[P], budget_bytes: int) -> P | None:
    """The least-DRAM point of ``front`` whose buffer is at most ``budget_bytes``."""
    best = None
    for p in front:
        if p.buffer_bytes <= budget_bytes:
            best = p
        else:
            break
    return best


def combine(first: Sequence[P], second: Sequence[Q], join: Callable[[P, Q], R]) -> list[R]:
    """The front of running a ``first`` point then a ``second`` point (buffer = max, DRAM =
    sum), built by ``join`` (which must return those totals).

    Walks the union of the two fronts' buffer breakpoints; at each one takes the best point of
    each front within it (module docstring). Both inputs must be fronts.
    """
    out: list[R] = []
    i = j = 0
    while i < len(first) and j < len(second):
        # the breakpoint is the larger of the two current buffers; advance the other front as
        # far as it stays within it
        limit = max(first[i].buffer_bytes, second[j].buffer_bytes)
        while i + 1 < len(first) and first[i + 1].buffer_bytes <= limit:
            i += 1
        while j + 1 < len(second) and second[j + 1].buffer_bytes <= limit:
            j += 1
        point = join(first[i], second[j])
        if not out or point.dram_bytes < out[-1].dram_bytes:
            out.append(point)
        # move to the next breakpoint: the smaller next buffer of either front
        nxt_i = first[i + 1].buffer_bytes if i + 1 < len(first) else None
        nxt_j = second[j + 1].buffer_bytes if j + 1 < len(second) else None
        if nxt_i is None and nxt_j is None:
            break
        if nxt_j is None or (nxt_i is not None and nxt_i <= nxt_j):
            i += 1
        else:
            j += 1
    return out
