"""The IR op vocabulary: shape functions, value folding, window geometry and MAC counts.

Op names and attribute names follow ONNX (opset 17) so the vocabulary is documented by the ONNX
operator specification; frontends translate other formats into it (TFLite ``CONV_2D`` ->
``Conv``, ``DEPTHWISE_CONV_2D`` -> ``Conv`` with ``group = C``, ``FULLY_CONNECTED`` -> ``Gemm``
with ``transB = 1``, ``MEAN`` -> ``ReduceMean``...). Canonical attribute forms, which frontends
must produce:

- ``Conv``/``ConvTranspose``/``MaxPool``/``AveragePool``: ``kernel_shape``, ``strides``,
  ``dilations``, explicit ``pads`` (begin..., end...: ``auto_pad`` is resolved at import),
  ``group`` (conv), ``ceil_mode`` and ``count_include_pad`` (pooling). ConvTranspose's
  ``output_padding`` is folded into a negative end pad.
- Ops whose ONNX form takes shape-like operands as inputs (``Reshape``, ``Slice``, ``Pad``,
  ``Resize``, ``Squeeze``...) keep them as inputs; their values come from constants or from
  folding the integer shape sub-graph (``Shape`` -> ``Gather`` -> ``Concat`` ...) here.
- Two ops come from TFLite and are not ONNX: ``Pack`` (stack along ``axis``) and
  ``StridedSlice`` (``Slice`` operands plus ``shrink_axes``, the logical axes TensorFlow's
  ``shrink_axis_mask`` drops).

Ops outside the vocabulary are imported generically: their tensors keep the file's shapes and
count for memory, and :func:`unmodelled_ops` lists them.

MACs (:func:`node_macs`) are multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul only,
the torchvision forward-hook convention (bias, BatchNorm, activations, pooling and element-wise
ops are not counted).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnnmem.errors import ShapeError
from cnnmem.ir.types import DType, WindowGeometry

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from cnnmem.ir.graph import Graph, Node, Tensor

Shape = tuple[int, ...]
Values = "NDArray[np.generic] | None"


@dataclass(frozen=True, slots=True)
class InferContext:
    """What a shape function sees: the node, its input shapes/dtypes and known input values."""

    node: Node
    shapes: tuple[Shape | None, ...]
    dtypes: tuple[DType | None, ...]
    values: tuple[NDArray[np.generic] | None, ...]

    def shape(self, i: int) -> Shape:
        """Shape of input ``i`` (raises a ShapeError naming the node if missing)."""
        if i >= len(self.shapes) or self.shapes[i] is None:
            raise ShapeError(f"node {self.node.name!r} ({self.node.op_type}): input {i} is "
                             "missing or has an unknown shape")
        shape = self.shapes[i]
        assert shape is not None
        return shape

    def has(self, i: int) -> bool:
        """True if optional input ``i`` is present."""
        return i < len(self.shapes) and self.shapes[i] is not None

    def value(self, i: int) -> NDArray[np.generic]:
        """The value of input ``i``, which must be a constant or foldable from shapes."""
        if i >= len(self.values) or self.values[i] is None:
            t = self.node.input(i)
            name = t.name if t is not None else f"#{i}"
            raise ShapeError(f"node {self.node.name!r} ({self.node.op_type}): the value of "
                             f"input {name!r} is needed for its output shape but is neither a "
                             "constant nor computable from known shapes; pin the input shape "
                             "with --input-shape NAME=1x3x224x224")
        value = self.values[i]
        assert value is not None
        return value

    def ints(self, i: int) -> list[int]:
        """The value of input ``i`` as a flat list of Python ints."""
        return [int(v) for v in np.asarray(self.value(i)).reshape(-1)]


InferFn = Callable[[InferContext], list[Shape]]
FoldFn = Callable[[InferContext], "list[NDArray[np.generic]] | None"]


@dataclass(frozen=True, slots=True)
class OpSpec:
    """How cnnmem models one op type.

    Attributes:
        infer: output shapes from input shapes (and values of shape-like inputs).
        category: ``conv`` | ``linear`` | ``pool`` | ``elementwise`` | ``activation`` |
            ``normalization`` | ``alias`` | ``data_movement`` | ``reduce`` | ``shape`` |
            ``quantization`` | ``other``. ``alias`` ops (Reshape, Flatten, Squeeze, Unsqueeze,
            Identity, Dropout) only reinterpret their input's bytes: no new buffer.
        fold: computes output values from input values (integer shape arithmetic), if possible.
        out_dtype: output dtype rule; default: the dtype of the first input.
    """

    infer: InferFn
    category: str
    fold: FoldFn | None = None
    out_dtype: Callable[[InferContext], DType] | None = None


# ----------------------------------------------------------------------------- helpers
def _norm_axis(axis: int, rank: int, node: Node) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"node {node.name!r} ({node.op_type}): axis {axis} out of range for "
                         f"rank {rank}")
    return axis % rank if rank else 0


def broadcast_shapes(shapes: Sequence[Shape], node: Node) -> Shape:
    """NumPy/ONNX multidirectional broadcasting."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*shapes))
    except ValueError as e:
        raise ShapeError(f"node {node.name!r} ({node.op_type}): shapes "
                         f"{' and '.join(str(s) for s in shapes)} do not broadcast") from e


