"""What ``cnnmem plan`` reports: the address map plus per-layer footprints, as frozen data.

Per layer (schedule step):
- ``live_bytes``: sum of the buffers live at the step (what disjoint placement needs);
- ``required_bytes``: the same with the step's overlap allowance applied (the lower bound's term
  for this step: ``max(O, I + d)`` for the overlapping pair);
- ``extent_bytes``: the address range the plan actually spans at that step (highest end minus
  lowest start of the live buffers);
- the overlap chosen for the layer, with the direction the plan's addresses require.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnmem.analysis.accounting import Accounting
from cnnmem.planning.interface import MemoryPlan, live_sets
from cnnmem.planning.overlap import Dataflow, OverlapModel, direction_for
from cnnmem.planning.problem import PlanningContext

PLAN_SCHEMA = "cnnmem.plan/1"


@dataclass(frozen=True, slots=True)
class BufferRecord:
    """One line of the address map.

    ``tensor_offsets``: where each of ``tensors`` starts, in bytes from ``offset`` (the slices
    of an in-place Concat's inputs, :attr:`cnnmem.analysis.liveness.Liveness.slice_offsets`);
    empty when every tensor starts at ``offset`` (the buffer's owner and its alias views).
    """

    name: str
    tensors: tuple[str, ...]
    offset: int
    size_bytes: int
    first_step: int
    last_step: int
    tensor_offsets: tuple[int, ...] = ()

    def tensor_offset(self, name: str) -> int:
        """Arena offset of tensor ``name`` (one of :attr:`tensors`)."""
        if not self.tensor_offsets:
            return self.offset
        return self.offset + self.tensor_offsets[self.tensors.index(name)]


@dataclass(frozen=True, slots=True)
class LayerRecord:
    """Footprint of one schedule step (see module docstring)."""

    step: int
    layer: str
    op: str
    live_bytes: int
    required_bytes: int
    extent_bytes: int
    overlap_input: str | None
    overlap_distance_bytes: int | None
    overlap_reverse_distance_bytes: int | None
    direction: str | None


@dataclass(frozen=True, slots=True)
class PlanResult:
    """A verified plan of one model with everything the reports need."""

    model: str
    planner: str
    dataflow: Dataflow | None
    accounting: Accounting
    plan: MemoryPlan
    buffers: tuple[BufferRecord, ...]
    layers: tuple[LayerRecord, ...]
    verified: bool | None = None
    verification: str = "not run (use --verify)"
    source_format: str = ""

    @property
    def arena_bytes(self) -> int:
        """Arena size of the plan."""
        return self.plan.arena_bytes

    @property
    def lower_bound_bytes(self) -> int:
        """Proven lower bound under the plan's rules."""
        return self.plan.lower_bound_bytes

    @property
    def fragmentation_bytes(self) -> int:
        """Arena minus lower bound: what the placement loses to fragmentation (and drift)."""
        return self.plan.arena_bytes - self.plan.lower_bound_bytes

    @property
    def peak_layer(self) -> LayerRecord | None:
        """The layer whose required bytes set the lower bound (first on ties)."""
        return max(self.layers, key=lambda r: (r.required_bytes, -r.step), default=None)

    def with_verification(self, verified: bool, detail: str) -> PlanResult:
        """A copy carrying the execution proof's result."""
        from dataclasses import replace

        return replace(self, verified=verified, verification=detail)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (schema ``cnnmem.plan/1``)."""
        acct = self.accounting
        peak = self.peak_layer
        return {
            "schema": PLAN_SCHEMA,
            "model": self.model,
            "planner": self.planner,
            "dataflow": self.dataflow.value if self.dataflow else None,
            "dtype": acct.dtype.short_name if acct.dtype else "file",
            "alignment_bytes": acct.alignment,
            "accounting": acct.describe(),
            "arena_bytes": self.arena_bytes,
            "lower_bound_bytes": self.lower_bound_bytes,
            "fragmentation_bytes": self.fragmentation_bytes,
            "optimal": self.plan.optimal,
            "notes": list(self.plan.notes),
            "peak_layer": peak.layer if peak else None,
            "peak_step": peak.step if peak else None,
            "verified": self.verified,
            "verification": self.verification,
            "buffers": [
                {"name": b.name, "tensors": list(b.tensors), "offset": b.offset,
                 "size": b.size_bytes, "first_step": b.first_step, "last_step": b.last_step,
                 # in-place Concats only: where each tensor starts inside the buffer
                 **({"tensor_offsets": list(b.tensor_offsets)} if b.tensor_offsets else {})}
                for b in self.buffers],
            "layers": [
                {"step": r.step, "layer": r.layer, "op": r.op, "live_bytes": r.live_bytes,
                 "required_bytes": r.required_bytes, "extent_bytes": r.extent_bytes,
                 "overlap_input": r.overlap_input,
                 "overlap_distance_bytes": r.overlap_distance_bytes,
                 "overlap_reverse_distance_bytes": r.overlap_reverse_distance_bytes,
                 "direction": r.direction}
                for r in self.layers],
        }


def make_result(model: str, planner: str, dataflow: Dataflow | None, accounting: Accounting,
                ctx: PlanningContext, plan: MemoryPlan, source_format: str = "") -> PlanResult:
    """Assemble the report data of ``plan`` (which must belong to ``ctx.problem``'s buffers)."""
    bufs = plan.problem.buffers
    offsets = dict(zip((b.name for b in bufs), plan.offsets, strict=True))
    members = {b.name: b.tensors for b in ctx.liveness.buffers}
    slices = ctx.liveness.slice_offsets
    records = []
    for b in bufs:
        tensors = members.get(b.name, (b.name,))
        within = tuple(slices.get(t, 0) for t in tensors) \
            if any(t in slices for t in tensors) else ()
        records.append(BufferRecord(b.name, tensors, offsets[b.name], b.size_bytes, b.first_use,
                                    b.last_use, within))
    used = {(a.output, a.input) for a in plan.problem.allowances}
    overlaps = {o.step: o for o in ctx.overlaps if (o.output_buffer, o.input_buffer) in used}
    steps = live_sets(bufs)
    rows = []
    for step, node in enumerate(ctx.schedule):
        live = steps[step] if step < len(steps) else []
        total = sum(bufs[i].size_bytes for i in live)
        required = total
        ov = overlaps.get(step)
        direction = None
        if ov is not None:
            sizes = {b.name: b.size_bytes for b in bufs}
            o_size, i_size = sizes[ov.output_buffer], sizes[ov.input_buffer]
            best = min(ov.min_distance_bytes, ov.reverse_distance_bytes)
            required -= max(0, o_size + i_size - max(o_size, i_size + best))
            aligned = OverlapModel(ov.min_distance_bytes, ov.reverse_distance_bytes, i_size,
                                   o_size)
            try:
                direction = direction_for(aligned, offsets[ov.output_buffer],
                                          offsets[ov.input_buffer])
            except ValueError:
                direction = "invalid"  # only a hand-made (unverified) plan can get here
        extent = (max(offsets[bufs[i].name] + bufs[i].size_bytes for i in live)
                  - min(offsets[bufs[i].name] for i in live)) if live else 0
        rows.append(LayerRecord(step, node.name, node.op_type, total, required, extent,
                                ov.input_buffer if ov else None,
                                ov.min_distance_bytes if ov else None,
                                ov.reverse_distance_bytes if ov else None, direction))
    return PlanResult(model, planner, dataflow, accounting, plan, tuple(records), tuple(rows),
                      source_format=source_format)
