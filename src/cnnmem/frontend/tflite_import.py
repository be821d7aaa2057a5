"""TFLite importer: ``load_tflite(path) -> Graph``.

Only **subgraph 0** (the model's main graph) is imported. Further subgraphs (bodies of
``WHILE``/``IF``/``CALL_ONCE``, other signatures) are not; their presence is recorded as
``graph.metadata["subgraphs"]`` (the total number of subgraphs in the file) and the ops that call
them are imported generically.

Steps:
  1. Check the file (exists, not a directory, not empty, ``TFL3`` identifier at bytes 4..8), then
     read the whole flatbuffer into plain Python records. Any exception of the flatbuffers parser
     on a truncated or corrupt file becomes a :class:`~cnnmem.errors.ModelImportError`.
  2. Order the operators topologically (the file's order normally already is).
  3. Translate every operator into the IR vocabulary (ONNX names and attribute conventions, see
     :mod:`cnnmem.ir.ops`), or import it generically when it is outside the mapping or its
     translation would not satisfy the op's shape function. Output shapes always come from the
     file; they are checked against the shape function before a node is accepted.
  4. Topologically sort and verify.

Conventions:

- **Layout.** TFLite feature maps are NHWC; the IR's logical shape of every rank-4 activation and
  graph input is (N, C, H, W) (``graph.metadata["source_layout"] == "NHWC"``). Tensors of other
  ranks keep the file's shape. Per-channel quantisation axes are remapped with the shape.
- **Constants** are converted to the ONNX layout of the operand they feed, data included:
  ``CONV_2D`` weights OHWI -> OIHW, ``DEPTHWISE_CONV_2D`` weights (1, kH, kW, C*M) ->
  (C*M, 1, kH, kW) (``group = C_in``), ``TRANSPOSE_CONV`` weights OHWI -> IOHW; other rank-4
  constants NHWC -> NCHW; rank 1..3 constants broadcast against a rank-4 result of an
  element-wise op are first padded to rank 4 (NHWC) and then transposed, so that broadcasting
  stays right. ``FULLY_CONNECTED`` weights (O, I) are unchanged (``Gemm`` with ``transB = 1``).
  Shape-like constant operands that the IR op reads (``MEAN`` axes, ``PAD`` paddings,
  ``STRIDED_SLICE`` begin/end/strides, a ``RESHAPE`` target) are converted to their ONNX form in
  the logical layout, keeping their name, dtype and element count. A constant that two consumers
  need in different layouts gets one converted copy per layout (copies are synthetic, below).
  ``DEQUANTIZE``/``DENSIFY`` outputs that feed a convolution's weight operand get the weight
  layout, and so does the ``DEQUANTIZE``'s constant input.
- **Source operands.** Operands of a TFLite op that the IR op does not read (a
  ``TRANSPOSE_CONV``'s ``output_shape``, ``SPLIT``'s axis, ``TRANSPOSE``'s permutation, a
  ``RESHAPE`` target computed at run time) are appended after the IR operands, unconverted,
  from input position ``attrs["source_operands_at"]`` on, so that every tensor of the file keeps
  its consumers (memory lifetimes and weight totals stay those of the file).
- **Synthetic constants.** When the IR form needs a value that no constant of the file holds
  (the logical target of a ``RESHAPE`` whose target is computed at run time), a new int64
  constant is added; the names of all constants that are not tensors of the file are listed in
  ``graph.metadata["synthetic_constants"]`` (a JSON list, absent when there are none).
- **Fused activations** (``RELU``, ``RELU6``, ``RELU_N1_TO_1``, ``TANH``) become
  :attr:`cnnmem.ir.Node.activation`; standalone ``RELU6``-style clips become ``Clip`` with
  ``min``/``max`` attributes (no bound operands exist in the file).
- ``RESHAPE`` nodes carry ``attrs["source_layout"] = "NHWC"``: the file flattens in NHWC order.
- ``QUANTIZE`` of a float tensor is ``QuantizeLinear``, of an integer tensor ``Requantize``;
  ``DEQUANTIZE`` is ``DequantizeLinear`` (no scale/zero-point operands: the tensors carry
  :class:`~cnnmem.ir.QuantParams`).
- Everything else (and mapped ops whose operands the IR form cannot express, e.g. a
  ``STRIDED_SLICE`` with a shrink mask or ``SHAPE`` of a rank-4 tensor) is a generic node:
  ``op_type == source_op ==`` the TFLite op name (``"GATHER_ND"``, ``"CUSTOM:foo"``), with the
  file's tensors (constants unconverted), listed by :func:`cnnmem.ir.unmodelled_ops`.

Node names are their first output's tensor name; ``source_op`` is the TFLite op name.
"""

from __future__ import annotations

import heapq
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import flatbuffers
import numpy as np
import tflite
from tflite.utils import BUILTIN_OPCODE2NAME

from cnnmem.errors import CnnmemError, InvariantError, ModelImportError
from cnnmem.ir.graph import AttrValue, Graph, Node, Tensor, TensorKind
from cnnmem.ir.ops import infer_node
from cnnmem.ir.types import Activation, DType, QuantParams
from cnnmem.ir.verify import topological_sort, verify

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["load_tflite"]

Shape = tuple[int, ...]

# TFLite TensorType codes -> IR element types.
_DTYPES: dict[int, DType] = {
    0: DType.FLOAT32, 1: DType.FLOAT16, 2: DType.INT32, 3: DType.UINT8, 4: DType.INT64,
    6: DType.BOOL, 7: DType.INT16, 9: DType.INT8, 10: DType.FLOAT64, 15: DType.UINT32,
    16: DType.UINT16, 18: DType.BFLOAT16,
}
_TYPE_NAMES: dict[int, str] = {
    0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64", 5: "STRING", 6: "BOOL",
    7: "INT16", 8: "COMPLEX64", 9: "INT8", 10: "FLOAT64", 11: "COMPLEX128", 12: "UINT64",
    13: "RESOURCE", 14: "VARIANT", 15: "UINT32", 16: "UINT16", 17: "INT4", 18: "BFLOAT16",
}

_PERM_NCHW: Shape = (0, 3, 1, 2)  # NHWC -> NCHW: logical[j] = nhwc[_PERM_NCHW[j]]
_PERM_NHWC: Shape = (0, 2, 3, 1)  # the inverse permutation
_PERM_OIHW: Shape = (0, 3, 1, 2)  # CONV_2D weights OHWI -> OIHW
_PERM_DW: Shape = (3, 0, 1, 2)  # DEPTHWISE_CONV_2D weights (1, kH, kW, C*M) -> (C*M, 1, kH, kW)
_PERM_IOHW: Shape = (3, 0, 1, 2)  # TRANSPOSE_CONV weights OHWI -> IOHW
_INT32_MAX = 2**31 - 1
_INT32_MIN = -(2**31)

_SAME, _VALID = 0, 1  # tflite.Padding

