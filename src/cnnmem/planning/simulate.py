"""Proof by execution: run the network inside ONE flat byte array at the planned addresses.

``prove_plan`` allocates a ``numpy.uint8`` arena of the plan's size (filled with seeded random
bytes, so stale data is never mistaken for a result), writes the graph inputs at their planned
offsets and executes the schedule layer by layer, reading every operand from the arena and
writing every result into it, in the storage layout of the dataflow (HWC for ``hwc-*``, CHW
otherwise):

1. A layer whose output shares bytes with one of its own inputs (an overlap the model allows,
   or a planner bug) runs *unit by unit* in the plan's direction, as the accelerator would:
   ``hwc-row`` one output row at a time, ``hwc-pixel`` one pixel, ``hwc-element`` one pixel
   with its channels written one at a time (each recomputed from a fresh read whenever the
   pixel's writes touch the bytes it reads), ``chw-outer`` one output channel. Each unit reads
   from the arena only what the op's definition makes it read (a conv row: the window's rows;
   a depthwise channel: one input channel) at that moment, computes, and writes its bytes.
   Nothing here uses the overlap model: if the model allowed too much, a unit reads a
   clobbered value and its result is wrong.
2. Any other layer reads its inputs from the arena, computes, and writes its output.
3. Right after every layer, its output is read back from the arena and compared with an
   independent whole-tensor evaluation of the network (:func:`cnnmem.runtime.evaluate`):
   bit-exact for integer tensors; float within ``1e-5`` of the output scale (row slabs sum in
   another order; a corrupted value is off by the order of the scale).
   For float graphs that export to ONNX, that reference is itself checked against
   onnxruntime.
4. At the end the graph outputs are read from the arena and compared once more.

**In-place Concats** (plans built with ``concat_in_place=True``, e.g. by
:func:`cnnmem.restructure.measure.build_problem_in_place` for graphs that
:class:`~cnnmem.passes.tile_split.TileSplitPass` rewrote): a Concat along an axis that is
contiguous in channels-last storage (in practice H, batch 1: the row bands of a tiled segment)
has no copy. Each input it absorbs (:attr:`cnnmem.analysis.liveness.Liveness.slice_offsets`)
is written by its producer straight into the Concat's buffer at ``buffer offset + (its slice
start along the axis) * (bytes per slice)`` (the plan's
:attr:`~cnnmem.planning.result.BufferRecord.tensor_offsets`), and the Concat itself only
*checks*: it writes nothing, its inputs must still hold the bytes their producers wrote, and
its buffer must equal the Concat of them and the reference (3.). Such plans are always executed in
channels-last (HWC) storage, whatever the dataflow (``None`` included: a greedy plan), because
that is what the in-place accounting assumes; a ``chw-outer`` plan with in-place Concats is
refused. Nested tiles (a row band that is itself a Concat along W of column tiles, not in
place) need nothing special: the band's Concat runs as a layer and writes into its slice. With
the graph outputs outside the arena (``--exclude-io``), an absorbed input of a Concat that
writes a graph output is a view of that output's separate array.

A plan made for element sizes other than the graph's (``--dtype int8`` on a float model) is
executed with every offset and size scaled by the common ratio of element sizes, which is exact
because all of the plan's constraints are linear in the element size; mixed ratios are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnmem.errors import PlanningError
from cnnmem.ir.graph import Graph, Node, Tensor, TensorKind
from cnnmem.ir.ops import is_alias
from cnnmem.planning.overlap import Dataflow, _axis_reads, _whole_unit
from cnnmem.planning.problem import PlanningContext
from cnnmem.planning.result import PlanResult
from cnnmem.runtime import constant_values, evaluate, run_node

_WINDOW = ("Conv", "MaxPool", "AveragePool", "LpPool")


@dataclass(frozen=True, slots=True)
class ProofResult:
    """Outcome of :func:`prove_plan`."""

    ok: bool
    detail: str
    layers_checked: int
    unit_layers: int
    max_error: float
    in_place_concats: int = 0  # Concats checked in place (their inputs written in their buffer)


class _Arena:
    """The flat byte array and the mapping tensor -> (offset, layout)."""

    def __init__(self, size: int, seed: int, hwc: bool) -> None:
        self.bytes = np.random.default_rng(seed + 1).integers(0, 256, size, dtype=np.uint8)
        self.hwc = hwc
        self.offset: dict[str, int] = {}
        self.external: dict[str, np.ndarray] = {}

    # storage order of a logical tensor: HWC puts channels last for feature maps
    def _to_storage(self, a: np.ndarray) -> np.ndarray:
        if self.hwc and a.ndim == 4:
            return np.ascontiguousarray(a.transpose(0, 2, 3, 1))
        if self.hwc and a.ndim == 3:
            return np.ascontiguousarray(a.transpose(0, 2, 1))
        return np.ascontiguousarray(a)

    def _from_storage(self, flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        if self.hwc and len(shape) == 4:
            n, c, h, w = shape
            return flat.reshape(n, h, w, c).transpose(0, 3, 1, 2)
        if self.hwc and len(shape) == 3:
            n, c, length = shape
            return flat.reshape(n, length, c).transpose(0, 2, 1)
        return flat.reshape(shape)

    def write(self, t: Tensor, value: np.ndarray) -> None:
        if t.name in self.external:  # in place: it may be a view of an in-place Concat's array
            self.external[t.name][...] = value.astype(t.dtype.numpy)
            return
        raw = self._to_storage(value.astype(t.dtype.numpy)).view(np.uint8).reshape(-1)
        off = self.offset[t.name]
        self.bytes[off:off + raw.size] = raw

    def read(self, t: Tensor) -> np.ndarray:
        if t.name in self.external:
            return self.external[t.name].copy()
        off = self.offset[t.name]
        size = t.num_elements * t.dtype.itemsize
        flat = self.bytes[off:off + size].copy().view(t.dtype.numpy)
        return self._from_storage(flat, t.shape)

    # ---- partial reads/writes of 4-D feature maps (N=1)
    def read_region(self, t: Tensor, rows: tuple[int, int], cols: tuple[int, int] | None = None,
                    chans: tuple[int, int] | None = None) -> np.ndarray:
        """Logical (1, C', R, W') block: rows [r0, r1), cols [c0, c1), channels [k0, k1)."""
        _, c, h, w = t.shape
        r0, r1 = rows
        c0, c1 = cols if cols is not None else (0, w)
        k0, k1 = chans if chans is not None else (0, c)
        if t.name in self.external:
            return self.external[t.name][:, k0:k1, r0:r1, c0:c1].copy()
        e = t.dtype.itemsize
        off = self.offset[t.name]
        dt = t.dtype.numpy
        if self.hwc:
            block = np.empty((r1 - r0, c1 - c0, k1 - k0), dtype=dt)
            for i, r in enumerate(range(r0, r1)):
                start = off + ((r * w + c0) * c) * e
                line = self.bytes[start:start + (c1 - c0) * c * e].copy().view(dt)
                block[i] = line.reshape(c1 - c0, c)[:, k0:k1]
            return block.transpose(2, 0, 1)[None]
        block = np.empty((k1 - k0, r1 - r0, c1 - c0), dtype=dt)
        for i, k in enumerate(range(k0, k1)):
            start = off + k * h * w * e
            plane = self.bytes[start:start + h * w * e].copy().view(dt).reshape(h, w)
            block[i] = plane[r0:r1, c0:c1]
        return block[None]

    def write_region(self, t: Tensor, value: np.ndarray, row: int | None = None,
                     col: int | None = None, chan: int | None = None) -> None:
        """Write one output unit: a row (all W, C), a pixel (all C), an element, or a
        channel plane (CHW)."""
        if t.name in self.external:
            target = self.external[t.name]
            sl = (slice(None), slice(None) if chan is None else slice(chan, chan + 1),
                  slice(None) if row is None else slice(row, row + 1),
                  slice(None) if col is None else slice(col, col + 1))
            target[sl] = value.astype(t.dtype.numpy)
            return
        _, c, h, w = t.shape
        e = t.dtype.itemsize
        off = self.offset[t.name]
        v = value.astype(t.dtype.numpy)
        if self.hwc:
            if chan is not None:
                assert row is not None and col is not None
                start = off + ((row * w + col) * c + chan) * e
                self.bytes[start:start + e] = v.reshape(-1)[:1].view(np.uint8)
                return
            assert row is not None
            if col is None:
                start, data = off + row * w * c * e, v[0, :, 0, :].transpose(1, 0)
            else:
                start, data = off + (row * w + col) * c * e, v[0, :, 0, 0]
            raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
            self.bytes[start:start + raw.size] = raw
            return
        assert chan is not None
        start = off + chan * h * w * e
        raw = np.ascontiguousarray(v[0, 0]).view(np.uint8).reshape(-1)
        self.bytes[start:start + raw.size] = raw

    def byte_range(self, t: Tensor) -> tuple[int, int] | None:
        if t.name in self.external:
            return None
        off = self.offset[t.name]
        return off, off + t.num_elements * t.dtype.itemsize


def _element_ratio(graph: Graph, result: PlanResult) -> int:
    """Common ratio of real to planned element sizes (1 when the plan uses the file's)."""
    acct = result.accounting
    ratios = set()
    for b in result.buffers:
        t = graph.tensor(b.name)
        planned = acct.element_size(t)
        if t.dtype.itemsize % planned:
            raise PlanningError(f"cannot execute the plan: tensor {t.name!r} is "
                                f"{t.dtype.itemsize}-byte {t.dtype.short_name} but was planned "
                                f"at {planned} B/element")
        ratios.add(t.dtype.itemsize // planned)
    if len(ratios) > 1:
        raise PlanningError("cannot execute the plan: its element sizes differ from the graph's "
                            f"by different ratios {sorted(ratios)}; verify with --dtype matching "
                            "the model")
    return ratios.pop() if ratios else 1


def _random_feeds(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for t in graph.inputs:
        if t.dtype.is_float:
            feeds[t.name] = rng.normal(size=t.shape).astype(t.dtype.numpy)
        else:
            lo, hi = _int_range(t)
            feeds[t.name] = rng.integers(lo, hi + 1, size=t.shape).astype(t.dtype.numpy)
    return feeds


def _same(a: np.ndarray, b: np.ndarray, loose: bool = False) -> tuple[bool, float]:
    """Exact for integers; for floats within 1e-5 (``loose``: 1e-3, rounding accumulated over
    the network) of the reference's scale."""
    if a.shape != b.shape:
        return False, float("inf")
    if not np.issubdtype(a.dtype, np.floating):
        diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
        err = float(diff.max(initial=0))
        return err == 0, err
    scale = float(np.abs(b).max(initial=0.0)) or 1.0
    err = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max(initial=0.0))
    tol = 1e-3 if loose else 1e-5
    ok = bool(np.allclose(a, b, rtol=10 * tol, atol=tol * scale, equal_nan=False))
    return ok, err / scale


class _Executor:
    def __init__(self, graph: Graph, arena: _Arena, consts: dict[str, np.ndarray],
                 dataflow: Dataflow | None) -> None:
        self.graph = graph
        self.arena = arena
        self.consts = consts
        self.dataflow = dataflow
        self.alias_of: dict[str, Node] = {}

    # ---- operands
    def value(self, t: Tensor) -> np.ndarray:
        """Whole logical value of an operand, read from the arena now."""
        if t.kind is TensorKind.CONSTANT:
            return self.consts[t.name]
        node = self.alias_of.get(t.name)
        if node is not None:  # a view of another buffer: reinterpret its bytes logically
            src = node.inputs[0]
            assert src is not None
            return run_node(node, [self.value(src) if i == 0 else self._const(x)
                                   for i, x in enumerate(node.inputs)])[0]
        return self.arena.read(t)

    def root(self, t: Tensor) -> Tensor:
        """The tensor that owns ``t``'s bytes (``t`` itself unless it is an alias view)."""
        while t.name in self.alias_of:
            src = self.alias_of[t.name].inputs[0]
            assert src is not None
            t = src
        return t

    def _const(self, t: Tensor | None) -> np.ndarray | None:
        if t is None:
            return None
        return self.consts.get(t.name)

    def _is_view(self, t: Tensor) -> bool:
        return t.name in self.alias_of

    # ---- execution modes
    def run_whole(self, node: Node) -> None:
        outs = run_node(node, [None if t is None else self.value(t) for t in node.inputs])
        for t, v in zip(node.outputs, outs, strict=True):
            self.arena.write(t, v)

    def run_flat_elements(self, node: Node, reverse: bool) -> None:
        """One output element at a time in storage order (``hwc-element`` for vectors, Gemm,
        global pooling, softmax): each element re-reads its operands from the arena, the layer
        is evaluated (cached while the bytes read repeat) and only that element is written."""
        y = node.outputs[0]
        order = range(y.num_elements - 1, -1, -1) if reverse else range(y.num_elements)
        cache: tuple[bytes, np.ndarray] | None = None
        e = y.dtype.itemsize
        br = self.arena.byte_range(y)
        for i in order:
            args = [None if t is None else self.value(t) for t in node.inputs]
            key = b"".join(a.tobytes() for a, t in zip(args, node.inputs, strict=True)
                           if a is not None and t is not None and not t.is_constant)
            if cache is None or cache[0] != key:
                cache = (key, self.arena._to_storage(run_node(node, args)[0]).reshape(-1))
            if br is None:
                flat = self.arena._to_storage(self.arena.external[y.name]).reshape(-1)
                flat[i] = cache[1][i]
                self.arena.external[y.name][...] = self.arena._from_storage(flat, y.shape)
            else:
                self.arena.bytes[br[0] + i * e:br[0] + (i + 1) * e] = \
                    cache[1][i:i + 1].view(np.uint8)

    def run_units(self, node: Node, reverse: bool) -> bool:
        """Unit-by-unit execution; returns False if the op has no unit executor."""
        flow = self.dataflow
        y = node.outputs[0]
        if flow in (Dataflow.HWC_ROW, Dataflow.HWC_PIXEL) and _whole_unit(node):
            self.run_whole(node)  # one unit: every read happens before the write
            return True
        if flow in (Dataflow.HWC_ELEMENT, Dataflow.CHW_OUTER) and (
                len(y.shape) != 4 or _whole_unit(node) or y.shape[2:] == (1, 1)):
            self.run_flat_elements(node, reverse)  # vectors: one element (channel) per unit
            return True
        if len(y.shape) != 4 or flow is None or any(
                t is not None and not t.is_constant and self._is_view(t)
                for t in node.inputs):
            return False
        if flow is Dataflow.CHW_OUTER:
            return self._run_channels(node, reverse)
        _, _, h_out, w_out = y.shape
        units: list[tuple[int, int | None]]
        if flow is Dataflow.HWC_ROW:
            units = [(j, None) for j in range(h_out)]
        else:
            units = [(r, c) for r in range(h_out) for c in range(w_out)]
        if reverse:
            units.reverse()
        compute = self._unit_function(node)
        if compute is None:
            return False
        out_range = self.arena.byte_range(y)
        for row, col in units:
            value, read_ranges = compute(row, col)
            if flow is Dataflow.HWC_ELEMENT:
                assert col is not None
                self._write_elements(node, compute, row, col, value, read_ranges, out_range)
            else:
                self.arena.write_region(y, value, row=row, col=col)
        return True

    def _write_elements(self, node: Node, compute: Callable[..., tuple[np.ndarray, list]],
                        row: int, col: int, value: np.ndarray,
                        read_ranges: list[tuple[int, int]],
                        out_range: tuple[int, int] | None) -> None:
        y = node.outputs[0]
        c_out = y.shape[1]
        e = y.dtype.itemsize
        for ch in range(c_out):
            if ch and out_range is not None:
                # the previous element's bytes: did they land on something this pixel reads?
                start = out_range[0] + ((row * y.shape[3] + col) * c_out + ch - 1) * e
                if any(lo < start + e and start < hi for lo, hi in read_ranges):
                    value, read_ranges = compute(row, col)
            self.arena.write_region(y, value[:, ch:ch + 1], row=row, col=col, chan=ch)

    def _unit_function(self, node: Node) -> Callable[[int, int | None], tuple[np.ndarray, list]] \
            | None:
        """A function (row, col|None) -> (unit value, byte ranges read)."""
        y = node.outputs[0]
        op = node.op_type
        if op in _WINDOW or op == "ConvTranspose":
            return lambda r, c: self._window_unit(node, r, c)
        acts = [t for t in node.inputs if t is not None and not t.is_constant]
        pointwise = acts and any(len(t.shape) == 4 and t.shape[2:] == y.shape[2:]
                                 for t in acts) and all(
            len(t.shape) == 4 and t.shape[2:] in (y.shape[2:], (1, 1)) for t in acts)
        if op in ("Resize", "Upsample", "Pad") or pointwise:
            return lambda r, c: self._pointwise_unit(node, r, c)
        return None

    def _rows_cols(self, node: Node, k: int, r: int, c: int | None
                   ) -> tuple[tuple[int, int], tuple[int, int]]:
        """Real input rows/cols output unit (r, c) reads, by the op's definition."""
        x = node.inputs[k]
        y = node.outputs[0]
        assert x is not None
        rows = _axis_reads(node, k, y.shape[2], x.shape[2], 0)
        cols = _axis_reads(node, k, y.shape[3], x.shape[3], 1)
        assert rows is not None and cols is not None
        r_lo, r_hi = int(rows[0][r]), int(rows[1][r])
        if c is None:
            c_lo, c_hi = int(cols[0].min(initial=1 << 60)), int(cols[1].max(initial=-1))
        else:
            c_lo, c_hi = int(cols[0][c]), int(cols[1][c])
        return (r_lo, r_hi + 1), (c_lo, c_hi + 1)

    def _ranges(self, t: Tensor, rows: tuple[int, int], cols: tuple[int, int]
                ) -> list[tuple[int, int]]:
        br = self.arena.byte_range(t)
        if br is None or rows[0] >= rows[1] or cols[0] >= cols[1]:
            return []
        _, c, _, w = t.shape
        e = t.dtype.itemsize
        return [(br[0] + (r * w + cols[0]) * c * e, br[0] + (r * w + cols[1]) * c * e)
                for r in range(rows[0], rows[1])]

    def _window_unit(self, node: Node, r: int, c: int | None) -> tuple[np.ndarray, list]:
        x = node.inputs[0]
        y = node.outputs[0]
        assert x is not None and node.geometry is not None
        g = node.geometry
        _, _, h_in, w_in = x.shape
        others = [self._const(t) for t in node.inputs[1:]]
        if node.op_type == "ConvTranspose":
            (r0, r1), _ = self._rows_cols(node, 0, r, c)
            rows_needed = (r0, r1)
            slab = self.arena.read_region(x, rows_needed, (0, w_in))
            pt, pl, pb, pr = g.pads
            out = run_node(node, [slab, *others], pads=(0, pl, 0, pr))[0]
            local = r - (r0 * g.stride[0] - pt)
            value = out[:, :, local:local + 1, :]
            if c is not None:
                value = value[:, :, :, c:c + 1]
            return value, self._ranges(x, rows_needed, (0, w_in))
        s_h, s_w = g.stride
        k_h, k_w = g.effective_kernel
        pt, pl, pb, pr = g.pads
        lo = r * s_h - pt
        hi = lo + k_h
        r0, r1 = max(0, lo), min(h_in, hi)
        top, bottom = max(0, -lo), max(0, hi - h_in)
        if node.op_type != "Conv":
            bottom = min(bottom, pb)  # ceil-mode windows past the end padding are clipped
        if c is None:
            c0, c1, left, right = 0, w_in, pl, pr
        else:
            lo_c = c * s_w - pl
            hi_c = lo_c + k_w
            c0, c1 = max(0, lo_c), min(w_in, hi_c)
            left, right = max(0, -lo_c), max(0, hi_c - w_in)
            if node.op_type != "Conv":
                right = min(right, pr)
        if r0 >= r1 or c0 >= c1:  # the window lies in padding only: read nothing
            slab = np.zeros((1, x.shape[1], 0, max(c1 - c0, 0)), dtype=x.dtype.numpy)
            value = run_node(node, [np.zeros((1, x.shape[1], 1, max(c1 - c0, 1)),
                                             dtype=x.dtype.numpy), *others],
                             pads=(top, left, bottom, right))[0]
            return value[:, :, :1, :] if c is None else value[:, :, :1, :1], []
        slab = self.arena.read_region(x, (r0, r1), (c0, c1))
        value = run_node(node, [slab, *others], pads=(top, left, bottom, right))[0]
        expect_w = y.shape[3] if c is None else 1
        return value[:, :, :1, :expect_w], self._ranges(x, (r0, r1), (c0, c1))

    def _pointwise_unit(self, node: Node, r: int, c: int | None) -> tuple[np.ndarray, list]:
        y = node.outputs[0]
        op = node.op_type
        cols = (0, y.shape[3]) if c is None else (c, c + 1)
        if op in ("Resize", "Upsample"):
            x = node.inputs[0]
            assert x is not None
            fh, fw = y.shape[2] // x.shape[2], y.shape[3] // x.shape[3]
            src_c = (cols[0] // fw, (cols[1] - 1) // fw + 1)
            slab = self.arena.read_region(x, (r // fh, r // fh + 1), src_c)
            value = np.repeat(slab, fw, axis=3)
            start = cols[0] - src_c[0] * fw
            return (value[:, :, :, start:start + cols[1] - cols[0]],
                    self._ranges(x, (r // fh, r // fh + 1), src_c))
        if op == "Pad":
            x = node.inputs[0]
            pads_t = node.input(1)
            assert x is not None and pads_t is not None
            pads = [int(v) for v in np.asarray(self.consts[pads_t.name]).reshape(-1)]
            value_t = node.input(2)
            fill = 0 if value_t is None else np.asarray(self.consts[value_t.name]).reshape(-1)[0]
            out = np.full((1, y.shape[1], 1, cols[1] - cols[0]), fill, dtype=y.dtype.numpy)
            src = r - pads[2]
            reads: list[tuple[int, int]] = []
            if 0 <= src < x.shape[2]:
                lo, hi = max(cols[0] - pads[3], 0), min(cols[1] - pads[3], x.shape[3])
                if lo < hi:
                    block = self.arena.read_region(x, (src, src + 1), (lo, hi))
                    out[:, pads[1]:pads[1] + x.shape[1], :,
                        lo + pads[3] - cols[0]:hi + pads[3] - cols[0]] = block
                    reads = self._ranges(x, (src, src + 1), (lo, hi))
            return out, reads
        args: list[np.ndarray | None] = []
        reads = []
        for t in node.inputs:
            if t is None:
                args.append(None)
            elif t.is_constant:
                args.append(self.consts[t.name])
            elif len(t.shape) == 4 and t.shape[2:] == y.shape[2:]:
                args.append(self.arena.read_region(t, (r, r + 1), cols))
                reads += self._ranges(t, (r, r + 1), cols)
            else:
                args.append(self.value(t))
        return run_node(node, args)[0], reads

    def _run_channels(self, node: Node, reverse: bool) -> bool:
        """chw-outer: one output channel plane at a time. Each unit reads its channels from the
        arena into a scratch copy of the inputs whose other channels hold NaN / random data,
        evaluates the layer and keeps its own channel (cached while the bytes read repeat)."""
        y = node.outputs[0]
        c_out = y.shape[1]
        op = node.op_type
        ks = [k for k, t in enumerate(node.inputs) if t is not None and not t.is_constant]
        if not ks:
            return False
        order = range(c_out - 1, -1, -1) if reverse else range(c_out)
        rng = np.random.default_rng(0)
        cache: tuple[bytes, np.ndarray] | None = None
        for ch in order:
            args: list[np.ndarray | None] = []
            key = b""
            for k, t in enumerate(node.inputs):
                if t is None or t.is_constant:
                    args.append(None if t is None else self.consts[t.name])
                    continue
                lo, hi = self._channels_read(node, k, ch)
                key += f"{k}:{lo}:{hi};".encode()
                scratch = _poison(t, rng)
                if lo < hi and len(t.shape) == 4:
                    block = self.arena.read_region(t, (0, t.shape[2]), (0, t.shape[3]),
                                                   (lo, hi))
                    scratch[:, lo:hi] = block
                    key += block.tobytes()
                elif lo < hi:
                    scratch = self.value(t)
                    key += scratch.tobytes()
                args.append(scratch)
            if cache is None or cache[0] != key or op not in ("Conv", "ConvTranspose", "Gemm",
                                                               "MatMul"):
                out = run_node(node, args)[0]
                cache = (key, out)
            self.arena.write_region(y, cache[1][:, ch:ch + 1], chan=ch)
        return True

    def _channels_read(self, node: Node, k: int, ch: int) -> tuple[int, int]:
        x = node.inputs[k]
        y = node.outputs[0]
        assert x is not None
        c_in, c_out = x.shape[1], y.shape[1]
        op = node.op_type
        if op in ("Conv", "ConvTranspose"):
            groups = node.attr_int("group", 1)
            per_in, per_out = c_in // groups, c_out // groups
            g = ch // per_out
            return g * per_in, (g + 1) * per_in
        if op in ("Gemm", "MatMul") or len(x.shape) != 4:
            return 0, c_in
        if op == "Concat":
            start = sum(t.shape[1] for t in node.inputs[:k] if t is not None)
            return (ch - start, ch - start + 1) if start <= ch < start + c_in else (0, 0)
        if c_in == c_out:
            return ch, ch + 1
        return 0, c_in


def _poison(t: Tensor, rng: np.random.Generator) -> np.ndarray:
    if t.dtype.is_float:
        return np.full(t.shape, np.nan, dtype=t.dtype.numpy)
    lo, hi = _int_range(t)
    return rng.integers(lo, hi + 1, size=t.shape).astype(t.dtype.numpy)


def _int_range(t: Tensor) -> tuple[int, int]:
    """Random integer data range: the int8 range clipped to the dtype (0..127 if unsigned)."""
    unsigned = t.dtype.short_name.startswith("u") or t.dtype.short_name == "bool"
    return (0, 1) if t.dtype.short_name == "bool" else ((0, 127) if unsigned else (-128, 127))


def prove_plan(graph: Graph, result: PlanResult, ctx: PlanningContext, *, seed: int = 0,
               tflite_kernels: str = "reference") -> ProofResult:
    """Execute ``graph`` inside one byte array laid out by ``result`` (see module docstring).

    Plans of ``ctx`` built with in-place Concats run in channels-last storage, each absorbed
    input at its slice of the Concat's buffer.

    Raises:
        PlanningError: the plan cannot be executed (element sizes that do not scale; in-place
            Concats under the ``chw-outer`` dataflow).
    """
    ratio = _element_ratio(graph, result)
    flow = result.dataflow
    slices = ctx.liveness.slice_offsets
    in_place = _in_place_concats(ctx)
    if in_place and flow is Dataflow.CHW_OUTER:
        raise PlanningError("cannot execute the plan: its Concats are in place, which needs "
                            "channels-last storage, but dataflow chw-outer stores CHW; plan "
                            "with an hwc-* dataflow or without concat_in_place")
    # in-place Concats are contiguous slices only in channels-last storage (module docstring)
    hwc = flow in (Dataflow.HWC_ROW, Dataflow.HWC_PIXEL, Dataflow.HWC_ELEMENT) or bool(in_place)
    arena = _Arena(result.arena_bytes * ratio, seed, hwc)
    for node in in_place.values():
        out = node.outputs[0]
        if not _contiguous_in_storage(out.shape, node.attr_int("axis", 0), hwc):
            raise PlanningError(f"cannot execute the plan: Concat {node.name!r} is in place, "
                                f"but its inputs are not contiguous byte ranges of "
                                f"{out.name!r} in the arena's storage order")
    for b in result.buffers:
        # the plan's slice offsets; for a hand-made record without them, the liveness's
        within = b.tensor_offsets or tuple(slices.get(name, 0) for name in b.tensors)
        for name, rel in zip(b.tensors, within, strict=True):
            arena.offset[name] = (b.offset + rel) * ratio
    consts = constant_values(graph, seed)
    feeds = _random_feeds(graph, seed)
    reference = evaluate(graph, feeds, seed=seed, tflite_kernels=tflite_kernels)
    oracle = _check_reference_with_onnxruntime(graph, feeds, reference, seed)
    ex = _Executor(graph, arena, consts, flow)
    planned = {t for b in result.buffers for t in b.tensors}
    # buffers the plan leaves out of the arena (graph inputs/outputs with --exclude-io) live in
    # separate arrays, as they would in another memory
    for t in graph.inputs:
        if t.name not in planned:
            arena.external[t.name] = feeds[t.name].astype(t.dtype.numpy)
        arena.write(t, feeds[t.name])
    for node in ctx.schedule:
        for t in node.outputs:
            if t.name not in planned and t.name not in slices:
                arena.external.setdefault(t.name, np.zeros(t.shape, t.dtype.numpy))
    for name, node in in_place.items():
        if name in arena.external:  # a graph output outside the arena: its inputs are views
            axis = node.attr_int("axis", 0) % len(node.outputs[0].shape)
            start = 0
            for part in node.inputs:
                assert part is not None
                index = [slice(None)] * len(part.shape)
                index[axis] = slice(start, start + part.shape[axis])
                arena.external[part.name] = arena.external[name][tuple(index)]
                start += part.shape[axis]
    layers = units = checked_in_place = 0
    worst = 0.0  # vs. the whole-tensor evaluation of each layer on its input snapshot
    drift = 0.0  # vs. the independent evaluation of the whole network

    def fail(detail: str) -> ProofResult:
        return ProofResult(False, detail, layers, units, worst, checked_in_place)

    written: dict[str, np.ndarray] = {}
    for t in graph.inputs:
        written[t.name] = ex.value(t)
    directions = {r.step: r.direction for r in result.layers}
    for step, node in enumerate(ctx.schedule):
        if result.accounting.fused and is_alias(node) and node.inputs and \
                node.inputs[0] is not None and not node.inputs[0].is_constant:
            ex.alias_of[node.outputs[0].name] = node
            continue
        # (1) every live operand still holds exactly the bytes its producer wrote
        snapshot: list[np.ndarray | None] = []
        for operand in node.inputs:
            if operand is None:
                snapshot.append(None)
                continue
            value = ex.value(operand)
            root = ex.root(operand)
            if root.name in written and not np.array_equal(ex.value(root), written[root.name],
                                                          equal_nan=True):
                return fail(f"before layer {step} {node.name!r}: tensor {root.name!r} was "
                            "overwritten while still live: the plan corrupts data")
            snapshot.append(value)
        expected = run_node(node, snapshot, tflite_kernels=tflite_kernels)
        reverse = directions.get(step) == "reverse"
        if node.outputs and in_place.get(node.outputs[0].name) is node:
            # its inputs' producers already wrote them into its buffer: nothing to copy; the
            # checks below compare the buffer with the Concat of the inputs and the reference
            checked_in_place += 1
        elif _overlaps_own_input(node, arena) and ex.run_units(node, reverse):
            units += 1
        else:
            if _overlaps_own_input(node, arena) and directions.get(step) in (
                    "forward", "reverse", "invalid"):
                return fail(f"layer {node.name!r} ({node.op_type}) overlaps its input but "
                            "has no unit-by-unit executor for dataflow "
                            f"{flow.value if flow else 'none'}")
            ex.run_whole(node)
        layers += 1
        for t, want in zip(node.outputs, expected, strict=True):
            got = arena.read(t)
            # (2) the arena execution equals the layer evaluated on the same operands
            ok, err = _same(got, want)
            worst = max(worst, err)
            if not ok:
                return fail(f"layer {step} {node.name!r} ({node.op_type}): output {t.name!r} "
                            "computed in the arena differs from the layer's result (max error "
                            f"{err:.3g}): the plan corrupts data")
            # (3) and the network so far equals the independent reference evaluation
            if t.name in reference:
                ok, err = _same(got, reference[t.name], loose=True)
                drift = max(drift, err)
                if not ok:
                    return fail(f"layer {step} {node.name!r}: output {t.name!r} differs "
                                f"from the reference evaluation (max error {err:.3g})")
            written[t.name] = got
    for t in graph.outputs:
        root = ex.root(t)
        if not np.array_equal(ex.value(root), written[root.name], equal_nan=True):
            return fail(f"graph output {t.name!r} was overwritten before the end")
    exact = worst == 0 and drift == 0
    concats = (f", {checked_in_place} Concat{'s' if checked_in_place > 1 else ''} in place: "
               "inputs written into their slices, checked without a copy, channels-last "
               "storage" if checked_in_place else "")
    detail = (f"executed {layers} layers in one {arena.bytes.size}-byte array "
              f"({units} unit by unit{concats}); no live tensor was overwritten; every layer "
              "output "
              + ("bit-exact vs the reference" if exact else
                 f"within {worst:.1e} of the layer's own result and {drift:.1e} of the "
                 "reference (relative to scale)") + oracle)
    return ProofResult(True, detail, layers, units, worst, checked_in_place)


def _in_place_concats(ctx: PlanningContext) -> dict[str, Node]:
    """The Concats of ``ctx``'s schedule that absorb their inputs (output name -> node): every
    input is a slice of the Concat's own buffer in ``ctx.liveness``."""
    live = ctx.liveness
    found: dict[str, Node] = {}
    for node in ctx.schedule:
        if node.op_type != "Concat" or len(node.outputs) != 1 or not node.inputs:
            continue
        out = node.outputs[0].name
        if all(t is not None and t.name in live.slice_offsets
               and live.buffer_of.get(t.name) == out for t in node.inputs):
            found[out] = node
    return found


def _contiguous_in_storage(shape: tuple[int, ...], axis: int, hwc: bool) -> bool:
    """True if the slices of logical ``axis`` are consecutive byte ranges in the arena's
    storage order (:meth:`_Arena._to_storage`): every storage axis before it has extent 1."""
    rank = len(shape)
    axis %= rank
    if hwc and rank == 4:
        storage = [0, 2, 3, 1]
    elif hwc and rank == 3:
        storage = [0, 2, 1]
    else:
        storage = list(range(rank))
    return all(shape[a] == 1 for a in storage[:storage.index(axis)])


def _overlaps_own_input(node: Node, arena: _Arena) -> bool:
    outs = [arena.byte_range(t) for t in node.outputs]
    ins = [arena.byte_range(t) for t in node.inputs if t is not None and not t.is_constant
           and t.name in arena.offset]
    return any(o is not None and i is not None and o[0] < i[1] and i[0] < o[1]
               for o in outs for i in ins)


def _check_reference_with_onnxruntime(graph: Graph, feeds: dict[str, np.ndarray],
                                      reference: dict[str, np.ndarray], seed: int) -> str:
    """For float graphs that export to ONNX: the numpy reference against onnxruntime."""
    if any(not t.dtype.is_float for t in graph.inputs) or graph.metadata.get(
            "source_format") == "tflite":
        return ""
    try:
        import onnxruntime as ort

        from cnnmem.frontend.onnx_export import to_onnx

        model = to_onnx(graph, random_weights=True, seed=seed)
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        outs = session.run(None, feeds)
    except Exception:
        return " (onnxruntime cross-check unavailable for this graph)"
    for t, o in zip(graph.outputs, outs, strict=True):
        scale = float(np.abs(o).max(initial=0.0)) or 1.0
        if not np.allclose(reference[t.name], o, rtol=1e-4, atol=1e-4 * scale):
            raise PlanningError(f"the numpy reference disagrees with onnxruntime on "
                                f"{t.name!r}: the execution proof cannot be trusted")
    return "; the reference matches onnxruntime"