def window_geometry(node: Node) -> WindowGeometry | None:
    """Window geometry of a Conv / ConvTranspose / MaxPool / AveragePool node (else ``None``).

    1-D windows are expressed as 2-D with a height-1 kernel.
    """
    if node.op_type not in ("Conv", "ConvTranspose", "MaxPool", "AveragePool"):
        return None
    kernel = node.attr_ints("kernel_shape", ())
    if not kernel:
        return None
    nd = len(kernel)
    if nd not in (1, 2):
        return None
    strides = node.attr_ints("strides", (1,) * nd)
    dil = node.attr_ints("dilations", (1,) * nd)
    pads = node.attr_ints("pads", (0,) * (2 * nd))
    if nd == 1:
        kernel, strides, dil = (1, kernel[0]), (1, strides[0]), (1, dil[0])
        pads = (0, pads[0], 0, pads[1])
    return WindowGeometry(
        kernel=(kernel[0], kernel[1]),
        stride=(strides[0], strides[1]),
        pads=(pads[0], pads[1], pads[2], pads[3]),
        dilation=(dil[0], dil[1]),
        groups=node.attr_int("group", 1) if node.op_type in ("Conv", "ConvTranspose") else 1,
        ceil_mode=bool(node.attr_int("ceil_mode", 0)),
        transposed=node.op_type == "ConvTranspose",
    )


def _window_out(ctx: InferContext, out_channels: int) -> list[Shape]:
    x = ctx.shape(0)
    node = ctx.node
    kernel = node.attr_ints("kernel_shape", ())
    nd = len(kernel)
    if nd == 0 or len(x) != nd + 2:
        raise ShapeError(f"node {node.name!r} ({node.op_type}): kernel_shape {kernel} does not "
                         f"match input shape {x}")
    strides = node.attr_ints("strides", (1,) * nd)
    dil = node.attr_ints("dilations", (1,) * nd)
    pads = node.attr_ints("pads", (0,) * (2 * nd))
    ceil = bool(node.attr_int("ceil_mode", 0))
    out = []
    for a in range(nd):
        geom = WindowGeometry(kernel=(1, kernel[a]), stride=(1, strides[a]),
                              pads=(0, pads[a], 0, pads[a + nd]), dilation=(1, dil[a]),
                              ceil_mode=ceil, transposed=node.op_type == "ConvTranspose")
        size = geom.output_size(1, x[2 + a])[1]
        if size <= 0:
            raise ShapeError(f"node {node.name!r} ({node.op_type}): spatial axis {a} of input "
                             f"{x} is too small for kernel {kernel}, strides {strides}, pads "
                             f"{pads} (output size {size})")
        out.append(size)
    return [(x[0], out_channels, *out)]


# ----------------------------------------------------------------------------- shape functions
def _conv(ctx: InferContext) -> list[Shape]:
    w = ctx.shape(1)
    x = ctx.shape(0)
    group = ctx.node.attr_int("group", 1)
    if x[1] != w[1] * group:
        raise ShapeError(f"node {ctx.node.name!r} (Conv): input has {x[1]} channels but the "
                         f"weight {w} with group={group} expects {w[1] * group}")
    return _window_out(ctx, w[0])


