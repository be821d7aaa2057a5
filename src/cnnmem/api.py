"""The public Python API: a few functions, each a short straight-line pipeline.

``profile("mobilenet_v2", dtype="int8")`` runs
``import -> verify -> simplify (unless fuse=False) -> liveness -> profile`` and returns a frozen
:class:`~cnnmem.analysis.profile.MemoryProfile`; the pipeline text goes into the report's
metadata so the figure can be reproduced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnmem.analysis.accounting import Accounting
from cnnmem.analysis.profile import MemoryProfile, profile_memory
from cnnmem.errors import ConfigError
from cnnmem.frontend import load_model
from cnnmem.ir.graph import Graph
from cnnmem.ir.types import DType
from cnnmem.ir.verify import verify
from cnnmem.passes.simplify import simplify
from cnnmem.planning.result import PlanResult


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """How to obtain a graph: which model, with which pinned shapes, fused or not."""

    spec: str
    input_shapes: Mapping[str, Sequence[int]] | None = None
    resolution: tuple[int, int] | None = None
    width: float | None = None
    fuse: bool = True


def load(options: ModelOptions, *, weights: bool = False, seed: int = 0) -> Graph:
    """Import (or build) and verify the model, then simplify it unless ``fuse`` is off."""
    graph = load_model(options.spec, input_shapes=options.input_shapes,
                       resolution=options.resolution, width=options.width, weights=weights,
                       seed=seed)
    verify(graph)
    if options.fuse:
        simplify(graph)
    else:
        graph.metadata["fused"] = "false"
    return graph


def make_accounting(*, dtype: str | DType | None = None, fuse: bool = True,
                    include_io: bool = True, alignment: int = 1) -> Accounting:
    """Build an :class:`Accounting` from user-facing values.

    Raises:
        ConfigError: unknown dtype or non-positive alignment.
    """
    if alignment < 1:
        raise ConfigError(f"--align must be a positive number of bytes, got {alignment}")
    dt = DType.parse(dtype) if isinstance(dtype, str) else dtype
    return Accounting(dtype=dt, fused=fuse, include_io=include_io, alignment=alignment)


def profile(spec: str, *, dtype: str | DType | None = None, fuse: bool = True,
            input_shapes: Mapping[str, Sequence[int]] | None = None,
            resolution: tuple[int, int] | None = None, width: float | None = None,
            include_io: bool = True, alignment: int = 1) -> MemoryProfile:
    """Per-layer memory profile of a model file or zoo network (see ``cnnmem profile``)."""
    options = ModelOptions(spec, input_shapes, resolution, width, fuse)
    accounting = make_accounting(dtype=dtype, fuse=fuse, include_io=include_io,
                                 alignment=alignment)
    graph = load(options)
    return profile_memory(graph, accounting, model=_model_name(spec))


def _model_name(spec: str) -> str:
    from pathlib import Path

    return Path(spec).name if ("/" in spec or "." in spec) else spec


def plan(spec: str, *, planner: str = "overlap", dataflow: str | None = "hwc-row",
         dtype: str | DType | None = None, fuse: bool = True, alignment: int = 1,
         include_io: bool = True, input_shapes: Mapping[str, Sequence[int]] | None = None,
         resolution: tuple[int, int] | None = None, width: float | None = None,
         time_limit_s: float = 60.0, verify_plan: bool = False, seed: int = 0) -> PlanResult:
    """Plan the activation arena of a model (see ``cnnmem plan``).

    ``import -> verify -> simplify -> liveness -> overlap model (dataflow) -> planner ->
    plan verifier [-> execution proof]``.

    Args:
        spec: model file or zoo name.
        planner: ``naive``, ``pingpong``, ``greedy``, ``overlap`` or ``optimal``.
        dataflow: ``hwc-row``, ``hwc-pixel``, ``chw-outer``, or ``None``/``"none"`` (no overlap).
        verify_plan: run the network inside one flat byte array at the planned addresses and
            compare with a reference evaluation (:mod:`cnnmem.planning.simulate`).
        seed: seed of random inputs/weights for the execution proof.
    """
    from cnnmem.planning.overlap import Dataflow
    from cnnmem.planning.problem import build_problem, run_planner
    from cnnmem.planning.result import make_result

    flow = None if dataflow in (None, "none") else Dataflow.parse(str(dataflow))
    options = ModelOptions(spec, input_shapes, resolution, width, fuse)
    accounting = make_accounting(dtype=dtype, fuse=fuse, include_io=include_io,
                                 alignment=alignment)
    graph = load(options, weights=verify_plan, seed=seed)
    ctx = build_problem(graph, accounting, flow)
    memory_plan = run_planner(planner, ctx.problem, time_limit_s=time_limit_s)
    result = make_result(_model_name(spec), planner, flow, accounting, ctx, memory_plan,
                         graph.metadata.get("source_format", ""))
    if verify_plan:
        from cnnmem.planning.simulate import prove_plan

        proof = prove_plan(graph, result, ctx, seed=seed)
        result = result.with_verification(proof.ok, proof.detail)
    return result


@dataclass(frozen=True, slots=True)
class ExploreOutcome:
    """What ``cnnmem explore`` reports: the front, the chosen schedule and the baselines.

    Attributes:
        model: the model's name.
        hw: the hardware explored (its buffer is the budget).
        result: the exploration (Pareto front, layer-by-layer front, compulsory traffic).
        best: the least-traffic schedule that fits, re-tiled as coarsely as allowed.
        baseline: the layer-by-layer baseline at the same budget (every layer reads its inputs
            and weights and writes its output once, tiled only as much as the buffer forces).
        layer_names: layer names by workload index, for the per-group table.
        seconds: exploration time.
    """

    model: str
    hw: Any
    result: Any
    best: Any
    baseline: Any
    layer_names: tuple[str, ...]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (schema ``cnnmem.explore/1``)."""
        from cnnmem.dse.cost import estimate_latency

        hw = self.hw

        def point(p: Any) -> dict[str, Any]:
            lat = estimate_latency(p.dram_bytes, p.macs, hw)
            return {
                "buffer_bytes": p.buffer_bytes, "dram_bytes": p.dram_bytes,
                "dram_read_bytes": p.cost.dram_read_bytes,
                "dram_write_bytes": p.cost.dram_write_bytes, "macs": p.macs,
                "frame_seconds": lat.bound_s, "fps": 1.0 / lat.bound_s if lat.bound_s else None,
                "bound": "memory" if lat.dram_s >= lat.compute_s else "compute",
                "groups": [self._group(g, c) for g, c in zip(p.schedule.groups, p.cost.groups,
                                                              strict=True)],
            }

        compulsory = self.result.compulsory
        return {
            "schema": "cnnmem.explore/1",
            "model": self.model,
            "hw": {"name": hw.name, "description": hw.describe(),
                   "buffer_bytes": hw.total_buffer_bytes,
                   "act_bytes_per_element": hw.act_bytes_per_element,
                   "weight_bytes_per_element": hw.weight_bytes_per_element,
                   "psum_bytes_per_element": hw.psum_bytes_per_element,
                   "bias_bytes_per_element": hw.bias_bytes,
                   "dram_bandwidth_bytes_per_s": hw.dram_bandwidth_bytes_per_s,
                   "peak_macs_per_s": hw.peak_macs_per_s,
                   "weights_in_separate_memory": hw.weights_in_separate_memory},
            "compulsory_dram_bytes": compulsory.dram_bytes,
            "baseline": point(self.baseline),
            "best": point(self.best),
            "reduction_vs_baseline": (self.baseline.dram_bytes / self.best.dram_bytes
                                      if self.best.dram_bytes else None),
            "pareto": [{"buffer_bytes": p.buffer_bytes, "dram_bytes": p.dram_bytes,
                        "macs": p.macs} for p in self.result.front],
            "max_group_layers": self.result.max_group_layers,
            "candidates_evaluated": self.result.candidates_evaluated,
            "seconds": round(self.seconds, 3),
        }

    def _group(self, g: Any, c: Any) -> dict[str, Any]:
        return {"first_layer": self.layer_names[g.first],
                "last_layer": self.layer_names[g.stop - 1],
                "layers": g.stop - g.first, "schedule": g.describe(),
                "tile_rows": g.tile_rows, "tile_cols": g.tile_cols,
                "tile_channels": g.tile_channels, "tile_in_channels": g.tile_in_channels,
                "loop_order": g.loop_order, "halo": g.halo.value,
                "weights_resident": g.weights_resident, "buffer_bytes": c.buffer_bytes,
                "dram_read_bytes": c.dram_read_bytes, "dram_write_bytes": c.dram_write_bytes,
                "dram_weight_read_bytes": c.dram_weight_read_bytes, "macs": c.macs}


