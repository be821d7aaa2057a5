"""Buffer lifetimes under a layer-by-layer schedule.

Step ``i`` executes node ``i`` of the schedule (the graph's node order unless another order is
given). A buffer is live from the step that writes it to the last step that reads it, both
INCLUSIVE (tflite-micro convention): while node ``i`` runs, its inputs and its outputs are all
live, so the live bytes at step ``i`` are the layer-by-layer (ping-pong) working set.

- Graph inputs are live from step 0; graph outputs until the last step.
- Constants (weights) are not activation buffers; they are reported separately.
- Alias ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout) produce no buffer when the
  accounting is fused: their output shares its input's buffer, which then lives until the last
  use of any alias.
- A tensor that nothing reads lives only during the step that writes it.
- Opt-in (``compute_liveness(..., concat_in_place=True)``): a Concat whose inputs are written
  straight into its output buffer (see :func:`in_place_concats`), each at the byte offset of
  its slice (:attr:`Liveness.slice_offsets`). Off by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cnnmem.analysis.accounting import Accounting
from cnnmem.errors import InvariantError
from cnnmem.ir.graph import Graph, Node, Tensor, TensorKind
from cnnmem.ir.ops import is_alias


@dataclass(frozen=True, slots=True)
class Buffer:
    """One activation buffer and its lifetime.

    Attributes:
        name: the tensor that owns the buffer (an alias chain's root).
        size_bytes: bytes under the accounting (aligned).
        first_step: step that writes it (0 for graph inputs).
        last_step: last step that reads it, INCLUSIVE.
        tensors: the root tensor and the alias tensors that share it.
        is_input: holds a graph input.
        is_output: holds a graph output.
    """

    name: str
    size_bytes: int
    first_step: int
    last_step: int
    tensors: tuple[str, ...]
    is_input: bool = False
    is_output: bool = False

    def live_at(self, step: int) -> bool:
        """True if the buffer is live during ``step``."""
        return self.first_step <= step <= self.last_step


@dataclass(frozen=True, slots=True)
class Liveness:
    """Lifetimes of all activation buffers and the live bytes at every step.

    Attributes:
        steps: node names by step.
        buffers: the buffers.
        live_bytes: live bytes at every step.
        buffer_of: tensor name -> the buffer (root tensor) that holds it.
        slice_offsets: the tensors absorbed by in-place Concats (``concat_in_place=True``)
            -> byte offset (under the accounting) of their slice inside the Concat's buffer in
            channels-last storage: ``(slice start along the axis) * (bytes per slice)``. Empty
            when no Concat is in place; every other tensor of a buffer starts at its start.
    """

    steps: tuple[str, ...]
    buffers: tuple[Buffer, ...]
    live_bytes: tuple[int, ...]
    buffer_of: dict[str, str]
    slice_offsets: dict[str, int] = field(default_factory=dict)

    @property
    def peak_bytes(self) -> int:
        """Largest live total over all steps (0 for an empty graph)."""
        return max(self.live_bytes, default=0)

    @property
    def peak_step(self) -> int:
        """First step at which :attr:`peak_bytes` is reached."""
        return self.live_bytes.index(self.peak_bytes) if self.live_bytes else 0

    def live_buffers(self, step: int) -> tuple[Buffer, ...]:
        """Buffers live during ``step``."""
        return tuple(b for b in self.buffers if b.live_at(step))


def _contiguous_in_hwc(shape: tuple[int, ...], axis: int) -> bool:
    """True if slices along logical ``axis`` are contiguous byte ranges when the tensor is
    stored channels-last (``N, H, W, C`` for 4-D logical ``N, C, H, W``; other ranks as they
    are): every storage axis before ``axis`` has extent 1."""
    rank = len(shape)
    if not -rank <= axis < rank:
        return False
    axis %= rank
    storage = [0, 2, 3, 1] if rank == 4 else list(range(rank))
    before = storage[:storage.index(axis)]
    return all(shape[a] == 1 for a in before)


def in_place_concats(graph: Graph, accounting: Accounting) -> dict[str, Node]:
    """Concats whose inputs can be written straight into the Concat's output buffer.

    A Concat qualifies when (1) its axis is contiguous in channels-last (HWC) storage, i.e.
    every storage axis before it has extent 1: axis H of an ``N = 1`` feature map (the tiles of
    :class:`~cnnmem.passes.tile_split.TileSplitPass`), or axis N; and every input (2) is written
    by a node (not a graph input or constant), (3) is read by this Concat only, once, (4) is
    not a graph output, (5) owns its buffer (not the output of an alias op under the fused
    accounting) and (6) is not itself the output of a qualifying Concat.

    Returns:
        Input tensor name -> the Concat node that absorbs it.
    """
    outputs = {t.name for t in graph.outputs}
    absorbed: dict[str, Node] = {}
    concat_buffers: set[str] = set()
    for node in graph.nodes:
        if node.op_type != "Concat" or len(node.outputs) != 1 or not node.inputs:
            continue
        out = node.outputs[0]
        if not _contiguous_in_hwc(out.shape, node.attr_int("axis", 0)):
            continue
        if all(_absorbable(t, node, outputs, concat_buffers, accounting) for t in node.inputs):
            for t in node.inputs:
                assert t is not None
                absorbed[t.name] = node
            concat_buffers.add(out.name)
    return absorbed


def in_place_slice_offsets(absorbed: dict[str, Node], accounting: Accounting
                           ) -> dict[str, int]:
    """Byte offset of each absorbed input inside its Concat's buffer (channels-last storage,
    element sizes of ``accounting``): ``(slice start along the axis) * (bytes per slice)``,
    where a slice is one index along the axis (every storage axis before it has extent 1, so
    the slices are consecutive byte ranges).

    Args:
        absorbed: :func:`in_place_concats` of the graph.
        accounting: how bytes are counted.
    """
    offsets: dict[str, int] = {}
    for concat in {id(n): n for n in absorbed.values()}.values():
        out = concat.outputs[0]
        axis = concat.attr_int("axis", 0) % len(out.shape)
        per_slice = out.num_elements // out.shape[axis] * accounting.element_size(out) \
            if out.shape[axis] else 0
        start = 0
        for t in concat.inputs:
            assert t is not None
            offsets[t.name] = start * per_slice
            start += t.shape[axis]
    return offsets


def _absorbable(t: Tensor | None, concat: Node, outputs: set[str], concat_buffers: set[str],
                accounting: Accounting) -> bool:
    """Conditions (2)-(6) of :func:`in_place_concats` for one input ``t``."""
    if t is None or t.producer is None or t.name in outputs or t.name in concat_buffers:
        return False
    if len(t.consumers) != 1 or t.consumers[0] is not concat:
        return False
    return not (accounting.fused and is_alias(t.producer))


def compute_liveness(graph: Graph, accounting: Accounting,
                     schedule: Sequence[Node] | None = None, *,
                     concat_in_place: bool = False) -> Liveness:
    """Lifetimes of activation buffers for executing ``schedule`` one node at a time.

    Args:
        graph: the graph.
        accounting: how bytes are counted.
        schedule: a topological order of the graph's nodes (default: the graph's order).
        concat_in_place: opt-in, default off. Every Concat listed by :func:`in_place_concats`
            is one buffer that its inputs are written into directly (sub-buffers at their
            offsets): the Concat's buffer lives from the step of the first input's producer to
            the Concat's last use, and its inputs add no bytes of their own (they appear in the
            buffer's ``tensors``). This assumes channels-last (HWC) storage, in which a Concat
            along H (batch 1) is a contiguous byte range per input; in CHW storage it is the
            Concat along C that would be contiguous, which this flag does not model.

    Raises:
        InvariantError: ``schedule`` is not a topological order of the graph's nodes.
    """
    order = list(schedule) if schedule is not None else list(graph.nodes)
    step_of = {id(n): i for i, n in enumerate(order)}
    if len(step_of) != len(graph.nodes) or any(id(n) not in step_of for n in graph.nodes):
        raise InvariantError("the schedule must contain every node of the graph exactly once")
    last = len(order) - 1
    root: dict[str, Tensor] = {}
    first: dict[str, int] = {}
    last_use: dict[str, int] = {}
    members: dict[str, list[str]] = {}
    outputs = {t.name for t in graph.outputs}
    inputs = {t.name for t in graph.inputs}

    def add_root(t: Tensor, step: int) -> None:
        root[t.name] = t
        first[t.name] = step
        last_use[t.name] = step
        members[t.name] = [t.name]

    absorbed = in_place_concats(graph, accounting) if concat_in_place else {}
    for t in graph.inputs:
        add_root(t, 0)
    for step, node in enumerate(order):
        for inp in node.inputs:
            if inp is None or inp.kind is TensorKind.CONSTANT:
                continue
            if inp.name not in root:
                raise InvariantError(f"schedule runs {node.name!r} before {inp.name!r} is "
                                     "produced; give a topological order")
            owner = root[inp.name].name
            last_use[owner] = max(last_use[owner], step)
        src = node.inputs[0] if node.inputs else None
        aliasing = (accounting.fused and is_alias(node) and src is not None
                    and src.kind is not TensorKind.CONSTANT)
        for t in node.outputs:
            if aliasing:
                assert src is not None
                base = root[src.name]
                root[t.name] = base
                members[base.name].append(t.name)
                last_use[base.name] = max(last_use[base.name], step)
            elif t.name in absorbed:
                # written into its Concat's buffer, which opens with the first such write
                host = absorbed[t.name].outputs[0]
                if host.name not in root:
                    add_root(host, step)
                root[t.name] = host
                members[host.name].append(t.name)
                last_use[host.name] = max(last_use[host.name], step)
            elif concat_in_place and t.name in root:
                last_use[t.name] = max(last_use[t.name], step)  # the Concat itself
            else:
                add_root(t, step)
    for name in outputs:
        if name in root:
            last_use[root[name].name] = max(last, 0)
    buffers = []
    sizes: dict[tuple[object, ...], int] = {}  # tiled graphs repeat shapes: size them once
    for name, t in root.items():
        if t.name != name:
            continue
        is_in = bool(set(members[name]) & inputs)
        is_out = bool(set(members[name]) & outputs)
        key = (t.shape, t.dtype)
        size = sizes.get(key)
        if size is None:
            size = sizes[key] = accounting.buffer_bytes(t)
        buffers.append(Buffer(name, size, first[name], last_use[name],
                              tuple(members[name]), is_in, is_out))
    # live bytes per step: +size where a counted buffer opens, -size after it closes
    delta = [0] * (len(order) + 2)
    for b in buffers:
        if accounting.include_io or not (b.is_input or b.is_output):
            delta[b.first_step] += b.size_bytes
            delta[b.last_step + 1] -= b.size_bytes
    live = [0] * len(order)
    running = 0
    for s in range(len(order)):
        running += delta[s]
        live[s] = running
    return Liveness(
        steps=tuple(n.name for n in order),
        buffers=tuple(buffers),
        live_bytes=tuple(live),
        buffer_of={name: t.name for name, t in root.items()},
        slice_offsets=in_place_slice_offsets(absorbed, accounting),
    )
