"""Memory-aware scheduling (``cnnmem.passes.memory_order``).

- A hand-made branchy graph whose built order is worse: the exact order reaches the minimum
  over all topological orders (brute force), and ReorderPass applies it.
- Hypothesis: random small DAGs (convs and concats of random sizes, several outputs), every
  accounting variant: exact DP == brute force minimum; the heuristic is never worse than the
  original order.
- Zoo graphs (GoogLeNet, Inception v3, SqueezeNet 1.1, fused and unfused): never worse than
  the original order, in < 10 s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnmem.analysis.accounting import Accounting
from cnnmem.analysis.liveness import compute_liveness
from cnnmem.ir import DType, Graph, GraphBuilder, Node, Tensor, verify
from cnnmem.passes.infra import PassManager
from cnnmem.passes.memory_order import ReorderPass, min_peak_order, schedule_order
from cnnmem.passes.simplify import simplify
from cnnmem.zoo import build_network

INT8 = Accounting(dtype=DType.INT8)


def topological_orders(graph: Graph) -> Iterator[list[Node]]:
    """Every topological order of ``graph`` (brute force, for small graphs)."""
    nodes = list(graph.nodes)
    preds = {id(n): {id(t.producer) for t in n.activation_inputs if t.producer is not None}
             for n in nodes}

    def extend(done: list[Node], left: list[Node]) -> Iterator[list[Node]]:
        if not left:
            yield list(done)
            return
        placed = {id(n) for n in done}
        for i, n in enumerate(left):
            if preds[id(n)] <= placed:
                done.append(n)
                yield from extend(done, left[:i] + left[i + 1:])
                done.pop()
    yield from extend([], nodes)


def brute_force_min(graph: Graph, acct: Accounting, concat_in_place: bool = False) -> int:
    return min(compute_liveness(graph, acct, order, concat_in_place=concat_in_place).peak_bytes
               for order in topological_orders(graph))


def _branches() -> Graph:
    """Two branches, each a big expansion followed by a small projection, built breadth-first
    (both big tensors live at once); depth-first is better."""
    b = GraphBuilder("branches", seed=0)
    x = b.input("x", (1, 2, 8, 8))
    big_a = b.conv(x, 16, 1, name="expand_a")
    big_b = b.conv(x, 16, 1, name="expand_b")
    small_a = b.conv(big_a, 2, 1, name="project_a")
    small_b = b.conv(big_b, 2, 1, name="project_b")
    b.output(b.concat([small_a, small_b], axis=1, name="cat"))
    return b.build()


def test_exact_order_reaches_the_brute_force_minimum() -> None:
    g = _branches()
    original = compute_liveness(g, INT8).peak_bytes
    result = schedule_order(g, INT8)
    best = brute_force_min(g, INT8)
    assert result.exact
    assert result.peak_bytes == best < original
    # x 128 + expand_a 1024 + project_a 128, then expand_b needs x, project_a, expand_b
    assert best == 128 + 1024 + 128
    assert original == 128 + 1024 + 1024
    order = [n.name for n in min_peak_order(g, INT8)]
    assert order.index("project_a") < order.index("expand_b") or \
        order.index("project_b") < order.index("expand_a")


def test_reorder_pass_applies_the_order() -> None:
    g = _branches()
    result = PassManager([ReorderPass(INT8)])(g)
    verify(g)
    stats = result.stats["reorder"]
    assert result.modified
    assert stats["peak_before"] == 128 + 1024 + 1024
    assert stats["peak_after"] == compute_liveness(g, INT8).peak_bytes == 128 + 1024 + 128
    assert stats["exact"] == 1
    again = ReorderPass(INT8)(g)  # already optimal: no change
    assert not again.modified


def test_heuristic_fallback_when_the_state_budget_is_tiny() -> None:
    g = _branches()
    result = schedule_order(g, INT8, max_states=2)
    assert not result.exact
    assert result.method in ("greedy", "original")
    assert result.peak_bytes <= result.original_peak_bytes


@st.composite
def dags(draw: st.DrawFn) -> Graph:
    b = GraphBuilder("dag", seed=0)
    tensors: list[Tensor] = [b.input("x", (1, draw(st.integers(1, 4)), 4, 4))]
    for i in range(draw(st.integers(2, 7))):
        kind = draw(st.sampled_from(["conv", "conv", "cat", "add"]))
        a = tensors[draw(st.integers(0, len(tensors) - 1))]
        if kind == "conv":
            out = b.conv(a, draw(st.integers(1, 8)), 1, name=f"n{i}")
        elif kind == "cat":
            c = tensors[draw(st.integers(0, len(tensors) - 1))]
            axis = draw(st.sampled_from([1, 2]))
            if axis == 2 and c.shape[1] != a.shape[1]:
                axis = 1
            out = b.concat([a, c], axis=axis, name=f"n{i}")
            if out.shape[2] != 4:  # keep H at 4 for later convs/adds
                out = b.conv(out, a.shape[1], (2, 1), stride=(2, 1),
                             name=f"n{i}_h")
        else:
            same = [t for t in tensors if t.shape == a.shape]
            c = same[draw(st.integers(0, len(same) - 1))]
            out = b.add(a, c, name=f"n{i}")
        tensors.append(out)
    b.output(*[t for t in tensors[1:] if not t.consumers])
    return b.build()


ACCOUNTINGS = [INT8, Accounting(dtype=DType.INT8, include_io=False),
               Accounting(dtype=DType.INT8, alignment=16), Accounting()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.integers(0, len(ACCOUNTINGS) - 1), st.booleans())
def test_random_dags_exact_equals_brute_force(graph: Graph, acct_index: int,
                                              in_place: bool) -> None:
    acct = ACCOUNTINGS[acct_index]
    result = schedule_order(graph, acct, concat_in_place=in_place)
    assert result.exact
    assert result.peak_bytes == brute_force_min(graph, acct, in_place)
    assert compute_liveness(graph, acct, result.order,
                            concat_in_place=in_place).peak_bytes == result.peak_bytes
    heuristic = schedule_order(graph, acct, concat_in_place=in_place, max_states=1)
    assert result.peak_bytes <= heuristic.peak_bytes <= result.original_peak_bytes


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("name", ["googlenet", "inception_v3", "squeezenet1_1"])
def test_zoo_graphs_never_worse_and_fast(name: str, fused: bool) -> None:
    g = build_network(name)
    if fused:
        simplify(g)
    start = time.perf_counter()
    result = schedule_order(g, INT8)
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0
    assert result.peak_bytes <= result.original_peak_bytes == compute_liveness(g, INT8).peak_bytes
    order = list(result.order)
    assert sorted(id(n) for n in order) == sorted(id(n) for n in g.nodes)
    g.reorder(order)
    verify(g)


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_zoo_breadth_first_order_is_repaired(name: str) -> None:
    """From a breadth-first order (every branch of a module advanced in lockstep), the exact
    search gets back to at most the builder's depth-first peak."""
    g = build_network(name)
    builder_peak = compute_liveness(g, INT8).peak_bytes
    depth: dict[str, int] = {}
    for n in g.nodes:
        depth[n.name] = 1 + max((depth[t.producer.name] for t in n.activation_inputs
                                 if t.producer is not None), default=0)
    g.reorder(sorted(g.nodes, key=lambda n: depth[n.name]))
    result = schedule_order(g, INT8)
    assert result.exact
    assert result.peak_bytes <= builder_peak
