"""How far a layer's output may overlap its dying input: the exact model.

Setting. A layer reads input tensor X (``I`` bytes, base address ``a_in``) and writes output Y
(``O`` bytes, base ``a_out``). The accelerator produces Y in a fixed order of *units*; unit
``j`` occupies output bytes ``[j*U, (j+1)*U)`` (relative to ``a_out``), and producing it reads a
set of input bytes and then writes the unit (all reads of a unit happen before its write: the
unit is held in the datapath while it is computed). Place the output ``d >= 0`` bytes *below* the
input: ``a_in = a_out + d``. Writes move upward through the output; the input dies from the
bottom up as the layer advances. A write is harmless iff it only touches input bytes that no
later unit reads.

Condition. After unit ``j`` the bytes ``[0, (j+1)*U)`` of the output range have been written,
i.e. input bytes below ``(j+1)*U - d``. Let ``m_j`` be the lowest input byte (relative to
``a_in``) read by any unit ``j' > j``. The plan is safe iff for every ``j`` with a later read::

    (j+1)*U - d <= m_j        <=>        d >= (j+1)*U - m_j

so ``d_min = max(0, max_j [(j+1)*U - m_j])`` and the pair needs ``footprint = max(O, I + d_min)``
bytes instead of ``O + I`` (ping-pong). Placing the output at or above ``a_in + I`` (disjoint) is
always allowed too. Because writes are monotone and ``m_j`` is a suffix minimum, any
``d >= d_min`` is also safe, and ``d_min - 1`` is not (the maximising ``j`` then clobbers
byte ``m_j`` before it is read): the model is exact, not a bound. Placing the output *above*
the input (d < 0) never helps for a forward order: the first unit would land on input bytes that
are read last.

Direction. The same layer can run its units in reverse order (last row first). Mirroring the
address space turns that into the forward case with the output *above* the input: with
``e_j`` the end (exclusive) of the input bytes unit ``j`` reads and ``P_j = max(e_0 .. e_{j-1})``
the highest byte still needed once units ``j .. n-1`` are written (top down), the output's top
must lie at least ``d_rev = max(0, max_{j>=1} [(n-j)*U - I + P_j])`` above the input's top
(``a_out + O >= a_in + I + d_rev``); the footprint is ``max(O, I + d_rev)``. A planner may pick
either direction per layer: alternating directions lets a chain of same-size layers ping-pong
inside ``I + d`` bytes instead of drifting by ``d`` per layer. Which direction a layer uses
follows from the planned addresses (see :func:`direction_for`).

Dataflows (``--dataflow``), layouts and units:

- ``hwc-row``: HWC layout, a unit is one output row (all W, all C): ``U = W_out*C_out*e``.
  The lowest byte row ``j'`` reads is ``first_row(j') * R_in`` with ``R_in = W_in*C_in*e``.
  For a strided, padded convolution or pooling layer ``first_row(j') = max(0, j'*s - p)``, which
  gives the paper's ``d_min = max(0, max_i [(i+1)*R_out - max(0, (i+1)*s - p)*R_in])``.
- ``hwc-pixel``: HWC layout, a unit is one output pixel (all C): ``U = C_out*e``; the lowest
  byte read by pixel ``(y, x)`` is ``(max(0, y*s-p)*W_in + max(0, x*s-p))*C_in*e``.
- ``hwc-element``: HWC layout, a unit is one output element, in ``(y, x, c)`` order, forward
  only: the loop order of TensorFlow Lite (Micro)'s reference kernels (conv, depthwise conv,
  pooling, fully connected, element-wise ops, concatenation, pad, nearest resize, mean,
  softmax), so plans made under it run unchanged in TFLM with an offline memory plan. Element
  ``(y, x, c)`` of a convolution reads its window's pixels at the channels of its group.
  Fully connected layers write one output at a time after reading the whole input.
- ``chw-outer``: CHW layout, output-channel loop outermost; a unit is one output channel plane:
  ``U = H_out*W_out*e``. A dense conv reads every input channel for every output channel, so it
  only overlaps by its last plane; depthwise/grouped convs, pooling and element-wise ops read
  only their own channel (group), and overlap almost completely.

Reads per op (``first read`` of unit ``j``, in input rows / pixels / channels):

- Conv, MaxPool, AveragePool, LpPool: window ``[j*s - p, j*s - p + d*(k-1] + 1)``.
- ConvTranspose (gather form): output row ``j`` reads input rows
  ``ceil((j + p - k_eff + 1)/s) .. floor((j + p)/s)``.
- element-wise / activation / normalisation ops on an input of the output's shape: the same
  row / pixel / channel. A broadcast input (e.g. a per-channel scale) is never overlapped.
- Concat along channels: unit ``j`` reads the same row/pixel of every input; in CHW, output
  plane ``c`` reads only the input that holds channel ``c``.
- Resize/Upsample with mode ``nearest`` and integer scales: row ``floor(j/f)``.
- Pad (constant): row ``j - p_top``.
- Global pooling, reduce-mean over H,W, Gemm, MatMul, Softmax/Flatten on a row vector: in the
  HWC dataflows the whole output is one unit (``d_min = 0``, written after all reads); in
  ``chw-outer`` a Gemm output element reads the whole input (overlap only by the last element).
Ops not listed get no overlap (``None``): their output is placed disjoint from their inputs.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from cnnmem.errors import ConfigError
from cnnmem.ir.graph import Node, Tensor
from cnnmem.ir.ops import category

_INF = np.iinfo(np.int64).max // 4
T = TypeVar("T")


class Dataflow(enum.Enum):
    """Order in which the accelerator produces a layer's output (and the layout)."""

    HWC_ROW = "hwc-row"
    HWC_PIXEL = "hwc-pixel"
    HWC_ELEMENT = "hwc-element"
    CHW_OUTER = "chw-outer"

    @property
    def reversible(self) -> bool:
        """False for dataflows fixed to forward order (``hwc-element``: TFLite's kernels)."""
        return self is not Dataflow.HWC_ELEMENT

    @classmethod
    def parse(cls, text: str) -> Dataflow:
        """Parse ``hwc-row`` / ``hwc-pixel`` / ``chw-outer``.

        Raises:
            ConfigError: unknown name.
        """
        for d in cls:
            if d.value == text.strip().lower():
                return d
        raise ConfigError(f"unknown dataflow {text!r}: use one of "
                          f"{', '.join(d.value for d in cls)}")


