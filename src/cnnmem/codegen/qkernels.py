"""C bodies of int8 (TFLite-style quantised) layers, bit-exact with :mod:`cnnmem.runtime`.

Each body mirrors the interpreter's ``"reference"`` kernel set (:mod:`cnnmem.runtime.quantized`,
TFLite's reference kernels, the ones TFLite Micro runs) and its fixed-point arithmetic
(:mod:`cnnmem.runtime.fixedpoint`), and sets ``int32_t v`` to the layer's stored int8 output at
``(n, k, y, x)`` (C ``int`` variables in scope), fused activation clamp included:

- CONV (``Conv``, any groups: depthwise, stride, padding, dilation): ``acc = bias[k] +
  sum (x - zp_x) * (w - zp_w[k])`` in int32 (padding cells contribute nothing),
  ``MultiplyByQuantizedMultiplier(acc, M[k], shift[k]) + zp_y`` (double rounding), clamped;
- DENSE (``Gemm`` as FULLY_CONNECTED): the same with single rounding;
- POOL: ``MaxPool`` (maximum over the window's input cells), ``AveragePool`` (integer mean
  rounded half away from zero, no requantisation);
- ELEMENTWISE: ``Add``/``Sub`` (both inputs shifted left 20 bits, rescaled, summed, rescaled
  with ``MultiplyByQuantizedMultiplierSmallerThanOneExp``), ``Mul``, standalone ``Relu``/``Clip``
  (rescaled when input and output parameters differ, then clamped), int8 -> int8
  ``Requantize``;
- CONCAT with identical parameters on every input (a copy);
- CHANNEL_REDUCE ``GlobalMaxPool``; GLOBAL ``ReduceMean`` over H and W of a 4-D tensor and
  ``Softmax`` over channels (the optimized kernel's float look-up table, as the interpreter).

# NOTE: per-channel requantisation multipliers and shifts (and the softmax table) are compiled
# into the program as constant tables, like the per-tensor zero points and multipliers that are
# C literals: they are kernel parameters derived from the model's scales, not items of the
# cost model (which counts weights, int32 biases and activations).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from cnnmem.codegen.kernels import _operand, other_constants, pool_window
from cnnmem.dse.workload import Layer, LayerGroup, LayerKind, TensorShape
from cnnmem.ir.graph import Node, Tensor
from cnnmem.ir.types import Activation, DType
from cnnmem.runtime.fixedpoint import activation_range, quantize_multiplier, quantize_multipliers
from cnnmem.runtime.quantized import clamp_range, is_quantized

Accessor = Callable[[tuple[str, str]], str]

ADD_LEFT_SHIFT = 20

HELPERS = r"""
/* TFLite fixed-point requantisation (gemmlowp / tensorflow/lite/kernels/internal/common.h) */
static inline int32_t q_srdhm(int32_t a, int32_t b)  /* SaturatingRoundingDoublingHighMul */
{
    int64_t ab = (int64_t)a * b;
    int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    if (a == b && a == INT32_MIN) return INT32_MAX;
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static inline int64_t q_rdbpot(int64_t x, int e)  /* RoundingDivideByPOT: ties away from zero */
{
    int64_t mask = ((int64_t)1 << e) - 1;
    int64_t remainder = x & mask;
    int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (remainder > threshold ? 1 : 0);
}

static inline int32_t q_mbqm(int32_t x, int32_t m, int shift)  /* MultiplyByQuantizedMultiplier */
{
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    int32_t shifted = (int32_t)(uint32_t)((uint64_t)(uint32_t)x << left);
    return (int32_t)q_rdbpot(q_srdhm(shifted, m), right);
}

static inline int32_t q_mbqm_small(int32_t x, int32_t m, int shift)  /* ...SmallerThanOneExp */
{
    return (int32_t)q_rdbpot(q_srdhm(x, m), -shift);
}

static inline int32_t q_mbqm_single(int32_t x, int32_t m, int shift)  /* TFLITE_SINGLE_ROUNDING */
{
    int total = 31 - shift;
    int64_t out = ((int64_t)x * m + ((int64_t)1 << (total - 1))) >> total;
    if (out < INT32_MIN) return INT32_MIN;
    if (out > INT32_MAX) return INT32_MAX;
    return (int32_t)out;
}

static inline int32_t q_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}
"""

_FUSED = ("Relu", "Clip")


def _per_tensor(t: Tensor | None) -> tuple[float, int]:
    assert t is not None and t.quant is not None
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def _is_int8(t: Tensor | None) -> bool:
    return t is not None and t.dtype is DType.INT8 and is_quantized(t) and \
        t.quant is not None and not t.quant.per_channel


def unsupported_reason(layer: Layer, node: Node) -> str | None:
    """Why the int8 generator cannot emit ``layer``, or ``None`` if it can."""
    if node.activation is not None and node.activation.op_type not in _FUSED:
        return f"fused activation {node.activation.describe()} on int8"
    acts = [t for t in node.inputs if t is not None and not t.is_constant]
    if not all(_is_int8(t) for t in (*acts, *node.outputs)):
        return "not int8 with per-tensor quantisation (the program is int8)"
    kind, op = layer.kind, node.op_type
    if kind in (LayerKind.CONV, LayerKind.DENSE):
        w, b = node.input(1), node.input(2)
        if w is None or not w.is_constant or w.dtype is not DType.INT8 or w.quant is None:
            return "weights not int8 constants"
        if b is not None and (b.dtype is not DType.INT32 or not layer.bias_elements):
            return "bias not an int32 vector"
        if kind is LayerKind.DENSE and (op != "Gemm" or node.attr_int("transA", 0) or
                                        node.attr_float("alpha", 1.0) != 1.0 or
                                        node.attr_float("beta", 1.0) != 1.0):
            return "only FULLY_CONNECTED-style Gemm"
        if kind is LayerKind.CONV and op != "Conv":
            return op
        return None
    if kind is LayerKind.POOL:
        return None if op in ("MaxPool", "AveragePool") else op
    if kind is LayerKind.CONCAT:
        params = {(t.quant.scale, t.quant.zero_point) for t in (*acts, *node.outputs)
                  if t.quant is not None}
        return None if len(params) == 1 else "int8 Concat with rescaling"
    if kind is LayerKind.CHANNEL_REDUCE:
        return None if op == "GlobalMaxPool" else f"int8 {op}"
    if kind is LayerKind.GLOBAL:
        x, y = node.inputs[0], node.outputs[0]
        assert x is not None
        if op == "ReduceMean":
            axes = _mean_axes(node)
            if len(x.shape) == 4 and axes == (2, 3) and y.num_elements == x.shape[0] * x.shape[1]:
                return None
            return "ReduceMean other than over H and W of a 4-D tensor"
        if op == "Softmax":
            axis = node.attr_int("axis", -1) % len(x.shape)
            if len(x.shape) == 2 and axis == 1:
                return None
            return "Softmax other than over the channels of a 2-D tensor"
        return f"global layer ({op})"
    if kind is LayerKind.ELEMENTWISE:
        if op in ("Add", "Sub", "Mul"):
            ins = node.inputs
            if len(ins) != 2 or any(t is None for t in ins):
                return f"{op} with {len(ins)} inputs"
            if any(t is not None and t.is_constant and not _is_int8(t) for t in ins):
                return f"{op} with a non-int8 constant"
            return None
        if op in ("Relu", "Clip"):
            if op == "Clip" and any(t is not None for t in node.inputs[1:]):
                return "Clip with bound operands"
            return None
        return None if op == "Requantize" else f"int8 {op}"
    return f"{kind.value} layer ({op})"


def _mean_axes(node: Node) -> tuple[int, ...]:
    x = node.inputs[0]
    assert x is not None
    given = node.input(1)
    if given is not None and given.data is not None:
        axes = [int(v) for v in np.asarray(given.data).reshape(-1)]
    else:
        axes = list(node.attr_ints("axes", tuple(range(len(x.shape)))))
    return tuple(sorted({a % len(x.shape) for a in axes}))


def _weight_params(node: Node, k: int) -> tuple[np.ndarray, np.ndarray]:
    w = node.input(1)
    assert w is not None and w.quant is not None
    scales = np.asarray(w.quant.scale, np.float64)
    zps = np.asarray(w.quant.zero_point, np.int64)
    if len(scales) > 1:
        return scales, zps
    return np.full(k, scales[0]), np.full(k, zps[0])


def _ints(values: np.ndarray) -> str:
    return "{" + ", ".join(str(int(v)) for v in np.asarray(values).reshape(-1)) + "}"


def tables(layer: Layer, node: Node, prefix: str) -> list[str]:
    """C tables of a layer: per-channel multipliers ``{prefix}_QM``, shifts ``{prefix}_QS``
    and weight zero points ``{prefix}_ZW`` (CONV, DENSE); the softmax table ``{prefix}_EXP``."""
    if layer.kind in (LayerKind.CONV, LayerKind.DENSE):
        s_x, _ = _per_tensor(node.inputs[0])
        s_y, _ = _per_tensor(node.outputs[0])
        s_w, zp_w = _weight_params(node, layer.k)
        m, sh = quantize_multipliers(np.asarray([s_x * s / s_y for s in s_w]))
        out = [f"static const int32_t {prefix}_QM[{layer.k}] = {_ints(m)};",
               f"static const int {prefix}_QS[{layer.k}] = {_ints(sh)};"]
        if np.any(zp_w):
            out.append(f"static const int32_t {prefix}_ZW[{layer.k}] = {_ints(zp_w)};")
        return out
    if node.op_type == "Softmax":
        s_x, _ = _per_tensor(node.inputs[0])
        beta = np.float32(node.attr_float("beta", 1.0))
        scale = np.float32(-np.float32(s_x) * beta)
        steps = (scale * np.arange(256, dtype=np.float32)).astype(np.float64)
        table = np.empty(256, np.float32)
        table[255 - np.arange(256)] = np.exp(steps).astype(np.float32)
        text = ", ".join(f"{float(v).hex()}f" for v in table)
        return [f"static const float {prefix}_EXP[256] = {{{text}}};"]
    return []


def _zw(node: Node, prefix: str) -> str:
    w = node.input(1)
    assert w is not None and w.quant is not None
    return f"{prefix}_ZW[k]" if np.any(np.asarray(w.quant.zero_point)) else "0"


def _conv_loops(layer: Layer, node: Node, shapes: Mapping[str, TensorShape], acc: Accessor,
                c_base: str, ci_lo: str, ci_hi: str, prefix: str, var: str) -> list[str]:
    """``var += (x - zp_x) * (w - zp_w[k])`` over input channels ``ci_lo <= ci < ci_hi`` of the
    output channel's group and every tap inside the input."""
    x = shapes[layer.inputs[0]]
    a, w = acc(("act", x.name)), acc(("w", layer.name))
    _, zp_x = _per_tensor(node.inputs[0])
    zw = _zw(node, prefix)
    kg, cg = layer.k // layer.groups, layer.c // layer.groups
    (sy, sx), (py, px), (dy, dx) = layer.stride, layer.pad, layer.dilation
    base = c_base.replace("KG", str(kg)).replace("CG", str(cg))
    return [f"for (int ci = {ci_lo}; ci < {ci_hi.replace('CG', str(cg))}; ++ci) {{",
            f"    int c = {base} + ci;",
            f"    for (int j = 0; j < {layer.fy}; ++j) {{",
            f"        int iy = y * {sy} - {py} + j * {dy};",
            f"        if (iy < 0 || iy >= {x.h}) continue;",
            f"        for (int i = 0; i < {layer.fx}; ++i) {{",
            f"            int ix = x * {sx} - {px} + i * {dx};",
            f"            if (ix < 0 || ix >= {x.w}) continue;",
            f"            {var} += ((int32_t){a}(n, c, iy, ix) - ({zp_x})) * "
            f"((int32_t){w}(0, k, ci, j * {layer.fx} + i) - {zw});",
            "        }", "    }", "}"]


