"""Graph simplification that an accelerator compiler does before memory planning.

``simplify(graph)`` runs, in order (each a :class:`~cnnmem.passes.infra.Pass`):

1. :class:`IdentityEliminationPass` - drop Identity and Dropout (inference no-ops).
2. :class:`ConstantFoldingPass` - replace nodes whose outputs are computable before run time
   (integer shape arithmetic such as ``Shape -> Gather -> Concat -> Reshape``) by constants.
3. :class:`BatchNormFoldPass` - fold BatchNormalization into the preceding Conv / ConvTranspose
   / Gemm.
4. :class:`PadFusionPass` - fold an explicit zero ``Pad`` of H/W into the following Conv.
5. :class:`ActivationFusionPass` - fuse Relu, Clip (Relu6), Sigmoid, HardSwish, HardSigmoid,
   LeakyRelu, Tanh into the op that produces their input.

Reshape / Flatten / Squeeze / Unsqueeze are not rewritten: the liveness analysis treats them as
aliases of their input's buffer (no new memory) when the graph is simplified.

Every pass preserves the function: the fused graph exported to ONNX computes the same outputs as
the original (tested with onnxruntime).
"""

from __future__ import annotations

import numpy as np

from cnnmem.ir.graph import Graph, Node, Tensor
from cnnmem.ir.ops import category
from cnnmem.ir.types import Activation
from cnnmem.ir.verify import known_values
from cnnmem.passes.infra import Pass, PassManager, PassResult, PipelineResult

FUSABLE_ACTIVATIONS = ("Relu", "Clip", "Sigmoid", "HardSwish", "HardSigmoid", "LeakyRelu",
                       "Tanh")
_FUSION_PRODUCERS = ("conv", "linear", "elementwise", "normalization", "pool")


def _is_graph_output(graph: Graph, t: Tensor) -> bool:
    return any(o is t for o in graph.outputs)


def _bypass(graph: Graph, node: Node, replacement: Tensor) -> None:
    """Make users of ``node``'s output read ``replacement``; remove ``node``."""
    out = node.outputs[0]
    graph.replace_all_uses(out, replacement)
    graph.remove_node(node)


class IdentityEliminationPass(Pass):
    """Remove inference no-ops.

    Rules:
      1. ``Identity(x)`` -> ``x``.
      2. ``Dropout(x)`` (inference) -> ``x``, if its mask output is unused.
      3. A no-op whose input is a graph input and whose output is a graph output is kept (the
         graph would otherwise alias an input to an output).
    """

    name = "identity-elimination"

    def call(self, graph: Graph) -> PassResult:
        removed = 0
        for node in graph.nodes:
            if node.op_type not in ("Identity", "Dropout"):
                continue
            src = node.inputs[0]
            if src is None or any(t.consumers or _is_graph_output(graph, t)
                                  for t in node.outputs[1:]):
                continue
            if _is_graph_output(graph, node.outputs[0]) and (src.producer is None or
                                                             _is_graph_output(graph, src)):
                continue
            _bypass(graph, node, src)
            removed += 1
        return PassResult(graph, removed > 0, {"removed": removed})


class ConstantFoldingPass(Pass):
    """Replace nodes whose every output value is known before run time by constants.

    Rules:
      1. A node is folded when all its outputs have known values (constants' data, shape
         arithmetic folded by :func:`cnnmem.ir.known_values`); only integer results are folded,
         so float computations on weights stay visible.
      2. Nodes left without consumers are removed (dead code elimination).
    """

    name = "constant-folding"

    def call(self, graph: Graph) -> PassResult:
        values = known_values(graph)
        folded = 0
        for node in graph.nodes:
            if not node.outputs or not all(t.name in values for t in node.outputs):
                continue
            if any(_is_graph_output(graph, t) for t in node.outputs):
                continue
            if any(t.is_constant for t in node.outputs):
                continue
            for t in node.outputs:
                data = np.asarray(values[t.name])
                const = graph.add_constant(graph.unique_name(f"{t.name}.folded"), data.shape,
                                           t.dtype, data=data.astype(t.dtype.numpy))
                graph.replace_all_uses(t, const)
            graph.remove_node(node)
            folded += 1
        removed = eliminate_dead_nodes(graph)
        graph.remove_unused_constants()
        return PassResult(graph, folded + removed > 0, {"folded": folded, "dead": removed})


def eliminate_dead_nodes(graph: Graph) -> int:
    """Remove nodes none of whose outputs is used or a graph output; returns how many."""
    removed = 0
    for node in reversed(graph.nodes):
        if any(t.consumers or _is_graph_output(graph, t) for t in node.outputs):
            continue
        graph.remove_node(node)
        removed += 1
    return removed


