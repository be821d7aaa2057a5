"""ONNX exporter: ``to_onnx(graph) -> onnx.ModelProto`` and ``save_onnx(graph, path)``.

The IR uses ONNX op and attribute names, so export is mostly a direct mapping. Two IR features
have no single ONNX counterpart and are expanded:

1. A fused activation (``Node.activation``) becomes a separate activation node after the op
   (``Clip`` bounds become scalar initializers).
2. Constants without data (graph-only imports) need weights: pass ``random_weights=True`` to
   fill them with seeded random values (He-scaled; BN variances positive), or the export fails
   with a message saying so.

Internal attributes that ONNX does not define (``source_layout``) are dropped.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cnnmem.errors import CnnmemError
from cnnmem.ir.graph import Graph, Node, Tensor
from cnnmem.ir.ops import is_modelled
from cnnmem.ir.types import DType

OPSET = 17
_TO_ONNX: dict[DType, int] = {
    DType.FLOAT32: TensorProto.FLOAT, DType.FLOAT16: TensorProto.FLOAT16,
    DType.BFLOAT16: TensorProto.FLOAT, DType.FLOAT64: TensorProto.DOUBLE,
    DType.INT8: TensorProto.INT8, DType.UINT8: TensorProto.UINT8,
    DType.INT16: TensorProto.INT16, DType.UINT16: TensorProto.UINT16,
    DType.INT32: TensorProto.INT32, DType.UINT32: TensorProto.UINT32,
    DType.INT64: TensorProto.INT64, DType.BOOL: TensorProto.BOOL,
}
_INTERNAL_ATTRS = ("source_layout",)


class ExportError(CnnmemError):
    """The graph cannot be written as ONNX (no weights, unmodelled ops, quantised folding)."""


def random_constant(t: Tensor, rng: np.random.Generator) -> np.ndarray:
    """Seeded random data for a constant that has none.

    Weights get He-scaled normal values (fan-in = product of all but the first dimension);
    1-D tensors whose name suggests a variance or scale get U(0.5, 1.5) so BatchNorm stays
    well-conditioned; other 1-D tensors get N(0, 0.1).
    """
    shape = t.shape
    if len(shape) >= 2:
        fan_in = max(1, math.prod(shape[1:]))
        data = rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)
    elif any(k in t.name.lower() for k in ("var", "weight", "scale", "gamma")):
        data = rng.uniform(0.5, 1.5, shape)
    else:
        data = rng.normal(0.0, 0.1, shape)
    if t.dtype is DType.BOOL:
        return np.asarray(data > 0)
    if not t.dtype.is_float:
        lo = 0 if t.dtype.short_name.startswith("u") else -127
        data = np.clip(np.round(data * 64), lo, 127)
    return np.asarray(data).astype(t.dtype.numpy)


def _activation_nodes(node: Node, src: str, dst: str,
                      initializers: list[TensorProto]) -> list[onnx.NodeProto]:
    act = node.activation
    assert act is not None
    name = f"{node.name}/{act.op_type}"
    if act.op_type == "Clip":
        inputs = [src]
        for bound in ("min", "max"):
            value = act.param(bound, math.nan)
            if math.isnan(value):
                inputs.append("")
                continue
            init_name = f"{name}.{bound}"
            initializers.append(numpy_helper.from_array(np.asarray(value, np.float32),
                                                        init_name))
            inputs.append(init_name)
        while inputs and inputs[-1] == "":
            inputs.pop()
        return [helper.make_node("Clip", inputs, [dst], name=name)]
    attrs: dict[str, Any] = dict(act.params)
    return [helper.make_node(act.op_type, [src], [dst], name=name, **attrs)]


def to_onnx(graph: Graph, *, random_weights: bool = False, seed: int = 0) -> onnx.ModelProto:
    """Convert ``graph`` to an ONNX model (opset 17).

    Raises:
        ExportError: a constant has no data and ``random_weights`` is False, an op is outside
            the vocabulary, or the graph holds folded quantised ops that ONNX cannot express.
    """
    rng = np.random.default_rng(seed)
    if graph.metadata.get("qdq_folded") == "true":
        raise ExportError("this graph's QuantizeLinear/DequantizeLinear pairs were folded at "
                          "import; ONNX cannot express integer convolutions that way")
    bad = sorted({n.source_op for n in graph.nodes if not is_modelled(n.op_type)})
    if bad:
        raise ExportError(f"cannot export ops cnnmem does not model: {', '.join(bad)}")
    initializers: list[TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    for t in graph.constants:
        data = t.data
        if data is None:
            if not random_weights:
                raise ExportError(f"constant {t.name!r} has no data (graph-only model); export "
                                  "with random weights (random_weights=True)")
            data = random_constant(t, rng)
        initializers.append(numpy_helper.from_array(np.asarray(data), t.name))
    for node in graph.nodes:
        attrs: dict[str, Any] = {k: (list(v) if isinstance(v, tuple) else v)
                                 for k, v in node.attrs.items() if k not in _INTERNAL_ATTRS}
        if node.op_type == "Cast" and isinstance(attrs.get("to"), str):
            attrs["to"] = _TO_ONNX[DType.parse(attrs["to"])]
        if node.op_type == "AveragePool" and attrs.get("dilations") == [1, 1]:
            del attrs["dilations"]  # not an opset-17 attribute
        ins = [t.name if t is not None else "" for t in node.inputs]
        while ins and ins[-1] == "":
            ins.pop()
        outs = [t.name for t in node.outputs]
        if node.activation is not None:
            pre = f"{outs[0]}.pre_{node.activation.op_type.lower()}"
            nodes.append(helper.make_node(node.op_type, ins, [pre, *outs[1:]], name=node.name,
                                          **attrs))
            nodes.extend(_activation_nodes(node, pre, outs[0], initializers))
        else:
            nodes.append(helper.make_node(node.op_type, ins, outs, name=node.name, **attrs))
    inputs = [helper.make_tensor_value_info(t.name, _TO_ONNX[t.dtype], list(t.shape))
              for t in graph.inputs]
    outputs = [helper.make_tensor_value_info(t.name, _TO_ONNX[t.dtype], list(t.shape))
               for t in graph.outputs]
    onnx_graph = helper.make_graph(nodes, graph.name, inputs, outputs, initializers)
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="cnnmem")
    model.ir_version = 8
    return model


def save_onnx(graph: Graph, path: str | os.PathLike[str], *, random_weights: bool = False,
              seed: int = 0, check: bool = True) -> Path:
    """Write ``graph`` as an ONNX file (checked with ``onnx.checker`` unless ``check=False``).

    Models over 2 GB are not supported (protobuf limit).
    """
    model = to_onnx(graph, random_weights=random_weights, seed=seed)
    if check:
        try:
            onnx.checker.check_model(model, full_check=True)
        except onnx.checker.ValidationError as e:
            first = str(e).strip().splitlines()[0]
            raise ExportError(f"exported model fails onnx.checker: {first}") from e
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(p))
    return p
