"""The cnnmem graph IR: tensors, nodes, graphs, the op vocabulary and the verifier."""

from cnnmem.ir.builder import GraphBuilder
from cnnmem.ir.graph import AttrValue, Graph, Node, Tensor, TensorKind
from cnnmem.ir.ops import (
    category,
    infer_node,
    is_alias,
    is_modelled,
    node_macs,
    param_inputs,
    state_inputs,
    unmodelled_ops,
)
from cnnmem.ir.types import Activation, DType, QuantParams, WindowGeometry
from cnnmem.ir.verify import known_values, topological_sort, verify

__all__ = [
    "Activation",
    "AttrValue",
    "DType",
    "Graph",
    "GraphBuilder",
    "Node",
    "QuantParams",
    "Tensor",
    "TensorKind",
    "WindowGeometry",
    "category",
    "infer_node",
    "is_alias",
    "is_modelled",
    "known_values",
    "node_macs",
    "param_inputs",
    "state_inputs",
    "topological_sort",
    "unmodelled_ops",
    "verify",
]