def conv_partial(layer: Layer, node: Node, group: LayerGroup, acc: Accessor,
                 prefix: str) -> list[str]:
    """C statements adding to ``int32_t v`` the anchor convolution's sum over the input-channel
    tile ``c0 <= c < c1`` (ungrouped)."""
    shapes = {t.name: t for t in group.tensors}
    return _conv_loops(layer, node, shapes, acc, "0", "c0", "c1", prefix, "v")


def requantize(layer: Layer, node: Node, prefix: str) -> list[str]:
    """``int32_t acc`` (bias included) -> ``v``: requantised, plus ``zp_y``, clamped."""
    _, zp_y = _per_tensor(node.outputs[0])
    lo, hi = clamp_range(node)
    fn = "q_mbqm_single" if layer.kind is LayerKind.DENSE else "q_mbqm"
    return [f"v = q_clamp({fn}(acc, {prefix}_QM[k], {prefix}_QS[k]) + ({zp_y}), {lo}, {hi});"]


def _clamp(node: Node, var: str = "v") -> list[str]:
    if node.activation is None:
        return []
    lo, hi = clamp_range(node)
    return [f"{var} = q_clamp({var}, {lo}, {hi});"]


def element_body(layer: Layer, node: Node, group: LayerGroup, acc: Accessor,
                 resolve: Callable[[Tensor], str], prefix: str) -> list[str]:
    """C statements that set ``int32_t v`` to the layer's int8 output at ``(n, k, y, x)``."""
    shapes = {t.name: t for t in group.tensors}
    out = shapes[layer.output]
    kind, op = layer.kind, node.op_type
    if kind is LayerKind.CONV:
        bias = f"{acc(('b', layer.name))}(0, 0, 0, k)" if layer.bias_elements else "0"
        return [f"int32_t acc = {bias}, v;",
                *_conv_loops(layer, node, shapes, acc, "k / KG * CG", "0", "CG", prefix, "acc"),
                *requantize(layer, node, prefix)]
    if kind is LayerKind.DENSE:
        x = shapes[layer.inputs[0]]
        a, w = acc(("act", x.name)), acc(("w", layer.name))
        _, zp_x = _per_tensor(node.inputs[0])
        bias = f"{acc(('b', layer.name))}(0, 0, 0, k)" if layer.bias_elements else "0"
        return [f"int32_t acc = {bias}, v;", "int f = 0;",
                f"for (int c = 0; c < {x.c}; ++c)",
                f"    for (int yy = 0; yy < {x.h}; ++yy)",
                f"        for (int xx = 0; xx < {x.w}; ++xx, ++f)",
                f"            acc += ((int32_t){a}(n, c, yy, xx) - ({zp_x})) * "
                f"((int32_t){w}(0, k, f, 0) - {_zw(node, prefix)});",
                *requantize(layer, node, prefix)]
    if kind is LayerKind.POOL:
        return _pool(layer, node, shapes, acc)
    if kind is LayerKind.CONCAT:
        lines = ["int32_t v;"]
        for i, (name, off) in enumerate(zip(layer.inputs, layer.concat_offsets, strict=True)):
            read = f"v = {acc(('act', name))}(n, k - {off}, y, x);"
            if i == len(layer.inputs) - 1:
                lines.append(f"else {read}" if i else read)
            else:
                lines.append(f"{'if' if i == 0 else 'else if'} (k < {off + shapes[name].c}) {read}")
        return [*lines, *_clamp(node)]
    if kind is LayerKind.CHANNEL_REDUCE:  # GlobalMaxPool
        x = shapes[layer.inputs[0]]
        a = acc(("act", x.name))
        return ["int32_t v = INT32_MIN;", f"for (int yy = 0; yy < {x.h}; ++yy)",
                f"    for (int xx = 0; xx < {x.w}; ++xx)",
                f"        if ({a}(n, k, yy, xx) > v) v = {a}(n, k, yy, xx);", *_clamp(node)]
    if kind is LayerKind.GLOBAL:
        return _global(layer, node, shapes, acc, prefix)
    # ELEMENTWISE
    offsets, off = {}, 0
    for t in other_constants(node):
        offsets[t.name] = off
        off += t.num_elements

    def operand(t: Tensor | None) -> str:
        assert t is not None
        return f"(int32_t){_operand(t, out, acc, shapes, resolve, offsets, layer.name)}"

    s_y, zp_y = _per_tensor(node.outputs[0])
    lo, hi = clamp_range(node)
    if op in ("Add", "Sub"):
        (s1, zp1), (s2, zp2) = _per_tensor(node.inputs[0]), _per_tensor(node.input(1))
        twice_max = 2.0 * max(s1, s2)
        m1, sh1 = quantize_multiplier(s1 / twice_max)
        m2, sh2 = quantize_multiplier(s2 / twice_max)
        mo, sho = quantize_multiplier(twice_max / (float(1 << ADD_LEFT_SHIFT) * s_y))
        sign = "+" if op == "Add" else "-"
        return [f"int32_t a1 = q_mbqm_small(({operand(node.inputs[0])} - ({zp1})) * "
                f"{1 << ADD_LEFT_SHIFT}, {m1}, {sh1});",
                f"int32_t a2 = q_mbqm_small(({operand(node.input(1))} - ({zp2})) * "
                f"{1 << ADD_LEFT_SHIFT}, {m2}, {sh2});",
                f"int32_t v = q_clamp(q_mbqm_small(a1 {sign} a2, {mo}, {sho}) + ({zp_y}), "
                f"{lo}, {hi});"]
    if op == "Mul":
        (s1, zp1), (s2, zp2) = _per_tensor(node.inputs[0]), _per_tensor(node.input(1))
        m, sh = quantize_multiplier(s1 * s2 / s_y)
        return [f"int32_t p = ({operand(node.inputs[0])} - ({zp1})) * "
                f"({operand(node.input(1))} - ({zp2}));",
                f"int32_t v = q_clamp(q_mbqm(p, {m}, {sh}) + ({zp_y}), {lo}, {hi});"]
    s_x, zp_x = _per_tensor(node.inputs[0])
    x0 = operand(node.inputs[0])
    if op == "Requantize":
        m, sh = quantize_multiplier(s_x / s_y)
        return [f"int32_t v = q_clamp(q_mbqm({x0} - ({zp_x}), {m}, {sh}) + ({zp_y}), -128, 127);"]
    # standalone Relu / Clip: rescaled when the parameters differ, then the activation's clamp
    if op == "Relu":
        activation = Activation("Relu")
    else:
        params = tuple(sorted((k, node.attr_float(k, 0.0)) for k in ("min", "max")
                              if k in node.attrs))
        activation = Activation("Clip", params)
    out_t = node.outputs[0]
    alo, ahi = activation_range(activation, out_t.dtype, out_t.quant)
    if (s_x, zp_x) == (s_y, zp_y):
        value = x0
    else:
        m, sh = quantize_multiplier(s_x / s_y)
        value = f"q_mbqm({x0} - ({zp_x}), {m}, {sh}) + ({zp_y})"
    return [f"int32_t v = q_clamp({value}, {alo}, {ahi});", *_clamp(node)]


