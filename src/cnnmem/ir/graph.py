"""The cnnmem graph IR: :class:`Tensor`, :class:`Node` and :class:`Graph`.

# NOTE: design decisions
# - Modelled on onnx-ir: slotted classes, ``Node.inputs`` is a tuple, outputs are owned by their
#   producing node, and a tensor's consumer list is kept right by the few methods that change
#   edges (``Node.replace_input``, ``Graph.replace_all_uses``, ``Graph.remove_node``). There is no
#   public setter that skips this bookkeeping.
# - All shapes are concrete tuples of positive ints. Frontends resolve symbolic dimensions (or
#   fail with a message naming the tensor); nothing downstream ever sees an unknown dimension.
# - Feature maps have the logical shape (N, C, H, W) whatever the file's layout; the layout of
#   the source file is kept in ``Graph.metadata["source_layout"]``.
# - Analysis results are not stored on nodes (no ``meta`` dict): analyses return typed reports.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from cnnmem.errors import InvariantError
from cnnmem.ir.types import Activation, DType, QuantParams, WindowGeometry

if TYPE_CHECKING:
    from numpy.typing import NDArray

AttrValue = int | float | str | tuple[int, ...] | tuple[float, ...] | tuple[str, ...]
"""Types an op attribute may hold (tuples, never lists, so attributes are hashable)."""


class TensorKind(enum.Enum):
    """What a tensor is for memory purposes."""

    INPUT = "input"  #: a graph input (fed by the user; occupies memory from step 0)
    CONSTANT = "constant"  #: a weight/bias/constant: lives in weight memory, not the arena
    ACTIVATION = "activation"  #: produced by a node at run time


class Tensor:
    """A value in the graph: a graph input, a constant or an op's output.

    Attributes:
        name: unique within the graph.
        shape: concrete logical shape; feature maps are (N, C, H, W).
        dtype: element type as stored in the file.
        kind: input, constant or activation.
        data: the constant's values, or ``None`` (activations, and weights of graph-only files).
        quant: quantisation parameters for quantised tensors.
    """

    __slots__ = ("_consumers", "_producer", "data", "dtype", "kind", "name", "quant", "shape")

    def __init__(self, name: str, shape: Sequence[int], dtype: DType, kind: TensorKind, *,
                 data: NDArray[np.generic] | None = None, quant: QuantParams | None = None) -> None:
        self.name = name
        self.shape: tuple[int, ...] = tuple(int(d) for d in shape)
        self.dtype = dtype
        self.kind = kind
        self.data = data
        self.quant = quant
        self._producer: Node | None = None
        self._consumers: list[Node] = []

    def __repr__(self) -> str:
        dims = "x".join(str(d) for d in self.shape) or "scalar"
        return f"Tensor({self.name!r}, {dims}, {self.dtype.short_name}, {self.kind.value})"

    @property
    def producer(self) -> Node | None:
        """The node that writes this tensor (``None`` for inputs and constants)."""
        return self._producer

    @property
    def consumers(self) -> tuple[Node, ...]:
        """Nodes that read this tensor, in the order they were connected (a node reading it
        twice appears twice)."""
        return tuple(self._consumers)

    def detached_copy(self) -> Tensor:
        """A copy with the same name, shape, dtype, kind, data (shared, not copied) and
        quantisation, belonging to no graph (no producer, no consumers). Skips the argument
        normalisation of ``__init__``: the fields are already canonical (graph copies make
        millions of these)."""
        t = Tensor.__new__(Tensor)
        t.name = self.name
        t.shape = self.shape
        t.dtype = self.dtype
        t.kind = self.kind
        t.data = self.data
        t.quant = self.quant
        t._producer = None
        t._consumers = []
        return t

    @property
    def num_elements(self) -> int:
        """Number of elements (1 for a scalar)."""
        return math.prod(self.shape)

    @property
    def size_bytes(self) -> int:
        """Storage size at the tensor's own dtype: ``num_elements * dtype.itemsize``."""
        return self.num_elements * self.dtype.itemsize

    @property
    def is_constant(self) -> bool:
        """True for weights, biases and other constants."""
        return self.kind is TensorKind.CONSTANT


