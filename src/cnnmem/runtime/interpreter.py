"""Node-level and graph-level evaluation: :func:`run_node`, :func:`evaluate`,
:func:`constant_values`.

Dispatch of :func:`run_node`:

1. ``QuantizeLinear`` / ``DequantizeLinear`` without scale operands (TFLite ``QUANTIZE`` /
   ``DEQUANTIZE``: the tensors carry the parameters) use the TFLite float-boundary kernels.
2. A node whose first input is quantised (int8/uint8/int16 with
   :class:`~cnnmem.ir.types.QuantParams`) runs the TFLite integer kernel of its op
   (:mod:`cnnmem.runtime.quantized`), or, for data-movement ops, the plain kernel on the stored
   integers followed by the fused activation as a quantised clamp. Other ops on quantised data
   are unsupported.
3. Everything else runs the ONNX float kernel (:mod:`cnnmem.runtime.kernels`) and then the fused
   activation (``Node.activation``) in float.

Outputs are cast to the dtypes of the node's output tensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cnnmem.errors import CnnmemError, ConfigError, UnsupportedOperatorError
from cnnmem.ir.graph import Graph, Node
from cnnmem.runtime.kernels import FLOAT_KERNELS, apply_float_activation
from cnnmem.runtime.quantized import (
    GENERIC_ON_INTEGERS,
    KERNEL_SETS,
    QUANT_KERNELS,
    clamp_to_activation,
    is_quantized,
    tflite_dequantize,
    tflite_quantize,
)

__all__ = ["WINDOW_OPS", "EvaluationError", "constant_values", "evaluate", "run_node"]

WINDOW_OPS = frozenset({"Conv", "ConvTranspose", "MaxPool", "AveragePool"})
"""Ops whose padding :func:`run_node` can override (``pads=``)."""


class EvaluationError(CnnmemError):
    """A graph cannot be evaluated (missing feed, wrong feed shape, inconsistent result)."""


def _unsupported(node: Node, why: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"node {node.name!r}: op {node.op_type!r} "
                                    f"(source op {node.source_op!r}) {why}")


def run_node(node: Node, inputs: Sequence[np.ndarray | None], *,
             pads: tuple[int, int, int, int] | None = None,
             tflite_kernels: str = "reference") -> list[np.ndarray]:
    """Evaluate one node on numpy arrays.

    Args:
        node: the node (its tensors give dtypes, quantisation and the fused activation).
        inputs: one array (or ``None`` for an absent optional input) per ``node.inputs`` entry,
            in the IR's logical layout (NCHW feature maps), dtype of the tensor (stored integers
            for quantised tensors). Constants are passed in too.
        pads: ``(top, left, bottom, right)`` overriding the node's ``pads`` (Conv,
            ConvTranspose, MaxPool, AveragePool only), for computing output rows from a slab of
            input rows; see :mod:`cnnmem.runtime.windows` for the rules (``ceil_mode`` stays in
            force; it is a no-op for a slab that spans whole windows).
        tflite_kernels: which TFLite kernels quantised nodes reproduce bit for bit:
            ``"reference"`` (TFLite's reference kernels, LiteRT ``BUILTIN_REF``, the kernels of
            TFLite Micro), ``"optimized"`` (LiteRT's optimized x86 CPU kernels without the
            XNNPACK delegate) or ``"xnnpack"`` (LiteRT's default CPU path: the XNNPACK
            delegate for convolutions, FULLY_CONNECTED, ADD/SUB and DEQUANTIZE, the optimized
            kernels for the rest); see :mod:`cnnmem.runtime.quantized`.

    Returns:
        One array per output of the node.

    Raises:
        UnsupportedOperatorError: no kernel for this op (or for this op on quantised data).
        ConfigError: ``pads`` given for an op without a window, or an unknown
            ``tflite_kernels``.
    """
    op = node.op_type
    if tflite_kernels not in KERNEL_SETS:
        raise ConfigError(f"tflite_kernels={tflite_kernels!r}: use one of "
                          f"{', '.join(KERNEL_SETS)}")
    if pads is not None and op not in WINDOW_OPS:
        raise ConfigError(f"node {node.name!r} ({op}): pads can only be overridden for "
                          f"{', '.join(sorted(WINDOW_OPS))}")
    x = list(inputs)
    no_scale_operand = len(x) < 2 or x[1] is None
    if op == "QuantizeLinear" and no_scale_operand:
        outs = tflite_quantize(node, x, tflite_kernels)
    elif op == "DequantizeLinear" and no_scale_operand:
        outs = tflite_dequantize(node, x, tflite_kernels)
    elif is_quantized(node.input(0)) and op not in ("QuantizeLinear", "DequantizeLinear"):
        if op in QUANT_KERNELS:
            outs = QUANT_KERNELS[op](node, x, pads, tflite_kernels)
        elif op in GENERIC_ON_INTEGERS:
            outs = [clamp_to_activation(node, y) for y in FLOAT_KERNELS[op](node, x, pads)]
        else:
            raise _unsupported(node, "has no kernel for quantised (integer) data")
    else:
        kernel = FLOAT_KERNELS.get(op)
        if kernel is None:
            raise _unsupported(node, "has no kernel")
        outs = kernel(node, x, pads)
        if node.activation is not None:
            outs = [apply_float_activation(node.activation, np.asarray(y)) for y in outs]
    if len(outs) != len(node.outputs):
        raise _unsupported(node, f"produced {len(outs)} outputs for {len(node.outputs)}")
    return [np.asarray(y).astype(t.dtype.numpy, copy=False)
            for y, t in zip(outs, node.outputs, strict=True)]


def constant_values(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """The value of every constant that a node reads.

    Constants with data keep it; constants without data (graph-only files) get the seeded random
    values of :func:`cnnmem.frontend.onnx_export.random_constant`, drawing from one
    ``numpy.random.default_rng(seed)`` in ``graph.constants`` order, exactly as
    ``to_onnx(graph, random_weights=True, seed=seed)`` does, so that this interpreter and
    onnxruntime on the exported model see identical weights.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for t in graph.constants:
        if t.data is not None:
            out[t.name] = np.asarray(t.data)
            continue
        # imported lazily: the ONNX frontend pulls in the onnx package
        from cnnmem.frontend.onnx_export import random_constant

        out[t.name] = random_constant(t, rng)
    return out