def _conv_transpose(ctx: InferContext) -> list[Shape]:
    w = ctx.shape(1)
    group = ctx.node.attr_int("group", 1)
    return _window_out(ctx, w[1] * group)


def _pool(ctx: InferContext) -> list[Shape]:
    return _window_out(ctx, ctx.shape(0)[1])


def _global_pool(ctx: InferContext) -> list[Shape]:
    x = ctx.shape(0)
    return [(*x[:2], *([1] * (len(x) - 2)))]


def _gemm(ctx: InferContext) -> list[Shape]:
    a, b = ctx.shape(0), ctx.shape(1)
    if len(a) != 2 or len(b) != 2:
        raise ShapeError(f"node {ctx.node.name!r} (Gemm): operands must be 2-D, got {a} and {b}")
    m, k = (a[1], a[0]) if ctx.node.attr_int("transA", 0) else a
    k2, n = (b[1], b[0]) if ctx.node.attr_int("transB", 0) else b
    if k != k2:
        raise ShapeError(f"node {ctx.node.name!r} (Gemm): inner dimensions differ ({k} vs {k2})")
    return [(m, n)]


def _matmul(ctx: InferContext) -> list[Shape]:
    a, b = list(ctx.shape(0)), list(ctx.shape(1))
    a1, b1 = len(a) == 1, len(b) == 1
    if a1:
        a = [1, *a]
    if b1:
        b = [*b, 1]
    if a[-1] != b[-2]:
        raise ShapeError(f"node {ctx.node.name!r} (MatMul): inner dimensions differ "
                         f"({a[-1]} vs {b[-2]})")
    batch = broadcast_shapes([tuple(a[:-2]), tuple(b[:-2])], ctx.node)
    out = [*batch, a[-2], b[-1]]
    if a1:
        out.pop(-2)
    if b1:
        out.pop(-1)
    return [tuple(out)]


def _same(ctx: InferContext) -> list[Shape]:
    return [ctx.shape(0)]


def _broadcast(ctx: InferContext) -> list[Shape]:
    shapes = [s for s in ctx.shapes if s is not None]
    return [broadcast_shapes(shapes, ctx.node)]


def _concat(ctx: InferContext) -> list[Shape]:
    shapes = [s for s in ctx.shapes if s is not None]
    rank = len(shapes[0])
    axis = _norm_axis(ctx.node.attr_int("axis", 0), rank, ctx.node)
    for s in shapes:
        if len(s) != rank or any(s[i] != shapes[0][i] for i in range(rank) if i != axis):
            raise ShapeError(f"node {ctx.node.name!r} (Concat): shapes {shapes} differ outside "
                             f"axis {axis}")
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return [tuple(out)]


def _pack(ctx: InferContext) -> list[Shape]:
    shapes = [s for s in ctx.shapes if s is not None]
    axis = _norm_axis(ctx.node.attr_int("axis", 0), len(shapes[0]) + 1, ctx.node)
    out = list(shapes[0])
    out.insert(axis, len(shapes))
    return [tuple(out)]


def _fold_pack(ctx: InferContext) -> list[NDArray[np.generic]] | None:
    if any(v is None for v in ctx.values):
        return None
    return [np.stack([np.asarray(v) for v in ctx.values], axis=ctx.node.attr_int("axis", 0))]


