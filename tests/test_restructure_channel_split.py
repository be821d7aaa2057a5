"""ChannelSplitPass: dense, grouped and depthwise convolutions and channel-wise layers, checked
by onnxruntime equivalence; per-channel quantisation slicing; preconditions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from cnnmem.errors import CnnmemError, ConfigError, PreconditionError
from cnnmem.frontend.onnx_export import to_onnx
from cnnmem.ir import DType, Graph, GraphBuilder, QuantParams, Tensor, node_macs, verify
from cnnmem.ir.types import Activation
from cnnmem.passes.channel_split import (
    ChannelSplitPass,
    InputChannelSplitPass,
    channel_split_kind,
)
from cnnmem.passes.infra import PassManager
from cnnmem.restructure import check_equivalence


def run_ort(graph: Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    model = to_onnx(graph, random_weights=True, seed=1)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in session.run(None, feeds)]


Build = Callable[[GraphBuilder, Tensor], Tensor]

CASES: dict[str, Build] = {
    "dense": lambda b, x: b.conv(x, 12, 3, padding=1, name="t"),
    "dense_strided_dilated": lambda b, x: b.conv(x, 7, 3, stride=2, dilation=2, padding=2,
                                                 name="t"),
    "grouped": lambda b, x: b.conv(x, 12, 3, padding=1, groups=4, name="t"),
    "depthwise": lambda b, x: b.conv(x, 8, 3, padding=1, groups=8, name="t"),
    "depthwise_multiplier": lambda b, x: b.conv(x, 16, 3, padding=1, groups=8, name="t"),
    "batch_norm": lambda b, x: b.batch_norm(x, name="t"),
    "relu": lambda b, x: b.relu(x, name="t"),
    "max_pool": lambda b, x: b.max_pool(x, 3, 2, 1, name="t"),
    "avg_pool": lambda b, x: b.avg_pool(x, 3, 1, 1, count_include_pad=True, name="t"),
    "global_pool": lambda b, x: b.global_avg_pool(x, name="t"),
    "add_channel_constant": lambda b, x: b.add(x, b.constant("c", (1, 8, 1, 1)), name="t"),
    "mul_scalar_constant": lambda b, x: b.mul(x, b.constant("c", (1,)), name="t"),
    "add_two_activations": lambda b, x: b.add(x, b.relu(x, name="r"), name="t"),
    "add_broadcast_activation": lambda b, x: b.add(
        x, b.conv(x, 1, 1, name="one"), name="t"),
    "prelu": lambda b, x: b.op("PRelu", x, b.constant("slope", (8, 1, 1)), name="t"),
}


def _build(case: str) -> Graph:
    b = GraphBuilder("g", weights=True, seed=7)
    x = b.input("x", (1, 8, 10, 9))
    y = CASES[case](b, x)
    b.output(b.relu(y, name="out"))
    return b.build()


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("case", sorted(CASES))
def test_channel_split_is_equivalent(case: str, parts: int) -> None:
    g0, g = _build(case), _build(case)
    macs = sum(node_macs(n) for n in g.nodes)
    result = PassManager([ChannelSplitPass("t", parts)])(g)
    verify(g)
    stats = result.stats["channel-split"]
    assert stats["macs_before"] == stats["macs_after"] == macs
    assert g.node("t/concat").outputs[0].name == "t"
    assert g.node("t/concat").attrs["axis"] == 1
    assert sum(n.name.startswith("t/ch") and n.op_type == g0.node("t").op_type
               for n in g.nodes) == parts
    feeds = {"x": np.random.default_rng(0).normal(size=(1, 8, 10, 9)).astype(np.float32)}
    for a, b in zip(run_ort(g0, feeds), run_ort(g, feeds), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(a).max())))


def test_split_kinds_and_weight_slices() -> None:
    g = _build("grouped")
    assert channel_split_kind(g.node("t")) == "group"
    w = g.node("t").inputs[1]
    assert w is not None and w.data is not None
    ChannelSplitPass("t", 2)(g)
    part = g.node("t/ch1")
    assert part.attrs["group"] == 2
    pw = part.inputs[1]
    assert pw is not None and pw.data is not None
    np.testing.assert_array_equal(pw.data, np.asarray(w.data)[6:12])
    sliced_in = part.inputs[0]
    assert sliced_in is not None and sliced_in.shape == (1, 4, 10, 9)
    assert channel_split_kind(_build("dense").node("t")) == "output"
    assert channel_split_kind(_build("relu").node("t")) == "channel"


def test_fused_activation_stays_on_the_parts() -> None:
    g = _build("dense")
    g.node("t").activation = Activation("Relu")
    ChannelSplitPass("t", 3)(g)
    assert all(g.node(f"t/ch{p}").activation == Activation("Relu") for p in range(3))


def test_per_channel_quantisation_is_sliced() -> None:
    g = Graph("q")
    x = g.add_input("x", (1, 4, 5, 5), DType.INT8, QuantParams((0.1,), (0,)))
    w = g.add_constant("w", (6, 4, 1, 1), DType.INT8,
                       quant=QuantParams(tuple(0.01 * (i + 1) for i in range(6)), (0,) * 6, 0))
    from cnnmem.ir import Node, TensorKind

    out = Tensor("y", (1, 6, 5, 5), DType.INT8, TensorKind.ACTIVATION,
                 quant=QuantParams((0.2,), (3,)))
    g.add_node(Node("t", "Conv", {"kernel_shape": (1, 1), "strides": (1, 1),
                                   "pads": (0, 0, 0, 0), "dilations": (1, 1), "group": 1}),
               [x, w], [out])
    g.outputs.append(out)
    ChannelSplitPass("t", 2)(g)
    verify(g)
    w1 = g.node("t/ch1").inputs[1]
    assert w1 is not None and w1.quant is not None
    assert w1.quant.scale == pytest.approx((0.04, 0.05, 0.06))
    assert w1.quant.zero_point == (0, 0, 0)
    assert g.node("t/ch1").outputs[0].quant == QuantParams((0.2,), (3,))


def test_preconditions() -> None:
    g = _build("dense")
    with pytest.raises(PreconditionError, match="12 output channels"):
        ChannelSplitPass("t", 13).requires(g)
    with pytest.raises(PreconditionError, match="no node"):
        ChannelSplitPass("nope", 2).requires(g)
    with pytest.raises(ConfigError):
        ChannelSplitPass("t", 1)
    b = GraphBuilder("g", weights=True)
    x = b.input("x", (1, 4, 3, 3))
    b.output(b.softmax(b.flatten(x, name="f"), axis=1, name="sm"))
    g2 = b.build()
    with pytest.raises(PreconditionError, match="cannot be split"):
        ChannelSplitPass("sm", 2).requires(g2)
    with pytest.raises(PreconditionError, match="groups"):
        ChannelSplitPass("t", 9).requires(_build("grouped"))


def test_equivalence_check_needs_weights_for_sliced_constants() -> None:
    """Graph-only weights: sliced constants have no data, and the name-keyed weight transfer
    of check_equivalence refuses rather than comparing different random draws."""
    def build(weights: bool) -> Graph:
        b = GraphBuilder("g", weights=weights, seed=7)
        x = b.input("x", (1, 8, 10, 9))
        b.output(b.relu(b.conv(x, 12, 3, padding=1, name="t"), name="out"))
        return b.build()
    g0, g = build(False), build(False)
    ChannelSplitPass("t", 2)(g)
    with pytest.raises(CnnmemError, match="no data"):
        check_equivalence(g0, g)
    g0, g = build(True), build(True)
    ChannelSplitPass("t", 2)(g)
    assert check_equivalence(g0, g).equivalent


# ----------------------------------------------------------------------------- input channels
@pytest.mark.parametrize("parts", [2, 3, 5])
@pytest.mark.parametrize("bias", [True, False])
def test_input_channel_split_sums_partial_convolutions(parts: int, bias: bool) -> None:
    """y = b + sum over input-channel bands of W[:, band] * x[band]: the same function in
    onnxruntime (float32, rtol 1e-4), the same MACs, the fused activation on the last Add."""
    def build() -> Graph:
        b = GraphBuilder("ci", weights=True, seed=3)
        x = b.input("x", (1, 10, 9, 8))
        y = b.conv(x, 6, 3, stride=2, padding=1, bias=bias, name="t")
        b.output(b.op("Identity", y, name="out"))
        g = b.build()
        g.node("t").activation = Activation("Clip", (("max", 6.0), ("min", 0.0)))
        return g
    original, g = build(), build()
    rng = np.random.default_rng(0)
    feeds = {"x": rng.normal(size=(1, 10, 9, 8)).astype(np.float32)}
    stats = PassManager([InputChannelSplitPass("t", parts)])(g).stats["input-channel-split"]
    verify(g)
    assert stats["macs_before"] == stats["macs_after"] == sum(node_macs(n) for n in g.nodes)
    assert stats["partial_sum_elements"] == (parts - 1) * 6 * 5 * 4
    convs = [n for n in g.nodes if n.op_type == "Conv"]
    assert [n.name for n in convs] == [f"t/ci{p}" for p in range(parts)]
    assert sum(c.inputs[1].shape[1] for c in convs) == 10  # type: ignore[union-attr]
    assert [len(c.inputs) for c in convs] == [3 if bias else 2] + [2] * (parts - 1)
    assert all(c.activation is None for c in convs)
    adds = [n for n in g.nodes if n.op_type == "Add"]
    assert len(adds) == parts - 1 and adds[-1].activation is not None
    assert g.node("out").inputs[0] is adds[-1].outputs[0]  # same tensor name as before
    assert adds[-1].outputs[0].name == original.node("t").outputs[0].name
    np.testing.assert_allclose(run_ort(g, feeds)[0], run_ort(original, feeds)[0], rtol=1e-4,
                               atol=1e-5)


def test_input_channel_split_refuses_quantised_and_non_dense_convs() -> None:
    from cnnmem.ir import Node, TensorKind

    g = Graph("q")
    x = g.add_input("x", (1, 4, 5, 5), DType.INT8, QuantParams((0.1,), (0,)))
    w = g.add_constant("w", (6, 4, 1, 1), DType.INT8, quant=QuantParams((0.01,), (0,)))
    out = Tensor("y", (1, 6, 5, 5), DType.INT8, TensorKind.ACTIVATION,
                 quant=QuantParams((0.2,), (3,)))
    g.add_node(Node("c", "Conv", {"kernel_shape": (1, 1), "strides": (1, 1),
                                   "pads": (0, 0, 0, 0), "dilations": (1, 1), "group": 1}),
               [x, w], [out])
    g.outputs.append(out)
    with pytest.raises(PreconditionError, match="int32 accumulators"):
        InputChannelSplitPass("c", 2).requires(g)
    dw = _build("depthwise")
    with pytest.raises(PreconditionError, match="not a dense Conv"):
        InputChannelSplitPass("t", 2).requires(dw)
    dense = _build("dense")
    with pytest.raises(PreconditionError, match="9 parts for 8 input channels"):
        InputChannelSplitPass("t", 9).requires(dense)
    with pytest.raises(ConfigError):
        InputChannelSplitPass("t", 1)
