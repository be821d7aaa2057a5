"""Deep copy of a graph: ``clone_graph(graph) -> Graph``.

The search evaluates every candidate rewrite on a copy, so the caller's graph is never changed.
Nodes, tensors, attributes and metadata are copied; constant data arrays are shared, not
copied (passes never write into a constant's array: they make new constants), which keeps the
copy cheap for networks with large weights.
"""

from __future__ import annotations

from cnnmem.ir.graph import Graph, Node, Tensor, TensorKind

__all__ = ["clone_graph"]


def _copy_tensor(t: Tensor) -> Tensor:
    return t.detached_copy()


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
        copy = Node(node.name, node.op_type, dict(node.attrs), activation=node.activation,
                    source_op=node.source_op)
        inputs = [mapping[t.name] if t is not None else None for t in node.inputs]
        outputs = [_copy_tensor(t) for t in node.outputs]
        out.add_node(copy, inputs, outputs)
        for t in outputs:
            mapping[t.name] = t
    out.outputs = [mapping[t.name] for t in graph.outputs]
    return out