def _split(ctx: InferContext) -> list[Shape]:
    x = ctx.shape(0)
    axis = _norm_axis(ctx.node.attr_int("axis", 0), len(x), ctx.node)
    n_out = len(ctx.node.outputs)
    if ctx.has(1):
        sizes = ctx.ints(1)
    elif "split" in ctx.node.attrs:
        sizes = list(ctx.node.attr_ints("split", ()))
    else:
        chunk = -(-x[axis] // n_out)
        sizes = [min(chunk, x[axis] - i * chunk) for i in range(n_out)]
    if sum(sizes) != x[axis] or len(sizes) != n_out:
        raise ShapeError(f"node {ctx.node.name!r} (Split): sizes {sizes} do not split axis "
                         f"{axis} of {x} into {n_out} outputs")
    return [tuple(s if i != axis else size for i, s in enumerate(x)) for size in sizes]


def _slice_params(ctx: InferContext) -> tuple[Shape, list[tuple[int, int, int, int]]]:
    """Resolved (axis, start, end, step) for Slice, clamped as ONNX specifies."""
    x = ctx.shape(0)
    starts, ends = ctx.ints(1), ctx.ints(2)
    axes = ctx.ints(3) if ctx.has(3) else list(range(len(starts)))
    steps = ctx.ints(4) if ctx.has(4) else [1] * len(starts)
    out = []
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        a = _norm_axis(axis, len(x), ctx.node)
        dim = x[a]
        if step == 0:
            raise ShapeError(f"node {ctx.node.name!r} (Slice): step 0")
        s = start + dim if start < 0 else start
        e = end + dim if end < 0 else end
        if step > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
        else:
            s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
        out.append((a, s, e, step))
    return x, out


def _slice(ctx: InferContext) -> list[Shape]:
    x, params = _slice_params(ctx)
    shape = list(x)
    for a, s, e, step in params:
        shape[a] = max(0, math.ceil((e - s) / step))
    return [tuple(shape)]


def _fold_slice(ctx: InferContext) -> list[NDArray[np.generic]] | None:
    if ctx.values[0] is None:
        return None
    _, params = _slice_params(ctx)
    index: list[slice] = [slice(None)] * len(ctx.shape(0))
    for a, s, e, step in params:
        index[a] = slice(s, e if e >= 0 else None, step)
    return [np.asarray(ctx.value(0))[tuple(index)]]


def _strided_slice(ctx: InferContext) -> list[Shape]:
    """``Slice`` followed by dropping the (logical) axes in ``shrink_axes`` (TensorFlow's
    ``shrink_axis_mask``: each such axis must be sliced to exactly one element)."""
    shape = list(_slice(ctx)[0])
    shrink = [_norm_axis(a, len(shape), ctx.node) for a in ctx.node.attr_ints("shrink_axes", ())]
    for a in shrink:
        if shape[a] != 1:
            raise ShapeError(f"node {ctx.node.name!r} (StridedSlice): shrunk axis {a} keeps "
                             f"{shape[a]} elements, expected 1")
    return [tuple(d for i, d in enumerate(shape) if i not in shrink)]


def _fold_strided_slice(ctx: InferContext) -> list[NDArray[np.generic]] | None:
    folded = _fold_slice(ctx)
    if folded is None:
        return None
    return [np.asarray(folded[0]).reshape(_strided_slice(ctx)[0])]


def _reshape(ctx: InferContext) -> list[Shape]:
    x = ctx.shape(0)
    target = ctx.ints(1)
    allow_zero = ctx.node.attr_int("allowzero", 0)
    out = [x[i] if (d == 0 and not allow_zero) else d for i, d in enumerate(target)]
    if out.count(-1) > 1:
        raise ShapeError(f"node {ctx.node.name!r} (Reshape): more than one -1 in {target}")
    total = math.prod(x)
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or total % known:
            raise ShapeError(f"node {ctx.node.name!r} (Reshape): cannot reshape {x} to {target}")
        out[out.index(-1)] = total // known
    if math.prod(out) != total:
        raise ShapeError(f"node {ctx.node.name!r} (Reshape): cannot reshape {x} ({total} "
                         f"elements) to {tuple(out)}")
    return [tuple(out)]


def _fold_reshape(ctx: InferContext) -> list[NDArray[np.generic]] | None:
    if ctx.values[0] is None:
        return None
    return [np.asarray(ctx.value(0)).reshape(_reshape(ctx)[0])]


def _flatten(ctx: InferContext) -> list[Shape]:
    x = ctx.shape(0)
    axis = ctx.node.attr_int("axis", 1)
    axis = axis + len(x) if axis < 0 else axis
    return [(math.prod(x[:axis]), math.prod(x[axis:]))]


def _axes(ctx: InferContext, rank: int) -> list[int] | None:
    if ctx.has(1):
        raw = ctx.ints(1)
    elif "axes" in ctx.node.attrs:
        raw = list(ctx.node.attr_ints("axes", ()))
    else:
        return None
    return sorted(_norm_axis(a, rank, ctx.node) for a in raw)


def _squeeze(ctx: InferContext) -> list[Shape]:
    x = ctx.shape(0)
    axes = _axes(ctx, len(x))
    if axes is None:
        return [tuple(d for d in x if d != 1)]
    return [tuple(d for i, d in enumerate(x) if i not in axes)]


def _unsqueeze(ctx: InferContext) -> list[Shape]:
    x = ctx.shape(0)
    rank = len(x) + len(_raw_axes(ctx))
    axes = sorted(_norm_axis(a, rank, ctx.node) for a in _raw_axes(ctx))
    out = list(x)
    for a in axes:
        out.insert(a, 1)
    return [tuple(out)]


def _raw_axes(ctx: InferContext) -> list[int]:
    if ctx.has(1):
        return ctx.ints(1)
    return list(ctx.node.attr_ints("axes", ()))


def _fold_same_data(ctx: InferContext) -> list[NDArray[np.generic]] | None:
    """Squeeze/Unsqueeze/Flatten/Identity on a known value: same data, new shape."""
    if ctx.values[0] is None:
        return None
    shape = SPECS[ctx.node.op_type].infer(ctx)[0]
    return [np.asarray(ctx.value(0)).reshape(shape)]


def _transpose(ctx: InferContext) -> list[Shape]:
    x = ctx.shape(0)
    perm = ctx.node.attr_ints("perm", tuple(reversed(range(len(x)))))
    if sorted(perm) != list(range(len(x))):
        raise ShapeError(f"node {ctx.node.name!r} (Transpose): perm {perm} is not a "
                         f"permutation of rank {len(x)}")
    return [tuple(x[p] for p in perm)]


def _resize(ctx: InferContext) -> list[Shape]:
    x = ctx.shape(0)
    node = ctx.node
    # Resize (opset >= 11): X, roi, scales, sizes; Upsample: X, scales
    sizes_idx, scales_idx = (3, 2) if node.op_type == "Resize" else (-1, 1)
    if sizes_idx > 0 and ctx.has(sizes_idx) and ctx.values[sizes_idx] is not None \
            and np.asarray(ctx.values[sizes_idx]).size:
        sizes = ctx.ints(sizes_idx)
        axes = list(node.attr_ints("axes", tuple(range(len(x)))))
        out = list(x)
        for a, s in zip(axes, sizes, strict=True):
            out[a] = s
        return [tuple(out)]
    if "scales" in node.attrs and not ctx.has(scales_idx):
        scales = [float(s) for s in node.attrs["scales"]]  # type: ignore[union-attr]
    else:
        scales = [float(v) for v in np.asarray(ctx.value(scales_idx)).reshape(-1)]
    if len(scales) != len(x):
        raise ShapeError(f"node {node.name!r} ({node.op_type}): {len(scales)} scales for rank "
                         f"{len(x)}")
    return [tuple(math.floor(d * s) for d, s in zip(x, scales, strict=True))]


def _pad(ctx: InferContext) -> list[Shape]:
    x = ctx.shape(0)
    pads = ctx.ints(1) if ctx.has(1) else list(ctx.node.attr_ints("pads", ()))
    axes = ctx.ints(3) if ctx.has(3) else list(range(len(x)))
    n = len(axes)
    if len(pads) != 2 * n:
        raise ShapeError(f"node {ctx.node.name!r} (Pad): {len(pads)} pads for {n} axes")
    out = list(x)
    for i, a in enumerate(axes):
        out[_norm_axis(a, len(x), ctx.node)] += pads[i] + pads[i + n]
    return [tuple(out)]


def _reduce(ctx: InferContext) -> list[Shape]:
    x = ctx.shape(0)
    axes = _axes(ctx, len(x))
    if axes is None:
        if ctx.node.attr_int("noop_with_empty_axes", 0):
            return [x]
        axes = list(range(len(x)))
    keep = ctx.node.attr_int("keepdims", 1)
    out = []
    for i, d in enumerate(x):
        if i in axes:
            if keep:
                out.append(1)
        else:
            out.append(d)
    return [tuple(out)]


def _shape(ctx: InferContext) -> list[Shape]:
    return [(len(_fold_shape(ctx)[0]),)]


def _fold_shape(ctx: InferContext) -> list[NDArray[np.generic]]:
    x = ctx.shape(0)
    start = ctx.node.attr_int("start", 0)
    end = ctx.node.attr_int("end", len(x))
    return [np.asarray(x[slice(start, end)], dtype=np.int64)]


def _gather(ctx: InferContext) -> list[Shape]:
    x = ctx.shape(0)
    idx = ctx.shape(1)
    axis = _norm_axis(ctx.node.attr_int("axis", 0), len(x), ctx.node)
    return [(*x[:axis], *idx, *x[axis + 1:])]


def _fold_gather(ctx: InferContext) -> list[NDArray[np.generic]] | None:
    if ctx.values[0] is None or ctx.values[1] is None:
        return None
    return [np.take(np.asarray(ctx.value(0)), np.asarray(ctx.value(1)),
                    axis=ctx.node.attr_int("axis", 0))]


_BINARY_NP: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
    "Max": np.maximum, "Min": np.minimum,
}


