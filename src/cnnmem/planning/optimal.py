"""Exact minimum arena with OR-Tools CP-SAT.

Model (one integer offset per buffer, in units of the alignment):
  - ``0 <= off_i`` and ``off_i + size_i <= arena`` for every buffer;
  - for every pair ``(i, j)`` live at the same step, a Boolean chooses the order:
    ``off_i + size_i <= off_j`` or ``off_j + size_j <= off_i``;
  - an overlap allowance ``(out, in, d)`` replaces the "out below in" branch by
    ``off_in - off_out >= d`` (the model's condition), so the output may overlap the dying input;
  - minimise ``arena``, with ``arena >= lower_bound`` (a proven bound) and the best heuristic
    plan as the starting hint and upper bound.
The solver runs with a time limit and a fixed seed on one worker per core (deterministic for a
given machine); the plan says whether optimality was proven. If the limit passes without a
better solution, the heuristic plan is returned (still verified).
"""

from __future__ import annotations

from ortools.sat.python import cp_model

from cnnmem.planning.interface import MemoryPlan, PlanProblem, align_up, lower_bound
from cnnmem.planning.planners import OverlapPlanner


class OptimalPlanner:
    """Exact arena minimisation (CP-SAT) under the problem's rules.

    Args:
        time_limit_s: solver time limit in seconds.
        workers: CP-SAT search workers (1 gives fully reproducible runs).
    """

    name = "optimal"

    def __init__(self, time_limit_s: float = 60.0, workers: int = 1) -> None:
        self.time_limit_s = time_limit_s
        self.workers = workers

    def plan(self, problem: PlanProblem) -> MemoryPlan:
        """Solve; fall back to the heuristic plan if the solver finds nothing better."""
        heuristic = OverlapPlanner().plan(problem)
        lb = lower_bound(problem)
        bufs = problem.buffers
        if not bufs:
            return MemoryPlan(self.name, problem, (), 0, optimal=True)
        align = max(1, problem.alignment)
        if heuristic.arena_bytes <= align_up(lb, align):
            return MemoryPlan(self.name, problem, heuristic.offsets, lb, optimal=True,
                              notes=("heuristic plan meets the lower bound",))
        units = [-(-b.size_bytes // align) for b in bufs]
        horizon = -(-heuristic.arena_bytes // align)
        model = cp_model.CpModel()
        offs = [model.new_int_var(0, horizon - units[i], f"off{i}") for i in range(len(bufs))]
        arena = model.new_int_var(-(-lb // align), horizon, "arena")
        for i in range(len(bufs)):
            model.add(offs[i] + units[i] <= arena)
        allow = {(a.output, a.input): a for a in problem.allowances}
        for i in range(len(bufs)):
            for j in range(i + 1, len(bufs)):
                a, b = bufs[i], bufs[j]
                if not a.overlaps_in_time(b) or units[i] == 0 or units[j] == 0:
                    continue
                before = model.new_bool_var(f"b{i}_{j}")
                al = allow.get((a.name, b.name))
                rev = allow.get((b.name, a.name))
                if al is not None:  # i is the output, j the input
                    d = -(-al.min_distance_bytes // align)
                    model.add(offs[j] - offs[i] >= min(d, units[i])).only_enforce_if(before)
                elif rev is not None:  # j is the output, i the input: i below j disjoint
                    model.add(offs[i] + units[i] <= offs[j]).only_enforce_if(before)
                else:
                    model.add(offs[i] + units[i] <= offs[j]).only_enforce_if(before)
                if rev is not None:  # j output may sit below i by d
                    d = -(-rev.min_distance_bytes // align)
                    model.add(offs[i] - offs[j] >= min(d, units[j])).only_enforce_if(~before)
                else:
                    model.add(offs[j] + units[j] <= offs[i]).only_enforce_if(~before)
        for i, o in enumerate(heuristic.offsets):
            model.add_hint(offs[i], o // align)
        model.minimize(arena)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = self.time_limit_s
        solver.parameters.num_search_workers = self.workers
        solver.parameters.random_seed = 0
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return MemoryPlan(self.name, problem, heuristic.offsets, lb, optimal=False,
                              notes=(f"CP-SAT found no solution in {self.time_limit_s:g} s; "
                                     "heuristic plan",))
        offsets = tuple(int(solver.value(v)) * align for v in offs)
        proven = status == cp_model.OPTIMAL
        bound = max(lb, int(solver.best_objective_bound) * align)
        plan = MemoryPlan(self.name, problem, offsets, bound, optimal=proven,
                          notes=(f"CP-SAT {'optimal' if proven else 'feasible'} in "
                                 f"{solver.wall_time:.2f} s",))
        if plan.arena_bytes > heuristic.arena_bytes:  # pragma: no cover - hint guarantees <=
            return MemoryPlan(self.name, problem, heuristic.offsets, bound, optimal=False)
        return plan
