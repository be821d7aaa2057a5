"""Integer kernels with TensorFlow Lite int8 semantics, bit-exact with LiteRT.

Quantised tensors hold stored integers (``real = scale * (q - zero_point)``); their
:class:`~cnnmem.ir.types.QuantParams` come from the IR tensors (per-tensor for activations,
per-channel along axis 0 for convolution and fully-connected weights). Semantics follow the
TFLite kernels (``tensorflow/lite/kernels/*.cc`` with ``internal/reference/integer_ops`` and
``internal/optimized``):

- **Conv / depthwise Conv / FULLY_CONNECTED (Gemm)**: ``acc = sum((x - zp_x) * (w - zp_w)) +
  bias`` in int32 (padding cells contribute nothing, i.e. pad with ``zp_x``), then
  ``MultiplyByQuantizedMultiplier(acc, M[c], shift[c]) + zp_y`` with ``(M, shift) =
  QuantizeMultiplier(double(s_x) * double(s_w[c]) / double(s_y))``, clamped to the fused
  activation's range (``CalculateActivationRangeQuantized``).
- **ADD / SUB**: both inputs are shifted left by 20 bits, rescaled by ``s_i / (2 max(s_1, s_2))``,
  added, and the sum rescaled by ``2 max(s_1, s_2) / (2**20 s_y)``, each step with
  ``MultiplyByQuantizedMultiplierSmallerThanOneExp``. **MUL**: ``(x_1 - zp_1)(x_2 - zp_2)``
  rescaled by ``s_1 s_2 / s_y``.
- **AVERAGE_POOL_2D**: sum of the stored values over the window's input cells, divided by their
  count rounding half away from zero (``(acc +- n/2) / n`` in C integer division); no
  requantisation. **MAX_POOL_2D**: maximum over the input cells. Both clamp to the activation.
- **MEAN** (``ReduceMean``): ``reference_ops::QuantizedMeanOrSum``: the int32 sum minus
  ``zp_x * n`` is rescaled by ``s_x / s_y`` with the multiplier divided by ``n`` in fixed
  point (``M' = (M << k) / n``, ``shift' = shift - k``, ``k = min(floor(log2 n), 32, 31 + shift)``).
  The optimized kernels have a special case for a 4-D mean over H and W with kept dims
  (``optimized_integer_ops::Mean``): the raw sum is rescaled by ``float(s_x / (n s_y))`` and
  ``zp_y - round(float(zp_x s_x / s_y))`` added.
- **SOFTMAX**: the optimized kernel's float look-up table: ``table[255 - i] =
  expf(-s_x * beta * i)``; per row ``p = table[255 - max + x] / (sum * s_y)`` (float32,
  sequential sum) and ``round(p) + zp_y`` (ties away from zero).
- **QUANTIZE** float -> int: ``round(x / double(s)) + zp`` (ties away from zero), saturated;
  int -> int (``Requantize``): ``MultiplyByQuantizedMultiplier(x - zp_x, s_x / s_y) + zp_y``.
  **DEQUANTIZE**: see :func:`tflite_dequantize`.
- **CONCATENATION**: a copy when every input has the output's parameters, otherwise TFLite's
  rescaling ``round(x * s_i / s_y - zp_i s_i / s_y) + zp_y`` in float.
- **RELU / RELU6 / RELU_N1_TO_1** (``Relu`` / ``Clip``): rescaled like Requantize when input and
  output parameters differ, clamped to the activation range.
- **PAD**: pads with the output zero point unless a pad value is given.

**Kernel sets.** LiteRT ships three CPU implementations that differ in rounding only (at most
1 LSB per op, at rounding ties); ``kernels=`` picks the one to reproduce:

``"reference"`` (``OpResolverType.BUILTIN_REF``; the kernels TFLite Micro runs)
    Conv and depthwise Conv: ``MultiplyByQuantizedMultiplier`` with double rounding
    (``SaturatingRoundingDoublingHighMul`` then ``RoundingDivideByPOT``, ties away from zero).
    FULLY_CONNECTED: single rounding of the 64-bit product (``(acc * M + 2**(30 - shift)) >>
    (31 - shift)``). DEQUANTIZE: ``float(double(s) * (x - zp))``.
``"optimized"`` (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``, x86)
    Conv and FULLY_CONNECTED run on ruy, whose final rounding shift rounds ties toward
    +infinity (``(h + 2**(e - 1)) >> e`` after the same high multiply); depthwise Conv as in
    the reference. DEQUANTIZE: float32 ``x * s + (-zp * s)``.
``"xnnpack"`` (``OpResolverType.AUTO``, LiteRT's default: the XNNPACK delegate)
    Conv, depthwise Conv, FULLY_CONNECTED and MUL requantise in float32 (``rint(clamp(
    float(acc) * float(s_x * s_w / s_y)))``, ties to even); ADD/SUB use XNNPACK's 21-bit
    multipliers (see :func:`_xnnpack_add`); int8 -> int8 QUANTIZE an 8-bit-fraction
    multiplier; DEQUANTIZE: float32 ``(x - zp) * s``; the other ops as ``"optimized"``. The
    4-D keep-dims MEAN is an approximation of XNNPACK's (it differs by 1 LSB at rare
    near-ties). Which ops the delegate takes depends on the model; this set assumes the ones
    listed.

The three sets were established empirically against LiteRT 2.3 (ai-edge-litert, x86-64):
per-node isolation on the six reference models with several random inputs each (over 20
million op outputs per set, zero mismatches) and a synthetic int8 model for the ops those
models lack (MAX_POOL_2D, CONCATENATION, MUL, SUB, PAD, RELU6, int8 QUANTIZE, keep-dims MEAN).

Data-movement ops (Reshape, Transpose, Slice, MaxPool, Resize nearest...) need no integer
arithmetic and run through the float kernels on the stored integers.

Integer accumulation is exact: int8 products are summed in float64 BLAS (exact below 2**53)
and converted back to int64.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from cnnmem.errors import UnsupportedOperatorError
from cnnmem.ir.graph import Node, Tensor
from cnnmem.ir.types import Activation, QuantParams
from cnnmem.runtime.fixedpoint import (
    activation_range,
    int_range,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    quantize_multipliers,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)
from cnnmem.runtime.kernels import FLOAT_KERNELS, node_geometry
from cnnmem.runtime.windows import conv2d, window_sum_count

Arrays = Sequence[np.ndarray | None]
Pads = tuple[int, int, int, int] | None
QuantKernel = Callable[[Node, Arrays, Pads, str], list[np.ndarray]]

__all__ = ["GENERIC_ON_INTEGERS", "KERNEL_SETS", "QUANT_KERNELS", "clamp_to_activation",
           "is_quantized", "tflite_dequantize", "tflite_quantize"]

KERNEL_SETS = ("reference", "optimized", "xnnpack")
"""The TFLite kernel sets that can be reproduced (see the module docstring)."""

_ADD_LEFT_SHIFT = 20

# (kernel set, kernel family) -> rounding of multiply_by_quantized_multiplier
_ROUNDING: dict[tuple[str, str], str] = {
    ("reference", "conv"): "double", ("reference", "depthwise"): "double",
    ("reference", "fc"): "single",
    ("optimized", "conv"): "double_up", ("optimized", "depthwise"): "double",
    ("optimized", "fc"): "double_up",
    ("xnnpack", "conv"): "fp32", ("xnnpack", "depthwise"): "fp32", ("xnnpack", "fc"): "fp32",
}


def _unsupported(node: Node, why: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"node {node.name!r} ({node.op_type}, quantised): {why}")


def is_quantized(t: Tensor | None) -> bool:
    """True for a tensor stored as quantised integers (int8/uint8/int16 with QuantParams)."""
    return t is not None and t.quant is not None and t.dtype.is_quantized_storage


def _req(node: Node, x: Arrays, i: int) -> np.ndarray:
    if i >= len(x) or x[i] is None:
        raise _unsupported(node, f"input {i} is missing")
    value = x[i]
    assert value is not None
    return value


def _quant(node: Node, t: Tensor | None, what: str) -> QuantParams:
    if t is None or t.quant is None:
        raise _unsupported(node, f"the {what} tensor has no quantisation parameters")
    return t.quant


def _per_tensor(node: Node, t: Tensor | None, what: str) -> tuple[float, int]:
    q = _quant(node, t, what)
    if q.per_channel:
        raise _unsupported(node, f"per-channel quantisation of the {what} is not supported")
    return float(q.scale[0]), int(q.zero_point[0])


def _out(node: Node) -> Tensor:
    return node.outputs[0]


def _finish(node: Node, acc: np.ndarray) -> np.ndarray:
    """Clamp to the output's fused-activation range and cast to its dtype."""
    out = _out(node)
    lo, hi = clamp_range(node)
    return np.clip(acc, lo, hi).astype(out.dtype.numpy)


