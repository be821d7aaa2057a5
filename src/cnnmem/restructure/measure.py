"""What the search measures on a (rewritten) graph: arena bytes under a planner, and MACs.

Tiled segments end in a Concat along H whose tiles are written straight into its buffer, so
the search measures with the in-place Concat accounting
(``compute_liveness(..., concat_in_place=True)``, channels-last storage). The planning problem
is built as :func:`cnnmem.planning.problem.build_problem` builds it, from that liveness.

# NOTE: ``build_problem`` has no ``concat_in_place`` parameter yet; :func:`build_problem_in_place`
# mirrors it (and reuses its per-layer overlap choice) until it gets one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnnmem.analysis.accounting import Accounting
from cnnmem.analysis.liveness import Liveness
from cnnmem.ir.graph import Graph, Node, TensorKind
from cnnmem.ir.ops import node_macs
from cnnmem.planning.overlap import Dataflow
from cnnmem.planning.problem import PlanningContext, build_problem, run_planner

__all__ = ["Measurement", "build_problem_in_place", "graph_macs", "measure", "overlap_floor",
           "overlap_step_floors"]


@dataclass(frozen=True, slots=True)
class Measurement:
    """Memory and compute of one graph.

    Attributes:
        arena_bytes: arena of the planner's verified plan.
        live_peak_bytes: liveness peak (a lower bound of any arena without overlap).
        peak_step: first step at which the liveness peak is reached.
        peak_steps: number of steps at which the liveness peak is reached.
        macs: multiply-accumulates (Conv, ConvTranspose, Gemm, MatMul).
        bound_bytes: the plan's proven lower bound under the planner's rules (the liveness
            peak for disjoint planners; smaller when outputs may overlap dying inputs).
    """

    arena_bytes: int
    live_peak_bytes: int
    peak_step: int
    peak_steps: int
    macs: int
    bound_bytes: int = 0

    @property
    def progress_key(self) -> tuple[int, int, int]:
        """What the search lowers: the arena, then the plan's lower bound (the liveness peak
        for disjoint planners), then the number of steps at the liveness peak (so that, of two
        equal peaks in different places, lowering one counts)."""
        return (self.arena_bytes, self.live_peak_bytes, self.peak_steps)


def graph_macs(graph: Graph) -> int:
    """Multiply-accumulates of the whole graph."""
    return sum(node_macs(n) for n in graph.nodes)


def overlap_floor(graph: Graph, liveness: Liveness, accounting: Accounting) -> int:
    """A lower bound of the overlap problem's bound, from the liveness alone: the largest of
    :func:`overlap_step_floors`. The search prunes with it before building the problem."""
    return max(overlap_step_floors(graph, liveness, accounting), default=0)


def overlap_step_floors(graph: Graph, liveness: Liveness, accounting: Accounting) -> list[int]:
    """Per step, a lower bound of the bytes the overlap problem needs at that step.

    :func:`~cnnmem.planning.interface.lower_bound` of the problem that
    :func:`build_problem_in_place` builds with any dataflow is
    ``max_s (live_s - saving_s)``, where ``saving_s = O + I - max(O, I + d)`` is the saving of
    the one allowance of the layer at step ``s`` (its output ``O`` and a dying input ``I``;
    :attr:`~cnnmem.planning.overlap.OverlapModel.saving_bytes`), 0 without one. The overlap
    models have ``d >= 0`` (:mod:`cnnmem.planning.overlap`), so ``saving_s <= min(O, I)``,
    and ``live_s - max_I min(O, I)`` over the inputs that could carry an allowance
    (single-output layer owning its buffer; input a planned buffer, not the output's, dying
    at ``s``, not a graph output) bounds step ``s``'s term without the overlap models.

    ``liveness``: the in-place liveness of ``graph`` (graph order) under ``accounting``.
    """
    counted = {b.name: b for b in liveness.buffers
               if accounting.include_io or not (b.is_input or b.is_output)}
    buffer_of = liveness.buffer_of
    floors = []
    for step, node in enumerate(graph.nodes):
        saving = 0
        if len(node.outputs) == 1:
            out = node.outputs[0].name
            ob = counted.get(out) if buffer_of.get(out) == out else None
            if ob is not None:
                for t in node.inputs:
                    if t is None or t.kind is TensorKind.CONSTANT:
                        continue
                    name = buffer_of.get(t.name)
                    ib = counted.get(name) if name is not None else None
                    if ib is None or ib is ob or ib.last_step != step or ib.is_output:
                        continue
                    saving = max(saving, min(ob.size_bytes, ib.size_bytes))
        floors.append(liveness.live_bytes[step] - saving)
    return floors


def build_problem_in_place(graph: Graph, accounting: Accounting, dataflow: Dataflow | None,
                           schedule: Sequence[Node] | None = None, *,
                           liveness: Liveness | None = None) -> PlanningContext:
    """:func:`~cnnmem.planning.problem.build_problem` with in-place Concats.

    ``liveness``: the in-place liveness of ``schedule`` if already computed.
    """
    return build_problem(graph, accounting, dataflow, schedule, concat_in_place=True,
                         liveness=liveness)


def measure(graph: Graph, accounting: Accounting, planner: str = "greedy",
            dataflow: Dataflow | None = None, *, liveness: Liveness | None = None,
            context: PlanningContext | None = None) -> tuple[Measurement, Liveness]:
    """Plan ``graph`` with ``planner`` (in-place Concats) and count its MACs.

    Args:
        graph: the graph.
        accounting: how bytes are counted.
        planner: a planner name of :func:`cnnmem.planning.problem.make_planner`.
        dataflow: the dataflow whose overlap allowances the ``overlap`` / ``optimal`` planners
            use (``None``: no overlap).
        liveness: the graph's in-place liveness (graph order), if already computed.
        context: the planning problem of ``graph`` (:func:`build_problem_in_place` with the
            same accounting and dataflow), if already built.

    Returns:
        The measurement and the liveness it came from.
    """
    ctx = context or build_problem_in_place(graph, accounting, dataflow, liveness=liveness)
    plan = run_planner(planner, ctx.problem)
    live = ctx.liveness
    return Measurement(plan.arena_bytes, live.peak_bytes, live.peak_step,
                       live.live_bytes.count(live.peak_bytes), graph_macs(graph),
                       plan.lower_bound_bytes), live
