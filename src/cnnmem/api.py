"""The public Python API: a few functions, each a short straight-line pipeline.

``profile("mobilenet_v2", dtype="int8")`` runs
``import -> verify -> simplify (unless fuse=False) -> liveness -> profile`` and returns a frozen
:class:`~cnnmem.analysis.profile.MemoryProfile`; the pipeline text goes into the report's
metadata so the figure can be reproduced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
class RestructureOutcome:
    """What ``cnnmem restructure`` reports.

    Attributes:
        model: the model's name.
        result: the search result (peaks, MACs, segments, Pareto front, equivalence).
        original: the simplified graph before the rewrite.
        rewritten: the rewritten graph.
        live_before: live activation bytes per step before (same accounting, in-place concats).
        live_after: the same after.
    """

    model: str
    result: Any
    original: Graph
    rewritten: Graph
    live_before: tuple[int, ...]
    live_after: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (schema ``cnnmem.restructure/1``)."""
        return {"schema": "cnnmem.restructure/1", "model": self.model,
                **self.result.as_dict(),
                "live_bytes_before": list(self.live_before),
                "live_bytes_after": list(self.live_after)}


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
                check: bool = True, seed: int = 0) -> RestructureOutcome:
    """Rewrite a model so its activation peak drops (see ``cnnmem restructure``).

    ``import -> simplify -> search tiled segments (measured with the planner, in-place
    concats) -> apply -> equivalence check`` (onnxruntime for float graphs; for TFLite and
    folded-QDQ graphs, cnnmem's integer interpreter, bit-exact on every shared tensor).
    ``max_overhead`` (MAC fraction) and ``budget`` (``"256KiB"``) choose the stopping rule;
    with neither, ``max_overhead=0.1``.

    Raises:
        ConfigError: both stopping rules, or a bad value.
    """
    from cnnmem.analysis.liveness import compute_liveness
    from cnnmem.dse.hw import parse_size
    from cnnmem.restructure import apply_rewrites
    from cnnmem.restructure import restructure as search

    if max_overhead is not None and budget is not None:
        raise ConfigError("give at most one of --max-overhead and --budget")
    if max_overhead is not None and max_overhead < 0:
        raise ConfigError("--max-overhead must be >= 0 (a fraction of the MACs, e.g. 0.1)")
    if max_overhead is None and budget is None:
        max_overhead = 0.1
    budget_bytes = parse_size(budget, what="--budget") if budget is not None else None
    accounting = make_accounting(dtype=dtype, alignment=alignment)
    graph = load(ModelOptions(spec, input_shapes, resolution, width, True), weights=True,
                 seed=seed)
    can_check = check and graph.metadata.get("source_format") != "tflite" and \
        graph.metadata.get("qdq_folded") != "true"
    result = search(graph, accounting, max_overhead=max_overhead, budget_bytes=budget_bytes,
                    planner=planner, check=can_check, seed=seed)
    rewritten = apply_rewrites(graph, result.segments)
    if check and not can_check and result.segments:
        # TFLite / folded-QDQ graphs cannot run in onnxruntime: compare the rewrite with the
        # original in cnnmem's integer interpreter (bit-exact with LiteRT), on every tensor the
        # two graphs share, exactly
        from dataclasses import replace

        result = replace(result, equivalent=_same_integer_function(graph, rewritten, seed))
    before = compute_liveness(graph, accounting, concat_in_place=True).live_bytes
    after = compute_liveness(rewritten, accounting, concat_in_place=True).live_bytes
    return RestructureOutcome(_model_name(spec), result, graph, rewritten, before, after)