def _pool(layer: Layer, node: Node, shapes: Mapping[str, TensorShape], acc: Accessor,
          ) -> list[str]:
    x = shapes[layer.inputs[0]]
    a = acc(("act", x.name))
    loop, count = pool_window(layer, node, x)
    if node.op_type == "MaxPool":
        return ["int32_t v = INT32_MIN;", *loop,
                f"        if (inside && {a}(n, k, iy, ix) > v) v = {a}(n, k, iy, ix);",
                "    }", "}", *_clamp(node)]
    lo, hi = clamp_range(node)
    return ["int32_t sum = 0, count = 0, num, q, v;", *loop,
            f"        if (inside) sum += {a}(n, k, iy, ix);", count, "    }", "}",
            "if (count < 1) count = 1;",
            "num = sum > 0 ? sum + count / 2 : sum - count / 2;",
            "q = (num < 0 ? -num : num) / count;",
            f"v = q_clamp(num < 0 ? -q : q, {lo}, {hi});"]


def _global(layer: Layer, node: Node, shapes: Mapping[str, TensorShape], acc: Accessor,
            prefix: str) -> list[str]:
    x = shapes[layer.inputs[0]]
    a = acc(("act", x.name))
    s_x, zp_x = _per_tensor(node.inputs[0])
    s_y, zp_y = _per_tensor(node.outputs[0])
    if node.op_type == "ReduceMean":  # reference_ops::QuantizedMeanOrSum
        count = x.h * x.w
        m, sh = quantize_multiplier(s_x / s_y)
        shift_up = min(count.bit_length() - 1, 32, 31 + sh)
        m = (m << shift_up) // count
        sh -= shift_up
        lo, hi = clamp_range(node)
        return ["int32_t total = 0, v;", f"for (int yy = 0; yy < {x.h}; ++yy)",
                f"    for (int xx = 0; xx < {x.w}; ++xx) total += {a}(n, k, yy, xx);",
                f"v = q_clamp(q_mbqm(total - ({zp_x * count}), {m}, {sh}) + ({zp_y}), "
                f"{lo}, {hi});"]
    # Softmax over channels (the interpreter's float look-up table)
    s32 = float(np.float32(s_y)).hex()
    return ["int32_t mx = INT32_MIN, v;", "float total = 0.0f, p, r;",
            f"for (int c = 0; c < {x.c}; ++c) if ({a}(n, c, 0, 0) > mx) mx = {a}(n, c, 0, 0);",
            f"for (int c = 0; c < {x.c}; ++c) total += {prefix}_EXP[255 - mx + {a}(n, c, 0, 0)];",
            f"p = {prefix}_EXP[255 - mx + {a}(n, k, 0, 0)] * (1.0f / (total * {s32}f));",
            "r = p >= 0.0f ? floorf(p + 0.5f) : -floorf(-p + 0.5f);",
            f"v = q_clamp((int32_t)r + ({zp_y}), -128, 127);"]