def explore(spec: str, *, hw_path: str | None = None, buffer: str | None = None,
            max_group_layers: int = 16, max_recompute: float | None = 0.25,
            input_shapes: Mapping[str, Sequence[int]] | None = None,
            resolution: tuple[int, int] | None = None, width: float | None = None,
            progress: Any = None) -> ExploreOutcome:
    """Explore fused, tiled schedules of a model (see ``cnnmem explore``).

    ``import -> simplify -> workload -> per-group fronts -> DP over partitions -> best at the
    budget (re-tiled) + layer-by-layer baseline``. Exactly one of ``hw_path`` (a hardware YAML)
    and ``buffer`` (``"256KiB"``: one shared buffer, default hardware otherwise) is needed.

    Raises:
        ConfigError: both or neither of ``hw_path``/``buffer``; a bad hardware file.
        PlanningError: nothing fits the buffer.
    """
    import time

    from cnnmem.dse import HardwareSpec, best_schedule, extract_workload, load_hw
    from cnnmem.dse import explore as dse_explore
    from cnnmem.dse.space import CandidateOptions

    if (hw_path is None) == (buffer is None):
        raise ConfigError("give exactly one of --hw FILE and --buffer SIZE")
    if max_recompute is not None and max_recompute < 0:
        raise ConfigError("--max-recompute must be >= 0 (a fraction of the network's MACs)")
    hw = load_hw(hw_path) if hw_path is not None else HardwareSpec.single_buffer(str(buffer))
    graph = load(ModelOptions(spec, input_shapes, resolution, width, True))
    workload = extract_workload(graph)
    start = time.perf_counter()
    result = dse_explore(workload, hw, max_group_layers=max_group_layers,
                         options=CandidateOptions(max_recompute=max_recompute),
                         progress=progress)
    best = best_schedule(workload, result)
    baseline = result.layer_by_layer()
    if baseline is None:
        from cnnmem.errors import PlanningError

        raise PlanningError(f"{spec}: some layer fits {hw.describe()} with no tiling")
    return ExploreOutcome(_model_name(spec), hw, result, best, baseline,
                          tuple(layer.name for layer in workload.layers),
                          time.perf_counter() - start)