class Node:
    """One operation of the graph.

    ``op_type`` is from the IR vocabulary (:mod:`cnnmem.ir.ops`); ops that cnnmem does not model
    keep the file's own op name and are listed by :func:`cnnmem.ir.ops.unmodelled_ops`.
    Optional inputs that are absent are ``None`` in :attr:`inputs`.

    Attributes:
        name: unique within the graph.
        op_type: op name in the IR vocabulary.
        attrs: op attributes (canonical names; see :mod:`cnnmem.ir.ops`).
        activation: an activation fused into this op by the simplification passes or by the file
            (TFLite fused activations), applied to every output element.
        source_op: the op name in the source file (``CONV_2D``, ``Conv``...), for messages.
    """

    __slots__ = ("_graph", "_inputs", "_outputs", "activation", "attrs", "name", "op_type",
                 "source_op")

    def __init__(self, name: str, op_type: str, attrs: Mapping[str, AttrValue] | None = None, *,
                 activation: Activation | None = None, source_op: str | None = None) -> None:
        self.name = name
        self.op_type = op_type
        self.attrs: dict[str, AttrValue] = dict(attrs or {})
        self.activation = activation
        self.source_op = source_op or op_type
        self._inputs: tuple[Tensor | None, ...] = ()
        self._outputs: tuple[Tensor, ...] = ()
        self._graph: Graph | None = None

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.op_type})"

    @property
    def inputs(self) -> tuple[Tensor | None, ...]:
        """Input tensors in operand order (``None`` for an absent optional input)."""
        return self._inputs

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        """Output tensors, owned by this node."""
        return self._outputs

    @property
    def graph(self) -> Graph | None:
        """The graph that owns this node."""
        return self._graph

    @property
    def activation_inputs(self) -> tuple[Tensor, ...]:
        """Non-constant inputs (graph inputs and activations), without duplicates."""
        seen: dict[str, Tensor] = {}
        for t in self._inputs:
            if t is not None and not t.is_constant:
                seen.setdefault(t.name, t)
        return tuple(seen.values())

    @property
    def constant_inputs(self) -> tuple[Tensor, ...]:
        """Constant inputs (weights, biases...), without duplicates."""
        seen: dict[str, Tensor] = {}
        for t in self._inputs:
            if t is not None and t.is_constant:
                seen.setdefault(t.name, t)
        return tuple(seen.values())

    def input(self, index: int) -> Tensor | None:
        """Input ``index`` or ``None`` if absent or out of range."""
        return self._inputs[index] if index < len(self._inputs) else None

    def attr_int(self, name: str, default: int) -> int:
        """Integer attribute ``name`` (``default`` if absent)."""
        value = self.attrs.get(name, default)
        if not isinstance(value, int):
            raise InvariantError(f"node {self.name!r} ({self.op_type}): attribute {name!r} "
                                 f"is {value!r}, expected an integer")
        return value

    def attr_ints(self, name: str, default: tuple[int, ...]) -> tuple[int, ...]:
        """Integer-tuple attribute ``name`` (``default`` if absent)."""
        value = self.attrs.get(name, default)
        if isinstance(value, int):
            return (value,)
        if not isinstance(value, tuple) or not all(isinstance(v, int) for v in value):
            raise InvariantError(f"node {self.name!r} ({self.op_type}): attribute {name!r} "
                                 f"is {value!r}, expected a tuple of integers")
        return tuple(int(v) for v in value)

    def attr_float(self, name: str, default: float) -> float:
        """Float attribute ``name`` (``default`` if absent)."""
        value = self.attrs.get(name, default)
        if not isinstance(value, (int, float)):
            raise InvariantError(f"node {self.name!r} ({self.op_type}): attribute {name!r} "
                                 f"is {value!r}, expected a number")
        return float(value)

    @property
    def geometry(self) -> WindowGeometry | None:
        """Window geometry of conv-like and pooling ops, ``None`` for other ops."""
        from cnnmem.ir.ops import window_geometry  # local: ops imports this module

        return window_geometry(self)

    def replace_input(self, index: int, tensor: Tensor | None) -> None:
        """Set input ``index`` to ``tensor``, keeping both tensors' consumer lists right."""
        old = self._inputs[index]
        if old is tensor:
            return
        if old is not None:
            old._consumers.remove(self)
        if tensor is not None:
            tensor._consumers.append(self)
        self._inputs = (*self._inputs[:index], tensor, *self._inputs[index + 1:])