# Builtin options read per op: (options class, fields). "X*" is an int vector field.
_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "CONV_2D": ("Conv2DOptions", ("Padding", "StrideW", "StrideH", "FusedActivationFunction",
                                  "DilationWFactor", "DilationHFactor")),
    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", (
        "Padding", "StrideW", "StrideH", "DepthMultiplier", "FusedActivationFunction",
        "DilationWFactor", "DilationHFactor")),
    "TRANSPOSE_CONV": ("TransposeConvOptions", ("Padding", "StrideW", "StrideH",
                                                "FusedActivationFunction")),
    "AVERAGE_POOL_2D": ("Pool2DOptions", ("Padding", "StrideW", "StrideH", "FilterWidth",
                                          "FilterHeight", "FusedActivationFunction")),
    "MAX_POOL_2D": ("Pool2DOptions", ("Padding", "StrideW", "StrideH", "FilterWidth",
                                      "FilterHeight", "FusedActivationFunction")),
    "FULLY_CONNECTED": ("FullyConnectedOptions", ("FusedActivationFunction", "WeightsFormat",
                                                  "KeepNumDims")),
    "ADD": ("AddOptions", ("FusedActivationFunction",)),
    "SUB": ("SubOptions", ("FusedActivationFunction",)),
    "MUL": ("MulOptions", ("FusedActivationFunction",)),
    "DIV": ("DivOptions", ("FusedActivationFunction",)),
    "CONCATENATION": ("ConcatenationOptions", ("Axis", "FusedActivationFunction")),
    "SOFTMAX": ("SoftmaxOptions", ("Beta",)),
    "MEAN": ("ReducerOptions", ("KeepDims",)),
    "SUM": ("ReducerOptions", ("KeepDims",)),
    "REDUCE_MAX": ("ReducerOptions", ("KeepDims",)),
    "REDUCE_MIN": ("ReducerOptions", ("KeepDims",)),
    "REDUCE_PROD": ("ReducerOptions", ("KeepDims",)),
    "RESHAPE": ("ReshapeOptions", ("NewShape*",)),
    "SQUEEZE": ("SqueezeOptions", ("SqueezeDims*",)),
    "PACK": ("PackOptions", ("ValuesCount", "Axis")),
    "STRIDED_SLICE": ("StridedSliceOptions", ("BeginMask", "EndMask", "EllipsisMask",
                                              "NewAxisMask", "ShrinkAxisMask", "Offset")),
    "LEAKY_RELU": ("LeakyReluOptions", ("Alpha",)),
    "SPLIT": ("SplitOptions", ("NumSplits",)),
    "SPLIT_V": ("SplitVOptions", ("NumSplits",)),
    "RESIZE_BILINEAR": ("ResizeBilinearOptions", ("AlignCorners", "HalfPixelCenters")),
    "RESIZE_NEAREST_NEIGHBOR": ("ResizeNearestNeighborOptions", ("AlignCorners",
                                                                 "HalfPixelCenters")),
    "DEPTH_TO_SPACE": ("DepthToSpaceOptions", ("BlockSize",)),
    "SPACE_TO_DEPTH": ("SpaceToDepthOptions", ("BlockSize",)),
    "MIRROR_PAD": ("MirrorPadOptions", ("Mode",)),
    "GELU": ("GeluOptions", ("Approximate",)),
    "BATCH_MATMUL": ("BatchMatMulOptions", ("AdjX", "AdjY")),
}

# Standalone activations and other single-input, same-shape ops.
_UNARY: dict[str, tuple[str, dict[str, AttrValue]]] = {
    "RELU": ("Relu", {}),
    "RELU6": ("Clip", {"min": 0.0, "max": 6.0}),
    "RELU_N1_TO_1": ("Clip", {"min": -1.0, "max": 1.0}),
    "RELU_0_TO_1": ("Clip", {"min": 0.0, "max": 1.0}),
    "LOGISTIC": ("Sigmoid", {}),
    "HARD_SWISH": ("HardSwish", {}),
    "TANH": ("Tanh", {}),
    "ELU": ("Elu", {}),
    "ABS": ("Abs", {}),
    "NEG": ("Neg", {}),
    "EXP": ("Exp", {}),
    "LOG": ("Log", {}),
    "SQRT": ("Sqrt", {}),
    "FLOOR": ("Floor", {}),
    "CEIL": ("Ceil", {}),
    "ROUND": ("Round", {}),
    "SIGN": ("Sign", {}),
}
_BINARY: dict[str, str] = {"ADD": "Add", "SUB": "Sub", "MUL": "Mul", "DIV": "Div",
                           "MAXIMUM": "Max", "MINIMUM": "Min", "POW": "Pow"}
_REDUCE: dict[str, str] = {"MEAN": "ReduceMean", "SUM": "ReduceSum", "REDUCE_MAX": "ReduceMax",
                           "REDUCE_MIN": "ReduceMin", "REDUCE_PROD": "ReduceProd"}


# ============================================================================ file records
@dataclass(frozen=True, slots=True)
class _FileTensor:
    """One tensor of subgraph 0, as stored (shape in the file's layout)."""

    index: int
    name: str
    shape: Shape
    type_code: int
    raw: NDArray[np.uint8] | None  # buffer bytes (None: no data)
    quant: tuple[tuple[float, ...], tuple[int, ...], int] | None  # scales, zero points, dim
    sparse: bool


