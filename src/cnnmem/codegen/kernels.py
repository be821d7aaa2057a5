"""C bodies of the layers the code generator supports, and their weight packing.

A body computes one output element ``v`` of a layer at output coordinates ``(n, k, y, x)``
(C ``int`` variables in scope) from on-chip data only, through accessor macros
``NAME(i0, i1, i2, i3)`` of the group's items (:mod:`cnnmem.codegen.layout`). Float32 only;
sums are accumulated in ``double`` and rounded to float once per output element (onnxruntime's
blocked float sums are close to that; a naive float sum over a 4608-term reduction is not).

Supported (:func:`unsupported_reason` says why a layer is not):

- CONV: ``Conv`` (groups, depthwise, stride, padding, dilation, bias);
- POOL: ``MaxPool``, ``AveragePool`` (``count_include_pad`` either way, ``ceil_mode``);
- ELEMENTWISE: ``Add Sub Mul Div Max Min`` of activations and constants (broadcasting),
  ``Relu Clip LeakyRelu Sigmoid Tanh HardSigmoid HardSwish PRelu``, ``BatchNormalization``;
- CONCAT (channels), CHANNEL_REDUCE (``GlobalAveragePool``, ``GlobalMaxPool``),
  DENSE (``Gemm``, ``MatMul`` with a constant 2-D weight);
- fused activations ``Relu Clip LeakyRelu Sigmoid Tanh HardSigmoid HardSwish`` on any of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from cnnmem.dse.workload import Layer, LayerGroup, LayerKind, TensorShape
from cnnmem.ir.graph import Node, Tensor
from cnnmem.ir.ops import param_inputs, state_inputs
from cnnmem.ir.types import Activation, DType

Accessor = Callable[[tuple[str, str]], str]
"""Item key -> name of its C accessor macro."""

_BINARY = {"Add": "({a} + {b})", "Sub": "({a} - {b})", "Mul": "({a} * {b})",
           "Div": "({a} / {b})", "Max": "fmaxf({a}, {b})", "Min": "fminf({a}, {b})"}
_UNARY = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish")
_FUSED = _UNARY


def c_float(value: float) -> str:
    """A C float literal (``INFINITY`` for infinities)."""
    if math.isinf(value):
        return "INFINITY" if value > 0 else "(-INFINITY)"
    return f"{float(np.float32(value))!r}f"


def activation_expr(op: str, params: Callable[[str, float], float], v: str) -> str:
    """C expression of a float activation applied to the expression ``v``."""
    if op == "Relu":
        return f"({v} > 0.0f ? {v} : 0.0f)"
    if op == "Clip":
        lo, hi = params("min", -math.inf), params("max", math.inf)
        return f"fminf(fmaxf({v}, {c_float(lo)}), {c_float(hi)})"
    if op == "LeakyRelu":
        return f"({v} >= 0.0f ? {v} : {v} * {c_float(params('alpha', 0.01))})"
    if op == "Sigmoid":
        return f"(1.0f / (1.0f + expf(-{v})))"
    if op == "Tanh":
        return f"tanhf({v})"
    if op == "HardSigmoid":
        a, b = params("alpha", 0.2), params("beta", 0.5)
        return f"fminf(fmaxf({v} * {c_float(a)} + {c_float(b)}, 0.0f), 1.0f)"
    if op == "HardSwish":
        return f"({v} * fminf(fmaxf({v} * {c_float(1 / 6)} + 0.5f, 0.0f), 1.0f))"
    raise AssertionError(op)  # unsupported_reason filters the rest


def fused_activation(act: Activation | None, v: str) -> str:
    """``v`` with the node's fused activation applied (``v`` itself without one)."""
    if act is None:
        return v
    return activation_expr(act.op_type, act.param, v)


def other_constants(node: Node) -> list[Tensor]:
    """The constants packed into a layer's "other weights" item, in the workload's order
    (parameters then state, first occurrence of each name)."""
    seen: dict[str, Tensor] = {}
    for t in (*param_inputs(node), *state_inputs(node)):
        seen.setdefault(t.name, t)
    return list(seen.values())