@dataclass(frozen=True, slots=True)
class OverlapModel:
    """Result of the model for one (layer, input) pair.

    Attributes:
        min_distance_bytes: ``d_min`` for forward order: the input must start at least this
            far above the output's start.
        reverse_distance_bytes: ``d_rev`` for reverse order: the output must end at least this
            far above the input's end.
        input_bytes: ``I``.
        output_bytes: ``O``.
    """

    min_distance_bytes: int
    reverse_distance_bytes: int
    input_bytes: int
    output_bytes: int

    @property
    def best_distance_bytes(self) -> int:
        """The smaller of the two directions' distances."""
        return min(self.min_distance_bytes, self.reverse_distance_bytes)

    @property
    def footprint_bytes(self) -> int:
        """``max(O, I + min(d_min, d_rev))``: bytes the pair needs (``<= I + O``)."""
        return min(self.input_bytes + self.output_bytes,
                   max(self.output_bytes, self.input_bytes + self.best_distance_bytes))

    @property
    def saving_bytes(self) -> int:
        """``I + O - footprint``: what overlapping saves versus ping-pong."""
        return self.input_bytes + self.output_bytes - self.footprint_bytes


def _spatial(t: Tensor) -> tuple[int, int, int] | None:
    """(C, H, W) of a batch-1 feature map (rank 4), or of a (1, F) row vector as (F, 1, 1)."""
    s = t.shape
    if len(s) == 4 and s[0] == 1:
        return s[1], s[2], s[3]
    if len(s) == 2 and s[0] == 1:
        return s[1], 1, 1
    if len(s) == 3 and s[0] == 1:  # 1-D feature map (N, C, L): L as W
        return s[1], 1, s[2]
    return None


def _window(node: Node, axis: int) -> tuple[int, int, int, int] | None:
    """(stride, pad_begin, kernel, dilation) of a window op along axis 0 (H) or 1 (W)."""
    g = node.geometry
    if g is None:
        return None
    return g.stride[axis], g.pads[axis], g.kernel[axis], g.dilation[axis]


