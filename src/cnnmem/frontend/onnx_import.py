"""ONNX importer: ``load_onnx(path) -> Graph``.

Steps:
  1. Read the protobuf without external data (graph-only files whose weights are absent load
     fine: initializer dims and dtypes are in the file).
  2. Pin input shapes: ``input_shapes`` (``--input-shape``) first; a symbolic batch dimension
     defaults to 1 (recorded in ``graph.metadata["assumptions"]``); any other unknown input
     dimension is an error naming the input.
  3. Run ONNX shape inference, used for ops outside cnnmem's vocabulary and as a cross-check.
  4. Build the IR in topological order: initializers become constants, ``Constant`` nodes become
     constants, ``Identity`` of a constant is the constant itself. Each modelled op's output
     shape comes from cnnmem's shape function (folding the integer shape sub-graphs that ONNX's
     own inference leaves symbolic, e.g. ShuffleNet's channel split), and must agree with ONNX's
     where ONNX knows it.
  5. QDQ models are folded: ``DequantizeLinear`` of a constant becomes the quantised constant;
     ``DequantizeLinear`` of an activation is bypassed and an op whose only consumer is a
     ``QuantizeLinear`` writes the quantised tensor directly, so every tensor is sized by its
     quantised dtype, as an integer accelerator stores it.
  6. Verify.

This is the only module (with the exporter and the TFLite importer) that imports ``onnx``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from onnx import TensorProto, helper, numpy_helper, shape_inference

from cnnmem.errors import ConfigError, InvariantError, ModelImportError, ShapeError
from cnnmem.ir.graph import AttrValue, Graph, Node, Tensor, TensorKind
from cnnmem.ir.ops import infer_node, is_modelled
from cnnmem.ir.types import DType, QuantParams
from cnnmem.ir.verify import verify

_DTYPES: dict[int, DType] = {
    TensorProto.FLOAT: DType.FLOAT32, TensorProto.FLOAT16: DType.FLOAT16,
    TensorProto.BFLOAT16: DType.BFLOAT16, TensorProto.DOUBLE: DType.FLOAT64,
    TensorProto.INT8: DType.INT8, TensorProto.UINT8: DType.UINT8,
    TensorProto.INT16: DType.INT16, TensorProto.UINT16: DType.UINT16,
    TensorProto.INT32: DType.INT32, TensorProto.UINT32: DType.UINT32,
    TensorProto.INT64: DType.INT64, TensorProto.BOOL: DType.BOOL,
}

_WINDOW_OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool")


def onnx_dtype(code: int, where: str) -> DType:
    """Map an ONNX ``TensorProto`` element type to :class:`DType`.

    Raises:
        ModelImportError: unsupported element type (names ``where``).
    """
    try:
        return _DTYPES[code]
    except KeyError:
        name = TensorProto.DataType.Name(code) if code in TensorProto.DataType.values() else code
        raise ModelImportError(f"{where}: element type {name} is not supported") from None


def parse_input_shapes(specs: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Parse ``NAME=1x3x224x224`` strings (``--input-shape``).

    Raises:
        ConfigError: malformed specification.
    """
    out: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        name, sep, dims = spec.partition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().replace(",", "x").split("x"))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or any(d <= 0 for d in shape):
            raise ConfigError(f"bad --input-shape {spec!r}: write NAME=1x3x224x224 with positive "
                              "dimensions")
        out[name.strip()] = shape
    return out


def load_onnx(path: str | os.PathLike[str],
              input_shapes: Mapping[str, Sequence[int]] | None = None) -> Graph:
    """Import an ONNX file into the cnnmem IR.

    Args:
        path: the ``.onnx`` file (external weight files need not be present).
        input_shapes: shapes that pin the graph inputs' dimensions, by input name.

    Raises:
        ModelImportError: the file is missing or not a valid ONNX model, the graph is cyclic or
            malformed, or a shape stays unknown (names the tensor and suggests
            ``--input-shape``).
        ConfigError: ``input_shapes`` names an input the model does not have.
    """
    p = Path(path)
    model = _read_model(p)
    try:
        return _Importer(model, p, dict(input_shapes or {})).run()
    except (InvariantError, ShapeError) as e:
        raise ModelImportError(f"{p.name}: {e}") from e


