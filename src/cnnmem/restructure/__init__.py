"""Dataflow restructuring: function-preserving rewrites that flatten the memory peak.

::

    from cnnmem.restructure import restructure, apply_rewrites

    result = restructure(graph, accounting, max_overhead=0.1)   # graph: simplified
    tiled = result.apply(graph)     # a rewritten copy (reordered first if the search was)

Modules: :mod:`~cnnmem.restructure.search` (the greedy segment search and its result types),
:mod:`~cnnmem.restructure.measure` (arena and MACs of a graph, with in-place Concats),
:mod:`~cnnmem.restructure.equivalence` (onnxruntime check of original vs rewritten),
:mod:`~cnnmem.restructure.clone` (graph copy). The rewrites themselves are passes:
:class:`cnnmem.passes.tile_split.TileSplitPass`,
:class:`cnnmem.passes.channel_chain.ChannelChainSplitPass`,
:class:`cnnmem.passes.channel_split.ChannelSplitPass` and
:class:`cnnmem.passes.memory_order.ReorderPass`.
"""

from cnnmem.restructure.clone import clone_graph
from cnnmem.restructure.equivalence import EquivalenceReport, attach_weights, check_equivalence
from cnnmem.restructure.measure import Measurement, measure
from cnnmem.restructure.search import (
    ParetoPoint,
    Reordering,
    RestructureResult,
    SegmentRewrite,
    apply_rewrites,
    restructure,
)

__all__ = [
    "EquivalenceReport",
    "Measurement",
    "ParetoPoint",
    "Reordering",
    "RestructureResult",
    "SegmentRewrite",
    "apply_rewrites",
    "attach_weights",
    "check_equivalence",
    "clone_graph",
    "measure",
    "restructure",
]
