"""Helpers shared by the splitting passes: fresh node names and the final Concat.

A splitting pass replaces a tensor ``y`` (the output of the nodes it rewrites) by the Concat of
the parts it computed. Consumers and graph outputs refer to ``y`` by identity and by name; the
IR has no rename, so :func:`concat_in_place_of` goes through a temporary Concat:

1. insert ``Concat(parts) -> tmp`` at the given position and move every use of ``y`` to ``tmp``;
2. remove the replaced nodes (``y``'s name is now free);
3. insert ``Concat(parts) -> y'`` named like ``y`` right after, move the uses to it, and remove
   the temporary Concat.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnmem.ir.graph import Graph, Node, Tensor, TensorKind

__all__ = ["concat_in_place_of", "fresh_name"]


def fresh_name(names: set[str], base: str) -> str:
    """A name starting with ``base`` that is not in ``names``; it is added to ``names``."""
    name, i = base, 1
    while name in names:
        name = f"{base}_{i}"
        i += 1
    names.add(name)
    return name


def concat_in_place_of(graph: Graph, y: Tensor, parts: Sequence[Tensor], axis: int,
                       replaced: Sequence[Node], index: int, node_name: str,
                       names: set[str]) -> Node:
    """Replace ``y`` by ``Concat(parts, axis)`` whose output keeps ``y``'s name.

    Args:
        graph: the graph, changed in place.
        y: the tensor to replace (output of the last node of ``replaced``).
        parts: the tensors to concatenate, in order.
        axis: the concatenation axis.
        replaced: nodes to remove once their uses are gone (``y``'s producer among them);
            removed in reverse order.
        index: schedule position of the Concat (before ``replaced`` are removed).
        node_name: base name of the Concat node.
        names: node names in use (updated).

    Returns:
        The Concat node.
    """
    tmp = Tensor(graph.unique_name(f"{y.name}.split"), y.shape, y.dtype, TensorKind.ACTIVATION,
                 quant=y.quant)
    tmp_node = Node(fresh_name(names, f"{node_name}.tmp"), "Concat", {"axis": axis})
    graph.add_node(tmp_node, list(parts), [tmp], index=index)
    graph.replace_all_uses(y, tmp)
    for node in reversed(replaced):
        graph.remove_node(node)
    final = Tensor(y.name, y.shape, y.dtype, TensorKind.ACTIVATION, quant=y.quant)
    concat = Node(fresh_name(names, node_name), "Concat", {"axis": axis})
    graph.add_node(concat, list(parts), [final], index=graph.index_of(tmp_node) + 1)
    graph.replace_all_uses(tmp, final)
    graph.remove_node(tmp_node)
    names.discard(tmp_node.name)
    return concat
