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
from cnnmem.passes.channel_split import ChannelSplitPass, channel_split_kind
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
