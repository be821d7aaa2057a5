"""Graph verifier: ``verify(graph)`` checks the invariants documented on :class:`Graph`.

Run at pipeline boundaries (after import, after every pass in tests, ``--verify-each`` in the
CLI). Error messages name the node and say how to fix the problem, in the style of
``torch.fx.Graph.lint``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cnnmem.errors import InvariantError, ShapeError
from cnnmem.ir.graph import Graph, Node, TensorKind
from cnnmem.ir.ops import infer_node, is_modelled

if TYPE_CHECKING:
    from numpy.typing import NDArray


def known_values(graph: Graph) -> dict[str, NDArray[np.generic]]:
    """Values computable before running the network: constants' data plus the integer shape
    arithmetic (``Shape`` -> ``Gather`` -> ``Concat`` ...) folded in schedule order."""
    values: dict[str, NDArray[np.generic]] = {}
    for t in graph.tensors.values():
        if t.is_constant and t.data is not None:
            values[t.name] = t.data
    for node in graph.nodes:
        if not is_modelled(node.op_type):
            continue
        try:
            _, _, outs = infer_node(
                node, [t.shape if t is not None else None for t in node.inputs],
                [t.dtype if t is not None else None for t in node.inputs],
                [values.get(t.name) if t is not None else None for t in node.inputs])
        except ShapeError:
            continue
        for t, v in zip(node.outputs, outs, strict=False):
            if v is not None:
                values[t.name] = v
    return values


def verify(graph: Graph, *, check_shapes: bool = True) -> None:
    """Check the graph's invariants; raise on the first violation.

    Checks: (1) nodes are in topological order and every input is defined before use;
    (2) every tensor is produced once and registered; (3) nodes belong to this graph;
    (4) all dims are positive; (5) graph outputs exist; (6) with ``check_shapes``, every
    modelled op's output shapes equal its shape function's result.

    Raises:
        InvariantError: naming the node/tensor and how to fix it.
    """
    defined: set[str] = set()
    tensors = graph.tensors
    for t in tensors.values():
        if t.kind is not TensorKind.ACTIVATION:
            defined.add(t.name)
            if t.producer is not None:
                raise InvariantError(f"tensor {t.name!r} is a {t.kind.value} but has producer "
                                     f"{t.producer.name!r}")
        if any(d <= 0 for d in t.shape):
            raise InvariantError(f"tensor {t.name!r} has a non-positive dimension {t.shape}; "
                                 "fix the model or pin the shape with --input-shape")
    for t in graph.inputs:
        if tensors.get(t.name) is not t:
            raise InvariantError(f"graph input {t.name!r} is not registered in the graph")
    seen_nodes: set[str] = set()
    values = known_values(graph) if check_shapes else {}
    for index, node in enumerate(graph.nodes):
        if node.graph is not graph:
            raise InvariantError(f"node {node.name!r} at position {index} belongs to another "
                                 "graph; add it with Graph.add_node")
        if node.name in seen_nodes:
            raise InvariantError(f"duplicate node name {node.name!r}")
        seen_nodes.add(node.name)
        for inp in node.inputs:
            if inp is None:
                continue
            t = inp
            if tensors.get(t.name) is not t:
                raise InvariantError(f"node {node.name!r} reads {t.name!r}, which is not a "
                                     "tensor of this graph")
            if t.name not in defined:
                where = t.producer.name if t.producer else "nowhere"
                raise InvariantError(f"node {node.name!r} (position {index}) reads {t.name!r} "
                                     f"before it is produced (by {where}); the node order is "
                                     "not topological: call cnnmem.ir.topological_sort")
            if node not in t.consumers:
                raise InvariantError(f"tensor {t.name!r} does not list {node.name!r} as a "
                                     "consumer; change edges only with Node.replace_input")
        for t in node.outputs:
            if t.producer is not node:
                raise InvariantError(f"output {t.name!r} of {node.name!r} names another "
                                     "producer")
            if t.name in defined:
                raise InvariantError(f"tensor {t.name!r} is produced twice (again by "
                                     f"{node.name!r})")
            defined.add(t.name)
        if check_shapes and is_modelled(node.op_type) and node.op_type != "Constant":
            _check_node_shapes(node, values)
    for t in graph.outputs:
        if t.name not in defined or tensors.get(t.name) is not t:
            raise InvariantError(f"graph output {t.name!r} is not produced by any node")


def _check_node_shapes(node: Node, values: dict[str, NDArray[np.generic]]) -> None:
    try:
        shapes, _, _ = infer_node(
            node, [t.shape if t is not None else None for t in node.inputs],
            [t.dtype if t is not None else None for t in node.inputs],
            [values.get(t.name) if t is not None else None for t in node.inputs])
    except ShapeError as e:
        raise InvariantError(str(e)) from e
    for t, expected in zip(node.outputs, shapes, strict=False):
        if t.shape != tuple(expected):
            raise InvariantError(f"node {node.name!r} ({node.op_type}): output {t.name!r} has "
                                 f"shape {t.shape}, but the op's shape function gives "
                                 f"{tuple(expected)}")


def topological_sort(graph: Graph) -> None:
    """Reorder ``graph``'s nodes topologically, keeping the current order where it is valid.

    Raises:
        InvariantError: the graph has a cycle (names one node on it).
    """
    nodes = list(graph.nodes)
    produced_by = {t.name: n for n in nodes for t in n.outputs}
    position = {id(n): i for i, n in enumerate(nodes)}
    indegree = {id(n): 0 for n in nodes}
    users: dict[int, list[Node]] = {id(n): [] for n in nodes}
    for n in nodes:
        preds = {id(produced_by[t.name]) for t in n.inputs
                 if t is not None and t.name in produced_by}
        indegree[id(n)] = len(preds)
        for p in preds:
            users[p].append(n)
    import heapq

    by_id = {id(n): n for n in nodes}
    ready = [(position[id(n)], id(n)) for n in nodes if indegree[id(n)] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, nid = heapq.heappop(ready)
        order.append(by_id[nid])
        for u in users[nid]:
            indegree[id(u)] -= 1
            if indegree[id(u)] == 0:
                heapq.heappush(ready, (position[id(u)], id(u)))
    if len(order) != len(nodes):
        stuck = next(n for n in nodes if indegree[id(n)] > 0)
        raise InvariantError(f"the graph has a cycle through node {stuck.name!r} "
                             f"({stuck.op_type}); a CNN graph must be acyclic")
    graph.reorder(order)