@dataclass(frozen=True, slots=True)
class CodegenOutcome:
    """What ``cnnmem codegen`` produced.

    Attributes:
        model: the model's name.
        code: the generated program (:class:`~cnnmem.codegen.GeneratedCode`: C source, file
            layout, weights, schedule, hardware and the cost model's expected counts).
        expected: the expected counts as written to ``expected.json``.
        files: paths written (empty without an output directory).
        explored: the schedule was found here by an exploration (no ``--schedule``).
    """

    model: str
    code: Any
    expected: dict[str, Any]
    files: tuple[str, ...]
    explored: bool


def codegen(spec: str, *, output_dir: str | None = None, schedule_path: str | None = None,
            hw_path: str | None = None, buffer: str | None = None, seed: int = 0,
            max_group_layers: int = 16, max_recompute: float | None = 0.25,
            input_shapes: Mapping[str, Sequence[int]] | None = None,
            resolution: tuple[int, int] | None = None,
            width: float | None = None) -> CodegenOutcome:
    """Generate plain C99 for a fused, tiled schedule of a float32 model (``cnnmem codegen``).

    ``import -> simplify -> workload -> schedule (file, or explore at the budget) -> generate
    -> write model.c, Makefile, schedule.json, expected.json, io.json, weights.bin``. Weights
    without data are seeded with ``seed`` as ``cnnmem export --seed`` does.

    Raises:
        ConfigError: no hardware/budget, non-float32 element sizes, a bad schedule file.
        UnsupportedOperatorError: layers the generator cannot emit (all listed).
        PlanningError: nothing fits the buffer (exploration).
    """
    from cnnmem.codegen import check_supported, generate, load_schedule, write_output_dir
    from cnnmem.codegen.generate import codegen_hw, storage_of, strip_float_boundary
    from cnnmem.dse import best_schedule, extract_workload, load_hw
    from cnnmem.dse import explore as dse_explore
    from cnnmem.dse.hw import parse_size
    from cnnmem.dse.space import CandidateOptions

    if hw_path is not None and buffer is not None:
        raise ConfigError("give at most one of --hw FILE and --buffer SIZE")
    graph = load(ModelOptions(spec, input_shapes, resolution, width, True), weights=True,
                 seed=seed)
    strip_float_boundary(graph)  # int8 TFLite: float QUANTIZE / DEQUANTIZE run on the host
    workload = extract_workload(graph)
    check_supported(graph, workload)  # before a possibly long exploration
    schedule, schedule_hw = (load_schedule(schedule_path, workload) if schedule_path
                             else (None, None))
    hw = codegen_hw(hw=load_hw(hw_path) if hw_path is not None else None,
                    buffer_bytes=parse_size(buffer, what="--buffer") if buffer else None,
                    schedule_hw=schedule_hw, storage=storage_of(graph, workload))
    if schedule is None:
        result = dse_explore(workload, hw, max_group_layers=max_group_layers,
                             options=CandidateOptions(max_recompute=max_recompute))
        schedule = best_schedule(workload, result).schedule
    code = generate(graph, workload, schedule, hw, seed=seed)
    files = write_output_dir(code, workload, output_dir) if output_dir else []
    return CodegenOutcome(_model_name(spec), code, code.expected_dict(workload),
                          tuple(str(f) for f in files), schedule_path is None)