def _read_model(p: Path) -> onnx.ModelProto:
    if not p.exists():
        raise ModelImportError(f"{p}: no such file; check the path to the .onnx model")
    if p.is_dir():
        raise ModelImportError(f"{p}: is a directory, expected an .onnx file")
    if p.stat().st_size == 0:
        raise ModelImportError(f"{p}: the file is empty")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as e:
        raise ModelImportError(f"{p}: not a valid ONNX model (cannot parse the protobuf: the "
                               "file is truncated, corrupt or of another format)") from e
    if not model.graph.node:
        raise ModelImportError(f"{p}: not a valid ONNX model (no graph nodes)")
    return model


def _attr_value(attr: onnx.AttributeProto) -> AttrValue | None:
    value = helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (int, float, str)):
        return value
    if isinstance(value, TensorProto):
        arr = numpy_helper.to_array(value).reshape(-1)
        if arr.dtype.kind in "iub":
            return tuple(int(v) for v in arr)
        return tuple(float(v) for v in arr)
    if isinstance(value, (list, tuple)):
        items = list(value)
        if all(isinstance(v, int) for v in items):
            return tuple(int(v) for v in items)
        if all(isinstance(v, (int, float)) for v in items):
            return tuple(float(v) for v in items)
        if all(isinstance(v, (str, bytes)) for v in items):
            return tuple(v.decode() if isinstance(v, bytes) else v for v in items)
    return None  # graphs, sparse tensors, type protos: not needed for memory modelling


def _ints(attrs: Mapping[str, AttrValue], key: str, default: list[int]) -> list[int]:
    value = attrs.get(key)
    if value is None:
        return list(default)
    if isinstance(value, (int, float)):
        return [int(value)]
    if isinstance(value, str):
        raise ModelImportError(f"attribute {key!r} is {value!r}, expected integers")
    return [int(v) for v in value]


def _vi_shape(vi: onnx.ValueInfoProto) -> tuple[tuple[int | str | None, ...] | None, int]:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None, t.elem_type
    dims: list[int | str | None] = []
    for d in t.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return tuple(dims), t.elem_type