def _needed(graph: Graph) -> set[str]:
    """Names of tensors that the graph outputs depend on (source operands do not count)."""
    need = {t.name for t in graph.outputs}
    for node in reversed(graph.nodes):
        if not any(o.name in need for o in node.outputs):
            continue
        limit = node.attrs.get("source_operands_at")
        for i, t in enumerate(node.inputs):
            if t is not None and not (isinstance(limit, int) and i >= limit):
                need.add(t.name)
    return need


def evaluate(graph: Graph, feeds: Mapping[str, np.ndarray], *, seed: int = 0,
             tflite_kernels: str = "reference") -> dict[str, np.ndarray]:
    """Evaluate the whole graph in schedule order.

    Args:
        graph: the graph.
        feeds: a value per graph input, by name (cast to the input's dtype).
        seed: seed of the random values of constants without data (:func:`constant_values`).
        tflite_kernels: the TFLite kernel set quantised nodes reproduce (:func:`run_node`).

    Returns:
        The value of every tensor that could be computed, by name: graph inputs, constants and
        every node output. Nodes that do not contribute to a graph output (e.g. TFLite shape
        arithmetic whose result only feeds a ``RESHAPE``'s file operand) are skipped when they
        cannot be evaluated.

    Raises:
        EvaluationError: a feed is missing or has the wrong shape, or a node's result does not
            have its tensor's shape.
        UnsupportedOperatorError: a node that the outputs depend on has no kernel.
    """
    values: dict[str, np.ndarray] = dict(constant_values(graph, seed))
    for inp in graph.inputs:
        if inp.name not in feeds:
            raise EvaluationError(f"no value fed for graph input {inp.name!r} {inp.shape}")
        v = np.asarray(feeds[inp.name])
        if tuple(v.shape) != inp.shape:
            raise EvaluationError(f"graph input {inp.name!r}: fed shape {tuple(v.shape)}, "
                                  f"expected {inp.shape}")
        values[inp.name] = v.astype(inp.dtype.numpy, copy=False)
    needed = _needed(graph)
    for node in graph.nodes:
        is_needed = any(o.name in needed for o in node.outputs)
        limit = node.attrs.get("source_operands_at")
        ins: list[np.ndarray | None] = []
        missing = None
        for i, t in enumerate(node.inputs):
            if t is None:
                ins.append(None)
            elif t.name in values:
                ins.append(values[t.name])
            elif isinstance(limit, int) and i >= limit:
                ins.append(None)
            else:
                missing = t.name
                break
        if missing is not None:
            if is_needed:
                raise EvaluationError(f"node {node.name!r} ({node.op_type}): input {missing!r} "
                                      "has no value")
            continue
        try:
            outs = run_node(node, ins, tflite_kernels=tflite_kernels)
        except UnsupportedOperatorError:
            if is_needed:
                raise
            continue
        for t, v in zip(node.outputs, outs, strict=True):
            if tuple(v.shape) != t.shape:
                raise EvaluationError(f"node {node.name!r} ({node.op_type}): output {t.name!r} "
                                      f"has shape {tuple(v.shape)}, expected {t.shape}")
            values[t.name] = v
    return values