def unsupported_reason(layer: Layer, node: Node) -> str | None:
    """Why the code generator cannot emit ``layer``, or ``None`` if it can."""
    if node.activation is not None and node.activation.op_type not in _FUSED:
        return f"fused activation {node.activation.describe()}"
    if any(t.dtype is not DType.FLOAT32 for t in (*node.inputs, *node.outputs)
           if t is not None and not (t.is_constant and t.dtype in (DType.INT64, DType.INT32))):
        return "not float32"
    kind, op = layer.kind, node.op_type
    if kind is LayerKind.CONV:
        return None if op == "Conv" else op
    if kind is LayerKind.POOL:
        return None if op in ("MaxPool", "AveragePool") else op
    if kind is LayerKind.CONCAT or kind is LayerKind.DENSE:
        if op == "Gemm" and (node.attr_int("transA", 0) or
                             (node.input(2) is not None and not layer.bias_elements)):
            return "Gemm with transA or a non-vector C"
        return None
    if kind is LayerKind.CHANNEL_REDUCE:
        return None if op in ("GlobalAveragePool", "GlobalMaxPool") else op
    if kind is LayerKind.ELEMENTWISE:
        if op in _BINARY:
            return None if len(node.inputs) == 2 and all(
                t is not None for t in node.inputs) else f"{op} with {len(node.inputs)} inputs"
        if op == "BatchNormalization" and not all(
                t is not None and t.is_constant for t in node.inputs[1:5]):
            return "BatchNormalization with non-constant parameters"
        if op in _UNARY or op in ("PRelu", "BatchNormalization"):
            return None
        return op
    return f"{kind.value} layer ({op})"


def _operand(t: Tensor, out: TensorShape, acc: Accessor, shapes: Mapping[str, TensorShape],
             resolve: Callable[[Tensor], str], other_offsets: Mapping[str, int],
             layer_name: str) -> str:
    """C expression of operand ``t`` of an element-wise op at ``(n, k, y, x)``."""
    if t.is_constant:
        dims = (1,) * (4 - len(t.shape)) + tuple(int(d) for d in t.shape)
        strides, stride = [], 1
        for d in reversed(dims):
            strides.append(stride if d > 1 else 0)
            stride *= d
        strides.reverse()
        terms = [f"{v} * {s}" for v, s in zip("nkyx", strides, strict=True) if s]
        index = " + ".join([str(other_offsets[t.name]), *terms])
        return f"{acc(('o', layer_name))}(0, 0, 0, {index})"
    src = shapes[resolve(t)]
    idx = [v if d_in == d_out else "0" for v, d_in, d_out in
           zip("nkyx", src.dims, out.dims, strict=True)]
    return f"{acc(('act', src.name))}({', '.join(idx)})"