class _Importer:
    def __init__(self, model: onnx.ModelProto, path: Path,
                 input_shapes: dict[str, Sequence[int]]) -> None:
        self.model = model
        self.path = path
        self.input_shapes = {k: tuple(int(d) for d in v) for k, v in input_shapes.items()}
        self.graph = Graph(model.graph.name or path.stem)
        self.tensors: dict[str, Tensor] = {}  # ONNX value name -> IR tensor
        self.values: dict[str, np.ndarray] = {}  # known values (constants + folded shapes)
        self.onnx_shapes: dict[str, tuple[tuple[int | str | None, ...] | None, int]] = {}
        self.assumptions: list[str] = []
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          0)

    # ----------------------------------------------------------------------- driver
    def run(self) -> Graph:
        g = self.model.graph
        init_names = {i.name for i in g.initializer}
        for init in g.initializer:
            self._add_initializer(init)
        self._add_inputs([i for i in g.input if i.name not in init_names])
        self._run_onnx_inference()
        for node in self._topological(g.node):
            self._add_node(node)
        for out in g.output:
            if out.name not in self.tensors:
                raise ModelImportError(f"{self.path.name}: graph output {out.name!r} is not "
                                       "produced by any node")
            self.graph.outputs.append(self.tensors[out.name])
        _fold_qdq(self.graph)
        self.graph.remove_unused_constants()
        self.graph.metadata.update({
            "source_format": "onnx",
            "source_layout": "NCHW",
            "source_path": str(self.path),
            "opset": str(self.opset),
            "producer": f"{self.model.producer_name} {self.model.producer_version}".strip(),
        })
        if self.assumptions:
            self.graph.metadata["assumptions"] = "; ".join(self.assumptions)
        verify(self.graph)
        return self.graph

    # ----------------------------------------------------------------------- pieces
    def _add_initializer(self, init: TensorProto) -> None:
        dtype = onnx_dtype(init.data_type, f"{self.path.name}: initializer {init.name!r}")
        dims = tuple(int(d) for d in init.dims)
        if any(d <= 0 for d in dims):
            raise ModelImportError(f"{self.path.name}: initializer {init.name!r} has a "
                                   f"non-positive dimension {dims}")
        data = None
        if not onnx.external_data_helper.uses_external_data(init):
            data = numpy_helper.to_array(init)
            if dtype is DType.BFLOAT16:
                data = data.astype(np.float32)
        t = self.graph.add_constant(init.name, dims, dtype, data=data)
        self.tensors[init.name] = t
        if data is not None:
            self.values[init.name] = data

    def _add_inputs(self, inputs: Sequence[onnx.ValueInfoProto]) -> None:
        names = {i.name for i in inputs}
        unknown = sorted(set(self.input_shapes) - names)
        if unknown:
            raise ConfigError(f"--input-shape names {', '.join(map(repr, unknown))}, but the "
                              f"model's inputs are {', '.join(map(repr, sorted(names)))}")
        for vi in inputs:
            dims, elem = _vi_shape(vi)
            dtype = onnx_dtype(elem, f"{self.path.name}: input {vi.name!r}")
            if vi.name in self.input_shapes:
                shape = self.input_shapes[vi.name]
                if dims is not None and len(dims) != len(shape):
                    raise ConfigError(f"--input-shape {vi.name}: rank {len(shape)} but the "
                                      f"model's input has rank {len(dims)}")
                for d_file, d_user in zip(dims or (), shape, strict=False):
                    if isinstance(d_file, int) and d_file > 0 and d_file != d_user:
                        raise ConfigError(f"--input-shape {vi.name}: dimension {d_user} "
                                          f"contradicts the model's fixed {d_file}")
            else:
                if dims is None:
                    raise ShapeError(f"input {vi.name!r} has no shape in the file; pin it with "
                                     f"--input-shape {vi.name}=1x3x224x224")
                resolved = []
                for axis, d in enumerate(dims):
                    if isinstance(d, int) and d > 0:
                        resolved.append(d)
                    elif axis == 0:
                        resolved.append(1)
                        self.assumptions.append(f"batch dimension {d!r} of input {vi.name!r} "
                                                "set to 1")
                    else:
                        raise ShapeError(f"input {vi.name!r} has an unknown dimension {d!r} at "
                                         f"axis {axis} (shape {list(dims)}); pin it with "
                                         f"--input-shape {vi.name}=" +
                                         "x".join(str(x) if isinstance(x, int) and x > 0
                                                  else "N" for x in dims))
                shape = tuple(resolved)
            self.tensors[vi.name] = self.graph.add_input(vi.name, shape, dtype)

    def _run_onnx_inference(self) -> None:
        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        for vi in m.graph.input:
            if vi.name in self.tensors and not self.tensors[vi.name].is_constant:
                shape = self.tensors[vi.name].shape
                dims = vi.type.tensor_type.shape.dim
                del dims[:]
                for d in shape:
                    dims.add().dim_value = d
        try:
            inferred = shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
        except Exception:  # inference is only a cross-check; our own shapes are primary
            return
        for vi in [*inferred.graph.value_info, *inferred.graph.output]:
            self.onnx_shapes[vi.name] = _vi_shape(vi)

    def _topological(self, nodes: Sequence[onnx.NodeProto]) -> list[onnx.NodeProto]:
        available = set(self.tensors)
        producer: dict[str, int] = {}
        for i, n in enumerate(nodes):
            for o in n.output:
                if o:
                    if o in producer or o in available:
                        raise ModelImportError(f"{self.path.name}: tensor {o!r} is produced "
                                               f"twice (node {n.name or n.op_type!r})")
                    producer[o] = i
        order: list[onnx.NodeProto] = []
        state = [0] * len(nodes)  # 0 new, 1 on stack, 2 done
        for start in range(len(nodes)):
            if state[start]:
                continue
            stack = [(start, 0)]
            while stack:
                i, k = stack.pop()
                if k == 0:
                    if state[i] == 2:
                        continue
                    state[i] = 1
                ins = [x for x in nodes[i].input if x and x in producer]
                if k < len(ins):
                    stack.append((i, k + 1))
                    j = producer[ins[k]]
                    if state[j] == 1:
                        raise ModelImportError(
                            f"{self.path.name}: the graph has a cycle through node "
                            f"{nodes[j].name or nodes[j].op_type!r}; a CNN graph must be "
                            "acyclic")
                    if state[j] == 0:
                        stack.append((j, 0))
                else:
                    state[i] = 2
                    order.append(nodes[i])
        return order

    def _node_name(self, node: onnx.NodeProto) -> str:
        base = node.name or f"{node.op_type}_{node.output[0]}"
        return self.graph.unique_name(base)

    def _add_node(self, node: onnx.NodeProto) -> None:
        where = f"{self.path.name}: node {node.name or node.op_type!r} ({node.op_type})"
        inputs: list[Tensor | None] = []
        for name in node.input:
            if not name:
                inputs.append(None)
                continue
            if name not in self.tensors:
                raise ModelImportError(f"{where} reads {name!r}, which is neither a graph "
                                       "input, an initializer nor another node's output")
            inputs.append(self.tensors[name])
        domain = node.domain if node.domain not in ("", "ai.onnx") else ""
        op_type = f"{domain}::{node.op_type}" if domain else node.op_type
        if op_type == "Constant":
            self._add_constant_node(node, where)
            return
        if op_type == "Identity" and inputs and inputs[0] is not None and inputs[0].is_constant:
            self.tensors[node.output[0]] = inputs[0]  # an alias of a weight: the same weight
            return
        attrs = {a.name: v for a in node.attribute if (v := _attr_value(a)) is not None}
        cast_to = attrs.get("to")
        if op_type == "Cast" and isinstance(cast_to, int):
            attrs["to"] = onnx_dtype(cast_to, where).short_name  # the IR names dtypes
        if op_type in _WINDOW_OPS:
            attrs = self._window_attrs(node, attrs, inputs, where)
        ir_node = Node(self._node_name(node), op_type, attrs, source_op=node.op_type)
        outputs = list(node.output)
        shapes, dtypes, values = self._output_types(ir_node, inputs, outputs, where)
        out_tensors = []
        for name, shape, dtype, value in zip(outputs, shapes, dtypes, values, strict=True):
            tname = name or self.graph.unique_name(f"{ir_node.name}:unused")
            t = Tensor(tname, shape, dtype, TensorKind.ACTIVATION)
            out_tensors.append(t)
            if value is not None:
                self.values[tname] = value
        self.graph.add_node(ir_node, inputs, out_tensors)
        for name, t in zip(outputs, out_tensors, strict=True):
            if name:
                self.tensors[name] = t

    def _add_constant_node(self, node: onnx.NodeProto, where: str) -> None:
        attr = next((a for a in node.attribute), None)
        if attr is None:
            raise ModelImportError(f"{where}: Constant without a value")
        if attr.name == "value":
            arr = numpy_helper.to_array(attr.t)
            dtype = onnx_dtype(attr.t.data_type, where)
        else:
            arr = np.asarray(helper.get_attribute_value(attr))
            dtype = {"i": DType.INT64, "f": DType.FLOAT32}.get(arr.dtype.kind, DType.FLOAT32)
            arr = arr.astype(dtype.numpy)
        name = node.output[0]
        t = self.graph.add_constant(self.graph.unique_name(name), arr.shape, dtype, data=arr)
        self.tensors[name] = t
        self.values[t.name] = arr

    def _window_attrs(self, node: onnx.NodeProto, attrs: dict[str, AttrValue],
                      inputs: Sequence[Tensor | None], where: str) -> dict[str, AttrValue]:
        x = inputs[0]
        if x is None:
            raise ModelImportError(f"{where}: missing data input")
        nd = len(x.shape) - 2
        if "kernel_shape" not in attrs:
            w = inputs[1] if len(inputs) > 1 else None
            if w is None:
                raise ModelImportError(f"{where}: no kernel_shape attribute")
            attrs["kernel_shape"] = tuple(w.shape[2:])
        kernel = _ints(attrs, "kernel_shape", [])
        strides = _ints(attrs, "strides", [1] * nd)
        dil = _ints(attrs, "dilations", [1] * nd)
        pads = _ints(attrs, "pads", [0] * (2 * nd))
        auto_pad = str(attrs.pop("auto_pad", "NOTSET"))
        if auto_pad in ("SAME_UPPER", "SAME_LOWER") and node.op_type != "ConvTranspose":
            pads = []
            begins, ends = [], []
            for a in range(nd):
                size, s, k = x.shape[2 + a], strides[a], (kernel[a] - 1) * dil[a] + 1
                out = math.ceil(size / s)
                total = max((out - 1) * s + k - size, 0)
                small, big = total // 2, total - total // 2
                begins.append(small if auto_pad == "SAME_UPPER" else big)
                ends.append(big if auto_pad == "SAME_UPPER" else small)
            pads = begins + ends
        elif auto_pad == "VALID":
            pads = [0] * (2 * nd)
        if node.op_type == "ConvTranspose":
            w = inputs[1]
            assert w is not None
            out_pad = _ints(attrs, "output_padding", [0] * nd)
            out_shape = _ints(attrs, "output_shape", [])
            attrs.pop("output_padding", None)
            attrs.pop("output_shape", None)
            if out_shape or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                target = (out_shape[-nd:] if out_shape
                          else [x.shape[2 + a] * strides[a] for a in range(nd)])
                begins, ends = [], []
                for a in range(nd):
                    k = (kernel[a] - 1) * dil[a] + 1
                    total = strides[a] * (x.shape[2 + a] - 1) + out_pad[a] + k - target[a]
                    lo, hi = total // 2, total - total // 2
                    b, e = (lo, hi) if auto_pad != "SAME_LOWER" else (hi, lo)
                    begins.append(b)
                    ends.append(e - out_pad[a])
                pads = begins + ends
            else:
                pads = [*pads[:nd], *(pads[nd + a] - out_pad[a] for a in range(nd))]
        attrs["kernel_shape"] = tuple(kernel)
        attrs["strides"] = tuple(strides)
        if node.op_type != "AveragePool" or "dilations" in attrs:
            attrs["dilations"] = tuple(dil)  # AveragePool has no dilations before opset 19
        attrs["pads"] = tuple(pads)
        if node.op_type in ("Conv", "ConvTranspose"):
            attrs.setdefault("group", 1)
        else:
            attrs.setdefault("ceil_mode", 0)
            if node.op_type == "AveragePool":
                attrs.setdefault("count_include_pad", 0)
        return attrs

    def _output_types(self, node: Node, inputs: Sequence[Tensor | None], outputs: Sequence[str],
                      where: str) -> tuple[list[tuple[int, ...]], list[DType],
                                           list[np.ndarray | None]]:
        onnx_known = [self.onnx_shapes.get(o) for o in outputs]
        if is_modelled(node.op_type):
            node._outputs = tuple(Tensor(f"{o}", (1,), DType.FLOAT32, TensorKind.ACTIVATION)
                                  for o in outputs)
            shapes, dtypes, values = infer_node(
                node, [t.shape if t is not None else None for t in inputs],
                [t.dtype if t is not None else None for t in inputs],
                [self.values.get(t.name) if t is not None else None for t in inputs])
            node._outputs = ()
            # ONNX shape inference (opset <= 18) ignores the rule that drops a ceil-mode window
            # starting in the end padding; onnxruntime and PyTorch apply it, as cnnmem does
            ceil_pool = node.op_type in ("MaxPool", "AveragePool", "LpPool") and \
                node.attr_int("ceil_mode", 0) == 1
            for o, ours, theirs in zip(outputs, shapes, onnx_known, strict=False):
                if theirs is None or theirs[0] is None or ceil_pool:
                    continue
                dims = theirs[0]
                if all(isinstance(d, int) and d > 0 for d in dims) and tuple(dims) != ours:
                    raise ModelImportError(f"{where}: output {o!r} has shape {tuple(ours)} by "
                                           f"cnnmem's shape function but {tuple(dims)} by ONNX "
                                           "shape inference; please report this model")
            for i, (o, theirs) in enumerate(zip(outputs, onnx_known, strict=False)):
                if theirs is not None and theirs[1]:
                    dtypes[i] = onnx_dtype(theirs[1], f"{where}: output {o!r}")
            return [tuple(s) for s in shapes], dtypes, values
        shapes_out: list[tuple[int, ...]] = []
        dtypes_out: list[DType] = []
        for o, theirs in zip(outputs, onnx_known, strict=True):
            if theirs is None or theirs[0] is None or not all(
                    isinstance(d, int) and d > 0 for d in theirs[0]):
                shown = list(theirs[0]) if theirs and theirs[0] is not None else "unknown"
                raise ShapeError(f"{where}: op {node.source_op!r} is not modelled by cnnmem and "
                                 f"ONNX shape inference leaves the shape of its output {o!r} "
                                 f"unknown ({shown}); pin the model's input shapes with "
                                 "--input-shape NAME=1x3x224x224")
            shapes_out.append(tuple(int(d) for d in theirs[0]))  # type: ignore[arg-type]
            dtypes_out.append(onnx_dtype(theirs[1], f"{where}: output {o!r}") if theirs[1]
                              else DType.FLOAT32)
        return shapes_out, dtypes_out, [None] * len(outputs)


