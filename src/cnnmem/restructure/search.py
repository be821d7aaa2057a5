"""The restructuring search: tile segments (or split channel chains) around the memory peak,
greedily, after choosing the least-peak layer order.

Shape (ZigZag's generate -> evaluate -> reduce, C7):

0. **Order**: with ``reorder`` (default), the graph's topological order with the least liveness
   peak (:func:`~cnnmem.passes.memory_order.schedule_order`) replaces its own if it lowers the
   peak without raising the planner's arena; segments are intervals of that order.

1. **State**: a set of disjoint :class:`SegmentRewrite` s on the *original* graph (layer names
   of a segment, the axis, the number of tiles). A state is evaluated by copying the
   original graph, applying one :class:`~cnnmem.passes.tile_split.TileSplitPass` per segment,
   and measuring the arena of the chosen planner with in-place Concats
   (:func:`cnnmem.restructure.measure.measure`) and the MACs.
2. **Generate**: from the current state's liveness peak step, the *involved* layers are the
   node running there plus the writers and readers of every buffer live at that step, mapped
   back to original layer names. Candidate segments are the intervals of 1 .. ``max_layers``
   consecutive nodes of the original schedule that contain an involved layer and form a valid
   segment (:func:`~cnnmem.passes.tile_split.segment_error`: chains, residual blocks, fire and
   Inception modules, and runs of them), each with every tile count in ``parts`` that fits its
   output height; on float graphs under a float accounting, also the intervals that are
   channel chains (:class:`~cnnmem.passes.channel_chain.ChannelChainSplitPass`, axis ``"C"``)
   with every band count in ``parts``; a candidate replaces the segments of the state it
   overlaps. Tile counts are
   tried in increasing order and dropped for a segment once one exceeds the MAC budget.
3. **Evaluate** every new candidate state (cached by state, so each is measured once).
4. **Reduce** (greedy step, best ratio): of the planned candidates within the MAC budget
   (``max_overhead``) that lower the progress key (arena, then liveness peak, then number of
   steps at that peak; see :attr:`~cnnmem.restructure.measure.Measurement.progress_key`), take
   the one that buys the most of the highest level any of them lowers per extra MAC
   (``gain / max(extra MACs, 1e-4 * MACs)``, so rewrites without recomputation rank by gain),
   ties by fewer MACs, then by generation order. Stop when no candidate lowers the key. Buying
   the cheapest bytes first keeps MAC budget for the next peaks (taking the largest step first
   was measured to spend the budget early: 70 % vs 77 % saving on MobileNetV2); the key's tail
   lets the search leave a plateau where separate places share the peak (lowering one of them
   does not lower the arena yet, but removes peak steps). With ``budget_bytes``: stop as soon
   as the state fits; if a candidate fits, take the one with the fewest MACs among those that
   fit; otherwise choose as above.
   A candidate whose lower bound exceeds the current arena cannot lower it and is not planned:
   the liveness peak for planners that keep live buffers disjoint, the overlap problem's bound
   (:func:`~cnnmem.planning.interface.lower_bound`) for ``overlap`` / ``optimal``. The liveness
   peak (overlap floor) is computed exactly from the rewritten layers alone where it can be
   (:meth:`_Search.local_peak`), so such candidates are not even built.
5. **Pareto front**: of every planned state within the MAC budget, those not dominated in
   (arena, MACs).
6. **Result**: the planned state within the MAC budget with the least arena, then the fewest
   MACs, then the fewest rewrites (with ``budget_bytes``: the fewest MACs among the states that
   fit, if any does). A
   greedy step that only lowers the tail of the progress key (the liveness peak, the steps at
   it) buys MACs without lowering the arena; if no later step pays off, the returned state is
   an earlier, cheaper one (possibly the original graph, with no rewrite).

Deterministic: candidates are generated in schedule order of the original graph, then by
segment start, length and tile count; no randomness. Not optimal: the greedy step commits to
one segment at a time and the candidate set is local to the peak.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cnnmem.analysis.accounting import Accounting
from cnnmem.analysis.liveness import Buffer, Liveness, compute_liveness, in_place_concats
from cnnmem.errors import CnnmemError, ConfigError, InvariantError
from cnnmem.ir.graph import Graph, TensorKind
from cnnmem.ir.verify import verify
from cnnmem.passes.channel_chain import ChannelChainSplitPass, chain_channels, channel_chain_error
from cnnmem.passes.infra import Pass, PassManager
from cnnmem.passes.memory_order import schedule_order
from cnnmem.passes.tile_split import TileSplitPass, tileable_op
from cnnmem.planning.interface import lower_bound
from cnnmem.planning.overlap import Dataflow
from cnnmem.restructure.clone import clone_graph, extract_subgraph
from cnnmem.restructure.measure import (
    Measurement,
    build_problem_in_place,
    measure,
    overlap_floor,
    overlap_step_floors,
)

__all__ = ["DEFAULT_COL_PARTS", "DEFAULT_PARTS", "ParetoPoint", "Reordering",
           "RestructureResult", "SegmentRewrite", "apply_rewrites", "channel_chains_exact",
           "restructure"]

DEFAULT_PARTS = (2, 3, 4, 5, 6, 8, 10, 12, 14, 16)
"""Tile counts the search tries (each also limited by the segment's output height)."""

DEFAULT_COL_PARTS = (2, 3, 4)
"""Column band counts of the H x W grids the search tries (each with 1 or ``parts`` row bands
up to ``GRID_MAX_ROW_PARTS``; limited by the output width)."""

GRID_MAX_ROW_PARTS = 8
"""Most row bands of an H x W grid the search tries (more tiles recompute halos on four
sides; beyond 8 x 2 the grids were never chosen on the benchmark networks)."""


@dataclass(frozen=True, slots=True)
class SegmentRewrite:
    """One rewritten segment: tiled, or split into channel bands.

    Attributes:
        layers: node names of the segment in schedule order (names of the original graph).
        axis: ``"H"`` (row bands), ``"HW"`` (row bands x column bands) or ``"C"`` (a channel
            chain computed in bands of its hidden channels with partial sums,
            :class:`~cnnmem.passes.channel_chain.ChannelChainSplitPass`; float graphs only).
        parts: number of row bands (channel bands for ``"C"``).
        col_parts: column bands per row band (1 for ``"H"`` and ``"C"``).
    """

    layers: tuple[str, ...]
    axis: str = "H"
    parts: int = 2
    col_parts: int = 1

    @property
    def tiles(self) -> int:
        """Tiles run one after another: ``parts * col_parts``."""
        return self.parts * self.col_parts

    @property
    def grid(self) -> str:
        """``"4"`` for 4 row bands, ``"2x3"`` for 2 row bands x 3 column bands, ``"c4"`` for
        4 channel bands."""
        if self.axis == "C":
            return f"c{self.parts}"
        return str(self.parts) if self.axis == "H" else f"{self.parts}x{self.col_parts}"

    def tile_pass(self) -> Pass:
        """The pass that applies this rewrite."""
        if self.axis == "C":
            return ChannelChainSplitPass(self.layers, self.parts)
        return TileSplitPass(self.layers, self.parts, self.axis, self.col_parts)

    def as_dict(self) -> dict[str, Any]:
        """JSON form: ``{"layers": [...], "axis": "H" | "HW" | "C", "parts": tiles (channel
        bands for "C"), "grid": [row bands, column bands] (null for "C")}``."""
        return {"layers": list(self.layers), "axis": self.axis, "parts": self.tiles,
                "grid": None if self.axis == "C" else [self.parts, self.col_parts]}


State = tuple[SegmentRewrite, ...]


@dataclass(frozen=True, slots=True)
class ParetoPoint:
    """One evaluated state on the Pareto front of arena bytes vs MACs.

    Attributes:
        peak_bytes: arena of the search's planner.
        macs: multiply-accumulates of the rewritten graph.
        overhead: ``macs / macs_before - 1``.
        segments: the rewrites.
    """

    peak_bytes: int
    macs: int
    overhead: float
    segments: tuple[SegmentRewrite, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"peak_bytes": self.peak_bytes, "macs": self.macs,
                "overhead": round(self.overhead, 6),
                "segments": [s.as_dict() for s in self.segments]}


@dataclass(frozen=True, slots=True)
class Reordering:
    """The memory-aware schedule chosen before the segment search
    (:func:`cnnmem.passes.memory_order.schedule_order`, in-place Concats).

    Attributes:
        applied: the search ran on the new order (its liveness peak is strictly lower and the
            planner's arena not higher than the graph's own order's).
        method: ``exact`` (least peak over every topological order), ``greedy`` (the
            heuristic, when the exact search ran out of states) or ``original``.
        exact: the order's liveness peak is the least over all topological orders.
        live_peak_before_bytes: liveness peak of the graph's own order.
        live_peak_after_bytes: liveness peak of the chosen order.
        arena_bytes: the planner's arena of the reordered graph before any tiling (that of the
            graph's own order when not applied).
        schedule: node names of the original graph in the new order (empty: not applied).
    """

    applied: bool
    method: str
    exact: bool
    live_peak_before_bytes: int
    live_peak_after_bytes: int
    arena_bytes: int
    schedule: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON form (the schedule only when applied)."""
        out: dict[str, Any] = {"applied": self.applied, "method": self.method,
                               "exact": self.exact,
                               "live_peak_before_bytes": self.live_peak_before_bytes,
                               "live_peak_after_bytes": self.live_peak_after_bytes,
                               "arena_bytes": self.arena_bytes}
        if self.applied:
            out["schedule"] = list(self.schedule)
        return out


@dataclass(frozen=True, slots=True)
class RestructureResult:
    """Outcome of :func:`restructure`.

    Attributes:
        peak_before_bytes: arena of the original graph (planner ``planner``, in-place Concats).
        peak_after_bytes: arena of the rewritten graph.
        macs_before: MACs of the original graph.
        macs_after: MACs of the rewritten graph.
        segments: the chosen rewrites, in schedule order.
        pareto: the Pareto front of every evaluated state, by increasing MACs.
        planner: the planner that measured the arenas.
        accounting: the accounting of every figure.
        equivalent: onnxruntime equivalence of original and rewritten graph (``None``: not
            checked).
        overlap_before_bytes: arena of the ``overlap`` planner (hwc-row dataflow) before, if
            measured.
        overlap_after_bytes: the same after.
        evaluated: number of states planned (candidates pruned by their liveness peak are not
            counted).
        search_seconds: wall time of the search (greedy steps and the final rewrite, not the
            equivalence check or the overlap figures); not part of the JSON form, which is
            deterministic.
        reordering: the memory-aware schedule chosen before the segment search (``None``:
            not tried). When applied, ``segments`` refer to the reordered schedule: rebuild the
            rewritten graph with :meth:`apply`.
    """

    peak_before_bytes: int
    peak_after_bytes: int
    macs_before: int
    macs_after: int
    segments: tuple[SegmentRewrite, ...]
    pareto: tuple[ParetoPoint, ...]
    planner: str
    accounting: Accounting
    equivalent: bool | None = None
    overlap_before_bytes: int | None = None
    overlap_after_bytes: int | None = None
    evaluated: int = 0
    search_seconds: float = field(default=0.0, compare=False)
    reordering: Reordering | None = None

    @property
    def schedule(self) -> tuple[str, ...]:
        """The order the segments were searched in (empty: the graph's own order)."""
        return self.reordering.schedule if self.reordering is not None else ()

    def apply(self, graph: Graph, *, verify_each: bool = True) -> Graph:
        """The rewritten copy of ``graph`` (the graph the search was given): reordered as
        :attr:`reordering` says, then every segment rewritten."""
        return apply_rewrites(graph, self.segments, schedule=self.schedule,
                              verify_each=verify_each)

    @property
    def mac_overhead(self) -> float:
        """``macs_after / macs_before - 1``."""
        return self.macs_after / self.macs_before - 1 if self.macs_before else 0.0

    @property
    def peak_saving(self) -> float:
        """``1 - peak_after / peak_before``."""
        return 1 - self.peak_after_bytes / self.peak_before_bytes \
            if self.peak_before_bytes else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON form (keys ``peak_before_bytes``, ``peak_after_bytes``, ``macs_before``,
        ``macs_after``, ``equivalent``, ``segments`` plus planner, accounting, overhead,
        saving, overlap figures and the Pareto front)."""
        return {
            "peak_before_bytes": self.peak_before_bytes,
            "peak_after_bytes": self.peak_after_bytes,
            "macs_before": self.macs_before,
            "macs_after": self.macs_after,
            "equivalent": self.equivalent,
            "segments": [s.as_dict() for s in self.segments],
            "planner": self.planner,
            "accounting": self.accounting.describe() + "; concats along H in place",
            "mac_overhead": round(self.mac_overhead, 6),
            "peak_saving": round(self.peak_saving, 6),
            "overlap_before_bytes": self.overlap_before_bytes,
            "overlap_after_bytes": self.overlap_after_bytes,
            "evaluated": self.evaluated,
            "pareto": [p.as_dict() for p in self.pareto],
            "reordering": self.reordering.as_dict() if self.reordering is not None else None,
        }


def apply_rewrites(graph: Graph, segments: Sequence[SegmentRewrite], *,
                   verify_each: bool = True, schedule: Sequence[str] = ()) -> Graph:
    """A copy of ``graph`` with every segment tiled (``graph`` is not changed).

    ``schedule``: node names of ``graph`` in the order to run them before the segments are
    applied (a topological order, e.g. :attr:`RestructureResult.schedule`; empty: the graph's
    own order). With ``verify_each`` (default) the passes run under a verifying
    :class:`~cnnmem.passes.infra.PassManager`; without it, only each pass's ``call``.

    Raises:
        PassError: a segment is not valid on ``graph``.
        InvariantError: ``schedule`` is not a permutation of the nodes.
    """
    out = clone_graph(graph)
    if schedule:
        _reorder_by_names(out, schedule)
    passes = [s.tile_pass() for s in segments]
    if verify_each:
        if passes:
            PassManager(passes)(out)
    else:
        # the search's fast path: no requires/ensures (call() validates the segment itself
        # and checks every tile's geometry); the chosen state is re-applied with verification
        for p in passes:
            p.call(out)
    return out


def _reorder_by_names(graph: Graph, schedule: Sequence[str]) -> None:
    if len(schedule) != len(graph.nodes):
        raise InvariantError(f"schedule of {len(schedule)} nodes for a graph of "
                             f"{len(graph.nodes)}")
    graph.reorder([graph.node(name) for name in schedule])
    verify(graph, check_shapes=False)  # a topological order


@dataclass(slots=True)
class _Evaluated:
    state: State
    measurement: Measurement
    liveness: Liveness = field(repr=False)
    graph: Graph = field(repr=False)


class _Search:
    """The search's working data (one instance per :func:`restructure` call)."""

    def __init__(self, graph: Graph, accounting: Accounting, planner: str,
                 max_layers: int, parts: Sequence[int], macs_limit: float | None,
                 col_parts: Sequence[int] = (), jobs: int = 1,
                 dataflow: Dataflow | None = None, channels: bool = False) -> None:
        self.graph = graph
        self.accounting = accounting
        self.planner = planner
        self.max_layers = max_layers
        self.parts = tuple(parts)
        self.macs_limit = macs_limit
        nodes = graph.nodes
        self.position = {n.name: i for i, n in enumerate(nodes)}
        self.tileable = [tileable_op(n) for n in nodes]
        self.col_parts = tuple(col_parts)
        self.jobs = jobs
        # planners that overlap a layer's output with its dying input plan below the liveness
        # peak: candidates are then pruned by the overlap problem's lower bound instead
        self.dataflow = dataflow if planner in ("overlap", "optimal") else None
        self.prune = self.dataflow is None
        self.tileable_hw = [tileable_op(n, "HW") for n in nodes] if col_parts else []
        outputs = {id(t) for t in graph.outputs}
        # last reader position of each node's output (len(nodes) for graph outputs, -1 if none)
        self.last_reader = []
        for n in nodes:
            out = n.outputs[0] if n.outputs else None
            if out is None:
                self.last_reader.append(-1)
            elif id(out) in outputs:
                self.last_reader.append(len(nodes))
            else:
                self.last_reader.append(max((self.position[c.name] for c in out.consumers),
                                            default=-1))
        self.cache: dict[State, Measurement] = {}
        self.order: list[State] = []
        self.pruned: dict[State, int] = {}
        self._kept_base: State | None = None
        self._kept_graphs: dict[State, Graph] = {}
        self._floors_base: State | None = None
        self._floors: tuple[list[int], list[int]] = ([], [])
        # see quick_bound: the original graph's own in-place Concats would void the bound
        self.quick_prune = not in_place_concats(graph, accounting)
        # channel chains (float graphs): schedule interval -> channel units, None if invalid
        self.channels = channels
        self._chains: dict[tuple[int, int], int | None] = {}
        # segment-only liveness of each rewrite (see local_peak), shared across greedy steps
        self.local: dict[tuple[SegmentRewrite, int, int], _LocalProfile | None] = {}
        self._counted_base: State | None = None
        self._counted: dict[str, Buffer] = {}
        self.outputs = {t.name for t in graph.outputs}

    def canonical(self, state: Sequence[SegmentRewrite]) -> State:
        return tuple(sorted(state, key=lambda s: self.position[s.layers[0]]))

    def evaluate(self, state: State, keep: bool = False, bound: int | None = None,
                 base: _Evaluated | None = None) -> _Evaluated | Measurement | None:
        """Measure ``state`` (cached). With ``bound``, a state whose lower bound (liveness peak,
        or the overlap problem's bound) exceeds it is not planned (its arena could not be below
        ``bound``) and ``None`` is returned.
        ``base``: an evaluated state that ``state`` extends by one segment; its rewritten graph
        is copied and only the new segment applied (same result, less work)."""
        if state in self.cache and not keep:
            return self.cache[state]
        if state in self.pruned and bound is not None and self.pruned[state] > bound:
            return None
        added = [s for s in state if s not in base.state] if base is not None else []
        if base is not None and len(added) == 1:
            # one new segment on top of segments of ``base``: start from the rewritten graph of
            # the kept segments (``base``'s own, or one cached for this step)
            kept = tuple(s for s in state if s in base.state)
            g = clone_graph(self.kept_graph(kept, base))
            added[0].tile_pass().call(g)
        else:
            g = apply_rewrites(self.graph, state, verify_each=False)
        live = compute_liveness(g, self.accounting, concat_in_place=True)
        context = None
        floor = live.peak_bytes
        if not self.prune:
            # overlap rules: the problem's own lower bound (below the liveness peak); a bound
            # of that bound from the liveness alone first, which spares building the problem
            # of most candidates that cannot lower the arena
            if bound is not None and not keep:
                cheap = overlap_floor(g, live, self.accounting)
                if cheap > bound:
                    self.pruned[state] = cheap
                    return None
            context = build_problem_in_place(g, self.accounting, self.dataflow, liveness=live)
            floor = lower_bound(context.problem)
        if bound is not None and floor > bound and not keep:
            self.pruned[state] = floor
            return None
        m, live = measure(g, self.accounting, self.planner, self.dataflow, liveness=live,
                          context=context)
        if state not in self.cache:
            self.cache[state] = m
            self.order.append(state)
        return _Evaluated(state, m, live, g) if keep else m

    def kept_graph(self, kept: State, base: _Evaluated) -> Graph:
        """The rewritten graph of ``kept`` (a subset of ``base.state``): ``base.graph`` itself,
        or built once per greedy step (the cache is keyed by the base state)."""
        if kept == base.state:
            return base.graph
        if self._kept_base != base.state:
            self._kept_base = base.state
            self._kept_graphs = {}
        if kept not in self._kept_graphs:
            self._kept_graphs[kept] = apply_rewrites(self.graph, kept, verify_each=False)
        return self._kept_graphs[kept]

    def origin(self, rewritten: Graph, state: State) -> dict[str, str]:
        """Rewritten node name -> original layer name (tile copies, slices, concats)."""
        layers = {name for seg in state for name in seg.layers}
        out: dict[str, str] = {}
        for node in rewritten.nodes:
            if node.name in self.position:
                out[node.name] = node.name
                continue
            prefix = node.name.rpartition("/")[0]
            if prefix in layers:
                out[node.name] = prefix
        return out

    def involved(self, current: _Evaluated) -> list[str]:
        """Original layers involved in the current liveness peak, in schedule order: the layer
        running at the peak step and the writers and readers of every buffer live there."""
        live, g = current.liveness, current.graph
        step = live.peak_step
        names = {live.steps[step]}
        tensors = g.tensors
        for buf in live.live_buffers(step):
            for tname in buf.tensors:
                t = tensors[tname]
                if t.producer is not None:
                    names.add(t.producer.name)
                names.update(c.name for c in t.consumers)
        origin = self.origin(g, current.state)
        mapped = {origin[n] for n in names if n in origin}
        return sorted(mapped, key=self.position.__getitem__)

    def valid(self, i: int, j: int, axis: str = "H") -> bool:
        """The schedule interval ``[i, j]`` is a valid segment for ``axis`` (see
        :func:`~cnnmem.passes.tile_split.segment_error`), checked from precomputed tables."""
        table = self.tileable if axis == "H" else self.tileable_hw
        if not all(table[i:j + 1]) or self.last_reader[j] <= j:
            return False
        return all(p < self.last_reader[p] <= j for p in range(i, j))

    def chain_units(self, i: int, j: int) -> int | None:
        """Channel units of the schedule interval ``[i, j]`` as a channel chain
        (:func:`~cnnmem.passes.channel_chain.chain_channels`), ``None`` if it is not one."""
        key = (i, j)
        if key not in self._chains:
            layers = [n.name for n in self.graph.nodes[i:j + 1]]
            ok = j > i and channel_chain_error(self.graph, layers) is None
            self._chains[key] = chain_channels(self.graph, layers) if ok else None
        return self._chains[key]

    def candidates(self, state: State, involved: Sequence[str]
                   ) -> list[tuple[State, tuple[int, int]]]:
        """Candidate states with their segment's output height and width, in generation order:
        row bands (``parts``), then row x column grids (``col_parts`` x ``1, *parts``), then
        channel chains (``parts`` channel bands; the extent is ``(units, 1)``)."""
        seen: set[State] = set()
        out: list[tuple[State, tuple[int, int]]] = []
        nodes = self.graph.nodes
        for name in involved:
            k = self.position[name]
            for i in range(max(0, k - self.max_layers + 1), k + 1):
                for j in range(k, min(len(nodes), i + self.max_layers)):
                    units = self.chain_units(i, j) if self.channels else None
                    if units is not None:
                        layers = tuple(n.name for n in nodes[i:j + 1])
                        inside = set(layers)
                        kept = [s for s in state if not inside & set(s.layers)]
                        for p in self.parts:
                            cand = self.canonical([*kept, SegmentRewrite(layers, "C", p)])
                            if cand not in seen:
                                seen.add(cand)
                                out.append((cand, (units, 1)))
                    if not self.valid(i, j):
                        continue
                    layers = tuple(n.name for n in nodes[i:j + 1])
                    inside = set(layers)
                    kept = [s for s in state if not inside & set(s.layers)]
                    shape = nodes[j].outputs[0].shape
                    rewrites = [SegmentRewrite(layers, "H", p) for p in self.parts]
                    if self.col_parts and self.valid(i, j, "HW"):
                        rewrites += [SegmentRewrite(layers, "HW", p, q) for q in self.col_parts
                                     for p in (1, *self.parts) if p <= GRID_MAX_ROW_PARTS]
                    for rewrite in rewrites:
                        cand = self.canonical([*kept, rewrite])
                        if cand not in seen:
                            seen.add(cand)
                            out.append((cand, (shape[2], shape[3])))
        return out

    def step_candidates(self, current: _Evaluated, involved: Sequence[str]
                        ) -> list[tuple[State, Measurement]]:
        """Evaluate the candidates within the MAC budget that may lower the arena below
        ``arena`` (or to it). For one segment, tile counts are tried in increasing order and
        the rest skipped once one exceeds the budget (more tiles recompute more halo rows) or
        once one does not lower the liveness peak below the previous count's (more tiles
        shrink the segment's tiles; once they no longer hold the peak, more tiles cannot lower
        it, they only add recomputation).

        The candidates of one segment and grid shape (a *run*) depend on each other through
        that rule; runs are independent, so with ``jobs > 1`` they are evaluated in forked
        worker processes and merged in generation order (same result as one process)."""
        runs: list[list[tuple[State, tuple[int, int]]]] = []
        last_key: object = None
        for cand, extent in self.candidates(current.state, involved):
            key = self.run_key(current.state, cand)
            if not runs or key != last_key:
                runs.append([])
                last_key = key
            runs[-1].append((cand, extent))
        if self.jobs > 1 and len(runs) > 1:
            global _FORKED
            _FORKED = (self, current)
            try:
                # longest runs first (they bound the step's wall time), results put back in
                # generation order
                by_size = sorted(range(len(runs)), key=lambda k: -len(runs[k]))
                # objects that exist at the fork are left out of the workers' garbage
                # collections: they would otherwise touch (copy) every page of this process
                gc.freeze()
                with multiprocessing.get_context("fork").Pool(self.jobs) as pool:
                    done = pool.map(_run_forked, [runs[k] for k in by_size], chunksize=1)
                outcomes: list[list[tuple[State, Measurement | None, int | None]]] = \
                    [[] for _ in runs]
                for k, (outcome, local) in zip(by_size, done, strict=True):
                    outcomes[k] = outcome
                    self.local.update(local)  # segment profiles for the next greedy steps
            finally:
                gc.unfreeze()
                _FORKED = None
        else:
            outcomes = [self.run(current, r) for r in runs]
        scored = []
        for outcome in outcomes:
            for cand, m, pruned in outcome:
                if m is None:
                    if pruned is not None:
                        self.pruned[cand] = pruned
                    continue
                if cand not in self.cache:
                    self.cache[cand] = m
                    self.order.append(cand)
                if self.macs_limit is None or m.macs <= self.macs_limit:
                    scored.append((cand, m))
        return scored

    @staticmethod
    def run_key(state: State, cand: State) -> tuple[object, ...]:
        """The run a candidate belongs to: its new segment's layers, axis and column bands."""
        new = [s for s in cand if s not in state]
        return (new[0].layers, new[0].axis, new[0].col_parts) if len(new) == 1 else ()

    def step_floors(self, current: _Evaluated) -> tuple[list[int], list[int]]:
        """Per step of ``current``'s graph: a lower bound of what the search's planner needs
        at that step (the live bytes for disjoint planners,
        :func:`~cnnmem.restructure.measure.overlap_step_floors` for overlap planners) and the
        schedule position of the original layer the step's node comes from (-1: unknown).
        Computed once per greedy step."""
        if self._floors_base != current.state:
            g, live = current.graph, current.liveness
            floors = list(live.live_bytes) if self.prune else \
                overlap_step_floors(g, live, self.accounting)
            origin = self.origin(g, current.state)
            positions = [self.position.get(origin.get(n.name, ""), -1) for n in g.nodes]
            self._floors_base = current.state
            self._floors = (floors, positions)
        return self._floors

    def local_profile(self, rewrite: SegmentRewrite, lo: int, hi: int
                      ) -> _LocalProfile | None:
        """The liveness of the layers ``[lo, hi]`` of the schedule (they hold ``rewrite``'s
        segment; the others are left as they are) with ``rewrite`` applied, alone (cached).

        The layers are copied into a graph of their own (the activations they read from
        outside are its inputs, the tensors read after ``hi`` or that are graph outputs its
        outputs), the rewrite is applied and
        :func:`~cnnmem.analysis.liveness.compute_liveness` (in-place Concats, graph I/O
        counted) gives every buffer's lifetime. ``None`` if the rewrite does not apply to the
        layers alone."""
        key = (rewrite, lo, hi)
        if key not in self.local:
            self.local[key] = _local_profile(self.graph, rewrite, lo, hi, self.accounting,
                                             savings=not self.prune)
        return self.local[key]

    def counted_buffers(self, current: _Evaluated) -> dict[str, Buffer]:
        """Buffers of ``current``'s graph that count under the accounting, by name (per step)."""
        if self._counted_base != current.state:
            live = current.liveness
            self._counted = {b.name: b for b in live.buffers
                             if self.accounting.include_io or not (b.is_input or b.is_output)}
            self._counted_base = current.state
        return self._counted

    def local_peak(self, current: _Evaluated, cand: State) -> int | None:
        """The liveness peak of ``cand`` (in-place Concats; overlap planners: its overlap
        floor), computed without building its graph, or ``None`` where the shortcut does not
        apply. Exact (checked against the built
        candidates in the tests).

        ``cand`` adds one rewrite to ``current``'s segments, replacing those it overlaps (their
        layers outside the new segment return to the untiled graph). The layers of the new
        segment and of the replaced ones form one interval of the schedule (segments are
        intervals, and the replaced ones overlap the new one) holding no other segment; their
        nodes in ``current``'s graph are the *stretch*, consecutive steps ``[s0, s1]``. Then:

        - a step outside the stretch keeps its live set (see :meth:`quick_bound`): its live
          bytes are ``current``'s;
        - a step inside holds the buffers *crossing* the stretch (written before ``s0``, read
          after ``s1``: unchanged) and the buffers of the rewritten segment: its intermediates,
          its inputs (from before ``s0`` until their last read inside, unless they cross) and
          its outputs (from their first write on). Those are exactly the buffers of the
          interval's layers alone, rewritten (:meth:`local_profile`), their inputs counted as
          their buffers in ``current`` are (not at all when crossing or graph inputs outside
          the arena), their outputs unless they are graph outputs outside the arena.

        For overlap planners it is the candidate's
        :func:`~cnnmem.restructure.measure.overlap_floor` instead (the same buffers, each step
        less the saving of its layer's allowance: decided inside the layers, except whether an
        input dies there (not if it crosses) and whether the output is in the arena).
        Only for graphs without in-place Concats of their own (as :meth:`quick_bound`)."""
        if not self.quick_prune:
            return None
        new = [s for s in cand if s not in current.state]
        if len(new) != 1:
            return None
        rewrite = new[0]
        lo, hi = self.position[rewrite.layers[0]], self.position[rewrite.layers[-1]]
        for seg in current.state:
            if seg not in cand:  # replaced: its layers return to the untiled graph
                lo = min(lo, self.position[seg.layers[0]])
                hi = max(hi, self.position[seg.layers[-1]])
        floors, positions = self.step_floors(current)
        steps = [k for k, p in enumerate(positions) if lo <= p <= hi]
        if not steps or -1 in positions or steps[-1] - steps[0] + 1 != len(steps):
            return None
        profile = self.local_profile(rewrite, lo, hi)
        if profile is None:
            return None
        s0, s1 = steps[0], steps[-1]
        outside = max((f for k, f in enumerate(floors) if not s0 <= k <= s1), default=0)
        counted = self.counted_buffers(current)
        buffer_of = current.liveness.buffer_of
        crossing = sum(b.size_bytes for b in counted.values()
                       if b.first_step < s0 and b.last_step > s1)
        extra = [0] * (len(profile.live_bytes) + 1)
        for first, last, size, name, is_input in profile.ends:
            if is_input:  # an input of the layers: counted as its buffer in ``current`` is
                buf = counted.get(buffer_of.get(name, ""))
                if buf is None or (buf.first_step < s0 and buf.last_step > s1):
                    continue
            elif not self.accounting.include_io and name in self.outputs:
                continue
            extra[first] += size
            extra[last + 1] -= size
        running, inside = 0, 0
        include_io = self.accounting.include_io
        for k, base in enumerate(profile.live_bytes):
            running += extra[k]
            saving = 0
            if not self.prune:
                for amount, source, out, is_output in profile.savings[k]:
                    if is_output and not include_io and out in self.outputs:
                        continue  # the output's buffer is not in the arena
                    if source is not None:
                        buf = counted.get(buffer_of.get(source, ""))
                        if buf is None or (buf.first_step < s0 and buf.last_step > s1):
                            continue  # not in the arena, or not dying here
                    saving = max(saving, amount)
            inside = max(inside, base + running - saving)
        return max(outside, crossing + inside)

    def quick_bound(self, current: _Evaluated, cand: State) -> int:
        """A lower bound of ``cand``'s planner bound (the liveness peak for disjoint planners,
        :func:`~cnnmem.restructure.measure.overlap_step_floors` for overlap planners), from
        ``current``'s graph alone, without building ``cand``'s.

        ``cand`` rewrites the layers of its new segment and of the segments of ``current`` it
        replaces (the *stretch*: consecutive steps of ``current``'s graph). Two terms:

        - *outside*: every node outside the stretch keeps its step's live set (the buffers
          crossing the stretch keep their sizes and lifetimes; the stretch's input dies and
          its output opens inside it, the tiles' Concat being one buffer of the output's size
          that opens at the first tile), so its per-step floor (:meth:`step_floors`) is the
          same in ``cand``;
        - *inside*: with two or more row bands, when the first band's output is written into
          the Concat's buffer, that buffer (the segment's output), the segment's input (a
          later band still reads it) and every buffer crossing the stretch are live, and the
          writing layer, whose output has no buffer of its own, carries no overlap allowance.
          Grids count only when every row band has two rows or more (a one-row band's Concat
          along W would be the one in place), and a batch above 1 voids the term (Concats
          along H are then not in place). Channel chains have no such Concat: ``outside``
          only.

        Both need the original graph to have no in-place Concat of its own (one absorbing a
        rewritten segment's output would stop absorbing it and change unchanged steps):
        otherwise ``0``. Checked against the built candidates in the tests."""
        if not self.quick_prune:
            return 0
        floors, positions = self.step_floors(current)
        new = [s for s in cand if s not in current.state]
        changed = {self.position[name] for s in new for name in s.layers}
        changed.update(self.position[name] for s in current.state if s not in cand
                       for name in s.layers)
        steps = [k for k, p in enumerate(positions) if p in changed]
        if len(new) != 1 or not steps or -1 in positions:
            return 0
        s0, s1 = steps[0], steps[-1]
        outside = max((f for k, f in enumerate(floors) if not s0 <= k <= s1), default=0)
        rewrite = new[0]
        nodes = self.graph.nodes
        first, last = nodes[self.position[rewrite.layers[0]]], \
            nodes[self.position[rewrite.layers[-1]]]
        shape = last.outputs[0].shape
        if rewrite.axis == "C" or rewrite.parts < 2 or shape[0] != 1 or \
                (rewrite.axis != "H" and 2 * rewrite.parts > shape[2]):
            return outside
        live = current.liveness
        counted = self.counted_buffers(current)
        crossing = {b.name for b in counted.values() if b.first_step < s0 and b.last_step > s1}
        inside = sum(counted[name].size_bytes for name in crossing)
        ends = {live.buffer_of.get(t.name) for t in first.activation_inputs}
        ends.add(live.buffer_of.get(last.outputs[0].name))
        inside += sum(counted[name].size_bytes for name in ends
                      if name is not None and name in counted and name not in crossing)
        return max(outside, inside)

    def run(self, current: _Evaluated, run: Sequence[tuple[State, tuple[int, int]]]
            ) -> list[tuple[State, Measurement | None, int | None]]:
        """Evaluate one run in order (see :meth:`step_candidates`): per candidate, its
        measurement (``None`` if pruned by its liveness peak or skipped) and, if pruned, that
        peak.

        A candidate whose :meth:`quick_bound` exceeds the arena is pruned without building its
        graph."""
        state, arena = current.state, current.measurement.arena_bytes
        out: list[tuple[State, Measurement | None, int | None]] = []
        stop = False
        last_peak: int | None = None
        for cand, (height, width) in run:
            new = [s for s in cand if s not in state]
            if new and (stop or new[-1].parts > height or new[-1].col_parts > width):
                continue
            m = None
            exact = self.local_peak(current, cand) if cand not in self.cache else None
            if exact is not None:
                if _CHECK_QUICK_BOUND:
                    built = apply_rewrites(self.graph, cand, verify_each=False)
                    built_live = compute_liveness(built, self.accounting,
                                                  concat_in_place=True)
                    built_peak = built_live.peak_bytes if self.prune else \
                        overlap_floor(built, built_live, self.accounting)
                    assert exact == built_peak, (cand, exact, built_peak)
                if exact > arena:
                    self.pruned[cand] = max(exact, self.pruned.get(cand, 0))
                else:
                    m = self.evaluate(cand, bound=arena, base=current)
            elif cand not in self.cache:
                quick = self.quick_bound(current, cand)
                if _CHECK_QUICK_BOUND and quick:
                    built = apply_rewrites(self.graph, cand, verify_each=False)
                    built_live = compute_liveness(built, self.accounting, concat_in_place=True)
                    floor = built_live.peak_bytes if self.prune else \
                        overlap_floor(built, built_live, self.accounting)
                    assert quick <= floor, (cand, quick, floor)
                if quick > arena:
                    self.pruned[cand] = max(quick, self.pruned.get(cand, 0))
                else:
                    m = self.evaluate(cand, bound=arena, base=current)
            else:
                m = self.evaluate(cand, bound=arena, base=current)
            assert m is None or isinstance(m, Measurement)
            peak = m.bound_bytes if m is not None else self.pruned.get(cand)
            if len(new) == 1 and peak is not None:
                if last_peak is not None and peak >= last_peak:
                    stop = True
                last_peak = peak
            if m is not None and self.macs_limit is not None and m.macs > self.macs_limit:
                stop = True
            out.append((cand, m, self.pruned.get(cand) if m is None else None))
        return out


@dataclass(frozen=True, slots=True)
class _LocalProfile:
    """Liveness of one rewrite applied to its segment alone (:meth:`_Search.local_profile`).

    Attributes:
        live_bytes: per step, the bytes of the buffers that are neither inputs nor the output.
        ends: the inputs' and the outputs' buffers: ``(first step, last step, bytes, tensor
            name, is an input)``.
        savings: per step, for overlap planners, the bytes an overlap allowance of the step's
            layer could save at most (:func:`~cnnmem.restructure.measure.overlap_step_floors`:
            ``min(O, I)`` of its output and a dying input) with what decides whether it
            counts: ``(bytes, the input if it is an input of the layers else None, the
            output tensor, the output is an output of the layers)``; empty for disjoint
            planners.
    """

    live_bytes: tuple[int, ...]
    ends: tuple[tuple[int, int, int, str, bool], ...]
    savings: tuple[tuple[tuple[int, str | None, str, bool], ...], ...] = ()


def _local_profile(graph: Graph, rewrite: SegmentRewrite, lo: int, hi: int,
                   accounting: Accounting, savings: bool = False) -> _LocalProfile | None:
    """:meth:`_Search.local_profile` (``savings``: also the overlap savings per step)."""
    sub = extract_subgraph(graph, graph.nodes[lo:hi + 1])
    try:
        rewrite.tile_pass().call(sub)
    except CnnmemError:
        return None
    live = compute_liveness(sub, replace(accounting, include_io=True), concat_in_place=True)
    inputs = {t.name for t in sub.inputs}
    outputs = {t.name for t in sub.outputs}
    base = [0] * (len(live.steps) + 1)
    ends: list[tuple[int, int, int, str, bool]] = []
    for b in live.buffers:
        ins = [n for n in b.tensors if n in inputs]
        outs = [n for n in b.tensors if n in outputs]
        if len(ins) + len(outs) > 1:
            return None  # several inputs/outputs sharing one buffer: not modelled
        if ins or outs:
            ends.append((b.first_step, b.last_step, b.size_bytes, (ins or outs)[0],
                         bool(ins)))
            continue
        base[b.first_step] += b.size_bytes
        base[b.last_step + 1] -= b.size_bytes
    running, profile = 0, []
    for k in range(len(live.steps)):
        running += base[k]
        profile.append(running)
    per_step: list[tuple[tuple[int, str | None, str, bool], ...]] = []
    if savings:
        # the terms of overlap_step_floors, decided later for the layers' inputs and outputs
        by_name = {b.name: b for b in live.buffers}
        owner = live.buffer_of
        for k, node in enumerate(sub.nodes):
            terms: list[tuple[int, str | None, str, bool]] = []
            if len(node.outputs) == 1 and owner.get(node.outputs[0].name) == \
                    node.outputs[0].name:
                out = node.outputs[0].name
                ob = by_name[out]
                for t in node.inputs:
                    if t is None or t.kind is TensorKind.CONSTANT:
                        continue
                    ib = by_name.get(owner.get(t.name, ""))
                    if ib is None or ib is ob or ib.last_step != k or ib.is_output:
                        continue
                    name = next((n for n in ib.tensors if n in inputs), None)
                    terms.append((min(ob.size_bytes, ib.size_bytes), name, out,
                                  out in outputs))
            per_step.append(tuple(terms))
    return _LocalProfile(tuple(profile), tuple(ends), tuple(per_step))


_CHECK_QUICK_BOUND = False
"""Tests set this: every candidate is also built, and its bound checked against
:meth:`_Search.quick_bound` (and its liveness peak against :meth:`_Search.local_peak`)."""

_FORKED: tuple[_Search, _Evaluated] | None = None
"""The search and its current state, inherited by forked workers
(:meth:`_Search.step_candidates`)."""


def _run_forked(run: Sequence[tuple[State, tuple[int, int]]]
                ) -> tuple[list[tuple[State, Measurement | None, int | None]],
                           dict[tuple[SegmentRewrite, int, int], _LocalProfile | None]]:
    """One run in a forked worker: its outcome and the segment profiles it computed (kept by
    the parent for the next greedy steps)."""
    assert _FORKED is not None
    search, current = _FORKED
    known = set(search.local)
    outcome = search.run(current, run)
    return outcome, {k: v for k, v in search.local.items() if k not in known}


def _macs_ok(m: Measurement, macs_before: int, max_overhead: float | None) -> bool:
    return max_overhead is None or m.macs <= macs_before * (1 + max_overhead)


def _pareto(points: Sequence[tuple[State, Measurement]], macs_before: int
            ) -> tuple[ParetoPoint, ...]:
    ordered = sorted(points, key=lambda p: (p[1].macs, p[1].arena_bytes))
    front: list[ParetoPoint] = []
    best = None
    for state, m in ordered:
        if best is None or m.arena_bytes < best:
            best = m.arena_bytes
            front.append(ParetoPoint(m.arena_bytes, m.macs,
                                     m.macs / macs_before - 1 if macs_before else 0.0, state))
    return tuple(front)


def restructure(graph: Graph, accounting: Accounting, *, max_overhead: float | None = None,
                budget_bytes: int | None = None, planner: str = "greedy",
                max_layers: int = 8, parts: Sequence[int] = DEFAULT_PARTS,
                col_parts: Sequence[int] = DEFAULT_COL_PARTS, max_iterations: int = 32,
                check: bool = False, seed: int = 0, jobs: int | None = None,
                overlap_dataflow: Dataflow | None = Dataflow.HWC_ROW,
                reorder: bool = True, channels: bool | None = None) -> RestructureResult:
    """Search tiled segments that lower the activation arena of ``graph``.

    Args:
        graph: the (simplified) graph; not changed.
        accounting: how bytes are counted.
        max_overhead: the MAC budget, as a fraction of the original MACs (0.1 = +10 %).
        budget_bytes: the arena to reach; the search returns the first state that fits, with
            the fewest MACs among the candidates of that step. At least one of
            ``max_overhead`` and ``budget_bytes`` is needed; both may be given.
        planner: planner measuring the arenas (``greedy`` by default). ``overlap`` and
            ``optimal`` plan with the overlap allowances of ``overlap_dataflow`` (hwc-row when
            it is ``None``); their arenas can be below the liveness peak, so candidates are
            pruned by the overlap problem's lower bound instead (built for every candidate:
            slower).
        max_layers: longest segment tried.
        parts: tile counts tried (row bands).
        col_parts: column band counts of the H x W grids tried (empty: row bands only).
        max_iterations: greedy steps at most.
        check: compare original and rewritten graph in onnxruntime (``equivalent``).
        seed: seed of the equivalence check's random weights and inputs.
        jobs: worker processes evaluating candidates (default: ``min(2, CPUs)``; 1: no
            workers). The result does not depend on it.
        overlap_dataflow: also report the ``overlap`` planner's arenas for this dataflow
            (``None``: skip).
        reorder: first choose the topological order with the least liveness peak
            (:func:`~cnnmem.passes.memory_order.schedule_order`, in-place Concats; exact where
            the graph's down-sets fit the state budget, its greedy heuristic otherwise) and
            search segments in that order, if it lowers the liveness peak without raising the
            planner's arena. ``peak_before_bytes`` stays the arena of the graph's own order.
        channels: also try channel chains (axis ``"C"``: a conv, channel-wise layers and a
            dense conv computed in bands of the hidden channels, partial sums added; no
            recomputation). ``None`` (default): where they are exact and honestly counted, i.e.
            a float graph (no quantised tensor) under an accounting that keeps float tensors
            floating point (``accounting.dtype`` unset or a float type: an int8 deployment
            would need int32 partial sums, which int8 accounting would undercount). ``True``
            on another graph raises ``ConfigError``.

    Returns:
        The chosen rewrites with before/after figures and the Pareto front.

    Raises:
        ConfigError: neither ``max_overhead`` nor ``budget_bytes`` given, or bad values.
    """
    if max_overhead is None and budget_bytes is None:
        raise ConfigError("restructure: give max_overhead (MAC budget) or budget_bytes")
    if max_overhead is not None and max_overhead < 0:
        raise ConfigError(f"restructure: max_overhead must be >= 0, got {max_overhead}")
    if max_layers < 1 or not parts or min(parts) < 2:
        raise ConfigError("restructure: max_layers must be >= 1 and parts >= 2")
    if any(q < 2 for q in col_parts):
        raise ConfigError("restructure: col_parts must be >= 2")
    exact_chains = channel_chains_exact(graph, accounting)
    if channels and not exact_chains:
        raise ConfigError("restructure: channel chains need a float graph (no quantised "
                          "tensors) and a float accounting dtype: their partial sums would "
                          "need int32 accumulators")
    started = time.perf_counter()
    if jobs is None:
        jobs = min(2, os.cpu_count() or 1)
    flow = overlap_dataflow or Dataflow.HWC_ROW
    work, reordering, original_arena = graph, None, None
    if reorder:
        work, reordering, original_arena = _reordered(graph, accounting, planner, flow)
    search = _Search(work, accounting, planner, max_layers, sorted(set(parts)), None,
                     sorted(set(col_parts)), max(1, jobs), flow,
                     channels=exact_chains if channels is None else channels)
    current = search.evaluate((), keep=True)
    assert isinstance(current, _Evaluated)
    before = current.measurement
    if original_arena is None:
        original_arena = before.arena_bytes
    if reordering is not None and not reordering.applied:
        reordering = replace(reordering, arena_bytes=original_arena)
    if max_overhead is not None:
        search.macs_limit = before.macs * (1 + max_overhead)
    for _ in range(max_iterations):
        m = current.measurement
        if budget_bytes is not None and m.arena_bytes <= budget_bytes:
            break
        scored = search.step_candidates(current, search.involved(current))
        chosen = _choose(scored, m, budget_bytes, 1e-4 * before.macs)
        if chosen is None:
            break
        nxt = search.evaluate(chosen, keep=True)
        assert isinstance(nxt, _Evaluated)
        current = nxt
    points = [(s, search.cache[s]) for s in search.order
              if _macs_ok(search.cache[s], before.macs, max_overhead)]
    best = _best_state(points, current.state, budget_bytes)
    final = current
    if best != current.state:
        evaluated = search.evaluate(best, keep=True)
        assert isinstance(evaluated, _Evaluated)
        final = evaluated
    if final.state:
        final = _Evaluated(final.state, final.measurement, final.liveness,
                           apply_rewrites(work, final.state))
    search_seconds = time.perf_counter() - started
    equivalent = None
    if check:
        from cnnmem.restructure.equivalence import check_equivalence

        equivalent = check_equivalence(graph, final.graph, seed=seed).equivalent
    overlap_before = overlap_after = None
    if overlap_dataflow is not None:
        overlap_before = measure(graph, accounting, "overlap", overlap_dataflow)[0].arena_bytes
        overlap_after = measure(final.graph, accounting, "overlap",
                                overlap_dataflow)[0].arena_bytes
    return RestructureResult(
        peak_before_bytes=original_arena,
        peak_after_bytes=final.measurement.arena_bytes,
        macs_before=before.macs,
        macs_after=final.measurement.macs,
        segments=final.state,
        pareto=_pareto(points, before.macs),
        planner=planner,
        accounting=accounting,
        equivalent=equivalent,
        overlap_before_bytes=overlap_before,
        overlap_after_bytes=overlap_after,
        evaluated=len(search.cache),
        search_seconds=search_seconds,
        reordering=reordering,
    )


def channel_chains_exact(graph: Graph, accounting: Accounting) -> bool:
    """Channel chains (partial sums) are exact and honestly counted on ``graph`` under
    ``accounting``: every activation is floating point without quantisation parameters, and
    the accounting does not count float tensors as integers."""
    if accounting.dtype is not None and not accounting.dtype.is_float:
        return False
    return all(t.dtype.is_float and t.quant is None for t in graph.tensors.values()
               if t.kind is TensorKind.ACTIVATION)


def _reordered(graph: Graph, accounting: Accounting, planner: str, flow: Dataflow
               ) -> tuple[Graph, Reordering, int | None]:
    """The graph the segment search runs on (``graph`` itself, or a reordered copy), what the
    reordering did, and the planner's arena of ``graph``'s own order if it was measured."""
    order = schedule_order(graph, accounting, concat_in_place=True)
    better = order.peak_bytes < order.original_peak_bytes
    dataflow = flow if planner in ("overlap", "optimal") else None
    if not better:
        return graph, Reordering(False, order.method, order.exact, order.original_peak_bytes,
                                 order.original_peak_bytes, 0), None
    schedule = tuple(n.name for n in order.order)
    candidate = apply_rewrites(graph, (), schedule=schedule)
    arena_before = measure(graph, accounting, planner, dataflow)[0].arena_bytes
    arena_after = measure(candidate, accounting, planner, dataflow)[0].arena_bytes
    if arena_after > arena_before:
        return graph, Reordering(False, order.method, order.exact, order.original_peak_bytes,
                                 order.peak_bytes, arena_before), arena_before
    return candidate, Reordering(True, order.method, order.exact, order.original_peak_bytes,
                                 order.peak_bytes, arena_after, schedule), arena_before


def _best_state(points: Sequence[tuple[State, Measurement]], last: State,
                budget_bytes: int | None) -> State:
    """The state the search returns (module docstring, step 6): of the planned states within
    the MAC budget, the least arena, then the fewest MACs (with ``budget_bytes``: the fewest
    MACs among those that fit, if any does); ties: fewer rewrites, the greedy's last state, the
    earliest planned."""
    def key(p: tuple[State, Measurement]) -> tuple[int, int, int, bool]:
        return p[1].arena_bytes, p[1].macs, len(p[0]), p[0] != last

    if budget_bytes is not None:
        fitting = [p for p in points if p[1].arena_bytes <= budget_bytes]
        if fitting:
            return min(fitting, key=lambda p: (p[1].macs, p[1].arena_bytes, len(p[0]),
                                               p[0] != last))[0]
    return min(points, key=key)[0] if points else last


def _choose(scored: Sequence[tuple[State, Measurement]], current: Measurement,
            budget_bytes: int | None, unit_macs: float) -> State | None:
    """The greedy step's choice (module docstring, step 4), or ``None`` to stop."""
    if budget_bytes is not None:
        fitting = [(s, m) for s, m in scored if m.arena_bytes <= budget_bytes]
        if fitting:
            return min(enumerate(fitting), key=lambda e: (e[1][1].macs, e[0]))[1][0]
    now = current.progress_key
    # gains per level of the progress key; the first level some candidate improves decides
    gains = [(k, s, m, tuple(a - b for a, b in zip(now, m.progress_key, strict=True)))
             for k, (s, m) in enumerate(scored) if m.progress_key < now]
    if not gains:
        return None
    level = min(next(i for i, g in enumerate(gain) if g) for _, _, _, gain in gains)
    useful = [e for e in gains if e[3][level] > 0]

    def rank(e: tuple[int, State, Measurement, tuple[int, ...]]) -> tuple[float, int, int]:
        spent = max(e[2].macs - current.macs, unit_macs)
        return (-e[3][level] / spent, e[2].macs, e[0])

    return min(useful, key=rank)[1]
