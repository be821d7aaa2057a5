"""From a graph to a planning problem, and the planner registry.

``build_problem`` turns the liveness of a layer-by-layer schedule into
:class:`~cnnmem.planning.interface.BufferSpec` s and, for a dataflow, one
:class:`~cnnmem.planning.interface.OverlapAllowance` per layer: the layer's output may overlap
the input that dies at this layer (the one whose overlap saves most), by the exact distance of
:mod:`cnnmem.planning.overlap`. A dying input qualifies when it is read through its own buffer
(not through a reshaping alias, whose byte order differs) or the layer consumes its input as one
unit (global pooling, Gemm), and it is not a graph output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cnnmem.analysis.accounting import Accounting
from cnnmem.analysis.liveness import Buffer, Liveness, compute_liveness
from cnnmem.errors import ConfigError
from cnnmem.ir.graph import Graph, Node, TensorKind
from cnnmem.planning.interface import (
    BufferSpec,
    MemoryPlan,
    OverlapAllowance,
    PlanProblem,
    align_up,
)
from cnnmem.planning.optimal import OptimalPlanner
from cnnmem.planning.overlap import Dataflow, OverlapModel, overlap_model, reads_whole_input
from cnnmem.planning.planners import (
    GreedyBySizePlanner,
    NaivePlanner,
    OverlapPlanner,
    PingPongPlanner,
)

PLANNER_NAMES = ("naive", "pingpong", "greedy", "overlap", "optimal")


@dataclass(frozen=True, slots=True)
class LayerOverlap:
    """The overlap chosen for one layer: which input it overlaps and the model's figures."""

    step: int
    layer: str
    input_buffer: str
    output_buffer: str
    model: OverlapModel
    min_distance_bytes: int  # aligned
    reverse_distance_bytes: int  # aligned


@dataclass(frozen=True, slots=True)
class PlanningContext:
    """A problem with the analyses it came from."""

    problem: PlanProblem
    liveness: Liveness
    overlaps: tuple[LayerOverlap, ...]
    schedule: tuple[Node, ...]


def build_problem(graph: Graph, accounting: Accounting, dataflow: Dataflow | None,
                  schedule: Sequence[Node] | None = None, *, concat_in_place: bool = False,
                  liveness: Liveness | None = None) -> PlanningContext:
    """Buffers and overlap allowances of ``graph`` under ``accounting`` and ``dataflow``.

    Graph inputs/outputs are planned in the arena when ``accounting.include_io`` (as TFLM does);
    otherwise they are left out. Buffer sizes are aligned to ``accounting.alignment``.
    ``concat_in_place``: concatenated tensors are written into the Concat's buffer (see
    :func:`cnnmem.analysis.liveness.compute_liveness`). ``liveness``: that liveness of
    ``schedule``, if already computed.
    """
    order = tuple(schedule) if schedule is not None else graph.nodes
    live = liveness or compute_liveness(graph, accounting, order,
                                        concat_in_place=concat_in_place)
    keep = [b for b in live.buffers if accounting.include_io or not (b.is_input or b.is_output)]
    specs = tuple(BufferSpec(b.name, b.size_bytes, b.first_step, b.last_step) for b in keep)
    by_name = {b.name: b for b in keep}
    overlaps: list[LayerOverlap] = []
    if dataflow is not None:
        for step, node in enumerate(order):
            chosen = _best_overlap(node, step, live, by_name, accounting, dataflow)
            if chosen is not None:
                overlaps.append(chosen)
    allowances = tuple(OverlapAllowance(o.output_buffer, o.input_buffer, o.min_distance_bytes,
                                        o.step, o.layer, o.reverse_distance_bytes)
                       for o in overlaps)
    problem = PlanProblem(specs, allowances, max(1, accounting.alignment))
    return PlanningContext(problem, live, tuple(overlaps), order)


def _best_overlap(node: Node, step: int, live: Liveness, buffers: Mapping[str, Buffer],
                  accounting: Accounting, dataflow: Dataflow) -> LayerOverlap | None:
    if len(node.outputs) != 1:
        return None
    out = node.outputs[0]
    out_buf = live.buffer_of.get(out.name)
    if out_buf != out.name or out_buf not in buffers:
        return None  # an alias writes no buffer of its own
    best: LayerOverlap | None = None
    for k, t in enumerate(node.inputs):
        if t is None or t.kind is TensorKind.CONSTANT:
            continue
        in_buf = live.buffer_of.get(t.name)
        spec = buffers.get(in_buf) if in_buf else None
        if spec is None or in_buf == out_buf:
            continue
        if spec.last_step != step or spec.is_output:
            continue
        model = overlap_model(node, k, dataflow, accounting.element_size(t),
                              accounting.element_size(out))
        if model is None:
            continue
        if in_buf != t.name and not reads_whole_input(node, k, dataflow,
                                                      accounting.element_size(t),
                                                      accounting.element_size(out)):
            continue  # read through a reshaping view: its byte order is not the model's
        d = align_up(model.min_distance_bytes, accounting.alignment)
        d_rev = align_up(model.reverse_distance_bytes, accounting.alignment)
        cand = LayerOverlap(step, node.name, spec.name, out_buf, model, d, d_rev)
        if best is None or cand.model.saving_bytes > best.model.saving_bytes:
            best = cand
    if best is not None and best.model.saving_bytes <= 0:
        return None
    return best


def make_planner(name: str, *, time_limit_s: float = 60.0) -> object:
    """A planner by name (``naive``, ``pingpong``, ``greedy``, ``overlap``, ``optimal``).

    Raises:
        ConfigError: unknown name.
    """
    if name == "naive":
        return NaivePlanner()
    if name == "pingpong":
        return PingPongPlanner()
    if name == "greedy":
        return GreedyBySizePlanner()
    if name == "overlap":
        return OverlapPlanner()
    if name == "optimal":
        return OptimalPlanner(time_limit_s=time_limit_s)
    raise ConfigError(f"unknown planner {name!r}: use one of {', '.join(PLANNER_NAMES)}")


def run_planner(name: str, problem: PlanProblem, *, time_limit_s: float = 60.0) -> MemoryPlan:
    """Plan ``problem`` with planner ``name`` and verify the result."""
    planner = make_planner(name, time_limit_s=time_limit_s)
    plan: MemoryPlan = planner.plan(problem)  # type: ignore[attr-defined]
    plan.verify()
    return plan