@dataclass(frozen=True, slots=True)
class RestructureOutcome:
    """What ``cnnmem restructure`` reports.

    Attributes:
        model: the model's name.
        result: the search result (peaks, MACs, segments, Pareto front, equivalence).
        original: the simplified graph before the rewrite.
        rewritten: the rewritten graph.
        live_before: live activation bytes per step before (same accounting, in-place concats).
        live_after: the same after.
        plan_proven: the execution proof of the rewritten graph's plan (the search's planner,
            in-place Concats; :func:`cnnmem.planning.simulate.prove_plan`): True / False, or
            None when not run.
        plan_proof: the proof's detail (what was executed and checked, or what failed).
    """

    model: str
    result: Any
    original: Graph
    rewritten: Graph
    live_before: tuple[int, ...]
    live_after: tuple[int, ...]
    plan_proven: bool | None = None
    plan_proof: str = "not run"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (schema ``cnnmem.restructure/1``)."""
        return {"schema": "cnnmem.restructure/1", "model": self.model,
                **self.result.as_dict(),
                "plan_proven": self.plan_proven,
                "plan_proof": self.plan_proof,
                "live_bytes_before": list(self.live_before),
                "live_bytes_after": list(self.live_after)}


def _prove_restructured(graph: Graph, accounting: Any, planner: str, arena_bytes: int,
                        seed: int) -> tuple[bool, str]:
    """Plan ``graph`` as the search measured it (``planner``, in-place Concats; the hwc-row
    overlap rules for ``overlap`` / ``optimal``) and prove the plan by execution."""
    from cnnmem.errors import PlanningError
    from cnnmem.planning.overlap import Dataflow
    from cnnmem.planning.problem import run_planner
    from cnnmem.planning.result import make_result
    from cnnmem.planning.simulate import prove_plan
    from cnnmem.restructure.measure import build_problem_in_place

    flow = Dataflow.HWC_ROW if planner in ("overlap", "optimal") else None
    ctx = build_problem_in_place(graph, accounting, flow)
    memory_plan = run_planner(planner, ctx.problem)
    result = make_result(graph.name, planner, flow, accounting, ctx, memory_plan)
    what = f"{planner} plan of {memory_plan.arena_bytes} B"
    if memory_plan.arena_bytes != arena_bytes:
        what += f" (the search measured {arena_bytes} B)"
    try:
        proof = prove_plan(graph, result, ctx, seed=seed)
    except PlanningError as e:
        return False, f"{what}: {e}"
    return proof.ok, f"{what}: {proof.detail}"


def _same_integer_function(original: Graph, rewritten: Graph, seed: int) -> bool:
    """True if both graphs give bit-identical values on every tensor they share (random
    inputs; the graphs' own weights)."""
    import numpy as np

    from cnnmem.runtime import evaluate

    rng = np.random.default_rng(seed)
    feeds = {}
    for t in original.inputs:
        if t.dtype.is_float:
            feeds[t.name] = rng.normal(size=t.shape).astype(t.dtype.numpy)
        else:
            feeds[t.name] = rng.integers(-128, 128, size=t.shape).astype(t.dtype.numpy)
    a = evaluate(original, feeds, seed=seed)
    b = evaluate(rewritten, feeds, seed=seed)
    shared = [name for name in a if name in b and not original.tensor(name).is_constant]
    return bool(shared) and all(np.array_equal(a[n], b[n]) for n in shared)


def restructure(spec: str, *, max_overhead: float | None = None, budget: str | None = None,
                planner: str = "greedy", dtype: str | DType | None = None, alignment: int = 1,
                input_shapes: Mapping[str, Sequence[int]] | None = None,
                resolution: tuple[int, int] | None = None, width: float | None = None,
                check: bool = True, seed: int = 0, max_layers: int = 8,
                parts: Sequence[int] | None = None,
                max_iterations: int = 32, include_io: bool = True,
                prove: bool | None = None, reorder: bool = True,
                channels: bool | None = None) -> RestructureOutcome:
    """Rewrite a model so its activation peak drops (see ``cnnmem restructure``).

    ``import -> simplify -> search tiled segments (measured with the planner, in-place
    concats) -> apply -> equivalence check`` (onnxruntime for float graphs; for TFLite and
    folded-QDQ graphs, cnnmem's integer interpreter, bit-exact on every shared tensor).
    ``max_overhead`` (MAC fraction) and ``budget`` (``"256KiB"``) choose the stopping rule;
    with neither, ``max_overhead=0.1``. ``max_layers`` (longest segment), ``parts`` (tile
    counts, default :data:`~cnnmem.restructure.search.DEFAULT_PARTS`) and ``max_iterations``
    (greedy steps) bound the search (``cnnmem report --quick`` narrows them). ``reorder``
    (default on): search in the topological order with the least liveness peak when it beats
    the model's own order (``--no-reorder`` keeps the model's order). ``channels``: try channel
    chains (partial sums) too; ``None``: where exact (float graph, float accounting), ``False``:
    tiles only (``--no-channels``).
    ``prove`` (default: ``check``): plan the rewritten graph with the search's planner and prove
    the plan by execution (:func:`cnnmem.planning.simulate.prove_plan`: channels-last storage,
    every tile written into its slice of the in-place Concat's buffer); the outcome is
    :attr:`RestructureOutcome.plan_proven`.

    Raises:
        ConfigError: both stopping rules, or a bad value.
    """
    from cnnmem.analysis.liveness import compute_liveness
    from cnnmem.dse.hw import parse_size
    from cnnmem.restructure import restructure as search
    from cnnmem.restructure.search import DEFAULT_PARTS

    if max_overhead is not None and budget is not None:
        raise ConfigError("give at most one of --max-overhead and --budget")
    if max_overhead is not None and max_overhead < 0:
        raise ConfigError("--max-overhead must be >= 0 (a fraction of the MACs, e.g. 0.1)")
    if max_overhead is None and budget is None:
        max_overhead = 0.1
    budget_bytes = parse_size(budget, what="--budget") if budget is not None else None
    accounting = make_accounting(dtype=dtype, alignment=alignment, include_io=include_io)
    graph = load(ModelOptions(spec, input_shapes, resolution, width, True), weights=True,
                 seed=seed)
    can_check = check and graph.metadata.get("source_format") != "tflite" and \
        graph.metadata.get("qdq_folded") != "true"
    result = search(graph, accounting, max_overhead=max_overhead, budget_bytes=budget_bytes,
                    planner=planner, check=can_check, seed=seed, max_layers=max_layers,
                    parts=DEFAULT_PARTS if parts is None else parts,
                    max_iterations=max_iterations, reorder=reorder, channels=channels)
    rewritten = result.apply(graph)
    if check and not can_check and (result.segments or result.schedule):
        # TFLite / folded-QDQ graphs cannot run in onnxruntime: compare the rewrite with the
        # original in cnnmem's integer interpreter (bit-exact with LiteRT), on every tensor the
        # two graphs share, exactly
        from dataclasses import replace

        result = replace(result, equivalent=_same_integer_function(graph, rewritten, seed))
    before = compute_liveness(graph, accounting, concat_in_place=True).live_bytes
    after = compute_liveness(rewritten, accounting, concat_in_place=True).live_bytes
    proven, proof = None, "not run"
    run_proof = check if prove is None else prove
    if run_proof:
        proven, proof = _prove_restructured(rewritten, accounting, planner,
                                            result.peak_after_bytes, seed)
    return RestructureOutcome(_model_name(spec), result, graph, rewritten, before, after,
                              proven, proof)


REQUIREMENTS_DEFAULT_DTYPE = "int16"
"""Element type of ``cnnmem requirements`` without ``--dtype`` and ``--hw`` (16-bit activations
and weights, 32-bit partial sums)."""
REQUIREMENTS_DEFAULT_BUFFER = "1MiB"
"""Design budget of ``cnnmem requirements`` without ``--buffer`` and ``--hw``."""
REQUIREMENTS_QUICK_GROUP_LAYERS = 2
"""Longest fused group with ``quick=True`` (default 4)."""


@dataclass(frozen=True, slots=True)
class RequirementsOutcome:
    """What ``cnnmem requirements MODEL`` reports.

    Attributes:
        report: the :class:`~cnnmem.requirements.RequirementsReport`.
    """

    report: Any

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (schema ``cnnmem.requirements/1``)."""
        from cnnmem.requirements import report_dict

        return report_dict(self.report)

    def to_json(self) -> str:
        """Deterministic JSON text of :meth:`as_dict` (sorted keys)."""
        from cnnmem.report.tables import dumps_json

        return dumps_json(self.as_dict())


@dataclass(frozen=True, slots=True)
class RequirementsSuiteOutcome:
    """What ``cnnmem requirements --suite`` reports.

    Attributes:
        entries: ``(domain, report)`` per suite network, in suite order.
        seconds: wall time of the whole suite.
    """

    entries: tuple[tuple[str, Any], ...]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: schema ``cnnmem.requirements/1`` with a ``networks`` list
        (one report per network, plus its ``domain``)."""
        from cnnmem.requirements import SCHEMA, report_dict

        first = self.entries[0][1] if self.entries else None
        return {"schema": SCHEMA, "suite": True,
                "fps": first.fps if first else None,
                "accounting": first.accounting() if first else "",
                "networks": [{"domain": d, **report_dict(r, schema=False)}
                             for d, r in self.entries],
                "seconds": round(self.seconds, 3)}

    def to_json(self) -> str:
        """Deterministic JSON text of :meth:`as_dict`."""
        from cnnmem.report.tables import dumps_json

        return dumps_json(self.as_dict())


def requirements_hardware(*, hw_path: str | None = None, buffer: str | None = None,
                          dtype: str | DType | None = None,
                          bandwidth: str | float | None = None) -> Any:
    """The :class:`~cnnmem.dse.HardwareSpec` of ``cnnmem requirements``.

    ``hw_path`` gives element sizes, DRAM bandwidth, compute and the budget; otherwise one
    shared buffer of ``buffer`` (default :data:`REQUIREMENTS_DEFAULT_BUFFER`) with the DSE's
    default bandwidth and compute (8 GB/s, 512 MACs/cycle at 800 MHz). ``buffer`` with a file
    replaces its buffer(s) by one shared buffer. ``dtype`` sets activation and weight bytes to
    its size and partial sums to ``max(4, size)``; without it, the file's sizes, or
    :data:`REQUIREMENTS_DEFAULT_DTYPE`. ``bandwidth`` (``"25.6GB/s"``) replaces the DRAM
    bandwidth.

    Raises:
        ConfigError: a bad file, size, dtype or rate.
    """
    from dataclasses import replace

    from cnnmem.dse import HardwareSpec, load_hw, parse_size
    from cnnmem.dse.hw import parse_rate

    if hw_path is not None:
        hw = load_hw(hw_path)
        if buffer is not None:
            hw = hw.with_shared_buffer(parse_size(buffer, what="--buffer"))
    else:
        hw = HardwareSpec.single_buffer(buffer or REQUIREMENTS_DEFAULT_BUFFER)
    if dtype is None and hw_path is None:
        dtype = REQUIREMENTS_DEFAULT_DTYPE
    if dtype is not None:
        size = (DType.parse(dtype) if isinstance(dtype, str) else dtype).itemsize
        hw = replace(hw, act_bytes_per_element=size, weight_bytes_per_element=size,
                     psum_bytes_per_element=max(4, size))
    if bandwidth is not None:
        hw = replace(hw, dram_bandwidth_bytes_per_s=parse_rate(bandwidth, what="--bandwidth"))
    return hw


def requirements(spec: str, *, fps: float = 30.0, resolution: tuple[int, int] | None = None,
                 hw_path: str | None = None, buffer: str | None = None,
                 dtype: str | DType | None = None, quick: bool = False,
                 bandwidth: str | float | None = None, max_group_layers: int | None = None,
                 input_shapes: Mapping[str, Sequence[int]] | None = None,
                 width: float | None = None, progress: Any = None) -> RequirementsOutcome:
    """On-chip memory and DRAM bandwidth requirements of a model (see ``cnnmem
    requirements``).

    ``import -> simplify -> workload -> per-layer scenarios S1..S5 -> fused groups S6 (DSE)
    -> trade-off curve -> design points at the budget``. Hardware from
    :func:`requirements_hardware`. ``quick`` limits fused groups to
    :data:`REQUIREMENTS_QUICK_GROUP_LAYERS` layers (default
    :data:`~cnnmem.requirements.analysis.DEFAULT_MAX_GROUP_LAYERS`).

    Raises:
        ConfigError: bad model options, hardware, dtype, rate or ``fps``.
    """
    from cnnmem.dse import extract_workload
    from cnnmem.requirements import analyse
    from cnnmem.requirements.analysis import DEFAULT_MAX_GROUP_LAYERS

    hw = requirements_hardware(hw_path=hw_path, buffer=buffer, dtype=dtype,
                               bandwidth=bandwidth)
    if not fps > 0:
        raise ConfigError(f"--fps must be a positive frame rate, got {fps}")
    if max_group_layers is None:
        max_group_layers = REQUIREMENTS_QUICK_GROUP_LAYERS if quick else \
            DEFAULT_MAX_GROUP_LAYERS
    graph = load(ModelOptions(spec, input_shapes, resolution, width, True))
    workload = extract_workload(graph)
    report = analyse(workload, hw, fps=fps, max_group_layers=max_group_layers,
                     progress=progress)
    if report.model != _model_name(spec):
        from dataclasses import replace

        report = replace(report, model=_model_name(spec))
    return RequirementsOutcome(report)


def requirements_suite(*, fps: float = 30.0, hw_path: str | None = None,
                       buffer: str | None = None, dtype: str | DType | None = None,
                       quick: bool = False, bandwidth: str | float | None = None,
                       progress: Any = None) -> RequirementsSuiteOutcome:
    """:func:`requirements` of every network of the domain suite
    (:data:`cnnmem.requirements.SUITE`) at its suite resolution; ``progress(done, total,
    name)`` after each network.

    Raises:
        ConfigError: bad hardware, dtype, rate or ``fps``.
    """
    import time

    from cnnmem.requirements import SUITE

    start = time.perf_counter()
    entries = []
    for i, net in enumerate(SUITE):
        out = requirements(net.name, fps=fps, resolution=net.resolution, hw_path=hw_path,
                           buffer=buffer, dtype=dtype, quick=quick, bandwidth=bandwidth)
        entries.append((net.domain, out.report))
        if progress is not None:
            progress(i + 1, len(SUITE), net.name)
    return RequirementsSuiteOutcome(tuple(entries), time.perf_counter() - start)


REPORT_PLANNERS = ("naive", "pingpong", "greedy", "overlap", "optimal")
"""Planners compared by ``cnnmem report`` (``--quick`` leaves out ``optimal``)."""
REPORT_DEFAULT_BUFFER = "1MiB"
"""On-chip budget of ``cnnmem report`` when neither ``--hw`` nor ``--buffer`` is given."""
QUICK_RESTRUCTURE_LAYERS, QUICK_RESTRUCTURE_PARTS, QUICK_RESTRUCTURE_STEPS = 6, (2, 4, 8), 12
"""The narrowed restructuring search of ``cnnmem report --quick``: segments of at most 6
layers, 2, 4 or 8 tiles, at most 12 greedy steps (default: 8 layers, 2..16 tiles, 32 steps)."""
QUICK_MAX_GROUP_LAYERS = 6
"""The longest fused group ``cnnmem report --quick`` explores."""
_HW_DTYPES = {1: "int8", 2: "int16", 4: "float32"}

ReportProgress = Callable[[str, int, "int | None"], None]
"""``progress(step, done, total)``: a report step advanced (``total=None``: unknown)."""


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything ``cnnmem report`` shows. A step that could not run is ``None`` and its note
    says why (shown in its section instead of numbers).

    Attributes:
        model: the model's name.
        command: the ``cnnmem report`` command that reproduces the report (without ``-o``).
        hw: the hardware (its buffer is the on-chip budget).
        budget_source: where the budget came from (``--hw FILE``, ``--buffer``, or default).
        dtype: the element type of every activation figure.
        fps: the target frame rate.
        quick: the expensive searches were narrowed or skipped.
        profile: the per-layer profile.
        plans: one plan per planner, in :data:`REPORT_PLANNERS` order.
        restructured: the restructuring outcome.
        restructure_note: why ``restructured`` is missing, or how the search was narrowed.
        explored: the scheduling exploration.
        explore_note: why ``explored`` is missing, or how the search was narrowed.
        requirements: the requirements outcome (``.to_json()``).
        requirements_note: why ``requirements`` is missing.
        seed: seed of random weights/inputs (execution proofs, equivalence, ONNX export).
    """

    model: str
    command: str
    hw: Any
    budget_source: str
    dtype: str
    fps: float
    quick: bool
    profile: MemoryProfile
    plans: tuple[PlanResult, ...]
    restructured: RestructureOutcome | None
    restructure_note: str
    explored: ExploreOutcome | None
    explore_note: str
    requirements: RequirementsOutcome | None
    requirements_note: str
    seed: int = 0


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """What ``cnnmem report`` computed and wrote."""

    data: ReportData
    html: Path
    files: tuple[Path, ...]


def report(spec: str, output_dir: str | Path, *, hw_path: str | None = None,
           buffer: str | None = None, dtype: str | None = None, fps: float = 30.0,
           quick: bool = False, input_shapes: Mapping[str, Sequence[int]] | None = None,
           resolution: tuple[int, int] | None = None, width: float | None = None,
           time_limit_s: float = 60.0, seed: int = 0,
           progress: ReportProgress | None = None) -> ReportOutcome:
    """Analyse a model end to end and write ``report.html`` plus JSON, CSV and figures.

    ``profile -> plan (every planner, execution proof unless quick) -> restructure ->
    explore -> requirements -> write`` (see ``cnnmem report``). The budget is the hardware's
    buffer (``hw_path``), ``buffer``, or :data:`REPORT_DEFAULT_BUFFER`; without ``dtype``
    activations are counted at the hardware's activation element size. ``quick`` leaves out
    the optimal planner and the execution proofs and narrows the restructuring
    (``QUICK_RESTRUCTURE_*``) and scheduling (:data:`QUICK_MAX_GROUP_LAYERS`) searches.
    Restructuring, scheduling and requirements failures are reported in their sections.

    Raises:
        ConfigError: both ``hw_path`` and ``buffer``, a bad hardware file, or ``fps <= 0``.
    """
    from cnnmem.dse import HardwareSpec, load_hw
    from cnnmem.errors import CnnmemError
    from cnnmem.report.bundle import write_report

    if hw_path is not None and buffer is not None:
        raise ConfigError("give at most one of --hw FILE and --buffer SIZE")
    if not fps > 0:
        raise ConfigError(f"--fps must be positive, got {fps}")
    step = progress or (lambda _s, _d, _t: None)
    if hw_path is not None:
        hw, source = load_hw(hw_path), f"--hw {_model_name(hw_path)}"
    else:
        source = f"--buffer {buffer}" if buffer else \
            f"default {REPORT_DEFAULT_BUFFER} shared buffer (no --hw or --buffer given)"
        buffer = buffer or REPORT_DEFAULT_BUFFER
        hw = HardwareSpec.single_buffer(buffer)
    # requirements take the hardware file's element sizes unless --dtype overrides them
    requirements_dtype = dtype if dtype or hw_path else None
    dtype = dtype or _HW_DTYPES.get(hw.act_bytes_per_element, "int8")
    requirements_dtype = requirements_dtype or (None if hw_path else dtype)
    shapes = dict(input_shapes or {})

    step("profile", 0, 1)
    prof = profile(spec, dtype=dtype, input_shapes=shapes, resolution=resolution, width=width)
    planners = REPORT_PLANNERS[:-1] if quick else REPORT_PLANNERS
    plans = []
    for i, name in enumerate(planners):
        step("plan " + name, i, len(planners))
        plans.append(plan(spec, planner=name, dtype=dtype, input_shapes=shapes,
                          resolution=resolution, width=width, time_limit_s=time_limit_s,
                          verify_plan=not quick, seed=seed))

    step("restructure", 0, None)
    restructured, restructure_note = None, ""
    try:
        restructured = restructure(
            spec, dtype=dtype, input_shapes=shapes, resolution=resolution, width=width,
            seed=seed, max_layers=QUICK_RESTRUCTURE_LAYERS if quick else 8,
            parts=QUICK_RESTRUCTURE_PARTS if quick else None,
            max_iterations=QUICK_RESTRUCTURE_STEPS if quick else 32, prove=not quick)
    except CnnmemError as e:
        restructure_note = f"restructuring failed: {e}"

    group_layers = QUICK_MAX_GROUP_LAYERS if quick else 16
    explored, explore_note = None, ""
    try:
        explored = explore(spec, hw_path=hw_path, buffer=None if hw_path else buffer,
                           max_group_layers=group_layers, input_shapes=shapes,
                           resolution=resolution, width=width,
                           progress=lambda done, total: step("explore", done, total))
    except CnnmemError as e:
        explore_note = f"no schedule: {e}"

    step("requirements", 0, None)
    reqs, reqs_note = None, ""
    try:
        reqs = requirements(spec, fps=fps, resolution=resolution, hw_path=hw_path,
                            buffer=None if hw_path else buffer, dtype=requirements_dtype,
                            quick=quick, input_shapes=shapes, width=width,
                            progress=lambda done, total: step("requirements", done, total))
    except CnnmemError as e:
        reqs_note = f"requirements failed: {e}"

    step("write report", 0, None)
    command = _report_command(spec, shapes, resolution, width,
                              source if source.startswith("--") else "", dtype, fps, quick,
                              seed)
    data = ReportData(_model_name(spec), command, hw, source, dtype, fps, quick, prof,
                      tuple(plans), restructured, restructure_note, explored, explore_note,
                      reqs, reqs_note, seed)
    html, files = write_report(data, output_dir)
    step("write report", 1, 1)
    return ReportOutcome(data, html, files)


def _report_command(spec: str, shapes: Mapping[str, Sequence[int]],
                    resolution: tuple[int, int] | None, width: float | None, budget: str,
                    dtype: str, fps: float, quick: bool, seed: int) -> str:
    """The ``cnnmem report`` command line that reproduces a report (``-o`` left out)."""
    words = ["cnnmem report", spec]
    words += [f"--input-shape {k}={'x'.join(map(str, v))}" for k, v in shapes.items()]
    if resolution:
        words.append(f"--resolution {resolution[0]}x{resolution[1]}")
    if width:
        words.append(f"--width {width:g}")
    words += [budget, f"--dtype {dtype}", f"--fps {fps:g}", "--quick" if quick else "",
              f"--seed {seed}" if seed else ""]
    return " ".join(w for w in words if w)
