"""Deep copy of a graph (``clone_graph(graph) -> Graph``) or of some of its nodes
(``extract_subgraph(graph, nodes) -> Graph``).

The search evaluates every candidate rewrite on a copy, so the caller's graph is never changed.
Nodes, tensors, attributes and metadata are copied; constant data arrays are shared, not
copied (passes never write into a constant's array: they make new constants), which keeps the
copy cheap for networks with large weights.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnmem.ir.graph import Graph, Node, Tensor, TensorKind

__all__ = ["clone_graph", "extract_subgraph"]


def _copy_tensor(t: Tensor) -> Tensor:
    return t.detached_copy()


def _copy_node(out: Graph, node: Node, mapping: dict[str, Tensor]) -> None:
    """Add a copy of ``node`` to ``out``, reading ``mapping``'s tensors; record its outputs."""
    copy = Node(node.name, node.op_type, dict(node.attrs), activation=node.activation,
                source_op=node.source_op)
    outputs = [_copy_tensor(t) for t in node.outputs]
    out.add_node(copy, [mapping[t.name] if t is not None else None for t in node.inputs],
                 outputs)
    for t in outputs:
        mapping[t.name] = t


def clone_graph(graph: Graph) -> Graph:
    """An independent copy of ``graph`` with the same names, order, inputs and outputs.

    Tensors that no node reads and that are not graph inputs or outputs (unused constants) are
    copied too, so the copy verifies exactly when the original does.
    """
    out = Graph(graph.name)
    out.metadata.update(graph.metadata)
    mapping: dict[str, Tensor] = {}
    for t in graph.inputs:
        mapping[t.name] = out.add_tensor(_copy_tensor(t))
    for t in graph.tensors.values():
        if t.kind is TensorKind.CONSTANT:
            mapping[t.name] = out.add_tensor(_copy_tensor(t))
    for node in graph.nodes:
        _copy_node(out, node, mapping)
    out.outputs = [mapping[t.name] for t in graph.outputs]
    return out


def extract_subgraph(graph: Graph, nodes: Sequence[Node]) -> Graph:
    """The nodes ``nodes`` of ``graph`` (consecutive in its schedule) as a graph of their own:
    the activations they read from outside are its inputs; the tensors they write that are
    read by later nodes or are graph outputs are its outputs; constants and tensors are copied
    (constant data shared)."""
    inside = {id(n) for n in nodes}
    sub = Graph(graph.name)
    sub.metadata.update(graph.metadata)
    mapping: dict[str, Tensor] = {}
    for node in nodes:
        for t in node.inputs:
            if t is None or t.name in mapping:
                continue
            if t.kind is TensorKind.CONSTANT:
                mapping[t.name] = sub.add_tensor(_copy_tensor(t))
            elif t.producer is None or id(t.producer) not in inside:
                mapping[t.name] = sub.add_input(t.name, t.shape, t.dtype, quant=t.quant)
        _copy_node(sub, node, mapping)
    graph_outputs = {id(t) for t in graph.outputs}
    sub.outputs = [mapping[t.name] for n in nodes for t in n.outputs
                   if id(t) in graph_outputs or any(id(c) not in inside for c in t.consumers)]
    return sub
