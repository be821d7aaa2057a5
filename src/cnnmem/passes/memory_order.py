"""Memory-aware scheduling: the topological order of a branchy graph with the least peak.

Objective: the peak of :func:`cnnmem.analysis.liveness.compute_liveness` (the largest sum of
live buffer bytes over the steps of a layer-by-layer schedule) under the given accounting. A
chain has one order; branches (Inception modules, residual blocks, SqueezeNet fire modules)
leave a choice, and the order decides which branch outputs wait in memory.

Cost model (identical to the liveness analysis, so the reported peak is the liveness peak):
a buffer ``b`` (an alias group or an in-place Concat buffer counts once) has writers ``W_b``
(the producers of its tensors) and users ``T_b`` (writers and readers). After executing the set
``S`` of nodes (a down-set of the dependency order), ``b`` is *resident* if it was written
(``W_b & S`` non-empty, or ``b`` holds a graph input) and is still needed (``T_b`` not inside
``S``, or ``b`` holds a graph output). Executing ``v`` next costs
``resident(S) + new(v, S)`` bytes, ``new`` being the buffers ``v`` opens (``v`` in ``W_b``,
no writer of ``b`` in ``S``). The peak of an order is the largest step cost. Both terms depend
on ``S`` only, not on the order inside ``S``.

Exact algorithm (dynamic programming over down-sets, in the spirit of Kayaaslan et al.,
"Scheduling series-parallel task graphs to minimize peak memory", TCS 2018, and of the
memory-aware scheduling in Ahn et al., "Ordering chaos", MLSys 2020): ``best(S)`` is the least
peak of any order of ``S``; ``best(S + v) = min over S, v of max(best(S), cost(S, v))``. States
are processed by size, each keeps its ready set as a bit mask, and a state whose peak already
exceeds an upper bound (the better of the original order and the greedy order below) is
dropped, which keeps the optimum. The number of down-sets grows with the graph's width
(product of branch lengths per module, summed over modules); when it exceeds ``max_states``
the search stops and the heuristic result is returned (``exact = False``).

Greedy heuristic (fallback, also the upper bound): repeatedly run the ready node with the
smallest step cost, ties broken by the smallest resident bytes after it, then by the original
position. Not optimal in general (the problem is NP-hard for general DAGs); the result is the
better of this order and the original order, so it is never worse than the original.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnnmem.analysis.accounting import Accounting
from cnnmem.analysis.liveness import compute_liveness
from cnnmem.errors import InvariantError
from cnnmem.ir.graph import Graph, Node, TensorKind
from cnnmem.passes.infra import Pass, PassResult

__all__ = ["DEFAULT_MAX_STATES", "OrderResult", "ReorderPass", "min_peak_order",
           "schedule_order"]

DEFAULT_MAX_STATES = 250_000
"""Down-sets the exact search may visit before it falls back to the heuristic."""


@dataclass(frozen=True, slots=True)
class OrderResult:
    """A schedule and how it was found.

    Attributes:
        order: the nodes in execution order.
        peak_bytes: liveness peak of ``order``.
        original_peak_bytes: liveness peak of the graph's own order.
        exact: ``peak_bytes`` is the least peak over all topological orders.
        method: ``exact``, ``greedy`` or ``original`` (the order that was kept).
        states: down-sets visited by the exact search.
    """

    order: tuple[Node, ...]
    peak_bytes: int
    original_peak_bytes: int
    exact: bool
    method: str
    states: int


@dataclass(frozen=True, slots=True)
class _Model:
    """Bit-mask form of the cost model (node ``i`` is bit ``i``, graph order)."""

    nodes: tuple[Node, ...]
    preds: tuple[int, ...]  # per node: mask of predecessors
    succs: tuple[tuple[int, ...], ...]
    sizes: tuple[int, ...]  # per buffer
    writers: tuple[int, ...]  # per buffer: mask (0 for graph inputs)
    users: tuple[int, ...]  # per buffer: writers | readers
    pinned: tuple[bool, ...]  # per buffer: graph output (resident until the end)
    touching: tuple[tuple[int, ...], ...]  # per node: buffers it writes or reads
    first_step_extra: int  # graph inputs nobody reads: live during step 0 only

    def resident(self, b: int, done: int) -> bool:
        """Buffer ``b`` is held after executing the node set ``done``."""
        opened = self.writers[b] == 0 or bool(self.writers[b] & done)
        return opened and (self.pinned[b] or bool(self.users[b] & ~done))

    def step(self, done: int, v: int) -> tuple[int, int]:
        """(bytes opened by running ``v`` after ``done``, change of resident bytes)."""
        bit = 1 << v
        opened = delta = 0
        after = done | bit
        for b in self.touching[v]:
            if self.writers[b] & bit and not self.writers[b] & done:
                opened += self.sizes[b]
            delta += self.sizes[b] * (int(self.resident(b, after)) -
                                      int(self.resident(b, done)))
        return opened, delta


def _model(graph: Graph, accounting: Accounting, concat_in_place: bool) -> tuple[_Model, int]:
    """The cost model and the resident bytes before the first step."""
    nodes = graph.nodes
    index = {id(n): i for i, n in enumerate(nodes)}
    live = compute_liveness(graph, accounting, concat_in_place=concat_in_place)
    preds = []
    succs: list[list[int]] = [[] for _ in nodes]
    for i, n in enumerate(nodes):
        mask = 0
        for t in n.inputs:
            if t is not None and t.kind is TensorKind.ACTIVATION and t.producer is not None:
                mask |= 1 << index[id(t.producer)]
        preds.append(mask)
        for j in range(len(nodes)):
            if mask >> j & 1:
                succs[j].append(i)
    tensors = graph.tensors
    sizes: list[int] = []
    writers: list[int] = []
    users: list[int] = []
    pinned: list[bool] = []
    touching: list[list[int]] = [[] for _ in nodes]
    extra = 0
    for buf in live.buffers:
        if not accounting.include_io and (buf.is_input or buf.is_output):
            continue
        w = r = 0
        for name in buf.tensors:
            t = tensors[name]
            if t.producer is not None:
                w |= 1 << index[id(t.producer)]
            for c in t.consumers:
                r |= 1 << index[id(c)]
        if w == 0 and r == 0 and not buf.is_output:
            extra += buf.size_bytes  # an unread graph input: live at step 0 only
            continue
        b = len(sizes)
        sizes.append(buf.size_bytes)
        writers.append(w)
        users.append(w | r)
        pinned.append(buf.is_output)
        for i in range(len(nodes)):
            if (w | r) >> i & 1:
                touching[i].append(b)
    model = _Model(tuple(nodes), tuple(preds), tuple(tuple(s) for s in succs), tuple(sizes),
                   tuple(writers), tuple(users), tuple(pinned),
                   tuple(tuple(t) for t in touching), extra)
    start = sum(s for b, s in enumerate(sizes) if model.resident(b, 0))
    return model, start


def _ready_after(model: _Model, done: int, ready: int, v: int) -> int:
    after = done | (1 << v)
    ready &= ~(1 << v)
    for w in model.succs[v]:
        if model.preds[w] & ~after == 0:
            ready |= 1 << w
    return ready


def _bits(mask: int) -> list[int]:
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def _peak_of(model: _Model, start: int, order: Sequence[int]) -> int:
    done, resident, peak = 0, start, 0
    for k, v in enumerate(order):
        opened, delta = model.step(done, v)
        peak = max(peak, resident + opened + (model.first_step_extra if k == 0 else 0))
        resident += delta
        done |= 1 << v
    return peak


def _greedy(model: _Model, start: int) -> list[int]:
    n = len(model.nodes)
    done, resident = 0, start
    ready = sum(1 << i for i in range(n) if model.preds[i] == 0)
    order = []
    for _ in range(n):
        best: tuple[int, int, int] | None = None
        for v in _bits(ready):
            opened, delta = model.step(done, v)
            key = (resident + opened, resident + delta, v)
            if best is None or key < best:
                best = key
        assert best is not None
        v = best[2]
        order.append(v)
        resident = best[1]
        ready = _ready_after(model, done, ready, v)
        done |= 1 << v
    return order


def _exact(model: _Model, start: int, bound: int, max_states: int
           ) -> tuple[list[int] | None, int]:
    """Least-peak order with peak <= ``bound`` (``None`` if the state budget runs out)."""
    n = len(model.nodes)
    ready0 = sum(1 << i for i in range(n) if model.preds[i] == 0)
    layer: dict[int, tuple[int, int, int]] = {0: (0, start, ready0)}  # peak, resident, ready
    parent: dict[int, tuple[int, int]] = {}
    states = 1
    for k in range(n):
        nxt: dict[int, tuple[int, int, int]] = {}
        for done, (peak, resident, ready) in layer.items():
            for v in _bits(ready):
                opened, delta = model.step(done, v)
                cost = resident + opened + (model.first_step_extra if k == 0 else 0)
                new_peak = max(peak, cost)
                if new_peak > bound:
                    continue
                after = done | (1 << v)
                cur = nxt.get(after)
                if cur is None or new_peak < cur[0]:
                    nxt[after] = (new_peak, resident + delta,
                                  _ready_after(model, done, ready, v))
                    parent[after] = (done, v)
        states += len(nxt)
        if states > max_states:
            return None, states
        layer = nxt
    full = (1 << n) - 1
    if full not in layer:  # cannot happen: the bound comes from a feasible order
        raise InvariantError("memory order: the exact search lost every order")
    order = []
    state = full
    while state:
        state, v = parent[state]
        order.append(v)
    return order[::-1], states


def schedule_order(graph: Graph, accounting: Accounting, *, concat_in_place: bool = False,
                   max_states: int = DEFAULT_MAX_STATES) -> OrderResult:
    """A topological order of ``graph`` with the least liveness peak (see module docstring).

    Args:
        graph: the graph (not changed).
        accounting: how bytes are counted (as for :func:`compute_liveness`).
        concat_in_place: count in-place Concats as :func:`compute_liveness` does with the flag.
        max_states: down-sets the exact search may visit before falling back to the greedy
            heuristic.

    Returns:
        The order, its peak, the original order's peak and whether the order is optimal.
    """
    nodes = graph.nodes
    if not nodes:
        return OrderResult((), 0, 0, True, "original", 0)
    model, start = _model(graph, accounting, concat_in_place)
    original = list(range(len(nodes)))
    original_peak = _peak_of(model, start, original)
    greedy = _greedy(model, start)
    greedy_peak = _peak_of(model, start, greedy)
    bound_order, bound, method = ((greedy, greedy_peak, "greedy") if greedy_peak < original_peak
                                  else (original, original_peak, "original"))
    exact_order, states = _exact(model, start, bound, max_states)
    exact = exact_order is not None
    if exact_order is not None and _peak_of(model, start, exact_order) < bound:
        bound_order, method = exact_order, "exact"
    order = tuple(nodes[i] for i in bound_order)
    model_peak = _peak_of(model, start, bound_order)
    peak = compute_liveness(graph, accounting, order, concat_in_place=concat_in_place).peak_bytes
    if peak != model_peak:
        raise InvariantError(f"memory order: the cost model gives {model_peak} bytes but the "
                             f"liveness analysis {peak}; the two must agree")
    return OrderResult(order, peak, original_peak, exact, method, states)


def min_peak_order(graph: Graph, accounting: Accounting, *, concat_in_place: bool = False,
                   max_states: int = DEFAULT_MAX_STATES) -> list[Node]:
    """The nodes of ``graph`` in a topological order minimising the liveness peak.

    Exact when the graph's down-sets fit ``max_states``; otherwise the better of the greedy
    heuristic and the original order (see :func:`schedule_order`).
    """
    return list(schedule_order(graph, accounting, concat_in_place=concat_in_place,
                               max_states=max_states).order)


class ReorderPass(Pass):
    """Reorder the schedule to minimise the liveness peak.

    Rules:
      1. The new order is :func:`schedule_order`'s: exact when the graph is narrow enough,
         otherwise the better of the greedy heuristic and the current order.
      2. The order changes only if its peak is strictly smaller (ties keep the current order).
      3. Nodes, tensors and edges are untouched; only ``graph.nodes`` is permuted.

    Statistics: ``peak_before``, ``peak_after``, ``exact`` (1 if optimal), ``states``.

    Args:
        accounting: how bytes are counted.
        concat_in_place: count in-place Concats (see :func:`compute_liveness`).
        max_states: state budget of the exact search.
    """

    name = "reorder"

    def __init__(self, accounting: Accounting, *, concat_in_place: bool = False,
                 max_states: int = DEFAULT_MAX_STATES) -> None:
        self.accounting = accounting
        self.concat_in_place = concat_in_place
        self.max_states = max_states

    def call(self, graph: Graph) -> PassResult:
        """Permute ``graph``'s schedule in place."""
        result = schedule_order(graph, self.accounting, concat_in_place=self.concat_in_place,
                                max_states=self.max_states)
        changed = result.peak_bytes < result.original_peak_bytes
        if changed:
            graph.reorder(result.order)
        return PassResult(graph, changed, {
            "peak_before": result.original_peak_bytes,
            "peak_after": result.peak_bytes if changed else result.original_peak_bytes,
            "exact": int(result.exact), "states": result.states})
