"""Memory-efficient scheduling: layer fusion, tiling and loop order vs on-chip buffer and DRAM.

The ZigZag-style split, as plain functions over frozen dataclasses:

- :mod:`~cnnmem.dse.hw` - :class:`HardwareSpec` and its YAML loader :func:`load_hw`;
- :mod:`~cnnmem.dse.workload` - :func:`extract_workload`: the graph as layers with loop
  dimensions, and the fused :class:`LayerGroup` rules for branches;
- :mod:`~cnnmem.dse.space` - :class:`GroupSchedule` / :class:`NetworkSchedule` and the
  candidate generators;
- :mod:`~cnnmem.dse.regions` - receptive-field propagation of tile regions per loop axis;
- :mod:`~cnnmem.dse.cost` - the pure analytical model :func:`evaluate` and the baselines;
- :mod:`~cnnmem.dse.trace` - :func:`simulate`, the tile-by-tile simulator that checks it;
- :mod:`~cnnmem.dse.pareto` and :mod:`~cnnmem.dse.explore` - per-group Pareto fronts combined
  over group partitions by dynamic programming (:func:`explore`).

Typical use::

    graph = cnnmem.api.load(ModelOptions("vdsr", resolution=(1080, 1920)))
    workload = extract_workload(graph)
    result = explore(workload, HardwareSpec.single_buffer("1MiB"))
    point = best_schedule(workload, result)   # NetworkSchedule + per-group CostBreakdown
"""

from cnnmem.dse.cost import (
    CostBreakdown,
    NetworkCost,
    compulsory_traffic,
    estimate_latency,
    evaluate,
    evaluate_network,
)
from cnnmem.dse.explore import (
    ExplorationResult,
    FrontPoint,
    best_schedule,
    explore,
    layer_by_layer,
    relax,
)
from cnnmem.dse.hw import HardwareSpec, load_hw, parse_size
from cnnmem.dse.space import CandidateOptions, GroupSchedule, HaloPolicy, NetworkSchedule
from cnnmem.dse.trace import simulate, simulate_network
from cnnmem.dse.workload import Layer, LayerGroup, LayerKind, Workload, extract_workload

__all__ = [
    "CandidateOptions",
    "CostBreakdown",
    "ExplorationResult",
    "FrontPoint",
    "GroupSchedule",
    "HaloPolicy",
    "HardwareSpec",
    "Layer",
    "LayerGroup",
    "LayerKind",
    "NetworkCost",
    "NetworkSchedule",
    "Workload",
    "best_schedule",
    "compulsory_traffic",
    "estimate_latency",
    "evaluate",
    "evaluate_network",
    "explore",
    "extract_workload",
    "layer_by_layer",
    "load_hw",
    "parse_size",
    "relax",
    "simulate",
    "simulate_network",
]