def element_body(layer: Layer, node: Node, group: LayerGroup, acc: Accessor,
                 resolve: Callable[[Tensor], str]) -> list[str]:
    """C statements that set ``double v`` to the layer's output at ``(n, k, y, x)`` before its
    fused activation (whole reduction; CONV input-channel tiles use :func:`conv_partial`)."""
    shapes = {t.name: t for t in group.tensors}
    out = shapes[layer.output]
    kind = layer.kind
    if kind is LayerKind.CONV:
        bias = f"{acc(('b', layer.name))}(0, 0, 0, k)" if layer.bias_elements else "0.0f"
        return [f"double v = {bias};", *_conv_loops(layer, shapes, acc, "k / KG * CG", "0", "CG")]
    if kind is LayerKind.POOL:
        return _pool(layer, node, shapes, acc)
    if kind is LayerKind.CONCAT:
        lines = ["double v;"]
        for i, (name, off) in enumerate(zip(layer.inputs, layer.concat_offsets, strict=True)):
            c = shapes[name].c
            cond = f"k < {off + c}"
            head = "if" if i == 0 else "else if"
            if i == len(layer.inputs) - 1:
                lines.append(f"else v = {acc(('act', name))}(n, k - {off}, y, x);"
                             if i else f"v = {acc(('act', name))}(n, k - {off}, y, x);")
            else:
                lines.append(f"{head} ({cond}) v = {acc(('act', name))}(n, k - {off}, y, x);")
        return lines
    if kind is LayerKind.CHANNEL_REDUCE:
        x = shapes[layer.inputs[0]]
        a = acc(("act", x.name))
        if node.op_type == "GlobalMaxPool":
            init, step, fin = "-INFINITY", f"v = fmaxf(v, {a}(n, k, yy, xx));", []
        else:
            init, step = "0.0f", f"v += {a}(n, k, yy, xx);"
            fin = [f"v /= {c_float(x.h * x.w)};"]
        return [f"double v = {init};",
                f"for (int yy = 0; yy < {x.h}; ++yy)",
                f"    for (int xx = 0; xx < {x.w}; ++xx) {step}", *fin]
    if kind is LayerKind.DENSE:
        x = shapes[layer.inputs[0]]
        a, w = acc(("act", x.name)), acc(("w", layer.name))
        bias = f"{acc(('b', layer.name))}(0, 0, 0, k)" if layer.bias_elements else "0.0f"
        return [f"double v = {bias};", "int f = 0;",
                f"for (int c = 0; c < {x.c}; ++c)",
                f"    for (int yy = 0; yy < {x.h}; ++yy)",
                f"        for (int xx = 0; xx < {x.w}; ++xx, ++f)",
                f"            v += {a}(n, c, yy, xx) * {w}(0, k, f, 0);"]
    # ELEMENTWISE
    consts = other_constants(node)
    offsets, off = {}, 0
    for t in consts:
        offsets[t.name] = off
        off += t.num_elements
    op = node.op_type

    def operand(t: Tensor | None) -> str:
        assert t is not None
        return _operand(t, out, acc, shapes, resolve, offsets, layer.name)

    if op in _BINARY:
        return [f"double v = {_BINARY[op].format(a=operand(node.inputs[0]), b=operand(node.inputs[1]))};"]  # noqa: E501
    x0 = operand(node.inputs[0])
    if op == "PRelu":
        return [f"double v = {x0};", f"v = v >= 0.0f ? v : v * {operand(node.inputs[1])};"]
    if op == "BatchNormalization":
        # per-channel vectors (not numpy-broadcast): element k of each
        o = acc(("o", layer.name))
        scale, bias, mean, var = (f"{o}(0, 0, 0, {offsets[t.name]} + k)" for t in
                                  (node.inputs[i] for i in range(1, 5)) if t is not None)
        eps = c_float(node.attr_float("epsilon", 1e-5))
        return [f"double v = ({x0} - {mean}) * ({scale} / sqrtf({var} + {eps})) + {bias};"]
    if op == "Clip":
        params = dict(_clip_bounds(node))
        expr = activation_expr("Clip", lambda k, d: params.get(k, d), x0)
        return [f"double v = {expr};"]
    return [f"double v = {activation_expr(op, node.attr_float, x0)};"]


def _clip_bounds(node: Node) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for name, idx in (("min", 1), ("max", 2)):
        t = node.input(idx)
        if t is not None and t.data is not None:
            out.append((name, float(np.asarray(t.data).reshape(-1)[0])))
        elif name in node.attrs:
            out.append((name, node.attr_float(name, 0.0)))
    return out


def clip_problem(node: Node) -> str | None:
    """A standalone Clip needs constant bounds with data."""
    for idx in (1, 2):
        t = node.input(idx)
        if t is not None and (not t.is_constant or t.data is None):
            return "Clip with non-constant bounds"
    return None


def _conv_loops(layer: Layer, shapes: Mapping[str, TensorShape], acc: Accessor, c_base: str,
                ci_lo: str, ci_hi: str) -> list[str]:
    """Accumulate ``v += x * w`` over input channels ``ci_lo <= ci < ci_hi`` of the output
    channel's group (``c = c_base + ci``) and every tap inside the input."""
    x = shapes[layer.inputs[0]]
    a, w = acc(("act", x.name)), acc(("w", layer.name))
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
            f"            v += {a}(n, c, iy, ix) * {w}(0, k, ci, j * {layer.fx} + i);",
            "        }", "    }", "}"]


