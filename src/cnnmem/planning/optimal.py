"""Exact minimum arena with OR-Tools CP-SAT.

Model (one integer offset per buffer, in units of the alignment):
  - ``0 <= off_i`` and ``off_i + size_i <= arena`` for every buffer;
  - for every pair ``(i, j)`` live at the same step, a Boolean chooses the order:
    ``off_i + size_i <= off_j`` or ``off_j + size_j <= off_i``;
  - an overlap allowance ``(out, in, d_fwd, d_rev)`` relaxes the pair's two branches to
    ``off_in - off_out >= min(d_fwd, O)`` (forward order) and
    ``off_out - off_in >= I - max(0, O - d_rev)`` (reverse order), the model's conditions, so the
    output may overlap the dying input;
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

    @staticmethod
    def _gaps(al: object, o_units: int, i_units: int, align: int) -> tuple[int, int]:
        """(min off_in - off_out when the output is below, min off_out - off_in when above),
        in alignment units."""
        from cnnmem.planning.interface import OverlapAllowance

        assert isinstance(al, OverlapAllowance)
        d_fwd = -(-al.min_distance_bytes // align)
        up = min(d_fwd, o_units)
        down = i_units
        if al.reverse_distance_bytes is not None:
            d_rev = -(-al.reverse_distance_bytes // align)
            down = i_units - max(0, o_units - d_rev)
        return up, down

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
                below = model.new_bool_var(f"b{i}_{j}")  # i below j?
                if (a.name, b.name) in allow or (b.name, a.name) in allow:
                    o, n = (i, j) if (a.name, b.name) in allow else (j, i)
                    al = allow[(bufs[o].name, bufs[n].name)]
                    gap_up, gap_down = self._gaps(al, units[o], units[n], align)
                    # output below input: off_in - off_out >= min(d_fwd, O)
                    # output above input: off_out - off_in >= I - max(0, O - d_rev)
                    out_below = below if o == i else ~below
                    model.add(offs[n] - offs[o] >= gap_up).only_enforce_if(out_below)
                    model.add(offs[o] - offs[n] >= gap_down).only_enforce_if(~out_below)
                else:
                    model.add(offs[i] + units[i] <= offs[j]).only_enforce_if(below)
                    model.add(offs[j] + units[j] <= offs[i]).only_enforce_if(~below)
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