def _axis_reads(node: Node, k: int, n_out: int, n_in: int,
                axis: int) -> tuple[np.ndarray, np.ndarray] | None:
    """For each output index along one spatial axis (row or column), the lowest and highest
    input index it reads (``_INF`` / ``-1`` when all its taps fall in padding). Taps are
    enumerated exactly: dilated windows skip indices; a transposed conv's taps must divide by
    the stride."""
    j = np.arange(n_out, dtype=np.int64)[:, None]
    op = node.op_type
    if op in ("Conv", "MaxPool", "AveragePool", "LpPool", "ConvTranspose"):
        w = _window(node, axis)
        if w is None:
            return None
        s, p, kernel, dil = w
        taps = np.arange(kernel, dtype=np.int64)[None, :] * dil
        if op == "ConvTranspose":
            num = j + p - taps  # input i contributes to output j when i*s - p + tap == j
            idx = np.where(num % s == 0, num // s, -1)
        else:
            idx = j * s - p + taps
    elif op in ("Resize", "Upsample"):
        if str(node.attrs.get("mode", "nearest")) != "nearest" or n_out % n_in:
            return None
        idx = j // (n_out // n_in)
    elif op == "Pad":
        pads_t = node.input(1)
        if str(node.attrs.get("mode", "constant")) != "constant" or pads_t is None or \
                pads_t.data is None or node.input(3) is not None:
            return None
        pads = [int(v) for v in np.asarray(pads_t.data).reshape(-1)]
        if len(pads) != 8 or min(pads) < 0:
            return None
        idx = j - pads[2 + axis]
    elif _same_position(node, k):
        idx = j
    else:
        return None
    valid = (idx >= 0) & (idx < n_in)
    return np.where(valid, idx, _INF).min(axis=1), np.where(valid, idx, -1).max(axis=1)


def _same_position(node: Node, k: int) -> bool:
    """True if output position (h, w) reads input ``k`` at the same position only."""
    x = node.inputs[k]
    y = node.outputs[0]
    if x is None:
        return False
    cat = category(node.op_type)
    if node.op_type == "Concat":
        return node.attr_int("axis", 1) in (1, -3) and len(y.shape) == 4
    if cat in ("elementwise", "activation", "normalization") or node.op_type in (
            "QuantizeLinear", "DequantizeLinear", "Cast", "Requantize"):
        return x.shape == y.shape and node.op_type not in ("Softmax", "LogSoftmax")
    return False


def distances(unit_bytes: int, input_bytes: int, first: np.ndarray,
              end: np.ndarray) -> tuple[int, int]:
    """``(d_min, d_rev)`` from each unit's read range ``[first_j, end_j)`` (in input bytes;
    ``first = _INF``, ``end = -1`` for a unit that reads nothing), units in forward order.

    Forward: ``d_min = max(0, max_j [(j+1)*U - min(first_{j+1..})])``.
    Reverse: ``d_rev = max(0, max_{j>=1} [(n-j)*U - I + max(end_{0..j-1})])``.
    """
    n = len(first)
    if n <= 1:
        return 0, 0
    j = np.arange(n - 1, dtype=np.int64)
    later_first = np.minimum.accumulate(first[::-1])[::-1][1:]  # min over units > j
    fwd = np.where(later_first >= _INF, 0, (j + 1) * unit_bytes - later_first)
    jr = np.arange(1, n, dtype=np.int64)
    earlier_end = np.maximum.accumulate(end)[:-1]  # max over units < jr
    rev = np.where(earlier_end < 0, 0, (n - jr) * unit_bytes - input_bytes + earlier_end)
    return int(max(0, fwd.max(initial=0))), int(max(0, rev.max(initial=0)))


def _whole_unit(node: Node) -> bool:
    """Ops whose output is one unit in the HWC dataflows (written after all reads)."""
    op = node.op_type
    return op in ("GlobalAveragePool", "GlobalMaxPool", "Gemm", "MatMul", "ReduceMean",
                  "ReduceMax", "ReduceSum", "Softmax", "LogSoftmax")


@dataclass(frozen=True, slots=True)
class UnitReads:
    """How a layer walks its output: unit size and each unit's input byte range."""

    unit_bytes: int
    first: np.ndarray
    end: np.ndarray


def unit_reads(node: Node, k: int, dataflow: Dataflow, elem_in: int,
               elem_out: int) -> UnitReads | None:
    """Units of ``node``'s output under ``dataflow`` and the input-``k`` bytes each reads
    (``None`` if the op/dataflow pair is not modelled)."""
    x = node.inputs[k]
    if x is None or x.is_constant or len(node.outputs) != 1:
        return None
    y = node.outputs[0]
    xs, ys = _spatial(x), _spatial(y)
    if xs is None or ys is None:
        return None
    (c_in, h_in, w_in), (c_out, h_out, w_out) = xs, ys
    i_bytes, o_bytes = x.num_elements * elem_in, y.num_elements * elem_out
    if dataflow is Dataflow.CHW_OUTER:
        return _chw_outer(node, k, x, y, elem_in, elem_out)
    if dataflow is Dataflow.HWC_ELEMENT:
        return _hwc_element(node, k, x, y, elem_in, elem_out)
    if _whole_unit(node):
        return UnitReads(o_bytes, np.zeros(1, np.int64), np.full(1, i_bytes, np.int64))
    if len(x.shape) != 4 or len(y.shape) != 4:
        return None
    rows = _axis_reads(node, k, h_out, h_in, 0)
    cols = _axis_reads(node, k, w_out, w_in, 1)
    if rows is None or cols is None:
        return None
    (r_lo, r_hi), (c_lo, c_hi) = rows, cols
    row_in, pix_in = w_in * c_in * elem_in, c_in * elem_in
    if dataflow is Dataflow.HWC_ROW:
        # a row unit reads from its first row's leftmost valid column to its last row's
        # rightmost valid column (all channels)
        c0, c1 = int(c_lo.min(initial=_INF)), int(c_hi.max(initial=-1))
        none = (r_lo >= _INF) | (c0 >= _INF)
        first = np.where(none, _INF, r_lo * row_in + min(c0, w_in) * pix_in)
        end = np.where(none, -1, r_hi * row_in + (c1 + 1) * pix_in)
        return UnitReads(w_out * c_out * elem_out, first, end)
    none = (r_lo[:, None] >= _INF) | (c_lo[None, :] >= _INF)
    first = np.where(none, _INF, r_lo[:, None] * row_in + c_lo[None, :] * pix_in)
    end = np.where(none, -1, r_hi[:, None] * row_in + (c_hi[None, :] + 1) * pix_in)
    return UnitReads(c_out * elem_out, first.reshape(-1), end.reshape(-1))


_CACHE_LIMIT = 100_000
_model_cache: dict[tuple[object, ...], OverlapModel | None] = {}
_whole_cache: dict[tuple[object, ...], bool] = {}


def _signature(node: Node, k: int, dataflow: Dataflow, elem_in: int,
               elem_out: int) -> tuple[object, ...]:
    """Everything the per-unit read ranges depend on: the op, its attributes, the shapes and
    kinds (activation / constant) of its operands and outputs, the input index, the dataflow
    and the element sizes. Tiled graphs repeat the same layer geometry many times; the models
    are memoised on this key."""
    attrs = tuple(sorted((name, repr(value)) for name, value in node.attrs.items()))
    operands = tuple(None if t is None else (t.shape, t.kind.value) for t in node.inputs)
    return (node.op_type, attrs, operands, tuple(t.shape for t in node.outputs), k,
            dataflow.value, elem_in, elem_out)


def _memo(cache: dict[tuple[object, ...], T], compute: Callable[..., T], node: Node, k: int,
          dataflow: Dataflow, elem_in: int, elem_out: int) -> T:
    """``compute(node, k, ...)``, memoised in ``cache`` under :func:`_signature` (cleared when
    it reaches ``_CACHE_LIMIT`` entries)."""
    key = _signature(node, k, dataflow, elem_in, elem_out)
    if key not in cache:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = compute(node, k, dataflow, elem_in, elem_out)
    return cache[key]


def reads_whole_input(node: Node, k: int, dataflow: Dataflow, elem_in: int,
                      elem_out: int) -> bool:
    """True if every unit reads all of input ``k`` (Gemm, global pooling...): then the model
    does not depend on the input's byte order, so it holds even when the input is read
    through a reshaping view of another buffer. Memoised (:func:`_signature`)."""
    return _memo(_whole_cache, _reads_whole_input, node, k, dataflow, elem_in, elem_out)


def _reads_whole_input(node: Node, k: int, dataflow: Dataflow, elem_in: int,
                       elem_out: int) -> bool:
    reads = unit_reads(node, k, dataflow, elem_in, elem_out)
    x = node.inputs[k]
    if reads is None or x is None:
        return False
    return bool(np.all(reads.first == 0) and np.all(reads.end == x.num_elements * elem_in))


def overlap_model(node: Node, k: int, dataflow: Dataflow, elem_in: int,
                  elem_out: int) -> OverlapModel | None:
    """The overlap of ``node``'s output with its input ``k`` under ``dataflow``.

    Args:
        node: the layer.
        k: index of the input (the one that dies at this layer).
        dataflow: production order and layout.
        elem_in: bytes per element of the input.
        elem_out: bytes per element of the output.

    Returns:
        the model, or ``None`` when the op/dataflow pair has no overlap model (the output must
        then be disjoint from the input). Memoised (:func:`_signature`).
    """
    return _memo(_model_cache, _overlap_model, node, k, dataflow, elem_in, elem_out)


def _overlap_model(node: Node, k: int, dataflow: Dataflow, elem_in: int,
                   elem_out: int) -> OverlapModel | None:
    reads = unit_reads(node, k, dataflow, elem_in, elem_out)
    if reads is None:
        return None
    x, y = node.inputs[k], node.outputs[0]
    assert x is not None
    i_bytes, o_bytes = x.num_elements * elem_in, y.num_elements * elem_out
    d_fwd, d_rev = distances(reads.unit_bytes, i_bytes, reads.first, reads.end)
    if not dataflow.reversible:
        d_rev = o_bytes  # reverse order is not available: only a disjoint placement above
    return OverlapModel(d_fwd, d_rev, i_bytes, o_bytes)


def _hwc_element(node: Node, k: int, x: Tensor, y: Tensor, elem_in: int,
                 elem_out: int) -> UnitReads | None:
    """Units = output elements in HWC order (TFLite reference kernels' loop order)."""
    xs, ys = _spatial(x), _spatial(y)
    assert xs is not None and ys is not None
    c_in, h_in, w_in = xs
    c_out, h_out, w_out = ys
    op = node.op_type
    i_bytes = x.num_elements * elem_in
    n = y.num_elements
    if op in ("Gemm", "MatMul"):  # each output reads the whole input, written one by one
        return UnitReads(elem_out, np.zeros(n, np.int64), np.full(n, i_bytes, np.int64))
    if op in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax", "ReduceSum") \
            and len(x.shape) == 4 and c_in == c_out and h_out == w_out == 1:
        c = np.arange(c_out, dtype=np.int64)  # output c sums input (h, w, c) over h, w
        return UnitReads(elem_out, c * elem_in,
                         ((h_in * w_in - 1) * c_in + c + 1) * elem_in)
    if op in ("Softmax", "LogSoftmax", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
              "QuantizeLinear", "DequantizeLinear", "Requantize") or (
            len(x.shape) != 4 and x.shape == y.shape):
        # flat element-wise in storage order; a reshape is a flat copy only when the file's
        # own layout is NHWC (TFLite), i.e. its storage order is the reshape's order
        if op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze") and \
                str(node.attrs.get("source_layout", "")) != "NHWC":
            return None
        if op in ("Softmax", "LogSoftmax") and len(y.shape) > 2 and y.shape[1] != 1:
            return None
        if x.num_elements != n:
            return None
        i = np.arange(n, dtype=np.int64)
        return UnitReads(elem_out, i * elem_in, (i + 1) * elem_in)
    if len(x.shape) != 4 or len(y.shape) != 4:
        return None
    rows = _axis_reads(node, k, h_out, h_in, 0)
    cols = _axis_reads(node, k, w_out, w_in, 1)
    if rows is None or cols is None:
        return None
    c = np.arange(c_out, dtype=np.int64)
    if op in ("Conv", "ConvTranspose"):
        groups = node.attr_int("group", 1)
        per_out, per_in = c_out // groups, c_in // groups
        ch_lo = (c // per_out) * per_in
        ch_hi = ch_lo + per_in - 1
        ch_ok = np.ones(c_out, dtype=bool)
    elif op == "Concat" and node.attr_int("axis", 1) in (1, -3):
        start = sum(t.shape[1] for t in node.inputs[:k] if t is not None)
        ch_ok = (c >= start) & (c < start + c_in)
        ch_lo = ch_hi = c - start
    elif c_in == c_out:
        ch_lo = ch_hi = c
        ch_ok = np.ones(c_out, dtype=bool)
    else:
        return None
    (r_lo, r_hi), (c_lo, c_hi) = rows, cols
    r_lo, r_hi = r_lo[:, None, None], r_hi[:, None, None]
    c_lo, c_hi = c_lo[None, :, None], c_hi[None, :, None]
    none = (r_lo >= _INF) | (c_lo >= _INF) | ~ch_ok[None, None, :]
    first = np.where(none, _INF, ((r_lo * w_in + c_lo) * c_in + ch_lo[None, None, :]) * elem_in)
    end = np.where(none, -1, ((r_hi * w_in + c_hi) * c_in + ch_hi[None, None, :] + 1) * elem_in)
    return UnitReads(elem_out, first.reshape(-1), end.reshape(-1))


def _chw_outer(node: Node, k: int, x: Tensor, y: Tensor, elem_in: int,
               elem_out: int) -> UnitReads | None:
    xs, ys = _spatial(x), _spatial(y)
    assert xs is not None and ys is not None
    c_in, h_in, w_in = xs
    c_out, h_out, w_out = ys
    plane_in = h_in * w_in * elem_in
    plane_out = h_out * w_out * elem_out
    c = np.arange(c_out, dtype=np.int64)
    op = node.op_type
    lo_in, hi_in = 0, plane_in  # byte range read inside an input plane
    if op not in ("Gemm", "MatMul", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean",
                  "ReduceMax") and len(y.shape) == 4 and len(x.shape) == 4:
        rows = _axis_reads(node, k, h_out, h_in, 0)
        cols = _axis_reads(node, k, w_out, w_in, 1)
        if rows is None or cols is None:
            return None
        r0, c0 = int(rows[0].min(initial=_INF)), int(cols[0].min(initial=_INF))
        r1, c1 = int(rows[1].max(initial=-1)), int(cols[1].max(initial=-1))
        if r0 >= _INF or c0 >= _INF:  # every tap falls in padding: nothing is read
            return UnitReads(plane_out, np.full(c_out, _INF), np.full(c_out, -1))
        lo_in, hi_in = (r0 * w_in + c0) * elem_in, (r1 * w_in + c1 + 1) * elem_in
    if op in ("Conv", "ConvTranspose"):
        groups = node.attr_int("group", 1)
        per_out, per_in = c_out // groups, c_in // groups
        g = c // per_out
        first = g * per_in * plane_in + lo_in
        end = ((g + 1) * per_in - 1) * plane_in + hi_in
    elif op in ("Gemm", "MatMul"):
        first = np.zeros(c_out, dtype=np.int64)
        end = np.full(c_out, x.num_elements * elem_in, dtype=np.int64)
    elif op == "Concat" and node.attr_int("axis", 1) in (1, -3) and len(y.shape) == 4:
        start = sum(t.shape[1] for t in node.inputs[:k] if t is not None)
        inside = (c >= start) & (c < start + c_in)
        first = np.where(inside, (c - start) * plane_in + lo_in, _INF)
        end = np.where(inside, (c - start) * plane_in + hi_in, -1)
    elif op in ("MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
                "Resize", "Upsample", "Pad") or _same_position(node, k) or (
            op in ("ReduceMean", "ReduceMax") and c_in == c_out):
        if c_in != c_out:
            return None
        first = c * plane_in + lo_in
        end = c * plane_in + hi_in
    else:
        return None
    return UnitReads(plane_out, first, end)


def direction_for(model: OverlapModel, out_offset: int, in_offset: int) -> str:
    """Which order the planned addresses require: ``forward``, ``reverse``, or ``any`` when
    the buffers do not overlap at all.

    Raises:
        ValueError: the addresses overlap in a way neither direction allows.
    """
    o, i = model.output_bytes, model.input_bytes
    if out_offset + o <= in_offset or in_offset + i <= out_offset:
        return "any"
    if in_offset - out_offset >= model.min_distance_bytes:
        return "forward"
    if (out_offset + o) - (in_offset + i) >= model.reverse_distance_bytes:
        return "reverse"
    raise ValueError("the output overlaps its input more than the model allows")


def describe_rule(model: OverlapModel) -> str:
    """One-line text for reports."""
    saved = model.saving_bytes
    pct = 100.0 * saved / (model.input_bytes + model.output_bytes) if model.input_bytes else 0.0
    return (f"d_min={model.min_distance_bytes} B, d_rev={model.reverse_distance_bytes} B, "
            f"footprint {model.footprint_bytes} B vs {model.input_bytes + model.output_bytes} "
            f"B ping-pong ({pct:.1f}% less)")
