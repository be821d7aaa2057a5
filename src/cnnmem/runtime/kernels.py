"""Float (and plain integer) kernels of the IR op vocabulary, with ONNX opset-17 semantics.

Each kernel is ``fn(node, inputs, pads) -> outputs`` on numpy arrays in the IR's logical layout
(NCHW feature maps). The reference for every op is the ONNX operator specification as
onnxruntime's CPU provider implements it; where the spec leaves a choice open the onnxruntime
behaviour is taken (integer ``Div`` truncates toward zero; ``Resize`` ``nearest`` with
``round_prefer_floor`` rounds ``x.5`` down; ``AveragePool`` divisors, see
:mod:`cnnmem.runtime.windows`).

Conventions beyond ONNX, from the IR:

- ``Reshape`` with ``attrs["source_layout"] == "NHWC"`` (TFLite ``RESHAPE``) flattens in the
  file's NHWC order: rank-4 tensors are taken to NHWC before the reshape and a rank-4 result is
  brought back to NCHW, so that the numbers match the TFLite model.
- ``Softmax``/``LogSoftmax`` take an optional ``beta`` (TFLite) that multiplies the input.
- ``Pack`` is ``numpy.stack`` along ``axis``.
- ``Clip`` takes its bounds from inputs 1 and 2 or, for TFLite ``RELU6``-style clips, from the
  ``min``/``max`` attributes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from cnnmem.errors import UnsupportedOperatorError
from cnnmem.ir.graph import Node
from cnnmem.ir.types import Activation, DType
from cnnmem.runtime.fixedpoint import int_range
from cnnmem.runtime.windows import (
    Geometry,
    conv2d,
    conv_transpose2d,
    window_max,
    window_sum_count,
)

Arrays = Sequence[np.ndarray | None]
Pads = tuple[int, int, int, int] | None
Kernel = Callable[[Node, Arrays, Pads], list[np.ndarray]]

__all__ = ["FLOAT_KERNELS", "apply_float_activation", "node_geometry"]

# ONNX TensorProto element-type codes (Cast's ``to`` as imported from a file)
_ONNX_DTYPES: dict[int, str] = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16",
                                6: "int32", 7: "int64", 9: "bool", 10: "float16",
                                11: "float64", 12: "uint32", 13: "uint64"}


def _unsupported(node: Node, why: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"node {node.name!r} ({node.op_type}): {why}")


def _req(node: Node, x: Arrays, i: int) -> np.ndarray:
    if i >= len(x) or x[i] is None:
        raise _unsupported(node, f"input {i} is missing")
    value = x[i]
    assert value is not None
    return value


def _opt(x: Arrays, i: int) -> np.ndarray | None:
    return x[i] if i < len(x) else None


def _ints(a: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(a).reshape(-1)]


def _str_attr(node: Node, name: str, default: str) -> str:
    value = node.attrs.get(name, default)
    return value if isinstance(value, str) else default


def _out_dtype(node: Node, i: int = 0) -> np.dtype[np.generic]:
    return node.outputs[i].dtype.numpy if i < len(node.outputs) else np.dtype(np.float32)


# ----------------------------------------------------------------------------- geometry
def node_geometry(node: Node, x_rank: int, pads: Pads, kernel: Sequence[int] | None = None
                  ) -> tuple[Geometry, bool]:
    """The 2-D window geometry of a Conv/ConvTranspose/MaxPool/AveragePool node.

    ``pads`` (top, left, bottom, right) overrides the node's ``pads``. 1-D windows (rank-3
    inputs) become 2-D with a height-1 kernel; the second result says so.
    """
    nd = x_rank - 2
    if nd not in (1, 2):
        raise _unsupported(node, f"{nd}-D windows are not supported (1-D and 2-D only)")
    ks = tuple(node.attr_ints("kernel_shape", tuple(kernel or ())))
    if len(ks) != nd:
        raise _unsupported(node, f"kernel_shape {ks} does not match a rank-{x_rank} input")
    strides = node.attr_ints("strides", (1,) * nd)
    dil = node.attr_ints("dilations", (1,) * nd)
    own = node.attr_ints("pads", (0,) * (2 * nd))
    ceil = bool(node.attr_int("ceil_mode", 0))
    if nd == 1:
        ks, strides, dil = (1, ks[0]), (1, strides[0]), (1, dil[0])
        own = (0, own[0], 0, own[1])
    p = pads if pads is not None else (own[0], own[1], own[2], own[3])
    return Geometry(kernel=(ks[0], ks[1]), stride=(strides[0], strides[1]),
                    dilation=(dil[0], dil[1]), pads=(p[0], p[1], p[2], p[3]),
                    ceil_mode=ceil), nd == 1


def _to2d(x: np.ndarray, one_d: bool) -> np.ndarray:
    return x[:, :, None, :] if one_d else x


def _from2d(y: np.ndarray, one_d: bool) -> np.ndarray:
    return y[:, :, 0, :] if one_d else y


# ----------------------------------------------------------------------------- windows
def _conv(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data, w, b = _req(node, x, 0), _req(node, x, 1), _opt(x, 2)
    geom, one_d = node_geometry(node, data.ndim, pads, w.shape[2:])
    dt = np.result_type(data.dtype, np.float32)
    y = conv2d(_to2d(data.astype(dt, copy=False), one_d),
               _to2d(w.astype(dt, copy=False), one_d), geom, node.attr_int("group", 1))
    if b is not None:
        y += b.astype(dt).reshape(1, -1, 1, 1)
    return [_from2d(y, one_d)]


def _conv_transpose(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data, w, b = _req(node, x, 0), _req(node, x, 1), _opt(x, 2)
    geom, one_d = node_geometry(node, data.ndim, pads, w.shape[2:])
    dt = np.result_type(data.dtype, np.float32)
    y = conv_transpose2d(_to2d(data.astype(dt, copy=False), one_d),
                         _to2d(w.astype(dt, copy=False), one_d), geom,
                         node.attr_int("group", 1))
    if b is not None:
        y += b.astype(dt).reshape(1, -1, 1, 1)
    return [_from2d(y, one_d)]


def _max_pool(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    if len(node.outputs) > 1:
        raise _unsupported(node, "the Indices output of MaxPool is not supported")
    geom, one_d = node_geometry(node, data.ndim, pads)
    fill: float | int = -np.inf if data.dtype.kind == "f" else int_range(data.dtype)[0]
    return [_from2d(window_max(_to2d(data, one_d), geom, fill), one_d)]


def _average_pool(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    geom, one_d = node_geometry(node, data.ndim, pads)
    sums, counts = window_sum_count(_to2d(data, one_d), geom,
                                    bool(node.attr_int("count_include_pad", 0)), np.float64)
    return [_from2d((sums / counts).astype(data.dtype), one_d)]


def _global_pool(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    axes = tuple(range(2, data.ndim))
    if node.op_type == "GlobalMaxPool":
        return [data.max(axis=axes, keepdims=True)]
    return [data.mean(axis=axes, keepdims=True, dtype=np.float64).astype(data.dtype)]


# ----------------------------------------------------------------------------- linear
def _gemm(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    a, b, c = _req(node, x, 0), _req(node, x, 1), _opt(x, 2)
    if node.attr_int("transA", 0):
        a = a.T
    if node.attr_int("transB", 0):
        b = b.T
    y = node.attr_float("alpha", 1.0) * np.matmul(a, b)
    if c is not None:
        y = y + node.attr_float("beta", 1.0) * c
    return [y]


def _matmul(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    return [np.matmul(_req(node, x, 0), _req(node, x, 1))]


def _batch_norm(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    scale, bias, mean, var = (_req(node, x, i) for i in range(1, 5))
    shape = (1, -1) + (1,) * (data.ndim - 2)
    eps = node.attr_float("epsilon", 1e-5)
    inv = scale / np.sqrt(var + np.float32(eps))
    return [(data - mean.reshape(shape)) * inv.reshape(shape) + bias.reshape(shape)]


def _instance_norm(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data, scale, bias = (_req(node, x, i) for i in range(3))
    axes = tuple(range(2, data.ndim))
    d64 = data.astype(np.float64)
    mean = d64.mean(axis=axes, keepdims=True)
    var = d64.var(axis=axes, keepdims=True)
    shape = (1, -1) + (1,) * (data.ndim - 2)
    y = (d64 - mean) / np.sqrt(var + node.attr_float("epsilon", 1e-5))
    return [y * scale.reshape(shape) + bias.reshape(shape)]


def _lrn(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0).astype(np.float64)
    size = node.attr_int("size", 1)
    alpha, beta = node.attr_float("alpha", 1e-4), node.attr_float("beta", 0.75)
    bias = node.attr_float("bias", 1.0)
    sq = np.pad(data * data, [(0, 0), ((size - 1) // 2, size - 1 - (size - 1) // 2)]
                + [(0, 0)] * (data.ndim - 2))
    c = data.shape[1]
    acc = sum(sq[:, i:i + c] for i in range(size))
    return [data / (bias + alpha / size * acc) ** beta]


# ----------------------------------------------------------------------------- element-wise
def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C integer division (truncation toward zero)."""
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q)


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Kernel:
    def kernel(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
        items = [v for v in x if v is not None]
        if not items:
            raise _unsupported(node, "no inputs")
        out = items[0]
        for v in items[1:]:
            out = fn(out, v)
        return [out]
    return kernel


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return _int_div(a, b)
    return np.divide(a, b)


def _mean(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    items = [v for v in x if v is not None]
    total = items[0]
    for v in items[1:]:
        total = total + v
    return [total / len(items)]


def _where(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    return [np.where(_req(node, x, 0), _req(node, x, 1), _req(node, x, 2))]


def _erf(v: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(v)


def _clip_bounds(node: Node, x: Arrays) -> tuple[float | None, float | None]:
    lo = _opt(x, 1)
    hi = _opt(x, 2)
    lo_v = float(np.asarray(lo).reshape(-1)[0]) if lo is not None else None
    hi_v = float(np.asarray(hi).reshape(-1)[0]) if hi is not None else None
    if lo is None and "min" in node.attrs:
        lo_v = node.attr_float("min", -math.inf)
    if hi is None and "max" in node.attrs:
        hi_v = node.attr_float("max", math.inf)
    return lo_v, hi_v


def _clip(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    lo, hi = _clip_bounds(node, x)
    out = data
    if lo is not None:
        out = np.maximum(out, np.asarray(lo, dtype=data.dtype))
    if hi is not None:
        out = np.minimum(out, np.asarray(hi, dtype=data.dtype))
    return [out]


def _activation_fn(op: str, params: Callable[[str, float], float]
                   ) -> Callable[[np.ndarray], np.ndarray] | None:
    """An element-wise float activation by IR op name (``params(name, default)`` reads its
    attributes); ``None`` if ``op`` is not one."""
    if op == "Relu":
        return lambda v: np.maximum(v, 0)
    if op == "Sigmoid":
        return lambda v: 1.0 / (1.0 + np.exp(-v.astype(np.float64)))
    if op == "Tanh":
        return np.tanh
    if op == "LeakyRelu":
        alpha = params("alpha", 0.01)
        return lambda v: np.where(v >= 0, v, v * np.float32(alpha))
    if op == "HardSigmoid":
        alpha, beta = params("alpha", 0.2), params("beta", 0.5)
        return lambda v: np.clip(v * np.float32(alpha) + np.float32(beta), 0, 1)
    if op == "HardSwish":
        return lambda v: v * np.clip(v * np.float32(1 / 6) + np.float32(0.5), 0, 1)
    if op == "Elu":
        alpha = params("alpha", 1.0)
        return lambda v: np.where(v > 0, v, alpha * np.expm1(v.astype(np.float64)))
    if op == "Selu":
        alpha, gamma = params("alpha", 1.67326319217681884765625), params(
            "gamma", 1.05070102214813232421875)
        return lambda v: gamma * np.where(v > 0, v, alpha * np.expm1(v.astype(np.float64)))
    if op == "Celu":
        alpha = params("alpha", 1.0)
        return lambda v: np.maximum(v, 0) + np.minimum(
            0, alpha * np.expm1(v.astype(np.float64) / alpha))
    if op == "ThresholdedRelu":
        alpha = params("alpha", 1.0)
        return lambda v: np.where(v > alpha, v, 0)
    if op == "Softplus":
        return lambda v: np.logaddexp(0, v.astype(np.float64))
    if op == "Mish":
        return lambda v: v * np.tanh(np.logaddexp(0, v.astype(np.float64)))
    simple: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "Exp": np.exp, "Log": np.log, "Sqrt": np.sqrt, "Neg": np.negative, "Abs": np.abs,
        "Floor": np.floor, "Ceil": np.ceil, "Round": np.round, "Sign": np.sign,
        "Reciprocal": np.reciprocal, "Erf": _erf, "Not": np.logical_not,
    }
    return simple.get(op)


def _unary(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    if node.op_type == "Gelu":
        d64 = data.astype(np.float64)
        if _str_attr(node, "approximate", "none") == "tanh":
            inner = math.sqrt(2 / math.pi) * (d64 + 0.044715 * d64 ** 3)
            return [0.5 * d64 * (1 + np.tanh(inner))]
        return [0.5 * d64 * (1 + _erf(d64 / math.sqrt(2)))]
    fn = _activation_fn(node.op_type, node.attr_float)
    if fn is None:
        raise _unsupported(node, "no kernel")
    return [fn(data)]


def _prelu(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data, slope = _req(node, x, 0), _req(node, x, 1)
    return [np.where(data >= 0, data, data * slope)]


def apply_float_activation(act: Activation, y: np.ndarray) -> np.ndarray:
    """Apply a fused float activation (``Node.activation``) to ``y``."""
    if act.op_type == "Clip":
        lo, hi = act.param("min", -math.inf), act.param("max", math.inf)
        return np.clip(y, np.asarray(lo, y.dtype), np.asarray(hi, y.dtype))
    fn = _activation_fn(act.op_type, act.param)
    if fn is None:
        raise UnsupportedOperatorError(f"fused activation {act.describe()} is not supported")
    return fn(y)


def _softmax(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0).astype(np.float64) * node.attr_float("beta", 1.0)
    axis = node.attr_int("axis", -1)
    z = data - data.max(axis=axis, keepdims=True)
    if node.op_type == "LogSoftmax":
        return [z - np.log(np.exp(z).sum(axis=axis, keepdims=True))]
    e = np.exp(z)
    return [e / e.sum(axis=axis, keepdims=True)]


# ----------------------------------------------------------------------------- data movement
def _concat(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    return [np.concatenate([v for v in x if v is not None], axis=node.attr_int("axis", 0))]


def _pack(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    return [np.stack([v for v in x if v is not None], axis=node.attr_int("axis", 0))]


def _split(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    axis = node.attr_int("axis", 0) % data.ndim
    n_out = len(node.outputs)
    sizes_in = _opt(x, 1)
    if sizes_in is not None:
        sizes = _ints(sizes_in)
    elif "split" in node.attrs:
        sizes = list(node.attr_ints("split", ()))
    else:
        chunk = -(-data.shape[axis] // n_out)
        sizes = [min(chunk, data.shape[axis] - i * chunk) for i in range(n_out)]
    bounds = np.cumsum(sizes)[:-1]
    return list(np.split(data, bounds, axis=axis))


def _slice(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    starts, ends = _ints(_req(node, x, 1)), _ints(_req(node, x, 2))
    axes_in, steps_in = _opt(x, 3), _opt(x, 4)
    axes = _ints(axes_in) if axes_in is not None else list(range(len(starts)))
    steps = _ints(steps_in) if steps_in is not None else [1] * len(starts)
    index: list[slice] = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        a = axis % data.ndim
        dim = data.shape[a]
        s = start + dim if start < 0 else start
        e = end + dim if end < 0 else end
        if step > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
        else:
            s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
        index[a] = slice(s, e if e >= 0 else None, step)
    return [data[tuple(index)]]


def _reshape_target(node: Node, in_shape: tuple[int, ...], target: list[int]) -> list[int]:
    allow_zero = node.attr_int("allowzero", 0)
    out = [in_shape[i] if (d == 0 and not allow_zero) else d for i, d in enumerate(target)]
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        out[out.index(-1)] = math.prod(in_shape) // known if known else 0
    return out


def _reshape(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    target = _reshape_target(node, data.shape, _ints(_req(node, x, 1)))
    if node.attrs.get("source_layout") == "NHWC":
        src = data.transpose(0, 2, 3, 1) if data.ndim == 4 else data
        if len(target) == 4:  # logical NCHW target -> the file's NHWC shape, then back
            n, c, h, w = target
            return [src.reshape(n, h, w, c).transpose(0, 3, 1, 2)]
        return [src.reshape(target)]
    return [data.reshape(target)]


def _flatten(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    axis = node.attr_int("axis", 1)
    axis = axis + data.ndim if axis < 0 else axis
    return [data.reshape(math.prod(data.shape[:axis]), math.prod(data.shape[axis:]))]


def _axes(node: Node, x: Arrays) -> list[int] | None:
    given = _opt(x, 1)
    if given is not None:
        return _ints(given)
    if "axes" in node.attrs:
        return list(node.attr_ints("axes", ()))
    return None


def _squeeze(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    axes = _axes(node, x)
    if axes is None:
        return [np.squeeze(data)]
    return [np.squeeze(data, axis=tuple(a % data.ndim for a in axes))]


def _unsqueeze(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    axes = _axes(node, x) or []
    rank = data.ndim + len(axes)
    shape = list(data.shape)
    for a in sorted(a % rank for a in axes):
        shape.insert(a, 1)
    return [data.reshape(shape)]


def _transpose(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    perm = node.attr_ints("perm", tuple(reversed(range(data.ndim))))
    return [np.ascontiguousarray(data.transpose(perm))]


def _identity(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    outs = [data]
    if len(node.outputs) > 1:  # Dropout's mask
        outs.append(np.ones(data.shape, dtype=bool))
    return outs


def _pad(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    amounts_in = _opt(x, 1)
    amounts = _ints(amounts_in) if amounts_in is not None else list(node.attr_ints("pads", ()))
    value_in = _opt(x, 2)
    if value_in is not None and np.asarray(value_in).size:
        value = np.asarray(value_in).reshape(-1)[0]
    else:
        value = node.attr_float("value", 0.0) if data.dtype.kind == "f" else 0
    axes_in = _opt(x, 3)
    axes = [a % data.ndim for a in _ints(axes_in)] if axes_in is not None else \
        list(range(data.ndim))
    n = len(axes)
    begin = [0] * data.ndim
    end = [0] * data.ndim
    for i, a in enumerate(axes):
        begin[a], end[a] = amounts[i], amounts[i + n]
    crop = tuple(slice(max(0, -b), data.shape[a] - max(0, -e))
                 for a, (b, e) in enumerate(zip(begin, end, strict=True)))
    data = data[crop]
    widths = [(max(0, b), max(0, e)) for b, e in zip(begin, end, strict=True)]
    mode = _str_attr(node, "mode", "constant")
    if mode == "constant":
        return [np.pad(data, widths, mode="constant", constant_values=value)]
    if mode in ("reflect", "edge", "wrap"):
        return [np.pad(data, widths, mode=mode)]  # type: ignore[call-overload]
    raise _unsupported(node, f"Pad mode {mode!r} is not supported")


def _resize_coords(mode: str, out_len: int, in_len: int, scale: float) -> np.ndarray:
    """Source coordinate of every output index (ONNX ``coordinate_transformation_mode``)."""
    o = np.arange(out_len, dtype=np.float64)
    if mode == "asymmetric":
        return o / scale
    if mode == "align_corners":
        return o * ((in_len - 1) / (out_len - 1)) if out_len > 1 else np.zeros(out_len)
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if out_len > 1 else np.zeros(out_len)
    if mode == "tf_half_pixel_for_nn":
        return (o + 0.5) / scale
    raise ValueError(mode)


def _nearest_index(coords: np.ndarray, mode: str, in_len: int) -> np.ndarray:
    if mode == "floor":
        idx = np.floor(coords)
    elif mode == "ceil":
        idx = np.ceil(coords)
    elif mode == "round_prefer_ceil":
        idx = np.floor(coords + 0.5)
    else:  # round_prefer_floor (ONNX default)
        idx = np.ceil(coords - 0.5)
    return np.clip(idx, 0, in_len - 1).astype(np.int64)


def _resize(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    rank = data.ndim
    if node.op_type == "Upsample":
        scales_in = _opt(x, 1)
        scales = ([float(v) for v in np.asarray(scales_in).reshape(-1)] if scales_in is not None
                  else [float(v) for v in node.attrs.get("scales", ())])  # type: ignore[union-attr]
        sizes = None
        coord_mode, nearest_mode = "asymmetric", "floor"
    else:
        scales_in, sizes_in = _opt(x, 2), _opt(x, 3)
        axes = list(node.attr_ints("axes", tuple(range(rank))))
        scales_full = [1.0] * rank
        sizes = None
        if sizes_in is not None and np.asarray(sizes_in).size:
            sizes = list(data.shape)
            for a, s in zip(axes, _ints(sizes_in), strict=True):
                sizes[a % rank] = s
        elif scales_in is not None and np.asarray(scales_in).size:
            for a, s in zip(axes, np.asarray(scales_in).reshape(-1), strict=True):
                scales_full[a % rank] = float(s)
        else:
            raise _unsupported(node, "Resize needs scales or sizes")
        scales = scales_full
        coord_mode = _str_attr(node, "coordinate_transformation_mode", "half_pixel")
        nearest_mode = _str_attr(node, "nearest_mode", "round_prefer_floor")
    if sizes is None:
        sizes = [math.floor(d * s) for d, s in zip(data.shape, scales, strict=True)]
    else:
        scales = [o / i for o, i in zip(sizes, data.shape, strict=True)]
    mode = _str_attr(node, "mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        raise _unsupported(node, f"Resize mode {mode!r} is not supported")
    out = data
    for a in range(rank):
        if sizes[a] == data.shape[a] and scales[a] == 1.0:
            continue
        coords = _resize_coords(coord_mode, sizes[a], data.shape[a], scales[a])
        if mode == "nearest":
            out = np.take(out, _nearest_index(coords, nearest_mode, data.shape[a]), axis=a)
            continue
        coords = np.clip(coords, 0, data.shape[a] - 1)
        lo = np.floor(coords).astype(np.int64)
        hi = np.minimum(lo + 1, data.shape[a] - 1)
        frac = (coords - lo).reshape([-1 if i == a else 1 for i in range(rank)])
        out = np.take(out, lo, axis=a) * (1 - frac) + np.take(out, hi, axis=a) * frac
    return [out]


def _reduce(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    axes = _axes(node, x)
    keep = bool(node.attr_int("keepdims", 1))
    if not axes:
        if node.attr_int("noop_with_empty_axes", 0):
            return [data]
        axes = list(range(data.ndim))
    ax = tuple(sorted(a % data.ndim for a in axes))
    op = node.op_type
    if op == "ReduceMean":
        return [data.mean(axis=ax, keepdims=keep, dtype=np.float64)]
    if op == "ReduceSum":
        return [data.sum(axis=ax, keepdims=keep)]
    if op == "ReduceMax":
        return [data.max(axis=ax, keepdims=keep)]
    if op == "ReduceMin":
        return [data.min(axis=ax, keepdims=keep)]
    return [data.prod(axis=ax, keepdims=keep)]


def _depth_to_space(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    n, c, h, w = data.shape
    b = node.attr_int("blocksize", 1)
    if node.op_type == "SpaceToDepth":
        t = data.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
        return [t.reshape(n, c * b * b, h // b, w // b)]
    if _str_attr(node, "mode", "DCR") == "CRD":
        t = data.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    else:
        t = data.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    return [t.reshape(n, c // (b * b), h * b, w * b)]


# ----------------------------------------------------------------------------- shape ops
def _shape(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data = _req(node, x, 0)
    start = node.attr_int("start", 0)
    end = node.attr_int("end", data.ndim)
    return [np.asarray(data.shape[slice(start, end)], dtype=np.int64)]


def _gather(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data, idx = _req(node, x, 0), _req(node, x, 1)
    axis = node.attr_int("axis", 0) % data.ndim
    idx = np.where(idx < 0, idx + data.shape[axis], idx)
    return [np.take(data, idx, axis=axis)]


def _cast(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    to = node.attrs.get("to", "float32")
    name = _ONNX_DTYPES.get(to, "float32") if isinstance(to, int) else str(to)
    return [_req(node, x, 0).astype(DType.parse(name).numpy)]


def _constant_of_shape(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    shape = _ints(_req(node, x, 0))
    value = node.attrs.get("value", (0.0,))
    v = value[0] if isinstance(value, tuple) and value else value
    return [np.full(shape, v, dtype=_out_dtype(node))]


def _range(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    start, limit, delta = (np.asarray(_req(node, x, i)).reshape(-1)[0] for i in range(3))
    return [np.arange(start, limit, delta)]


def _quantize_linear(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data, scale, zp = _req(node, x, 0), _req(node, x, 1), _opt(x, 2)
    axis = node.attr_int("axis", 1) % max(data.ndim, 1)
    shape = [-1 if i == axis else 1 for i in range(data.ndim)] if np.size(scale) > 1 else []
    s = np.asarray(scale, np.float32).reshape(shape)
    z = np.asarray(zp if zp is not None else 0).astype(np.int64).reshape(shape or ())
    dt = _out_dtype(node)
    lo, hi = int_range(dt)
    q = np.rint(data.astype(np.float32) / s).astype(np.int64) + z  # ties to even (ONNX)
    return [np.clip(q, lo, hi).astype(dt)]


def _dequantize_linear(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
    data, scale, zp = _req(node, x, 0), _req(node, x, 1), _opt(x, 2)
    axis = node.attr_int("axis", 1) % max(data.ndim, 1)
    shape = [-1 if i == axis else 1 for i in range(data.ndim)] if np.size(scale) > 1 else []
    s = np.asarray(scale, np.float32).reshape(shape)
    z = np.asarray(zp if zp is not None else 0).astype(np.int64).reshape(shape or ())
    return [((data.astype(np.int64) - z).astype(np.float32) * s).astype(np.float32)]


def _compare(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Kernel:
    def kernel(node: Node, x: Arrays, pads: Pads) -> list[np.ndarray]:
        return [fn(_req(node, x, 0), _req(node, x, 1))]
    return kernel


FLOAT_KERNELS: dict[str, Kernel] = {
    "Conv": _conv, "ConvTranspose": _conv_transpose,
    "MaxPool": _max_pool, "AveragePool": _average_pool,
    "GlobalAveragePool": _global_pool, "GlobalMaxPool": _global_pool,
    "Gemm": _gemm, "MatMul": _matmul,
    "BatchNormalization": _batch_norm, "InstanceNormalization": _instance_norm, "LRN": _lrn,
    "Add": _binary(np.add), "Sum": _binary(np.add), "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply), "Div": _binary(_div), "Pow": _binary(np.power),
    "Max": _binary(np.maximum), "Min": _binary(np.minimum), "Mean": _mean,
    "Equal": _compare(np.equal), "Less": _compare(np.less), "Greater": _compare(np.greater),
    "LessOrEqual": _compare(np.less_equal), "GreaterOrEqual": _compare(np.greater_equal),
    "And": _compare(np.logical_and), "Or": _compare(np.logical_or), "Where": _where,
    "Clip": _clip, "PRelu": _prelu, "Gelu": _unary,
    "Softmax": _softmax, "LogSoftmax": _softmax,
    "Concat": _concat, "Pack": _pack, "Split": _split, "Slice": _slice,
    "Reshape": _reshape, "Flatten": _flatten, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze,
    "Transpose": _transpose, "Identity": _identity, "Dropout": _identity, "Pad": _pad,
    "Resize": _resize, "Upsample": _resize,
    "ReduceMean": _reduce, "ReduceMax": _reduce, "ReduceMin": _reduce, "ReduceSum": _reduce,
    "ReduceProd": _reduce,
    "DepthToSpace": _depth_to_space, "SpaceToDepth": _depth_to_space,
    "Shape": _shape, "Gather": _gather, "Cast": _cast, "ConstantOfShape": _constant_of_shape,
    "Range": _range,
    "QuantizeLinear": _quantize_linear, "DequantizeLinear": _dequantize_linear,
}
for _op in ("Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Elu", "Selu",
            "Celu", "ThresholdedRelu", "Softplus", "Mish", "Exp", "Log", "Sqrt", "Neg", "Abs",
            "Floor", "Ceil", "Round", "Sign", "Reciprocal", "Erf", "Not"):
    FLOAT_KERNELS[_op] = _unary