def _fold_binary(ctx: InferContext) -> list[NDArray[np.generic]] | None:
    if any(v is None for v in ctx.values) or len(ctx.values) != 2:
        return None
    a, b = np.asarray(ctx.values[0]), np.asarray(ctx.values[1])
    op = ctx.node.op_type
    if op == "Div":
        if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
            return [np.trunc(a / b).astype(np.result_type(a, b))]
        return [a / b]
    if op in _BINARY_NP:
        return [_BINARY_NP[op](a, b)]
    return None


def _fold_concat(ctx: InferContext) -> list[NDArray[np.generic]] | None:
    if any(v is None for v in ctx.values):
        return None
    return [np.concatenate([np.asarray(v) for v in ctx.values], axis=ctx.node.attr_int("axis", 0))]


def _fold_cast(ctx: InferContext) -> list[NDArray[np.generic]] | None:
    if ctx.values[0] is None:
        return None
    return [np.asarray(ctx.value(0)).astype(_cast_dtype(ctx).numpy)]


def _cast_dtype(ctx: InferContext) -> DType:
    name = ctx.node.attrs.get("to", "float32")
    return DType.parse(str(name))


def _constant(ctx: InferContext) -> list[Shape]:
    raise ShapeError(f"node {ctx.node.name!r}: Constant nodes are turned into constants at "
                     "import")