def pack_weights(layer: Layer, node: Node, values: Mapping[str, np.ndarray],
                 ) -> dict[str, np.ndarray]:
    """The layer's weight items in their DRAM layout: ``"w"`` int8 ``K x C/g x FY*FX``
    (FULLY_CONNECTED weights as ``K x C``), ``"b"`` int32 ``K``, ``"o"`` the int8 constant
    operands concatenated."""
    out: dict[str, np.ndarray] = {}
    if layer.kc_weight_elements:
        w_t = node.input(1)
        assert w_t is not None
        w = np.asarray(values[w_t.name])
        if layer.kind is LayerKind.DENSE and not node.attr_int("transB", 0):
            w = w.T
        out["w"] = np.ascontiguousarray(w).astype(np.int8).reshape(-1)
    if layer.bias_elements:
        b_t = node.input(2)
        assert b_t is not None
        out["b"] = np.asarray(values[b_t.name]).astype(np.int32).reshape(-1)
    if layer.other_weight_elements:
        out["o"] = np.concatenate([np.asarray(values[t.name]).astype(np.int8).reshape(-1)
                                   for t in other_constants(node)])
    for key, arr in out.items():
        expected = {"w": layer.main_weight_elements, "b": layer.bias_elements,
                    "o": layer.other_weight_elements}[key]
        assert arr.size == expected, (layer.name, key, arr.size, expected)
    return out