def clamp_range(node: Node) -> tuple[int, int]:
    """The quantised clamp range of ``node``'s fused activation on its first output."""
    out = _out(node)
    try:
        return activation_range(node.activation, out.dtype, out.quant)
    except ValueError as e:
        raise _unsupported(node, str(e)) from e


def clamp_to_activation(node: Node, y: np.ndarray) -> np.ndarray:
    """Apply ``node``'s fused activation to a quantised output as TFLite does (a clamp)."""
    if node.activation is None:
        return y
    lo, hi = clamp_range(node)
    return np.clip(y, lo, hi).astype(y.dtype)


def _channel_params(node: Node, w: Tensor | None, n_out: int, axis: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Weight scales and zero points broadcast to ``n_out`` channels."""
    q = _quant(node, w, "weight")
    scales = np.asarray(q.scale, np.float64)
    zps = np.asarray(q.zero_point, np.int64)
    if q.per_channel:
        if q.axis != axis or len(q.scale) != n_out:
            raise _unsupported(node, f"weight quantised along axis {q.axis}, expected {axis}")
        return scales, zps
    return np.full(n_out, scales[0]), np.full(n_out, zps[0])


def _requantize_channels(node: Node, acc: np.ndarray, s_x: float, s_w: np.ndarray,
                         channel_axis: int, rounding: str) -> np.ndarray:
    """``MultiplyByQuantizedMultiplier(acc, s_x * s_w[c] / s_y) + zp_y`` per channel."""
    s_y, zp_y = _per_tensor(node, _out(node), "output")
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    if rounding == "fp32":  # XNNPACK: float32 scale, clamp, round half to even
        scale = np.float32(s_x) * np.asarray(s_w, np.float32) / np.float32(s_y)
        return _finish(node, _fp32_requantize(node, acc, scale.reshape(shape), zp_y))
    m, sh = _channel_multipliers(s_x, tuple(float(s) for s in s_w), s_y)
    y = multiply_by_quantized_multiplier(acc, m.reshape(shape), sh.reshape(shape),
                                         rounding) + zp_y
    return _finish(node, y)


@functools.lru_cache(maxsize=256)
def _channel_multipliers(s_x: float, s_w: tuple[float, ...], s_y: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """``QuantizeMultiplier(double(s_x) * double(s_w[c]) / double(s_y))`` per channel (cached:
    slab-by-slab evaluation calls a node many times)."""
    m, sh = quantize_multipliers(np.asarray([s_x * s / s_y for s in s_w]))
    m.setflags(write=False)
    sh.setflags(write=False)
    return m, sh


def _exact_int(a: np.ndarray) -> np.ndarray:
    return np.rint(a).astype(np.int64)


# ----------------------------------------------------------------------------- conv / linear
def _conv(node: Node, x: Arrays, pads: Pads, mode: str) -> list[np.ndarray]:
    data, w = _req(node, x, 0), _req(node, x, 1)
    b = x[2] if len(x) > 2 else None
    s_x, zp_x = _per_tensor(node, node.inputs[0], "input")
    o = w.shape[0]
    s_w, zp_w = _channel_params(node, node.input(1), o, 0)
    geom, one_d = node_geometry(node, data.ndim, pads, w.shape[2:])
    xf = data.astype(np.float64) - zp_x
    wf = w.astype(np.float64) - zp_w.reshape(-1, *([1] * (w.ndim - 1)))
    if one_d:
        xf, wf = xf[:, :, None, :], wf[:, :, None, :]
    group = node.attr_int("group", 1)
    acc = _exact_int(conv2d(xf, wf, geom, group))
    if one_d:
        acc = acc[:, :, 0, :]
    if b is not None:
        acc = acc + b.astype(np.int64).reshape(1, -1, *([1] * (acc.ndim - 2)))
    family = "depthwise" if group > 1 and w.shape[1] == 1 else "conv"
    return [_requantize_channels(node, acc, s_x, s_w, 1, _ROUNDING[mode, family])]


def _gemm(node: Node, x: Arrays, pads: Pads, mode: str) -> list[np.ndarray]:
    a, w = _req(node, x, 0), _req(node, x, 1)
    b = x[2] if len(x) > 2 else None
    if node.attr_int("transA", 0) or node.attr_float("alpha", 1.0) != 1.0 \
            or node.attr_float("beta", 1.0) != 1.0:
        raise _unsupported(node, "only FULLY_CONNECTED-style Gemm (alpha = beta = 1, no transA)")
    s_x, zp_x = _per_tensor(node, node.inputs[0], "input")
    trans_b = bool(node.attr_int("transB", 0))
    n_out = w.shape[0] if trans_b else w.shape[1]
    s_w, zp_w = _channel_params(node, node.input(1), n_out, 0 if trans_b else 1)
    wf = w.astype(np.float64)
    wf = wf - (zp_w[:, None] if trans_b else zp_w[None, :])
    if trans_b:
        wf = wf.T
    acc = _exact_int((a.astype(np.float64) - zp_x) @ wf)
    if b is not None:
        acc = acc + b.astype(np.int64)
    return [_requantize_channels(node, acc, s_x, s_w, acc.ndim - 1, _ROUNDING[mode, "fc"])]


# ----------------------------------------------------------------------------- element-wise
def _mbqm_smaller_than_one(x: np.ndarray, m: int, shift: int) -> np.ndarray:
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, m), -shift)


def _add_sub(node: Node, x: Arrays, pads: Pads, mode: str) -> list[np.ndarray]:
    a, b = _req(node, x, 0), _req(node, x, 1)
    s1, zp1 = _per_tensor(node, node.inputs[0], "first input")
    s2, zp2 = _per_tensor(node, node.input(1), "second input")
    s_y, zp_y = _per_tensor(node, _out(node), "output")
    if mode == "xnnpack":
        return [_finish(node, _xnnpack_add(node, a, b, (s1, zp1), (s2, zp2), (s_y, zp_y)))]
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / (float(1 << _ADD_LEFT_SHIFT) * s_y))
    v1 = _mbqm_smaller_than_one((a.astype(np.int64) - zp1) << _ADD_LEFT_SHIFT, m1, sh1)
    v2 = _mbqm_smaller_than_one((b.astype(np.int64) - zp2) << _ADD_LEFT_SHIFT, m2, sh2)
    raw = v1 + v2 if node.op_type == "Add" else v1 - v2
    return [_finish(node, _mbqm_smaller_than_one(raw, mo, sho) + zp_y)]


def _xnnpack_add(node: Node, a: np.ndarray, b: np.ndarray, qa: tuple[float, int],
                 qb: tuple[float, int], qy: tuple[float, int]) -> np.ndarray:
    """XNNPACK's qs8 add/subtract: 21-bit multipliers ``lrintf(s_i / s_y * 2**shift)`` with
    ``shift = 20 - floor(log2(max |s_i / s_y|))``, one accumulation, an arithmetic right shift
    with the rounding term folded into the bias (ties toward +infinity)."""
    sign_b = 1.0 if node.op_type == "Add" else -1.0
    ao = np.float32(np.float32(qa[0]) / np.float32(qy[0]))
    bo = np.float32(np.float32(sign_b) * np.float32(qb[0]) / np.float32(qy[0]))
    top = max(abs(float(ao)), abs(float(bo)))
    shift = 20 - (math.frexp(top)[1] - 1)
    am = int(np.rint(ao * np.float32(2.0 ** shift)))
    bm = int(np.rint(bo * np.float32(2.0 ** shift)))
    bias = (1 << (shift - 1)) - am * qa[1] - bm * qb[1]
    acc = bias + a.astype(np.int64) * am + b.astype(np.int64) * bm
    return (acc >> shift) + qy[1]


def _mul(node: Node, x: Arrays, pads: Pads, mode: str) -> list[np.ndarray]:
    a, b = _req(node, x, 0), _req(node, x, 1)
    s1, zp1 = _per_tensor(node, node.inputs[0], "first input")
    s2, zp2 = _per_tensor(node, node.input(1), "second input")
    s_y, zp_y = _per_tensor(node, _out(node), "output")
    prod = (a.astype(np.int64) - zp1) * (b.astype(np.int64) - zp2)
    if mode == "xnnpack":  # qs8 vmul, fp32 requantisation
        scale = np.float32(np.float32(s1) * np.float32(s2) / np.float32(s_y))
        return [_finish(node, _fp32_requantize(node, prod, scale, zp_y))]
    m, sh = quantize_multiplier(s1 * s2 / s_y)
    return [_finish(node, multiply_by_quantized_multiplier(prod, m, sh) + zp_y)]


def _fp32_requantize(node: Node, acc: np.ndarray, scale: np.ndarray | np.float32, zp_y: int
                     ) -> np.ndarray:
    """XNNPACK's fp32 requantisation: ``rint(clamp(float(acc) * scale)) + zp_y`` (float32,
    ties to even, clamped to the activation range less the zero point)."""
    lo, hi = clamp_range(node)
    f = acc.astype(np.float32) * scale
    f = np.clip(f, np.float32(lo - zp_y), np.float32(hi - zp_y))
    return np.rint(f).astype(np.int64) + zp_y


def _rescale_relu(node: Node, x: Arrays, pads: Pads, mode: str) -> list[np.ndarray]:
    data = _req(node, x, 0)
    s_x, zp_x = _per_tensor(node, node.inputs[0], "input")
    s_y, zp_y = _per_tensor(node, _out(node), "output")
    if (s_x, zp_x) == (s_y, zp_y):
        y = data.astype(np.int64)
    else:
        m, sh = quantize_multiplier(s_x / s_y)
        y = multiply_by_quantized_multiplier(data.astype(np.int64) - zp_x, m, sh) + zp_y
    lo, hi = activation_range(_as_activation(node.op_type, node), _out(node).dtype,
                              _out(node).quant)
    y = np.clip(y, lo, hi)
    return [_finish(node, y)]


def _as_activation(op: str, node: Node) -> Activation:
    if op == "Relu":
        return Activation("Relu")
    params = tuple(sorted((k, node.attr_float(k, 0.0)) for k in ("min", "max")
                          if k in node.attrs))
    return Activation("Clip", params)


# ----------------------------------------------------------------------------- pooling / reduce
def _average_pool(node: Node, x: Arrays, pads: Pads, mode: str) -> list[np.ndarray]:
    data = _req(node, x, 0)
    geom, one_d = node_geometry(node, data.ndim, pads)
    xi = data[:, :, None, :] if one_d else data
    acc, count = window_sum_count(xi.astype(np.int64), geom,
                                  bool(node.attr_int("count_include_pad", 0)), np.int64)
    # a window that lies entirely in padding (possible only in slab computations) averages
    # nothing: define it as 0 rather than divide by zero
    count = np.maximum(count, 1)
    half = count // 2
    num = np.where(acc > 0, acc + half, acc - half)
    q = np.abs(num) // count
    avg = np.where(num < 0, -q, q)
    if one_d:
        avg = avg[:, :, 0, :]
    return [_finish(node, avg)]


def _reduce_mean(node: Node, x: Arrays, pads: Pads, mode: str) -> list[np.ndarray]:
    data = _req(node, x, 0)
    s_x, zp_x = _per_tensor(node, node.inputs[0], "input")
    s_y, zp_y = _per_tensor(node, _out(node), "output")
    given = x[1] if len(x) > 1 else None
    axes = ([int(v) for v in np.asarray(given).reshape(-1)] if given is not None
            else list(node.attr_ints("axes", tuple(range(data.ndim)))))
    ax = tuple(sorted({a % data.ndim for a in axes}))
    keep = bool(node.attr_int("keepdims", 1))
    n = int(np.prod([data.shape[a] for a in ax])) if ax else 1
    total = data.astype(np.int64).sum(axis=ax, keepdims=keep)
    if mode == "xnnpack" and keep and data.ndim == 4 and ax == (2, 3):
        # XNNPACK's mean (approximation: differs by 1 LSB in rare near-ties)
        f = (total - zp_x * n).astype(np.float32) * np.float32(
            np.float32(s_x) / np.float32(s_y)) * (np.float32(1.0) / np.float32(n))
        return [_finish(node, np.rint(f).astype(np.int64) + zp_y)]
    if mode != "reference" and keep and data.ndim == 4 and ax == (2, 3):
        # optimized_integer_ops::Mean (4-D, keep_dims, over H and W): float32 parameters,
        # the raw sum rescaled, the input zero point folded into a rounded bias
        zp_term = np.float32(zp_x) * np.float32(s_x) / np.float32(s_y)
        zp_term = zp_term + np.float32(0.5) if zp_term > 0 else zp_term - np.float32(0.5)
        bias = zp_y - int(zp_term)
        m, sh = quantize_multiplier(float(np.float32(s_x) / (np.float32(n) * np.float32(s_y))))
        return [_finish(node, multiply_by_quantized_multiplier(total, m, sh) + bias)]
    m, sh = quantize_multiplier(s_x / s_y)
    k = min(n.bit_length() - 1, 32, 31 + sh)
    m = (m << k) // n
    sh -= k
    y = multiply_by_quantized_multiplier(total - zp_x * n, m, sh) + zp_y
    return [_finish(node, y)]


def _softmax(node: Node, x: Arrays, pads: Pads, mode: str) -> list[np.ndarray]:
    data = _req(node, x, 0)
    s_x, _zp_x = _per_tensor(node, node.inputs[0], "input")
    s_y, zp_y = _per_tensor(node, _out(node), "output")
    if data.dtype != np.int8:
        raise _unsupported(node, "only int8 Softmax is supported")
    beta = np.float32(node.attr_float("beta", 1.0))
    scale = np.float32(-np.float32(s_x) * beta)
    steps = (scale * np.arange(256, dtype=np.float32)).astype(np.float64)
    table = np.empty(256, np.float32)
    table[255 - np.arange(256)] = np.exp(steps).astype(np.float32)
    axis = node.attr_int("axis", -1) % data.ndim
    xi = np.moveaxis(data.astype(np.int64), axis, -1)
    mx = xi.max(axis=-1, keepdims=True)
    t = table[255 - mx + xi]
    total = np.cumsum(t, axis=-1, dtype=np.float32)[..., -1:]
    inv = np.float32(1.0) / (total * np.float32(s_y))
    prob = t * inv
    rounded = np.where(prob >= 0, np.floor(prob + np.float32(0.5)),
                       -np.floor(-prob + np.float32(0.5))).astype(np.int64)
    y = np.moveaxis(rounded + zp_y, -1, axis)
    return [np.clip(y, -128, 127).astype(np.int8)]


# ----------------------------------------------------------------------------- boundaries
def tflite_quantize(node: Node, x: Arrays, mode: str) -> list[np.ndarray]:
    """TFLite ``QUANTIZE`` of a float tensor (``QuantizeLinear`` without scale operands)."""
    data = _req(node, x, 0)
    s_y, zp_y = _per_tensor(node, _out(node), "output")
    out = _out(node)
    lo, hi = int_range(out.dtype.numpy)
    v = data.astype(np.float64) / s_y
    r = np.where(v >= 0, np.floor(v + 0.5), -np.floor(-v + 0.5))
    y = np.clip(r, -2.0**31, 2.0**31 - 1).astype(np.int64) + zp_y
    return [np.clip(y, lo, hi).astype(out.dtype.numpy)]


def _requantize(node: Node, x: Arrays, pads: Pads, mode: str) -> list[np.ndarray]:
    data = _req(node, x, 0)
    s_x, zp_x = _per_tensor(node, node.inputs[0], "input")
    s_y, zp_y = _per_tensor(node, _out(node), "output")
    lo, hi = int_range(_out(node).dtype.numpy)
    if mode == "xnnpack":  # qs8 convert: 8-bit fraction multiplier, rounding folded in the bias
        m8 = int(np.rint(np.float32(256.0) * np.float32(np.float32(s_x) / np.float32(s_y))))
        acc = ((zp_y << 8) - m8 * zp_x + 0x80) + data.astype(np.int64) * m8
        return [np.clip(acc >> 8, lo, hi).astype(_out(node).dtype.numpy)]
    m, sh = quantize_multiplier(s_x / s_y)
    y = multiply_by_quantized_multiplier(data.astype(np.int64) - zp_x, m, sh) + zp_y
    return [np.clip(y, lo, hi).astype(_out(node).dtype.numpy)]


def tflite_dequantize(node: Node, x: Arrays, mode: str) -> list[np.ndarray]:
    """TFLite ``DEQUANTIZE`` (``DequantizeLinear`` without scale operands).

    Reference kernel: ``float(double(s) * (x - zp))``; optimized kernel: float32
    ``x * s + (-zp * s)``; XNNPACK: float32 ``(x - zp) * s``.
    """
    data = _req(node, x, 0)
    q = _quant(node, node.inputs[0], "input")
    shape = [-1 if i == q.axis else 1 for i in range(data.ndim)] if q.per_channel else []
    s = np.asarray(q.scale, np.float64).reshape(shape)
    zp = np.asarray(q.zero_point, np.int64).reshape(shape)
    s32 = s.astype(np.float32)
    if mode == "optimized":
        return [data.astype(np.float32) * s32 + (-zp).astype(np.float32) * s32]
    if mode == "xnnpack":
        return [(data.astype(np.int64) - zp).astype(np.float32) * s32]
    return [(s * (data.astype(np.int64) - zp)).astype(np.float32)]


def _concat(node: Node, x: Arrays, pads: Pads, mode: str) -> list[np.ndarray]:
    s_y, zp_y = _per_tensor(node, _out(node), "output")
    parts = []
    for t, v in zip(node.inputs, x, strict=False):
        if v is None:
            continue
        s_i, zp_i = _per_tensor(node, t, "input")
        if (s_i, zp_i) == (s_y, zp_y):
            parts.append(v.astype(np.int64))
            continue
        scale = np.float32(np.float32(s_i) * (np.float32(1.0) / np.float32(s_y)))
        bias = np.float32(-zp_i * scale)
        f = v.astype(np.float32) * scale + bias
        parts.append(np.where(f >= 0, np.floor(f + np.float32(0.5)),
                              -np.floor(-f + np.float32(0.5))).astype(np.int64) + zp_y)
    y = np.concatenate(parts, axis=node.attr_int("axis", 0))
    return [_finish(node, y)]


def _pad(node: Node, x: Arrays, pads: Pads, mode: str) -> list[np.ndarray]:
    inputs = list(x)
    if len(inputs) < 3 or inputs[2] is None or not np.asarray(inputs[2]).size:
        _s, zp_y = _per_tensor(node, _out(node), "output")
        inputs = [*inputs[:2], np.asarray(zp_y, dtype=_out(node).dtype.numpy), *inputs[3:]]
    return FLOAT_KERNELS["Pad"](node, inputs, pads)


def _resize(node: Node, x: Arrays, pads: Pads, mode: str) -> list[np.ndarray]:
    interp = node.attrs.get("mode", "nearest")
    if interp != "nearest":
        raise _unsupported(node, f"{interp} resizing of quantised data is not supported")
    return FLOAT_KERNELS[node.op_type](node, x, pads)


QUANT_KERNELS: dict[str, QuantKernel] = {
    "Conv": _conv, "Gemm": _gemm,
    "Add": _add_sub, "Sub": _add_sub, "Mul": _mul,
    "Relu": _rescale_relu, "Clip": _rescale_relu,
    "AveragePool": _average_pool, "ReduceMean": _reduce_mean, "Softmax": _softmax,
    "Requantize": _requantize,
    "Concat": _concat, "Pad": _pad, "Resize": _resize, "Upsample": _resize,
}
"""Kernels for nodes whose first input is quantised (see :func:`is_quantized`)."""

GENERIC_ON_INTEGERS = frozenset({
    "MaxPool", "GlobalMaxPool", "Max", "Min", "ReduceMax", "ReduceMin", "Reshape", "Flatten",
    "Squeeze", "Unsqueeze", "Transpose", "Identity", "Dropout", "Split", "Slice", "Gather",
    "DepthToSpace", "SpaceToDepth", "Pack", "Shape", "Cast",
})
"""Ops that act on quantised data without arithmetic (run by the float kernels, then the fused
activation is applied as a clamp)."""