def _constant_of_shape(ctx: InferContext) -> list[Shape]:
    return [tuple(ctx.ints(0))]


def _range(ctx: InferContext) -> list[Shape]:
    start, limit, delta = (float(np.asarray(ctx.value(i)).reshape(-1)[0]) for i in range(3))
    return [(max(0, math.ceil((limit - start) / delta)),)]


def _depth_to_space(ctx: InferContext) -> list[Shape]:
    n, c, h, w = ctx.shape(0)
    b = ctx.node.attr_int("blocksize", 1)
    if ctx.node.op_type == "DepthToSpace":
        return [(n, c // (b * b), h * b, w * b)]
    return [(n, c * b * b, h // b, w // b)]


def _dtype_of_input(index: int) -> Callable[[InferContext], DType]:
    def rule(ctx: InferContext) -> DType:
        d = ctx.dtypes[index] if index < len(ctx.dtypes) else None
        return d if d is not None else DType.FLOAT32
    return rule


def _quantize_dtype(ctx: InferContext) -> DType:
    if ctx.has(2) and ctx.dtypes[2] is not None:
        return ctx.dtypes[2]  # type: ignore[return-value]
    name = ctx.node.attrs.get("output_dtype")
    return DType.parse(str(name)) if name else DType.UINT8


def _float_out(ctx: InferContext) -> DType:
    return DType.FLOAT32


def _int64_out(ctx: InferContext) -> DType:
    return DType.INT64


def _bool_out(ctx: InferContext) -> DType:
    return DType.BOOL


_UNARY = ("Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "LeakyRelu", "Elu",
          "Selu", "Softplus", "Mish", "Gelu", "Erf", "Exp", "Log", "Sqrt", "Reciprocal", "Neg",
          "Abs", "Floor", "Ceil", "Round", "Sign", "PRelu", "Celu", "ThresholdedRelu")
_BINARY = ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean")
_COMPARE = ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Not")

SPECS: dict[str, OpSpec] = {
    "Conv": OpSpec(_conv, "conv"),
    "ConvTranspose": OpSpec(_conv_transpose, "conv"),
    "Gemm": OpSpec(_gemm, "linear"),
    "MatMul": OpSpec(_matmul, "linear"),
    "MaxPool": OpSpec(_pool, "pool"),
    "AveragePool": OpSpec(_pool, "pool"),
    "LpPool": OpSpec(_pool, "pool"),
    "GlobalAveragePool": OpSpec(_global_pool, "pool"),
    "GlobalMaxPool": OpSpec(_global_pool, "pool"),
    "BatchNormalization": OpSpec(_same, "normalization"),
    "InstanceNormalization": OpSpec(_same, "normalization"),
    "LRN": OpSpec(_same, "normalization"),
    "Softmax": OpSpec(_same, "activation"),
    "LogSoftmax": OpSpec(_same, "activation"),
    "Concat": OpSpec(_concat, "data_movement", fold=_fold_concat),
    "Pack": OpSpec(_pack, "data_movement", fold=_fold_pack),
    "Split": OpSpec(_split, "data_movement"),
    "Slice": OpSpec(_slice, "data_movement", fold=_fold_slice),
    "StridedSlice": OpSpec(_strided_slice, "data_movement", fold=_fold_strided_slice),
    "Transpose": OpSpec(_transpose, "data_movement"),
    "Pad": OpSpec(_pad, "data_movement"),
    "Resize": OpSpec(_resize, "data_movement"),
    "Upsample": OpSpec(_resize, "data_movement"),
    "DepthToSpace": OpSpec(_depth_to_space, "data_movement"),
    "SpaceToDepth": OpSpec(_depth_to_space, "data_movement"),
    "Reshape": OpSpec(_reshape, "alias", fold=_fold_reshape),
    "Flatten": OpSpec(_flatten, "alias", fold=_fold_same_data),
    "Squeeze": OpSpec(_squeeze, "alias", fold=_fold_same_data),
    "Unsqueeze": OpSpec(_unsqueeze, "alias", fold=_fold_same_data),
    "Identity": OpSpec(_same, "alias", fold=_fold_same_data),
    "Dropout": OpSpec(_same, "alias"),
    "ReduceMean": OpSpec(_reduce, "reduce"),
    "ReduceMax": OpSpec(_reduce, "reduce"),
    "ReduceMin": OpSpec(_reduce, "reduce"),
    "ReduceSum": OpSpec(_reduce, "reduce"),
    "ReduceProd": OpSpec(_reduce, "reduce"),
    "Shape": OpSpec(_shape, "shape", fold=_fold_shape, out_dtype=_int64_out),
    "Gather": OpSpec(_gather, "shape", fold=_fold_gather),
    "Cast": OpSpec(_same, "shape", fold=_fold_cast, out_dtype=_cast_dtype),
    "Constant": OpSpec(_constant, "shape"),
    "ConstantOfShape": OpSpec(_constant_of_shape, "shape"),
    "Range": OpSpec(_range, "shape", out_dtype=_dtype_of_input(0)),
    "QuantizeLinear": OpSpec(_same, "quantization", out_dtype=_quantize_dtype),
    "DequantizeLinear": OpSpec(_same, "quantization", out_dtype=_float_out),
    "Requantize": OpSpec(_same, "quantization"),
}
for _op in _UNARY:
    SPECS[_op] = OpSpec(_same, "activation")
for _op in _BINARY:
    SPECS[_op] = OpSpec(_broadcast, "elementwise", fold=_fold_binary)
for _op in _COMPARE:
    SPECS[_op] = OpSpec(_broadcast, "elementwise", out_dtype=_bool_out)
SPECS["Where"] = OpSpec(_broadcast, "elementwise", out_dtype=_dtype_of_input(1))


def is_modelled(op_type: str) -> bool:
    """True if ``op_type`` is in the IR vocabulary (shapes are checked, memory is modelled)."""
    return op_type in SPECS


def category(op_type: str) -> str:
    """The category of ``op_type`` (``other`` for ops outside the vocabulary)."""
    spec = SPECS.get(op_type)
    return spec.category if spec else "other"


def is_alias(node: Node) -> bool:
    """True if ``node`` only reinterprets its first input's bytes (no new buffer)."""
    return category(node.op_type) == "alias"


def unmodelled_ops(graph: Graph) -> dict[str, list[str]]:
    """Op types outside the vocabulary, each with the names of its nodes (sorted)."""
    out: dict[str, list[str]] = {}
    for node in graph.nodes:
        if not is_modelled(node.op_type):
            out.setdefault(node.source_op, []).append(node.name)
    return dict(sorted(out.items()))


def infer_node(node: Node, shapes: Sequence[Shape | None], dtypes: Sequence[DType | None],
               values: Sequence[NDArray[np.generic] | None],
               ) -> tuple[list[Shape], list[DType], list[NDArray[np.generic] | None]]:
    """Output shapes, dtypes and (where foldable) values of ``node``.

    Raises:
        ShapeError: the op is not modelled or its inputs are inconsistent.
    """
    spec = SPECS.get(node.op_type)
    if spec is None:
        raise ShapeError(f"node {node.name!r}: op {node.source_op!r} is not modelled; its "
                         "output shapes must come from the file")
    ctx = InferContext(node, tuple(shapes), tuple(dtypes), tuple(values))
    out_shapes = spec.infer(ctx)
    dtype = spec.out_dtype(ctx) if spec.out_dtype else _dtype_of_input(0)(ctx)
    out_values: list[NDArray[np.generic] | None] = [None] * len(out_shapes)
    if spec.fold is not None and all(d is not None and not d.is_float for d in [dtype]):
        folded = spec.fold(ctx)
        if folded is not None:
            out_values = [np.asarray(v) for v in folded]
    return out_shapes, [dtype] * len(out_shapes), out_values


def node_macs(node: Node) -> int:
    """Multiply-accumulates of one execution of ``node``.

    - Conv: ``out_elems * (C_in / group) * kH * kW`` (torchvision hook formula).
    - ConvTranspose: ``in_elems * (C_out / group) * kH * kW`` (every input element meets the
      whole kernel slice of its group).
    - Gemm / MatMul: ``out_elems * K``.
    - every other op: 0 (bias, BN, activations, pooling, element-wise are not counted).
    """
    op = node.op_type
    if op == "Conv":
        w = node.inputs[1]
        assert w is not None
        return node.outputs[0].num_elements * math.prod(w.shape[1:])
    if op == "ConvTranspose":
        w, x = node.inputs[1], node.inputs[0]
        assert w is not None and x is not None
        return x.num_elements * math.prod(w.shape[1:])
    if op == "Gemm":
        a = node.inputs[0]
        assert a is not None
        k = a.shape[0] if node.attr_int("transA", 0) else a.shape[1]
        return node.outputs[0].num_elements * k
    if op == "MatMul":
        a = node.inputs[0]
        assert a is not None
        return node.outputs[0].num_elements * a.shape[-1]
    return 0


# Operand positions that hold trainable parameters (weights, biases, BN scale/shift, PReLU
# slopes). Constants in other positions are either running statistics (``_STATE_INPUTS``, which
# occupy weight memory but are not parameters, as in PyTorch's ``parameters()``) or shape-like
# operands (Reshape targets, Clip bounds, Resize scales, Pad amounts, quantisation scales) that
# are neither.
_PARAM_INPUTS: dict[str, tuple[int, ...]] = {
    "Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (0, 1, 2), "MatMul": (0, 1),
    "BatchNormalization": (1, 2), "InstanceNormalization": (1, 2), "PRelu": (1,),
    "Add": (0, 1), "Sub": (0, 1), "Mul": (0, 1), "Div": (0, 1),
}
_STATE_INPUTS: dict[str, tuple[int, ...]] = {"BatchNormalization": (3, 4)}


def param_inputs(node: Node) -> tuple[Tensor, ...]:
    """Constant operands of ``node`` that are trainable parameters (PyTorch convention).

    For ops outside the vocabulary every constant operand counts, so that nothing is silently
    dropped from the weight total.
    """
    if not is_modelled(node.op_type):
        return node.constant_inputs
    found = _constants_at(node, _PARAM_INPUTS.get(node.op_type, ()))
    if category(node.op_type) == "elementwise":
        # integer operands of element-wise ops are shape arithmetic (Shape -> Div -> Mul), not
        # weights
        found = tuple(t for t in found if t.dtype not in (DType.INT64, DType.INT32))
    return found


def state_inputs(node: Node) -> tuple[Tensor, ...]:
    """Constant operands that are stored state but not parameters (BN running mean/var)."""
    return _constants_at(node, _STATE_INPUTS.get(node.op_type, ()))


def _constants_at(node: Node, positions: tuple[int, ...]) -> tuple[Tensor, ...]:
    out = []
    for i in positions:
        t = node.input(i)
        if t is not None and t.is_constant:
            out.append(t)
    return tuple(out)