class BatchNormFoldPass(Pass):
    """Fold inference BatchNormalization into the preceding linear op.

    Rules:
      1. ``BN(Conv(x, W, b))`` with the conv output used only by the BN and constant BN
         parameters -> ``Conv(x, W', b')`` with ``W' = W * g / sqrt(v + eps)`` per output channel
         and ``b' = (b - m) * g / sqrt(v + eps) + beta`` (b = 0 if absent).
      2. The same for ConvTranspose (output channels are W's axis 1 per group) and Gemm with
         ``transB = 1`` (output features are W's axis 0).
      3. Graph-only models (weights absent) get new constants of the same shapes without data.
    """

    name = "bn-fold"

    def call(self, graph: Graph) -> PassResult:
        folded = 0
        for bn in graph.nodes:
            if bn.op_type != "BatchNormalization" or len(bn.outputs) != 1:
                continue
            x = bn.inputs[0]
            params = bn.inputs[1:5]
            if x is None or x.producer is None or len(params) != 4 or \
                    not all(p is not None and p.is_constant for p in params):
                continue
            prod = x.producer
            if prod.op_type not in ("Conv", "ConvTranspose", "Gemm") or prod.activation or \
                    len(x.consumers) != 1 or _is_graph_output(graph, x):
                continue
            if prod.op_type == "Gemm" and (prod.attr_int("transB", 0) != 1 or
                                           prod.attr_int("transA", 0) != 0):
                continue
            w = prod.inputs[1]
            if w is None or not w.is_constant:
                continue
            self._fold(graph, prod, bn, w)
            _bypass(graph, bn, x)
            folded += 1
        graph.remove_unused_constants()
        return PassResult(graph, folded > 0, {"folded": folded})

    @staticmethod
    def _fold(graph: Graph, prod: Node, bn: Node, w: Tensor) -> None:
        gamma, beta, mean, var = (bn.inputs[i] for i in range(1, 5))
        assert gamma is not None and beta is not None and mean is not None and var is not None
        eps = bn.attr_float("epsilon", 1e-5)
        channels = gamma.shape[0]
        bias = prod.input(2)
        have_data = all(t.data is not None for t in (w, gamma, beta, mean, var)) and \
            (bias is None or bias.data is not None)
        new_w_data = new_b_data = None
        if have_data:
            scale = (np.asarray(gamma.data, np.float64) /
                     np.sqrt(np.asarray(var.data, np.float64) + eps))
            wd = np.asarray(w.data, np.float64)
            if prod.op_type == "ConvTranspose":
                group = prod.attr_int("group", 1)
                per = wd.shape[1]
                s = scale.reshape(group, 1, per, *([1] * (wd.ndim - 2)))
                grouped = wd.reshape(group, wd.shape[0] // group, per, *wd.shape[2:]) * s
                new_w_data = grouped.reshape(wd.shape)
            else:
                new_w_data = wd * scale.reshape(-1, *([1] * (wd.ndim - 1)))
            bd = np.zeros(channels) if bias is None else np.asarray(bias.data, np.float64)
            new_b_data = ((bd - np.asarray(mean.data, np.float64)) * scale +
                          np.asarray(beta.data, np.float64))
            new_w_data = new_w_data.astype(w.dtype.numpy)
            new_b_data = new_b_data.astype(gamma.dtype.numpy)
        new_w = graph.add_constant(graph.unique_name(f"{w.name}.bnfold"), w.shape, w.dtype,
                                   data=new_w_data)
        new_b = graph.add_constant(graph.unique_name(f"{prod.name}.bias.bnfold"), (channels,),
                                   gamma.dtype, data=new_b_data)
        prod.replace_input(1, new_w)
        if len(prod.inputs) > 2:
            prod.replace_input(2, new_b)
        else:
            # Node inputs are a tuple; appending the bias goes through replace_input's
            # bookkeeping by first growing the tuple with an absent operand.
            prod._inputs = (*prod._inputs, None)
            prod.replace_input(2, new_b)


class PadFusionPass(Pass):
    """Fold explicit zero padding of the spatial axes into the following Conv.

    Rules:
      1. ``Conv(Pad(x, pads, mode=constant, value=0))`` where the Pad pads only H and W, by
         constant amounts, and its output feeds only convolutions -> each Conv's ``pads`` grows
         by the Pad's amounts and reads ``x``.
      2. Pads with other modes (reflect, edge), non-zero values or negative amounts stay.
    """

    name = "pad-fusion"

    def call(self, graph: Graph) -> PassResult:
        values = known_values(graph)
        fused = 0
        for pad in graph.nodes:
            if pad.op_type != "Pad" or str(pad.attrs.get("mode", "constant")) != "constant":
                continue
            x, out = pad.inputs[0], pad.outputs[0]
            if x is None or len(x.shape) != 4 or _is_graph_output(graph, out):
                continue
            amounts = self._pads(pad, values)
            if amounts is None or any(a < 0 for a in amounts) or \
                    any(amounts[i] or amounts[i + 4] for i in (0, 1)):
                continue
            users = out.consumers
            if not users or not all(u.op_type == "Conv" and u.inputs[0] is out
                                    and u.inputs.count(out) == 1 for u in users):
                continue
            for conv in users:
                t, left, b, r = conv.attr_ints("pads", (0, 0, 0, 0))
                conv.attrs["pads"] = (t + amounts[2], left + amounts[3], b + amounts[6],
                                      r + amounts[7])
            _bypass(graph, pad, x)
            fused += 1
        graph.remove_unused_constants()
        return PassResult(graph, fused > 0, {"fused": fused})

    @staticmethod
    def _pads(pad: Node, values: dict[str, np.ndarray]) -> list[int] | None:
        value_t = pad.input(2)
        if value_t is not None:
            v = values.get(value_t.name)
            if v is None or np.any(np.asarray(v) != 0):
                return None
        if pad.input(3) is not None:
            return None  # explicit axes: rare; left alone
        t = pad.input(1)
        if t is not None:
            v = values.get(t.name)
            if v is None:
                return None
            amounts = [int(a) for a in np.asarray(v).reshape(-1)]
        else:
            amounts = list(pad.attr_ints("pads", ()))
            if float(pad.attr_float("value", 0.0)) != 0.0:
                return None
        return amounts if len(amounts) == 8 else None


class ActivationFusionPass(Pass):
    """Fuse element-wise activations into the op that produces their input.

    Rules:
      1. ``act(op(...))`` where ``act`` is one of :data:`FUSABLE_ACTIVATIONS`, ``op`` is a conv,
         linear, element-wise, normalization or pooling op with a single output used only by
         ``act``, and ``op`` has no fused activation yet -> ``op`` with ``activation = act``.
      2. ``Clip`` is fused only when its bounds are constants (Relu6 is ``Clip(0, 6)``).
    """

    name = "activation-fusion"

    def call(self, graph: Graph) -> PassResult:
        values = known_values(graph)
        fused = 0
        for act in graph.nodes:
            if act.op_type not in FUSABLE_ACTIVATIONS:
                continue
            x = act.inputs[0]
            if x is None or x.producer is None:
                continue
            prod = x.producer
            if prod.activation is not None or len(prod.outputs) != 1 or \
                    category(prod.op_type) not in _FUSION_PRODUCERS or len(x.consumers) != 1 or \
                    _is_graph_output(graph, x):
                continue
            activation = self._activation(act, values)
            if activation is None:
                continue
            prod.activation = activation
            graph.replace_all_uses(act.outputs[0], x)
            graph.remove_node(act)
            fused += 1
        graph.remove_unused_constants()
        return PassResult(graph, fused > 0, {"fused": fused})

    @staticmethod
    def _activation(act: Node, values: dict[str, np.ndarray]) -> Activation | None:
        op = act.op_type
        if op == "Clip":
            bounds: list[tuple[str, float]] = []
            for name, idx in (("max", 2), ("min", 1)):
                t = act.input(idx)
                if t is not None:
                    v = values.get(t.name)
                    if v is None:
                        return None
                    bounds.append((name, float(np.asarray(v).reshape(-1)[0])))
                elif name in act.attrs:
                    bounds.append((name, act.attr_float(name, 0.0)))
            return Activation("Clip", tuple(sorted(bounds)))
        if op == "LeakyRelu":
            return Activation(op, (("alpha", act.attr_float("alpha", 0.01)),))
        if op == "HardSigmoid":
            return Activation(op, (("alpha", act.attr_float("alpha", 0.2)),
                                   ("beta", act.attr_float("beta", 0.5))))
        return Activation(op)


def default_passes() -> list[Pass]:
    """The simplification pipeline, in order."""
    return [IdentityEliminationPass(), ConstantFoldingPass(), BatchNormFoldPass(),
            PadFusionPass(), ActivationFusionPass()]


def simplify(graph: Graph, *, verify_each: bool = True) -> PipelineResult:
    """Run the simplification pipeline in place and mark the graph as fused."""
    manager = PassManager(default_passes(), verify_each=verify_each)
    result = manager(graph)
    graph.metadata["fused"] = "true"
    graph.metadata["pipeline"] = manager.describe()
    return result
