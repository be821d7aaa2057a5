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
