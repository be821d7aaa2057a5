"""The public Python API: a few functions, each a short straight-line pipeline.

``profile("mobilenet_v2", dtype="int8")`` runs
``import -> verify -> simplify (unless fuse=False) -> liveness -> profile`` and returns a frozen
:class:`~cnnmem.analysis.profile.MemoryProfile`; the pipeline text goes into the report's
metadata so the figure can be reproduced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