def _quant_params(node: Node) -> QuantParams | None:
    scale, zp = node.input(1), node.input(2)
    if scale is None or scale.data is None:
        return None
    s = tuple(float(v) for v in np.asarray(scale.data).reshape(-1))
    if zp is not None and zp.data is not None:
        z = tuple(int(v) for v in np.asarray(zp.data).reshape(-1))
    else:
        z = (0,) * len(s)
    axis = node.attr_int("axis", 1) if len(s) > 1 else None
    return QuantParams(s, z, axis)


def _fold_qdq(graph: Graph) -> None:
    """Fold QuantizeLinear/DequantizeLinear pairs so tensors are sized by quantised dtype.

    1. ``DequantizeLinear(q_const)`` -> its consumers read ``q_const`` (annotated with the scale
       and zero point) directly.
    2. ``DequantizeLinear(q_act)`` -> its consumers read ``q_act`` directly.
    3. ``y = op(...); q = QuantizeLinear(y)`` with ``q`` y's only use -> ``op`` writes ``y`` in
       ``q``'s dtype and quantisation; the QuantizeLinear node is removed.
    A QuantizeLinear of a graph input (the float boundary) stays: it is a real op.
    """
    if not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in graph.nodes):
        return
    for node in list(graph.nodes):
        if node.op_type != "DequantizeLinear":
            continue
        src = node.inputs[0]
        assert src is not None
        if src.quant is None:
            src.quant = _quant_params(node)
        out = node.outputs[0]
        if any(o is out for o in graph.outputs):
            continue  # the float boundary of the graph: a real op
        graph.replace_all_uses(out, src)
        graph.remove_node(node)
    for node in list(graph.nodes):
        if node.op_type != "QuantizeLinear":
            continue
        y = node.inputs[0]
        assert y is not None
        prod = y.producer
        if prod is None or len(y.consumers) != 1 or any(o is y for o in graph.outputs):
            continue
        q = node.outputs[0]
        y.dtype = q.dtype
        y.quant = _quant_params(node)
        graph.replace_all_uses(q, y)
        graph.remove_node(node)
    graph.metadata["qdq_folded"] = "true"