def conv_partial(layer: Layer, group: LayerGroup, acc: Accessor) -> list[str]:
    """C statements adding to ``double v`` the anchor convolution's sum over the input-channel
    tile ``c0 <= c < c1`` (ungrouped: ``c = ci``)."""
    shapes = {t.name: t for t in group.tensors}
    return _conv_loops(layer, shapes, acc, "0", "c0", "c1")


def pool_window(layer: Layer, node: Node, x: TensorShape) -> tuple[list[str], str]:
    """The C loop header over one pooling window of output ``(y, x)`` (it defines ``iy``,
    ``ix`` and ``inside`` = the cell is a real input cell; the caller closes both loops), and
    the line counting the cells an average divides by (padding cells too under
    ``count_include_pad``, the ONNX / TFLite rule). Shared by the float and int8 kernels."""
    geom = node.geometry
    assert geom is not None
    (sy, sx), (dy, dx) = layer.stride, layer.dilation
    top, left, bottom, right = geom.pads
    loop = [f"for (int j = 0; j < {layer.fy}; ++j) {{",
            f"    int iy = y * {sy} - {top} + j * {dy};",
            f"    for (int i = 0; i < {layer.fx}; ++i) {{",
            f"        int ix = x * {sx} - {left} + i * {dx};",
            f"        int inside = iy >= 0 && iy < {x.h} && ix >= 0 && ix < {x.w};"]
    if node.attr_int("count_include_pad", 0):
        count = (f"        if (iy >= {-top} && iy < {x.h + bottom} && ix >= {-left} && "
                 f"ix < {x.w + right}) ++count;")
    else:
        count = "        if (inside) ++count;"
    return loop, count


def _pool(layer: Layer, node: Node, shapes: Mapping[str, TensorShape], acc: Accessor,
          ) -> list[str]:
    x = shapes[layer.inputs[0]]
    a = acc(("act", x.name))
    loop, count = pool_window(layer, node, x)
    if node.op_type == "MaxPool":
        return ["double v = -INFINITY;", *loop,
                f"        if (inside && {a}(n, k, iy, ix) > v) v = {a}(n, k, iy, ix);",
                "    }", "}"]
    return ["double v = 0.0f;", "int count = 0;", *loop,
            f"        if (inside) v += {a}(n, k, iy, ix);", count, "    }", "}",
            "v /= count;"]


def pack_weights(layer: Layer, node: Node, values: Mapping[str, np.ndarray],
                 ) -> dict[str, np.ndarray]:
    """The layer's weight items as flat float32 arrays in their DRAM layout: ``"w"``
    ``K x C/g x FY*FX`` (Gemm/MatMul weights as ``K x C``), ``"b"`` ``K``, ``"o"`` the
    :func:`other_constants` concatenated."""
    out: dict[str, np.ndarray] = {}
    if layer.kc_weight_elements:
        w_t = node.input(1)
        assert w_t is not None
        w = np.asarray(values[w_t.name], dtype=np.float64)
        if layer.kind is LayerKind.DENSE:
            if node.op_type == "MatMul" or not node.attr_int("transB", 0):
                w = w.T
            if node.op_type == "Gemm":
                w = w * node.attr_float("alpha", 1.0)
        out["w"] = w.astype(np.float32).reshape(-1)
    if layer.bias_elements:
        b_t = node.input(2)
        assert b_t is not None
        b = np.asarray(values[b_t.name], dtype=np.float64).reshape(-1)
        if node.op_type == "Gemm":
            b = b * node.attr_float("beta", 1.0)
        out["b"] = b.astype(np.float32)
    if layer.other_weight_elements:
        out["o"] = np.concatenate([np.asarray(values[t.name], dtype=np.float32).reshape(-1)
                                   for t in other_constants(node)])
    for key, arr in out.items():
        expected = {"w": layer.main_weight_elements, "b": layer.bias_elements,
                    "o": layer.other_weight_elements}[key]
        assert arr.size == expected, (layer.name, key, arr.size, expected)
    return out