@dataclass(frozen=True, slots=True)
class _FileOp:
    """One operator of subgraph 0 (-1 marks an absent optional input)."""

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _FileModel:
    description: str
    subgraphs: int
    tensors: tuple[_FileTensor, ...]
    ops: tuple[_FileOp, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


# ============================================================================ public entry point
def load_tflite(path: str | os.PathLike[str]) -> Graph:
    """Import subgraph 0 of a TFLite flatbuffer as a verified IR graph.

    Args:
        path: the ``.tflite`` file.

    Returns:
        The graph in logical (NCHW) layout, with ``metadata`` ``source_format="tflite"``,
        ``source_layout="NHWC"``, ``source_path``, ``model_description`` (if the file has one),
        ``subgraphs`` (if there is more than one) and ``synthetic_constants`` (if any).

    Raises:
        ModelImportError: the file is missing, a directory, empty, not a TFLite flatbuffer,
            truncated or corrupt, has a tensor with a non-positive dimension or an unsupported
            element type, or its subgraph 0 has no operators.
    """
    p = Path(path)
    where = str(p)
    if not p.exists():
        raise ModelImportError(f"{where}: no such file; check the path to the .tflite model")
    if p.is_dir():
        raise ModelImportError(f"{where}: is a directory; pass the .tflite file itself")
    try:
        buf = p.read_bytes()
    except OSError as e:
        raise ModelImportError(f"{where}: cannot read the file ({e.strerror or e})") from e
    if not buf:
        raise ModelImportError(f"{where}: the file is empty; re-export or copy the model again")
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelImportError(f"{where}: not a TFLite model (no 'TFL3' file identifier at bytes "
                               "4..8); pass a .tflite flatbuffer")
    model = _parse(buf, where)
    return _Importer(model, p).run()


# ============================================================================ parsing
def _parse(buf: bytes, where: str) -> _FileModel:
    """Read the flatbuffer into plain records, turning parser failures into import errors."""
    try:
        return _parse_unchecked(buf, where)
    except CnnmemError:
        raise
    except Exception as e:  # any parser failure on bad bytes means a corrupt file
        detail = " ".join(f"{type(e).__name__}: {e}".split())[:160]
        raise ModelImportError(f"{where}: the TFLite flatbuffer is truncated or corrupt "
                               f"({detail}); re-export the model or copy the file again") from e


def _corrupt(where: str, what: str) -> ModelImportError:
    return ModelImportError(f"{where}: the TFLite flatbuffer is corrupt ({what}); re-export the "
                            "model or copy the file again")


def _vector_length(n: int, buf: bytes, what: str, where: str) -> int:
    # Every vector element takes at least one byte: a longer vector means garbage offsets.
    if n < 0 or n > len(buf):
        raise _corrupt(where, f"{what} vector of length {n} in a {len(buf)}-byte file")
    return n


def _parse_unchecked(buf: bytes, where: str) -> _FileModel:
    m = tflite.Model.GetRootAsModel(buf, 0)
    n_sub = _vector_length(m.SubgraphsLength(), buf, "subgraph", where)
    if n_sub == 0:
        raise ModelImportError(f"{where}: the model has no subgraphs; re-export it")
    sg = m.Subgraphs(0)
    n_buffers = _vector_length(m.BuffersLength(), buf, "buffer", where)
    n_tensors = _vector_length(sg.TensorsLength(), buf, "tensor", where)
    n_codes = _vector_length(m.OperatorCodesLength(), buf, "operator code", where)
    n_ops = _vector_length(sg.OperatorsLength(), buf, "operator", where)
    description = (m.Description() or b"").decode("utf-8", errors="replace")

    def tensor_ref(i: int, what: str, optional: bool = False) -> int:
        if optional and i == -1:
            return -1
        if not 0 <= i < n_tensors:
            raise _corrupt(where, f"{what} refers to tensor {i} of {n_tensors}")
        return int(i)

    tensors = []
    for i in range(n_tensors):
        t = sg.Tensors(i)
        name = (t.Name() or b"").decode("utf-8", errors="replace")
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        b_index = t.Buffer()
        if not 0 <= b_index < max(n_buffers, 1):
            raise _corrupt(where, f"tensor {name!r} refers to buffer {b_index} of {n_buffers}")
        raw = None
        if n_buffers:
            b = m.Buffers(b_index)
            if b.DataLength() > 0:
                raw = b.DataAsNumpy()
            elif b.Offset() > 1:  # large models keep data outside the flatbuffer
                start, size = int(b.Offset()), int(b.Size())
                if start + size > len(buf):
                    raise _corrupt(where, f"tensor {name!r}: buffer data beyond end of file")
                raw = np.frombuffer(buf, dtype=np.uint8, count=size, offset=start)
            if raw is not None and raw.size == 0:
                raw = None
        quant = None
        q = t.Quantization()
        if q is not None and q.ScaleLength() > 0:
            scales = tuple(float(s) for s in q.ScaleAsNumpy())
            zps = (tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() > 0
                   else (0,) * len(scales))
            quant = (scales, zps, int(q.QuantizedDimension()))
        tensors.append(_FileTensor(i, name, shape, int(t.Type()), raw, quant,
                                   t.Sparsity() is not None))

    ops = []
    for k in range(n_ops):
        op = sg.Operators(k)
        code_index = op.OpcodeIndex()
        if not 0 <= code_index < n_codes:
            raise _corrupt(where, f"operator {k} uses operator code {code_index} of {n_codes}")
        oc = m.OperatorCodes(code_index)
        code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
        if code == 32:  # CUSTOM
            name = "CUSTOM:" + (oc.CustomCode() or b"").decode("utf-8", errors="replace")
        else:
            name = BUILTIN_OPCODE2NAME.get(code, f"BUILTIN_{code}")
        inputs = tuple(tensor_ref(int(i), f"operator {k} ({name}) input", optional=True)
                       for i in (op.InputsAsNumpy() if op.InputsLength() else ()))
        outputs = tuple(tensor_ref(int(i), f"operator {k} ({name}) output", optional=True)
                        for i in (op.OutputsAsNumpy() if op.OutputsLength() else ()))
        ops.append(_FileOp(k, name, inputs, tuple(o for o in outputs if o >= 0),
                           _read_options(op, name, k, where)))
    sg_inputs = tuple(tensor_ref(int(i), "subgraph input")
                      for i in (sg.InputsAsNumpy() if sg.InputsLength() else ()))
    sg_outputs = tuple(tensor_ref(int(i), "subgraph output")
                       for i in (sg.OutputsAsNumpy() if sg.OutputsLength() else ()))
    return _FileModel(description, n_sub, tuple(tensors), tuple(ops), sg_inputs, sg_outputs)


_EMPTY_TABLE: tuple[bytes, int] | None = None


def _empty_table() -> tuple[bytes, int]:
    """A flatbuffer holding one empty table: options read from it give the schema defaults."""
    global _EMPTY_TABLE
    if _EMPTY_TABLE is None:
        b = flatbuffers.Builder(16)
        b.StartObject(0)
        b.Finish(b.EndObject())
        out = bytes(b.Output())
        _EMPTY_TABLE = (out, flatbuffers.encode.Get(flatbuffers.packer.uoffset, out, 0))
    return _EMPTY_TABLE


def _read_options(op: Any, name: str, index: int, where: str) -> dict[str, Any]:
    spec = _OPTIONS.get(name)
    if spec is None:
        return {}
    cls_name, fields = spec
    obj = getattr(tflite, cls_name)()
    actual = int(op.BuiltinOptionsType())
    table = op.BuiltinOptions()
    if table is None or actual == 0:
        obj.Init(*_empty_table())
    elif actual != getattr(tflite.BuiltinOptions, cls_name):
        raise _corrupt(where, f"operator {index} ({name}) has options of type {actual}, "
                       f"expected {cls_name}")
    else:
        obj.Init(table.Bytes, table.Pos)
    out: dict[str, Any] = {}
    for f in fields:
        if f.endswith("*"):
            base = f[:-1]
            n = getattr(obj, base + "Length")()
            out[base] = tuple(int(v) for v in getattr(obj, base + "AsNumpy")()) if n else ()
        else:
            out[f] = getattr(obj, f)()
    return out


# ============================================================================ conversions
Transform = Callable[[Shape, "NDArray[np.generic] | None", "QuantParams | None"],
                     tuple[Shape, "NDArray[np.generic] | None", "QuantParams | None"]]


class _RejectError(Exception):
    """A candidate translation cannot be used (the op falls back to the next one)."""


@dataclass(frozen=True, slots=True)
class _Conv:
    """How a constant operand is converted: ``key`` names the result (for caching),
    ``fn`` computes it (``None``: unchanged)."""

    key: str
    fn: Transform | None = None


_RAW = _Conv("raw")


def _permute_quant(quant: QuantParams | None, perm: Sequence[int]) -> QuantParams | None:
    if quant is None or quant.axis is None:
        return quant
    return QuantParams(quant.scale, quant.zero_point, list(perm).index(quant.axis))


def _perm_fn(perm: Shape) -> Transform:
    """Transpose a constant (shape, data, quantisation axis) by ``perm``."""
    def fn(shape: Shape, data: NDArray[np.generic] | None, quant: QuantParams | None
           ) -> tuple[Shape, NDArray[np.generic] | None, QuantParams | None]:
        if len(shape) != len(perm):
            raise _RejectError(f"rank {len(shape)} operand cannot take permutation {perm}")
        new = None if data is None else np.ascontiguousarray(np.transpose(data, perm))
        return tuple(shape[p] for p in perm), new, _permute_quant(quant, perm)
    return fn


def _perm_conv(perm: Shape) -> _Conv:
    return _Conv(f"perm{perm}", _perm_fn(perm))


_to_nchw = _perm_fn(_PERM_NCHW)
_NCHW = _Conv(f"perm{_PERM_NCHW}", _to_nchw)


def _data_rule(shape: Shape) -> _Conv:
    """Default for operands: rank-4 constants are feature-map-like, converted NHWC -> NCHW."""
    return _NCHW if len(shape) == 4 else _RAW


def _bcast_rule(out_rank: int) -> Callable[[Shape], _Conv]:
    """Operands of a broadcasting element-wise op with a result of rank ``out_rank``."""
    def rule(shape: Shape) -> _Conv:
        r = len(shape)
        if out_rank != 4 or r == 0:
            return _RAW
        if r == 4:
            return _NCHW
        if r > 4:
            raise _RejectError("operand of rank > 4")

        def fn(shape: Shape, data: NDArray[np.generic] | None, quant: QuantParams | None
               ) -> tuple[Shape, NDArray[np.generic] | None, QuantParams | None]:
            pad = 4 - len(shape)
            shape4 = (1,) * pad + shape
            data4 = None if data is None else data.reshape(shape4)
            if quant is not None and quant.axis is not None:
                quant = QuantParams(quant.scale, quant.zero_point, quant.axis + pad)
            return _to_nchw(shape4, data4, quant)
        return _Conv(f"bcast4_from{r}", fn)
    return rule


def _value_conv(key: str, compute: Callable[[NDArray[np.generic]], NDArray[np.generic]]
                ) -> _Conv:
    """A conversion of a shape-like constant's values (needs the data; drops quantisation)."""
    def fn(shape: Shape, data: NDArray[np.generic] | None, quant: QuantParams | None
           ) -> tuple[Shape, NDArray[np.generic] | None, QuantParams | None]:
        if data is None:
            raise _RejectError("the operand has no data")
        new = np.ascontiguousarray(compute(data))
        return tuple(int(d) for d in new.shape), new, None
    return _Conv(key, fn)


def _logical_axis(axis: int, rank: int) -> int:
    """A file axis (NHWC for rank 4) as a logical axis."""
    a = axis % rank if rank else 0
    return _PERM_NCHW.index(a) if rank == 4 else a


def _logical_order(rank: int) -> Shape:
    """For each logical axis, the file axis it comes from."""
    return _PERM_NCHW if rank == 4 else tuple(range(rank))


def _order_preserved(rank: int, removed: Sequence[int]) -> bool:
    """True if dropping file axes ``removed`` of a rank-``rank`` tensor leaves the same axis
    order in the file layout and in the logical layout (so a rank-reducing op's result, which
    keeps the file's shape, is also the logical result)."""
    kept_file = [a for a in range(rank) if a not in removed]
    kept_logical = [a for a in _logical_order(rank) if a not in removed]
    return kept_file == kept_logical


def _window_pads(padding: int, in_hw: Shape, out_hw: Shape, kernel: Shape, strides: Shape,
                 dilations: Shape) -> tuple[int, int, int, int]:
    """ONNX ``pads`` (top, left, bottom, right) of a TFLite SAME/VALID window."""
    if padding == _VALID:
        return (0, 0, 0, 0)
    if padding != _SAME:
        raise _RejectError(f"unknown padding {padding}")
    begin, end = [], []
    for a in range(2):
        total = max((out_hw[a] - 1) * strides[a] + (kernel[a] - 1) * dilations[a] + 1
                    - in_hw[a], 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return (begin[0], begin[1], end[0], end[1])


def _fused(code: int) -> Activation | None:
    if code == 0:
        return None
    if code == 1:
        return Activation("Relu")
    if code == 2:
        return Activation("Clip", (("max", 1.0), ("min", -1.0)))
    if code == 3:
        return Activation("Clip", (("max", 6.0), ("min", 0.0)))
    if code == 4:
        return Activation("Tanh")
    raise _RejectError(f"fused activation {code} is not supported")


def _dtype_of_array(data: NDArray[np.generic]) -> DType:
    for d in DType:
        if d.numpy == data.dtype and d is not DType.BFLOAT16:
            return d
    raise _RejectError(f"no IR dtype for numpy {data.dtype}")


# ============================================================================ translation plans
@dataclass(frozen=True, slots=True)
class _Operand:
    """File tensor ``index`` as an operand; ``rule`` picks the conversion of a constant."""

    index: int
    rule: Callable[[Shape], _Conv] = _data_rule
    need_const: bool = False


@dataclass(frozen=True, slots=True)
class _NewConst:
    """A synthetic constant (value the IR op needs that no file constant holds)."""

    hint: str
    data: NDArray[np.generic]


_Spec = _Operand | _NewConst | None


def unique_tensor_names(raw: Sequence[str | None]) -> list[str]:
    """IR names of a subgraph's tensors, by index: the file's name, or ``tensor_<index>`` when
    it has none, made unique with ``_<k>`` suffixes (the offline-plan writer relies on this)."""
    used: set[str] = set()
    out = []
    for index, given in enumerate(raw):
        base = given or f"tensor_{index}"
        name, k = base, 1
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        out.append(name)
    return out


@dataclass
class _Plan:
    op_type: str
    inputs: list[_Spec]
    attrs: dict[str, AttrValue] = field(default_factory=dict)
    activation: Activation | None = None

    def with_source_operands(self, specs: Sequence[_Spec]) -> _Plan:
        """Append the file's operands that the IR op does not read (unconverted)."""
        if any(s is not None for s in specs):
            self.attrs["source_operands_at"] = len(self.inputs)
            self.inputs.extend(s for s in specs)
        return self


def _raw(index: int) -> _Operand:
    return _Operand(index, lambda shape: _RAW)


def _opt(op: _FileOp, i: int) -> int:
    """Input ``i`` of ``op`` or -1 if absent."""
    return op.inputs[i] if i < len(op.inputs) else -1


# ============================================================================ the importer
class _Importer:
    """Builds the IR graph of one parsed file (use once: ``_Importer(model, path).run()``)."""

    def __init__(self, model: _FileModel, path: Path) -> None:
        self.m = model
        self.path = path
        self.where = str(path)
        self.graph = Graph(path.stem or "tflite")
        self.producer: dict[int, _FileOp] = {}
        self.inputs = set(model.inputs)
        self.ir: dict[int, Tensor] = {}  # activations and graph inputs
        self.consts: dict[tuple[int, str], Tensor] = {}
        self.converted: dict[tuple[int, str], tuple[Shape, Any, QuantParams | None]] = {}
        self.decoded: dict[int, NDArray[np.generic] | None] = {}
        self.values: dict[str, NDArray[np.generic]] = {}
        self.weight_perm: dict[int, Shape] = {}
        self.synthetic: list[str] = []
        self.node_names: set[str] = set()
        self.names = self._unique_tensor_names()
        self.reserved = set(self.names)

    # ------------------------------------------------------------------ driver
    def run(self) -> Graph:
        """Build, sort and verify the graph.

        Raises:
            ModelImportError: the file's graph is inconsistent or uses unsupported tensors.
        """
        try:
            self._build()
            topological_sort(self.graph)
            verify(self.graph)
        except InvariantError as e:
            raise ModelImportError(f"{self.where}: the imported graph is inconsistent: {e}") from e
        return self.graph

    def _build(self) -> None:
        m, g = self.m, self.graph
        if not m.ops:
            raise ModelImportError(f"{self.where}: subgraph 0 has no operators; nothing to "
                                   "import (re-export the model)")
        g.metadata.update({"source_format": "tflite", "source_layout": "NHWC",
                           "source_path": self.where})
        if m.description.strip():
            g.metadata["model_description"] = m.description.strip()
        if m.subgraphs > 1:
            g.metadata["subgraphs"] = str(m.subgraphs)
        for op in m.ops:
            for o in op.outputs:
                if o in self.producer or o in self.inputs:
                    raise _corrupt(self.where, f"tensor {self.names[o]!r} is written by more "
                                   "than one operator or is also a subgraph input")
                self.producer[o] = op
        order = self._op_order()
        self._find_weight_layouts()
        for i in dict.fromkeys(m.inputs):
            t = Tensor(self.names[i], self._act_shape(i), self._dtype(i), TensorKind.INPUT,
                       quant=self._act_quant(i))
            self.ir[i] = g.add_tensor(t)
        for op in order:
            self._add_op(op)
        for i in m.outputs:
            if i in self.ir:
                g.outputs.append(self.ir[i])
            elif m.tensors[i].raw is not None:
                g.outputs.append(self._resolve(_raw(i)))
            else:
                raise _corrupt(self.where, f"subgraph output {self.names[i]!r} is not produced "
                               "by any operator")
        if self.synthetic:
            g.metadata["synthetic_constants"] = json.dumps(self.synthetic)

    def _unique_tensor_names(self) -> list[str]:
        return unique_tensor_names([t.name for t in self.m.tensors])

    def _fresh_name(self, base: str) -> str:
        name = self.graph.unique_name(base)
        k = 1
        while name in self.reserved:
            name, k = self.graph.unique_name(f"{base}_{k}"), k + 1
        self.reserved.add(name)
        return name

    def _op_order(self) -> list[_FileOp]:
        """The operators in topological order (stable: file order wherever valid)."""
        ops = self.m.ops
        deps: dict[int, set[int]] = {}
        users: dict[int, list[int]] = {op.index: [] for op in ops}
        for op in ops:
            deps[op.index] = {self.producer[i].index for i in op.inputs
                              if i in self.producer and self.producer[i] is not op}
            for d in deps[op.index]:
                users[d].append(op.index)
            if any(i in op.outputs for i in op.inputs):
                raise ModelImportError(f"{self.where}: operator {op.index} ({op.name}) reads its "
                                       "own output; the graph has a cycle")
        ready = [k for k, d in deps.items() if not d]
        heapq.heapify(ready)
        order = []
        while ready:
            k = heapq.heappop(ready)
            order.append(ops[k])
            for u in users[k]:
                deps[u].discard(k)
                if not deps[u]:
                    heapq.heappush(ready, u)
        if len(order) != len(ops):
            stuck = next(op for op in ops if deps[op.index])
            raise ModelImportError(f"{self.where}: the graph has a cycle through operator "
                                   f"{stuck.index} ({stuck.name}); a CNN graph must be acyclic")
        return order

    def _find_weight_layouts(self) -> None:
        """Run-time tensors used as convolution weights (e.g. DEQUANTIZE of float16 weights)
        take the IR weight layout; so does the constant a DEQUANTIZE reads."""
        for op in self.m.ops:
            perm = {"CONV_2D": _PERM_OIHW, "DEPTHWISE_CONV_2D": _PERM_DW,
                    "TRANSPOSE_CONV": _PERM_IOHW}.get(op.name)
            w = _opt(op, 1)
            if perm is not None and w >= 0 and w in self.producer \
                    and len(self.m.tensors[w].shape) == 4:
                self.weight_perm[w] = perm

    # ------------------------------------------------------------------ tensors
    def _file_shape(self, i: int) -> Shape:
        t = self.m.tensors[i]
        if any(d <= 0 for d in t.shape):
            raise ModelImportError(f"{self.where}: tensor {self.names[i]!r} has a non-positive "
                                   f"dimension in its shape {list(t.shape)}; re-export the "
                                   "model with fixed (positive) shapes")
        return t.shape

    def _dtype(self, i: int) -> DType:
        code = self.m.tensors[i].type_code
        if code not in _DTYPES:
            name = _TYPE_NAMES.get(code, str(code))
            raise ModelImportError(f"{self.where}: tensor {self.names[i]!r} has element type "
                                   f"{name}, which cnnmem does not support")
        return _DTYPES[code]

    def _file_quant(self, i: int) -> QuantParams | None:
        q = self.m.tensors[i].quant
        if q is None:
            return None
        scales, zps, dim = q
        if len(zps) != len(scales):
            zps = (zps + (0,) * len(scales))[:len(scales)]
        if len(scales) == 1:
            return QuantParams(scales, zps, None)
        shape = self.m.tensors[i].shape
        if not 0 <= dim < len(shape) or shape[dim] != len(scales):
            raise _corrupt(self.where, f"tensor {self.names[i]!r} has {len(scales)} "
                           f"quantisation scales for axis {dim} of shape {list(shape)}")
        return QuantParams(scales, zps, dim)

    def _act_perm(self, i: int) -> Shape | None:
        if i in self.weight_perm:
            return self.weight_perm[i]
        return _PERM_NCHW if len(self.m.tensors[i].shape) == 4 else None

    def _act_shape(self, i: int) -> Shape:
        shape = self._file_shape(i)
        perm = self._act_perm(i)
        return shape if perm is None else tuple(shape[p] for p in perm)

    def _act_quant(self, i: int) -> QuantParams | None:
        perm = self._act_perm(i)
        q = self._file_quant(i)
        return q if perm is None else _permute_quant(q, perm)

    def _is_const(self, i: int) -> bool:
        return i not in self.producer and i not in self.inputs

    def _data(self, i: int) -> NDArray[np.generic] | None:
        """The constant's values in the file's layout (``None``: no data or sparse)."""
        if i in self.decoded:
            return self.decoded[i]
        t = self.m.tensors[i]
        shape, dtype = self._file_shape(i), self._dtype(i)
        data: NDArray[np.generic] | None = None
        if t.raw is not None and not t.sparse:
            n = math.prod(shape)
            want = n * (2 if dtype is DType.BFLOAT16 else dtype.itemsize)
            if t.raw.size != want:
                raise _corrupt(self.where, f"constant {self.names[i]!r} holds {t.raw.size} "
                               f"bytes but its shape {list(shape)} needs {want}")
            raw = np.array(t.raw, dtype=np.uint8)  # an aligned, writable copy
            if dtype is DType.BFLOAT16:
                arr = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                arr = raw.view(dtype.numpy.newbyteorder("<"))
            data = arr.astype(dtype.numpy, copy=False).reshape(shape)
        self.decoded[i] = data
        return data

    def _converted(self, i: int, conv: _Conv
                   ) -> tuple[Shape, NDArray[np.generic] | None, QuantParams | None]:
        key = (i, conv.key)
        if key not in self.converted:
            shape, data, quant = self._file_shape(i), self._data(i), self._file_quant(i)
            if conv.fn is not None:
                shape, data, quant = conv.fn(shape, data, quant)
            self.converted[key] = (shape, data, quant)
        return self.converted[key]

    def _peek(self, spec: _Operand | _NewConst) -> tuple[Shape, DType, Any]:
        """Shape, dtype and known value of an operand, registering nothing."""
        if isinstance(spec, _NewConst):
            return tuple(int(d) for d in spec.data.shape), _dtype_of_array(spec.data), spec.data
        i = spec.index
        if i < 0:
            raise _RejectError("a required operand is absent")
        if not self._is_const(i):
            if spec.need_const:
                raise _RejectError(f"operand {self.names[i]!r} is not a constant")
            t = self.ir[i]
            return t.shape, t.dtype, self.values.get(t.name)
        shape, data, _ = self._converted(i, spec.rule(self._file_shape(i)))
        return shape, self._dtype(i), data

    def _resolve(self, spec: _Operand | _NewConst) -> Tensor:
        """The IR tensor for an operand, registering constants on first use."""
        g = self.graph
        if isinstance(spec, _NewConst):
            name = self._fresh_name(spec.hint)
            self.synthetic.append(name)
            return g.add_constant(name, spec.data.shape, _dtype_of_array(spec.data),
                                  data=spec.data)
        i = spec.index
        if not self._is_const(i):
            return self.ir[i]
        conv = spec.rule(self._file_shape(i))
        key = (i, conv.key)
        if key not in self.consts:
            shape, data, quant = self._converted(i, conv)
            if any(k[0] == i for k in self.consts):  # the same file tensor in another layout
                name = self._fresh_name(f"{self.names[i]}/{conv.key}")
                self.synthetic.append(name)
            else:
                name = self.names[i]
            self.consts[key] = g.add_constant(name, shape, self._dtype(i), data=data,
                                              quant=quant)
        return self.consts[key]

    # ------------------------------------------------------------------ operators
    def _add_op(self, op: _FileOp) -> None:
        plans: list[_Plan] = []
        mapper = _MAPPERS.get(op.name)
        if mapper is None and op.name in _UNARY:
            mapper = _Importer._map_unary
        elif mapper is None and op.name in _BINARY:
            mapper = _Importer._map_binary
        elif mapper is None and op.name in _REDUCE:
            mapper = _Importer._map_reduce
        if mapper is not None:
            for o in op.outputs:  # bad dims/dtypes are errors whatever the translation
                self._file_shape(o)
                self._dtype(o)
            try:
                plans = mapper(self, op)
            except (_RejectError, IndexError, ZeroDivisionError):  # malformed: import generically
                plans = []
        chosen: _Plan | None = None
        out_values: list[Any] = []
        for plan in plans:
            try:
                result = self._check(op, plan)
            except _RejectError:
                continue
            if result is not None:
                chosen, out_values = plan, result
                break
        if chosen is None:
            chosen = _Plan(op.name, [_raw(i) if i >= 0 else None for i in op.inputs])
            out_values = [None] * len(op.outputs)
        base = self.names[op.outputs[0]] if op.outputs else f"{op.name}_{op.index}"
        name, k = base, 1
        while name in self.node_names:
            name, k = f"{base}_{k}", k + 1
        self.node_names.add(name)
        node = Node(name, chosen.op_type, chosen.attrs, activation=chosen.activation,
                    source_op=op.name)
        inputs = [None if s is None else self._resolve(s) for s in chosen.inputs]
        outputs = [Tensor(self.names[o], self._act_shape(o), self._dtype(o),
                          TensorKind.ACTIVATION, quant=self._act_quant(o)) for o in op.outputs]
        self.graph.add_node(node, inputs, outputs)
        for o, t, v in zip(op.outputs, outputs, out_values, strict=True):
            self.ir[o] = t
            if v is not None:
                self.values[t.name] = v

    def _check(self, op: _FileOp, plan: _Plan) -> list[Any] | None:
        """Output values if ``plan`` reproduces the file's output shapes, else ``None``."""
        scratch = Graph("check")
        shapes: list[Shape | None] = []
        dtypes: list[DType | None] = []
        values: list[Any] = []
        tensors: list[Tensor | None] = []
        for k, spec in enumerate(plan.inputs):
            if spec is None:
                shapes.append(None)
                dtypes.append(None)
                values.append(None)
                tensors.append(None)
                continue
            shape, dtype, value = self._peek(spec)
            shapes.append(shape)
            dtypes.append(dtype)
            values.append(value)
            tensors.append(scratch.add_constant(f"in{k}", shape, dtype))
        node = Node("check", plan.op_type, plan.attrs)
        outs = [Tensor(f"out{k}", self._act_shape(o), self._dtype(o), TensorKind.ACTIVATION)
                for k, o in enumerate(op.outputs)]
        scratch.add_node(node, tensors, outs)
        try:
            expected, _, out_values = infer_node(node, shapes, dtypes, values)
        except (CnnmemError, ValueError, IndexError, TypeError, ZeroDivisionError):
            return None
        if len(expected) != len(outs) or any(tuple(e) != t.shape
                                              for e, t in zip(expected, outs, strict=True)):
            return None
        return list(out_values)

    def _const_ints(self, i: int) -> list[int]:
        """The values of constant file tensor ``i`` (raises _RejectError if not a constant)."""
        if i < 0 or not self._is_const(i):
            raise _RejectError("operand is not a constant")
        data = self._data(i)
        if data is None:
            raise _RejectError("operand has no data")
        return [int(v) for v in np.asarray(data).reshape(-1)]

    def _rank(self, i: int) -> int:
        return len(self.m.tensors[i].shape)

    def _out(self, op: _FileOp) -> int:
        if len(op.outputs) != 1:
            raise _RejectError("expected one output")
        return op.outputs[0]

    # -- convolutions and pooling
    def _map_conv(self, op: _FileOp) -> list[_Plan]:
        x, w, b = _opt(op, 0), _opt(op, 1), _opt(op, 2)
        out = self._out(op)
        if x < 0 or w < 0:
            return []
        xs, ws, os_ = self._file_shape(x), self._file_shape(w), self._file_shape(out)
        if len(xs) != 4 or len(ws) != 4 or len(os_) != 4:
            return []
        o = op.options
        kernel, strides = (ws[1], ws[2]), (o["StrideH"], o["StrideW"])
        dil = (o["DilationHFactor"], o["DilationWFactor"])
        if op.name == "DEPTHWISE_CONV_2D":
            group, perm = xs[3], _PERM_DW
        else:
            if xs[3] % ws[3]:
                return []
            group, perm = xs[3] // ws[3], _PERM_OIHW
        pads = _window_pads(o["Padding"], xs[1:3], os_[1:3], kernel, strides, dil)
        wconv = _perm_conv(perm)
        inputs: list[_Spec] = [_Operand(x), _Operand(w, lambda s: wconv)]
        if b >= 0:
            inputs.append(_Operand(b))
        attrs: dict[str, AttrValue] = {"kernel_shape": kernel, "strides": strides,
                                       "dilations": dil, "pads": pads, "group": group}
        return [_Plan("Conv", inputs, attrs, _fused(o["FusedActivationFunction"]))]

    def _map_transpose_conv(self, op: _FileOp) -> list[_Plan]:
        out_shape, w, x, b = _opt(op, 0), _opt(op, 1), _opt(op, 2), _opt(op, 3)
        out = self._out(op)
        if x < 0 or w < 0:
            return []
        xs, ws, os_ = self._file_shape(x), self._file_shape(w), self._file_shape(out)
        if len(xs) != 4 or len(ws) != 4 or len(os_) != 4 or ws[3] != xs[3]:
            return []
        o = op.options
        kernel, strides = (ws[1], ws[2]), (o["StrideH"], o["StrideW"])
        begin, end = [], []
        for a in range(2):
            # output = (in - 1) * s - begin - end + k; a negative end pad is output padding
            total = (xs[1 + a] - 1) * strides[a] + kernel[a] - os_[1 + a]
            first = max(total, 0) // 2 if o["Padding"] == _SAME else 0
            begin.append(first)
            end.append(total - first)
        wconv = _perm_conv(_PERM_IOHW)
        attrs: dict[str, AttrValue] = {
            "kernel_shape": kernel, "strides": strides, "dilations": (1, 1),
            "pads": (begin[0], begin[1], end[0], end[1]), "group": 1}
        plan = _Plan("ConvTranspose", [_Operand(x), _Operand(w, lambda s: wconv),
                                       _Operand(b) if b >= 0 else None],
                     attrs, _fused(o["FusedActivationFunction"]))
        return [plan.with_source_operands([_raw(out_shape) if out_shape >= 0 else None])]

    def _map_pool(self, op: _FileOp) -> list[_Plan]:
        x, out = _opt(op, 0), self._out(op)
        xs, os_ = self._file_shape(x), self._file_shape(out)
        if len(xs) != 4 or len(os_) != 4:
            return []
        o = op.options
        kernel, strides = (o["FilterHeight"], o["FilterWidth"]), (o["StrideH"], o["StrideW"])
        pads = _window_pads(o["Padding"], xs[1:3], os_[1:3], kernel, strides, (1, 1))
        attrs: dict[str, AttrValue] = {"kernel_shape": kernel, "strides": strides,
                                       "dilations": (1, 1), "pads": pads, "ceil_mode": 0,
                                       "count_include_pad": 0}
        op_type = "AveragePool" if op.name == "AVERAGE_POOL_2D" else "MaxPool"
        return [_Plan(op_type, [_Operand(x)], attrs, _fused(o["FusedActivationFunction"]))]

    def _map_fully_connected(self, op: _FileOp) -> list[_Plan]:
        x, w, b = _opt(op, 0), _opt(op, 1), _opt(op, 2)
        out = self._out(op)
        if x < 0 or w < 0 or self._rank(x) != 2 or self._rank(w) != 2 or self._rank(out) != 2 \
                or op.options["WeightsFormat"] != 0:  # shuffled weights: not (O, I) data
            return []
        inputs: list[_Spec] = [_Operand(x), _Operand(w)]
        if b >= 0:
            inputs.append(_Operand(b))
        act = _fused(op.options["FusedActivationFunction"])
        return [_Plan("Gemm", inputs, {"transB": 1}, act)]

    def _map_batch_matmul(self, op: _FileOp) -> list[_Plan]:
        a, b = _opt(op, 0), _opt(op, 1)
        out = self._out(op)
        if op.options["AdjX"] or op.options["AdjY"] or a < 0 or b < 0 \
                or 4 in (self._rank(a), self._rank(b), self._rank(out)):
            return []
        return [_Plan("MatMul", [_Operand(a), _Operand(b)])]

    # -- element-wise
    def _map_unary(self, op: _FileOp) -> list[_Plan]:
        op_type, attrs = _UNARY[op.name]
        return [_Plan(op_type, [_Operand(_opt(op, 0))], dict(attrs))]

    def _map_leaky_relu(self, op: _FileOp) -> list[_Plan]:
        return [_Plan("LeakyRelu", [_Operand(_opt(op, 0))],
                      {"alpha": float(op.options["Alpha"])})]

    def _map_gelu(self, op: _FileOp) -> list[_Plan]:
        approx = "tanh" if op.options["Approximate"] else "none"
        return [_Plan("Gelu", [_Operand(_opt(op, 0))], {"approximate": approx})]

    def _broadcast_operands(self, op: _FileOp, n: int) -> list[_Spec]:
        out_rank = self._rank(self._out(op))
        specs: list[_Spec] = []
        for k in range(n):
            i = _opt(op, k)
            if i < 0:
                raise _RejectError("missing operand")
            if out_rank == 4 and 0 < self._rank(i) < 4 and not self._is_const(i):
                raise _RejectError("run-time operand of lower rank broadcast against NHWC")
            specs.append(_Operand(i, _bcast_rule(out_rank)))
        return specs

    def _map_binary(self, op: _FileOp) -> list[_Plan]:
        act = _fused(op.options.get("FusedActivationFunction", 0))
        return [_Plan(_BINARY[op.name], self._broadcast_operands(op, 2), {}, act)]

    def _map_prelu(self, op: _FileOp) -> list[_Plan]:
        return [_Plan("PRelu", self._broadcast_operands(op, 2))]

    def _map_softmax(self, op: _FileOp) -> list[_Plan]:
        x = _opt(op, 0)
        axis = 1 if self._rank(x) == 4 else -1
        attrs: dict[str, AttrValue] = {"axis": axis}
        if op.name == "SOFTMAX":
            attrs["beta"] = float(op.options["Beta"])
        return [_Plan("Softmax" if op.name == "SOFTMAX" else "LogSoftmax", [_Operand(x)], attrs)]

    def _map_quantize(self, op: _FileOp) -> list[_Plan]:
        x, out = _opt(op, 0), self._out(op)
        out_dtype = self._dtype(out)
        op_type = "QuantizeLinear" if self._dtype(x).is_float else "Requantize"
        return [_Plan(op_type, [_Operand(x)], {"output_dtype": out_dtype.short_name})]

    def _map_dequantize(self, op: _FileOp) -> list[_Plan]:
        x, out = _opt(op, 0), self._out(op)
        perm = self.weight_perm.get(out)
        if perm is not None:
            conv = _perm_conv(perm)
            operand = _Operand(x, lambda s: conv)
        else:
            operand = _Operand(x)
        return [_Plan("DequantizeLinear", [operand])]

    def _map_cast(self, op: _FileOp) -> list[_Plan]:
        return [_Plan("Cast", [_Operand(_opt(op, 0))],
                      {"to": self._dtype(self._out(op)).short_name})]

    # -- reductions
    def _map_reduce(self, op: _FileOp) -> list[_Plan]:
        x, axes_t = _opt(op, 0), _opt(op, 1)
        self._out(op)
        rank = self._rank(x)
        file_axes = sorted({a % rank for a in self._const_ints(axes_t)}) if rank else []
        keep = int(bool(op.options["KeepDims"]))
        if not keep and not _order_preserved(rank, file_axes):
            return []
        logical = tuple(sorted(_logical_axis(a, rank) for a in file_axes))
        if rank == 4:
            axes_conv = _value_conv("axes_nchw", lambda d: np.asarray(
                [_logical_axis(int(a), 4) for a in d.reshape(-1)], dtype=d.dtype
            ).reshape(d.shape))
        else:
            axes_conv = _RAW
        attrs: dict[str, AttrValue] = {"axes": logical, "keepdims": keep}
        return [_Plan(_REDUCE[op.name], [_Operand(x), _Operand(axes_t, lambda s: axes_conv,
                                                                need_const=True)], attrs)]

    # -- shape manipulation
    def _map_reshape(self, op: _FileOp) -> list[_Plan]:
        x, target, out = _opt(op, 0), _opt(op, 1), self._out(op)
        logical = self._act_shape(out)
        attrs: dict[str, AttrValue] = {"source_layout": "NHWC"}
        plans = []
        if target >= 0 and self._is_const(target):
            plans.append(_Plan("Reshape", [_Operand(x), _raw(target)], dict(attrs)))
            if self._rank(target) == 1 and self._file_shape(target)[0] == len(logical):
                conv = _value_conv(f"shape{logical}",
                                   lambda d: np.asarray(logical, dtype=d.dtype))
                plans.append(_Plan("Reshape", [_Operand(x), _Operand(
                    target, lambda s: conv, need_const=True)], dict(attrs)))
        # last resort: a synthetic logical target, the file's operand kept as a source operand
        new = _NewConst(f"{self.names[out]}/logical_shape", np.asarray(logical, np.int64))
        plans.append(_Plan("Reshape", [_Operand(x), new], dict(attrs))
                     .with_source_operands([_raw(target) if target >= 0 else None]))
        return plans

    def _map_squeeze(self, op: _FileOp) -> list[_Plan]:
        x = _opt(op, 0)
        xs = self._file_shape(x)
        rank = len(xs)
        dims = op.options["SqueezeDims"]
        file_axes = sorted({a % rank for a in dims}) if dims else \
            [a for a, d in enumerate(xs) if d == 1]
        if not _order_preserved(rank, file_axes):
            return []
        attrs: dict[str, AttrValue] = {}
        if dims:
            attrs["axes"] = tuple(sorted(_logical_axis(a, rank) for a in file_axes))
        return [_Plan("Squeeze", [_Operand(x)], attrs)]

    def _map_expand_dims(self, op: _FileOp) -> list[_Plan]:
        x, axis, out = _opt(op, 0), _opt(op, 1), self._out(op)
        if 4 in (self._rank(x), self._rank(out)):
            return []
        return [_Plan("Unsqueeze", [_Operand(x), _raw(axis)])]

    def _map_transpose(self, op: _FileOp) -> list[_Plan]:
        x, perm_t = _opt(op, 0), _opt(op, 1)
        p = self._const_ints(perm_t)
        if len(p) == 4:
            p = [_PERM_NHWC[p[_PERM_NCHW[i]]] for i in range(4)]
        plan = _Plan("Transpose", [_Operand(x)], {"perm": tuple(p)})
        return [plan.with_source_operands([_raw(perm_t)])]

    def _map_concat(self, op: _FileOp) -> list[_Plan]:
        ins = [i for i in op.inputs if i >= 0]
        rank = self._rank(ins[0])
        axis = _logical_axis(int(op.options["Axis"]), rank)
        return [_Plan("Concat", [_Operand(i) for i in ins], {"axis": axis},
                      _fused(op.options["FusedActivationFunction"]))]

    def _map_pack(self, op: _FileOp) -> list[_Plan]:
        ins = [i for i in op.inputs if i >= 0]
        rank = self._rank(ins[0])
        if rank >= 3:
            return []
        axis = int(op.options["Axis"]) % (rank + 1)
        return [_Plan("Pack", [_Operand(i) for i in ins], {"axis": axis})]

    def _map_split(self, op: _FileOp) -> list[_Plan]:
        if op.name == "SPLIT":
            axis_t, x, sizes_t = _opt(op, 0), _opt(op, 1), -1
        else:
            x, sizes_t, axis_t = _opt(op, 0), _opt(op, 1), _opt(op, 2)
        rank = self._rank(x)
        file_axis = self._const_ints(axis_t)[0] % rank
        attrs: dict[str, AttrValue] = {"axis": _logical_axis(file_axis, rank)}
        sizes: _Spec = None
        if sizes_t >= 0:
            real = [self._file_shape(o)[file_axis] for o in op.outputs]
            conv = _value_conv(f"sizes{tuple(real)}",
                               lambda d: np.asarray(real, dtype=d.dtype).reshape(d.shape))
            sizes = _Operand(sizes_t, lambda s: conv, need_const=True)
        return [_Plan("Split", [_Operand(x), sizes], attrs).with_source_operands([_raw(axis_t)])]

    def _map_strided_slice(self, op: _FileOp) -> list[_Plan]:
        x, begin_t, end_t, strides_t = (_opt(op, k) for k in range(4))
        o = op.options
        if o["EllipsisMask"] or o["NewAxisMask"] or o["Offset"]:
            return []
        rank = self._rank(x)
        begin, end = self._const_ints(begin_t), self._const_ints(end_t)
        steps = self._const_ints(strides_t) if strides_t >= 0 else [1] * len(begin)
        n = len(begin)
        if len(end) != n or len(steps) != n or n > rank or (rank == 4 and n != 4) or 0 in steps:
            return []
        order = _logical_order(n)
        bmask, emask = int(o["BeginMask"]), int(o["EndMask"])
        starts = [(0 if steps[a] > 0 else _INT32_MAX) if bmask >> a & 1 else begin[a]
                  for a in range(n)]
        ends = [(_INT32_MAX if steps[a] > 0 else _INT32_MIN) if emask >> a & 1 else end[a]
                for a in range(n)]

        def reorder(vals: list[int], key: str) -> _Conv:
            logical = [vals[order[j]] for j in range(n)]
            return _value_conv(f"{key}{tuple(logical)}",
                               lambda d: np.asarray(logical, dtype=d.dtype).reshape(d.shape))

        cs, ce, cst = reorder(starts, "starts"), reorder(ends, "ends"), reorder(steps, "steps")
        inputs: list[_Spec] = [_Operand(x), _Operand(begin_t, lambda s: cs, need_const=True),
                               _Operand(end_t, lambda s: ce, need_const=True), None]
        if strides_t >= 0:
            inputs.append(_Operand(strides_t, lambda s: cst, need_const=True))
        shrink_mask = int(o["ShrinkAxisMask"])
        if shrink_mask:
            if rank == 4:
                return []  # dropping NHWC axes changes the logical order: imported generically
            shrink = tuple(a for a in range(n) if shrink_mask >> a & 1)
            return [_Plan("StridedSlice", inputs, {"shrink_axes": shrink})]
        return [_Plan("Slice", inputs)]

    def _map_slice(self, op: _FileOp) -> list[_Plan]:
        x, begin_t, size_t = _opt(op, 0), _opt(op, 1), _opt(op, 2)
        rank = self._rank(x)
        begin, size = self._const_ints(begin_t), self._const_ints(size_t)
        n = len(begin)
        if len(size) != n or n > rank or (rank == 4 and n != 4):
            return []
        order = _logical_order(n)
        ends = [_INT32_MAX if s == -1 else b + s for b, s in zip(begin, size, strict=True)]
        starts_l = [begin[order[j]] for j in range(n)]
        ends_l = [ends[order[j]] for j in range(n)]
        cs = _value_conv(f"starts{tuple(starts_l)}",
                         lambda d: np.asarray(starts_l, dtype=d.dtype).reshape(d.shape))
        ce = _value_conv(f"ends{tuple(ends_l)}",
                         lambda d: np.asarray(ends_l, dtype=d.dtype).reshape(d.shape))
        return [_Plan("Slice", [_Operand(x), _Operand(begin_t, lambda s: cs, need_const=True),
                                _Operand(size_t, lambda s: ce, need_const=True)])]

    def _map_shape(self, op: _FileOp) -> list[_Plan]:
        x = _opt(op, 0)
        if self._rank(x) == 4:  # the file's values are NHWC-ordered: not the logical shape
            return []
        return [_Plan("Shape", [_Operand(x)])]

    def _map_pad(self, op: _FileOp) -> list[_Plan]:
        x, pads_t, value_t = _opt(op, 0), _opt(op, 1), _opt(op, 2)
        rank = self._rank(x)
        order = _logical_order(rank)
        attrs: dict[str, AttrValue] = {"mode": "constant"}
        if op.name == "MIRROR_PAD":
            if op.options["Mode"] != 0:  # SYMMETRIC has no ONNX equivalent
                return []
            attrs["mode"] = "reflect"

        def onnx_pads(d: NDArray[np.generic]) -> NDArray[np.generic]:
            p = np.asarray(d).reshape(rank, 2)[list(order)]
            return np.concatenate([p[:, 0], p[:, 1]])

        conv = _value_conv(f"pads_onnx{rank}", onnx_pads)
        inputs: list[_Spec] = [_Operand(x), _Operand(pads_t, lambda s: conv, need_const=True)]
        if value_t >= 0:
            inputs.append(_raw(value_t))
        return [_Plan("Pad", inputs, attrs)]

    def _map_resize(self, op: _FileOp) -> list[_Plan]:
        x, size_t = _opt(op, 0), _opt(op, 1)
        if self._rank(x) != 4:
            return []
        align, half = bool(op.options["AlignCorners"]), bool(op.options["HalfPixelCenters"])
        nearest = op.name == "RESIZE_NEAREST_NEIGHBOR"
        if align:
            coord = "align_corners"
        elif half:
            coord = "tf_half_pixel_for_nn" if nearest else "half_pixel"
        else:
            coord = "asymmetric"
        attrs: dict[str, AttrValue] = {"axes": (2, 3), "mode": "nearest" if nearest else "linear",
                                       "coordinate_transformation_mode": coord}
        if nearest:
            attrs["nearest_mode"] = "round_prefer_ceil" if align else "floor"
        return [_Plan("Resize", [_Operand(x), None, None, _raw(size_t)], attrs)]

    def _map_depth_space(self, op: _FileOp) -> list[_Plan]:
        x = _opt(op, 0)
        if self._rank(x) != 4:
            return []
        op_type = "DepthToSpace" if op.name == "DEPTH_TO_SPACE" else "SpaceToDepth"
        attrs: dict[str, AttrValue] = {"blocksize": int(op.options["BlockSize"])}
        if op_type == "DepthToSpace":
            attrs["mode"] = "DCR"
        return [_Plan(op_type, [_Operand(x)], attrs)]


_MAPPERS: dict[str, Callable[[_Importer, _FileOp], list[_Plan]]] = {
    "CONV_2D": _Importer._map_conv,
    "DEPTHWISE_CONV_2D": _Importer._map_conv,
    "TRANSPOSE_CONV": _Importer._map_transpose_conv,
    "AVERAGE_POOL_2D": _Importer._map_pool,
    "MAX_POOL_2D": _Importer._map_pool,
    "FULLY_CONNECTED": _Importer._map_fully_connected,
    "BATCH_MATMUL": _Importer._map_batch_matmul,
    "LEAKY_RELU": _Importer._map_leaky_relu,
    "GELU": _Importer._map_gelu,
    "PRELU": _Importer._map_prelu,
    "SOFTMAX": _Importer._map_softmax,
    "LOG_SOFTMAX": _Importer._map_softmax,
    "QUANTIZE": _Importer._map_quantize,
    "DEQUANTIZE": _Importer._map_dequantize,
    "CAST": _Importer._map_cast,
    "RESHAPE": _Importer._map_reshape,
    "SQUEEZE": _Importer._map_squeeze,
    "EXPAND_DIMS": _Importer._map_expand_dims,
    "TRANSPOSE": _Importer._map_transpose,
    "CONCATENATION": _Importer._map_concat,
    "PACK": _Importer._map_pack,
    "SPLIT": _Importer._map_split,
    "SPLIT_V": _Importer._map_split,
    "STRIDED_SLICE": _Importer._map_strided_slice,
    "SLICE": _Importer._map_slice,
    "SHAPE": _Importer._map_shape,
    "PAD": _Importer._map_pad,
    "PADV2": _Importer._map_pad,
    "MIRROR_PAD": _Importer._map_pad,
    "RESIZE_BILINEAR": _Importer._map_resize,
    "RESIZE_NEAREST_NEIGHBOR": _Importer._map_resize,
    "DEPTH_TO_SPACE": _Importer._map_depth_space,
    "SPACE_TO_DEPTH": _Importer._map_depth_space,
}
