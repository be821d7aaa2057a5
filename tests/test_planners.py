"""Planners: exact small cases, properties over random problems, and TFLM's arena as golden."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnmem.api import ModelOptions, load, make_accounting
from cnnmem.errors import ConfigError, PlanningError
from cnnmem.planning.interface import (
    BufferSpec,
    MemoryPlan,
    OverlapAllowance,
    PlanProblem,
    lower_bound,
    pair_is_compatible,
)
from cnnmem.planning.overlap import Dataflow
from cnnmem.planning.problem import PLANNER_NAMES, build_problem, make_planner, run_planner
from conftest import entry_id, manifest_entries, models_dir

# Pisarchyk & Lee, "Efficient Memory Management for Deep Neural Net Inference" (2020), Fig. 2:
# records (first, last, size); greedy by size reaches the optimum, 124.
PISARCHYK = [(0, 1, 32), (1, 4, 28), (2, 5, 36), (3, 5, 16), (4, 5, 8), (5, 7, 64), (6, 8, 10),
             (7, 8, 40)]


def _problem(records: list[tuple[int, int, int]], **kw: Any) -> PlanProblem:
    return PlanProblem(tuple(BufferSpec(f"t{i}", s, f, last)
                             for i, (f, last, s) in enumerate(records)), **kw)


def test_pisarchyk_lee_example() -> None:
    p = _problem(PISARCHYK)
    assert run_planner("greedy", p).arena_bytes == 124
    assert run_planner("naive", p).arena_bytes == sum(s for _, _, s in PISARCHYK)
    opt = run_planner("optimal", p, time_limit_s=10)
    assert opt.arena_bytes == 124 and opt.optimal
    assert lower_bound(p) == 124


def test_tflm_tie_order_and_first_fit() -> None:
    # Equal sizes: TFLM places later-added buffers first (reverse order after its stable
    # bubble sort over a tail-filled array), at the lowest gap.
    p = _problem([(0, 1, 10), (1, 2, 10), (2, 3, 10)])
    plan = run_planner("greedy", p)
    assert plan.offsets == (0, 10, 0)


def test_verify_reports_both_buffers() -> None:
    p = _problem([(0, 2, 16), (1, 3, 16)])
    bad = MemoryPlan("hand", p, (0, 8), 32)
    with pytest.raises(PlanningError, match=r"'t0' \(steps 0-2, bytes 0-16\) and 't1'"):
        bad.verify()
    with pytest.raises(PlanningError, match="not aligned"):
        MemoryPlan("hand", PlanProblem(p.buffers, (), 16), (0, 20), 32).verify()


def test_allowance_semantics_both_directions() -> None:
    out = BufferSpec("out", 100, 1, 2)
    inp = BufferSpec("in", 100, 0, 1)
    al = OverlapAllowance("out", "in", 10, 1, "layer", reverse_distance_bytes=20)
    assert pair_is_compatible(out, 0, inp, 10, al)       # forward: input 10 above output
    assert not pair_is_compatible(out, 0, inp, 9, al)    # one byte too aggressive
    assert pair_is_compatible(out, 20, inp, 0, al)       # reverse: output end 20 above
    assert not pair_is_compatible(out, 19, inp, 0, al)
    assert pair_is_compatible(out, 0, inp, 100, None)    # disjoint is always fine
    assert not pair_is_compatible(out, 0, inp, 99, None)


@st.composite
def problems(draw: st.DrawFn) -> PlanProblem:
    n = draw(st.integers(1, 14))
    bufs = []
    for i in range(n):
        first = draw(st.integers(0, 10))
        last = first + draw(st.integers(0, 4))
        bufs.append(BufferSpec(f"b{i}", draw(st.integers(1, 64)) * 4, first, last))
    allowances = []
    used: set[str] = set()
    for out in bufs:
        dying = [b for b in bufs if b.last_use == out.first_use and b is not out
                 and b.name not in used and out.name not in used]
        if dying and draw(st.booleans()):
            inp = dying[0]
            used.update((out.name, inp.name))
            d = draw(st.integers(0, out.size_bytes))
            d_rev = draw(st.one_of(st.none(), st.integers(0, out.size_bytes)))
            allowances.append(OverlapAllowance(out.name, inp.name, d, out.first_use, "l", d_rev))
    return PlanProblem(tuple(bufs), tuple(allowances), draw(st.sampled_from([1, 4])))


@settings(max_examples=120, deadline=None)
@given(problems())
def test_every_planner_gives_a_valid_plan_between_bound_and_naive(p: PlanProblem) -> None:
    naive = run_planner("naive", p)
    plans = {name: run_planner(name, p, time_limit_s=5) for name in PLANNER_NAMES}
    for name, plan in plans.items():
        plan.verify()
        assert plan.lower_bound_bytes <= plan.arena_bytes <= naive.arena_bytes, name
    # rules without overlap: greedy and ping-pong are bounded by the disjoint bound
    assert plans["greedy"].arena_bytes >= lower_bound(p.without_allowances())
    # overlap relaxes greedy's rules and keeps its plan as a candidate; optimal is exact
    assert plans["overlap"].arena_bytes <= plans["greedy"].arena_bytes
    assert plans["optimal"].arena_bytes <= plans["overlap"].arena_bytes
    assert lower_bound(p) <= plans["optimal"].arena_bytes


def test_unknown_planner() -> None:
    with pytest.raises(ConfigError, match="unknown planner 'best'"):
        make_planner("best")


@pytest.mark.parametrize("entry", manifest_entries("tflite"), ids=entry_id)
def test_greedy_reproduces_tflite_micro_arena(entry: dict[str, Any]) -> None:
    # TFLM's GreedyMemoryPlanner on the graph as TFLM runs it (no reshape aliasing), 16-byte
    # aligned buffers: the arena head measured with tflite-micro (MANIFEST) byte for byte.
    graph = load(ModelOptions(str(models_dir() / entry["file"]), fuse=False))
    ctx = build_problem(graph, make_accounting(alignment=16, fuse=False), Dataflow.HWC_ROW)
    greedy = run_planner("greedy", ctx.problem)
    assert greedy.arena_bytes == entry["tflm_arena_measured_here"]["head_bytes"]
    overlap = run_planner("overlap", ctx.problem)
    assert overlap.arena_bytes <= greedy.arena_bytes


def test_mobilenet_v2_int8_overlap_reaches_the_per_layer_bound() -> None:
    graph = load(ModelOptions(str(models_dir() / "tflite" / "mbv2_224_int8.tflite")))
    ctx = build_problem(graph, make_accounting(alignment=16), Dataflow.HWC_ROW)
    overlap = run_planner("overlap", ctx.problem)
    assert overlap.arena_bytes == overlap.lower_bound_bytes == 1_204_224
    assert run_planner("greedy", ctx.problem).arena_bytes == 1_505_280


def _random_problem(seed: int, n: int = 70) -> PlanProblem:
    rng = random.Random(seed)
    bufs = []
    for i in range(n):
        first = rng.randrange(0, 40)
        last = first + rng.randrange(0, 6)
        bufs.append(BufferSpec(f"b{i}", rng.randrange(1, 200) * 16, first, last))
    return PlanProblem(tuple(bufs), (), 16)


@pytest.mark.parametrize("seed", [0, 1])
def test_optimal_proves_optimality_on_70_buffers(seed: int) -> None:
    # Seeded instances where greedy leaves a gap above the lower bound, so CP-SAT must search.
    p = _random_problem(seed)
    greedy = run_planner("greedy", p)
    assert greedy.arena_bytes > lower_bound(p)
    plan = run_planner("optimal", p, time_limit_s=60)
    assert plan.optimal is True
    assert plan.arena_bytes < greedy.arena_bytes
    assert plan.arena_bytes == plan.lower_bound_bytes