class Graph:
    """A computational graph in topological order.

    Invariants (checked by :func:`cnnmem.ir.verify.verify`):
      1. ``nodes`` is a topological order: every input of a node is a graph input, a constant or
         the output of an earlier node.
      2. Every tensor has exactly one producer (a node), or none if it is an input or constant.
      3. Tensor and node names are unique; every tensor referenced is registered in the graph.
      4. All shapes are concrete; modelled ops' output shapes equal their shape function's.

    Not guaranteed: that every op is modelled (see :func:`cnnmem.ir.ops.unmodelled_ops`), or
    that constants carry data (graph-only ONNX files do not).
    """

    __slots__ = ("_names", "_nodes", "_tensors", "inputs", "metadata", "name", "outputs")

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self._nodes: list[Node] = []
        self._tensors: dict[str, Tensor] = {}
        self._names: set[str] = set()
        self.inputs: list[Tensor] = []
        self.outputs: list[Tensor] = []
        self.metadata: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self._nodes)} nodes, {len(self._tensors)} tensors)"

    # ---------------------------------------------------------------- read access
    @property
    def nodes(self) -> tuple[Node, ...]:
        """All nodes in schedule (topological) order."""
        return tuple(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(tuple(self._nodes))

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def tensors(self) -> Mapping[str, Tensor]:
        """All tensors by name (read-only view)."""
        return dict(self._tensors)

    def tensor(self, name: str) -> Tensor:
        """The tensor called ``name``.

        Raises:
            KeyError: no such tensor.
        """
        return self._tensors[name]

    def has_tensor(self, name: str) -> bool:
        """True if a tensor called ``name`` exists."""
        return name in self._tensors

    def node(self, name: str) -> Node:
        """The node called ``name``.

        Raises:
            KeyError: no such node.
        """
        for n in self._nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def constants(self) -> tuple[Tensor, ...]:
        """Constant tensors (weights) that some node reads, in first-use order."""
        seen: dict[str, Tensor] = {}
        for n in self._nodes:
            for t in n.constant_inputs:
                seen.setdefault(t.name, t)
        return tuple(seen.values())

    def unique_name(self, base: str) -> str:
        """A tensor/node name starting with ``base`` that is not used yet."""
        if base not in self._names:
            return base
        i = 1
        while f"{base}_{i}" in self._names:
            i += 1
        return f"{base}_{i}"

    # ---------------------------------------------------------------- building
    def add_tensor(self, tensor: Tensor) -> Tensor:
        """Register a graph input or a constant (activations come from :meth:`add_node`).

        Raises:
            InvariantError: the name is taken.
        """
        self._claim(tensor.name)
        self._tensors[tensor.name] = tensor
        if tensor.kind is TensorKind.INPUT:
            self.inputs.append(tensor)
        return tensor

    def add_input(self, name: str, shape: Sequence[int], dtype: DType = DType.FLOAT32,
                  quant: QuantParams | None = None) -> Tensor:
        """Create and register a graph input."""
        return self.add_tensor(Tensor(name, shape, dtype, TensorKind.INPUT, quant=quant))

    def add_constant(self, name: str, shape: Sequence[int], dtype: DType = DType.FLOAT32, *,
                     data: NDArray[np.generic] | None = None,
                     quant: QuantParams | None = None) -> Tensor:
        """Create and register a constant (weights; ``data`` may be absent)."""
        if data is not None and tuple(data.shape) != tuple(shape):
            raise InvariantError(f"constant {name!r}: data shape {data.shape} != {tuple(shape)}")
        return self.add_tensor(Tensor(name, shape, dtype, TensorKind.CONSTANT, data=data,
                                      quant=quant))

    def add_node(self, node: Node, inputs: Sequence[Tensor | None],
                 outputs: Sequence[Tensor], *, index: int | None = None) -> Node:
        """Insert ``node`` reading ``inputs`` and producing the new tensors ``outputs``.

        ``outputs`` must be fresh :class:`Tensor` objects of kind ACTIVATION; they are registered
        here. ``index`` is the schedule position (default: append at the end); the caller keeps
        the order topological (the verifier checks it).

        Raises:
            InvariantError: a name is taken, an input is not in this graph, or an output is not
                a fresh activation.
        """
        if node._graph is not None:
            raise InvariantError(f"node {node.name!r} already belongs to a graph")
        for t in inputs:
            if t is not None and self._tensors.get(t.name) is not t:
                raise InvariantError(f"node {node.name!r}: input {t.name!r} is not a tensor of "
                                     f"this graph; add it first")
        for t in outputs:
            if t.kind is not TensorKind.ACTIVATION or t._producer is not None:
                raise InvariantError(f"node {node.name!r}: output {t.name!r} must be a fresh "
                                     "activation tensor")
        self._claim(node.name, what="node")
        for t in outputs:
            self._claim(t.name)
            self._tensors[t.name] = t
            t._producer = node
        node._graph = self
        node._inputs = tuple(inputs)
        node._outputs = tuple(outputs)
        for t in inputs:
            if t is not None:
                t._consumers.append(node)
        if index is None:
            self._nodes.append(node)
        else:
            self._nodes.insert(index, node)
        return node

    def _claim(self, name: str, what: str = "tensor") -> None:
        # Tensor and node names live in separate namespaces in ONNX; we keep one set per kind by
        # prefixing node names so that a node may share its output's name.
        key = f"node:{name}" if what == "node" else name
        if key in self._names:
            raise InvariantError(f"duplicate {what} name {name!r}: names must be unique")
        self._names.add(key)

    # ---------------------------------------------------------------- mutation
    def index_of(self, node: Node) -> int:
        """Schedule position of ``node``."""
        for i, n in enumerate(self._nodes):
            if n is node:
                return i
        raise InvariantError(f"node {node.name!r} is not in graph {self.name!r}")

    def replace_all_uses(self, old: Tensor, new: Tensor) -> None:
        """Make every consumer of ``old`` (and the graph outputs) read ``new`` instead."""
        for consumer in list(old._consumers):
            for i, t in enumerate(consumer._inputs):
                if t is old:
                    consumer.replace_input(i, new)
        self.outputs = [new if t is old else t for t in self.outputs]

    def remove_node(self, node: Node) -> None:
        """Remove ``node`` and its outputs, which must no longer be used.

        Raises:
            InvariantError: an output still has consumers or is a graph output.
        """
        for t in node._outputs:
            if t._consumers or any(o is t for o in self.outputs):
                users = ", ".join(c.name for c in t._consumers) or "graph output"
                raise InvariantError(f"cannot remove node {node.name!r}: its output {t.name!r} "
                                     f"is still used by {users}; replace the uses first")
        for i in range(len(node._inputs)):
            node.replace_input(i, None)
        self._nodes.remove(node)
        for t in node._outputs:
            del self._tensors[t.name]
            self._names.discard(t.name)
            t._producer = None
        self._names.discard(f"node:{node.name}")
        node._graph = None

    def remove_unused_constants(self) -> int:
        """Drop constants that no node reads; returns how many were dropped."""
        dead = [t for t in self._tensors.values() if t.is_constant and not t._consumers
                and not any(o is t for o in self.outputs)]
        for t in dead:
            del self._tensors[t.name]
            self._names.discard(t.name)
        return len(dead)

    def reorder(self, nodes: Iterable[Node]) -> None:
        """Replace the schedule by ``nodes`` (a permutation of the current nodes)."""
        new = list(nodes)
        if sorted(id(n) for n in new) != sorted(id(n) for n in self._nodes):
            raise InvariantError("reorder() needs a permutation of the graph's nodes")
        self._nodes = new
