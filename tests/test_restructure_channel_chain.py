"""ChannelChainSplitPass: the MobileNetV2 inverted residual chain (expand -> depthwise ->
project) and random chains, checked by onnxruntime equivalence; every chain of the zoo's
MobileNetV2; the liveness effect on one block, computed by hand; preconditions."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cnnmem.analysis.accounting import Accounting
from cnnmem.analysis.liveness import compute_liveness
from cnnmem.errors import ConfigError, PreconditionError
from cnnmem.ir import DType, Graph, GraphBuilder, Node, QuantParams, Tensor, TensorKind, verify
from cnnmem.ir.ops import node_macs
from cnnmem.ir.types import Activation
from cnnmem.passes.channel_chain import (
    ChannelChainSplitPass,
    chain_channels,
    channel_chain_error,
)
from cnnmem.passes.infra import PassManager
from cnnmem.passes.simplify import simplify
from cnnmem.restructure import check_equivalence, clone_graph
from cnnmem.zoo import build_network

RELU6 = Activation("Clip", (("max", 6.0), ("min", 0.0)))
BLOCK = ("expand", "dw", "project")


def _macs(g: Graph) -> int:
    return sum(node_macs(n) for n in g.nodes)


def _block(*, stride: int = 1, bias: bool = True, residual: bool = True, c: int = 8,
           hidden: int = 48, hw: int = 9, seed: int = 1) -> Graph:
    """A MobileNetV2 inverted residual block (fused form, as after ``simplify``):
    expand 1x1 + ReLU6 -> depthwise 3x3 + ReLU6 -> project 1x1 (linear) [-> Add(x, .)]."""
    b = GraphBuilder("block", weights=True, seed=seed)
    x = b.input("x", (1, c, hw, hw))
    h = b.conv(x, hidden, 1, bias=bias, name="expand")
    h = b.conv(h, hidden, 3, stride=stride, padding=1, groups=hidden, bias=bias, name="dw")
    y = b.conv(h, c, 1, bias=bias, name="project")
    b.output(b.add(x, y, name="res") if residual else b.relu(y, name="out"))
    g = b.build()
    g.node("expand").activation = RELU6
    g.node("dw").activation = RELU6
    return g


def _split(g: Graph, layers: tuple[str, ...] | list[str], parts: int) -> dict[str, int]:
    """Apply the pass (with the verifier), check MACs and the name mapping; return stats."""
    before = {n.name for n in g.nodes}
    macs = _macs(g)
    stats = PassManager([ChannelChainSplitPass(layers, parts)])(g).stats["channel-chain-split"]
    verify(g)
    assert stats["macs_before"] == stats["macs_after"] == macs == _macs(g)
    for n in g.nodes:
        assert n.name in before or n.name.rpartition("/")[0] in layers, n.name
    return dict(stats)


# ----------------------------------------------------------------------------- MobileNetV2 block
@pytest.mark.parametrize("parts", [2, 3, 5])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("stride", [1, 2])
def test_inverted_residual_chain_is_equivalent(stride: int, bias: bool, parts: int) -> None:
    original = _block(stride=stride, bias=bias, residual=stride == 1)
    g = clone_graph(original)
    stats = _split(g, BLOCK, parts)
    out = original.node("project").outputs[0]
    assert stats["parts"] == parts
    assert stats["partial_sum_elements"] == (parts - 1) * out.num_elements
    # schedule: part 0, then each later part followed by its Add
    expected = [f"{layer}/cc0" for layer in BLOCK]
    for p in range(1, parts):
        expected += [f"{layer}/cc{p}" for layer in BLOCK] + [f"project/acc{p}"]
    assert [n.name for n in g.nodes] == [*expected, "res" if stride == 1 else "out"]
    # bands of 48 hidden channels; bias of the project only in part 0; activations
    widths = [g.node(f"dw/cc{p}").outputs[0].shape[1] for p in range(parts)]
    assert sum(widths) == 48 and max(widths) - min(widths) <= 1
    assert [g.node(f"dw/cc{p}").attrs["group"] for p in range(parts)] == widths
    assert [len(g.node(f"project/cc{p}").inputs) for p in range(parts)] == \
        [3 if bias else 2] + [2] * (parts - 1)
    assert all(g.node(f"expand/cc{p}").activation == RELU6 for p in range(parts))
    assert all(g.node(f"project/cc{p}").activation is None for p in range(parts))
    last = g.node(f"project/acc{parts - 1}")
    assert last.outputs[0].name == out.name and last.outputs[0].shape == out.shape
    consumer = g.nodes[-1]
    assert last.outputs[0] in consumer.inputs
    report = check_equivalence(original, g, seed=parts)
    assert report.equivalent, report


def test_fused_activation_of_the_last_conv_moves_to_the_last_add() -> None:
    original = _block(residual=False)
    original.node("project").activation = Activation("Relu")
    g = clone_graph(original)
    _split(g, BLOCK, 3)
    assert g.node("project/acc2").activation == Activation("Relu")
    assert g.node("project/acc1").activation is None
    assert check_equivalence(original, g, seed=4).equivalent


def test_depthwise_multiplier_grouped_first_layer_and_middle_layers() -> None:
    """A grouped first conv (Slice of its groups' input channels), a depthwise conv with
    channel multiplier 2, BatchNormalization, a per-channel Mul and a max pool in the middle."""
    def build() -> Graph:
        b = GraphBuilder("mixed", weights=True, seed=5)
        x = b.input("x", (1, 6, 11, 10))
        h = b.conv(x, 12, 3, padding=1, groups=3, name="first")       # 3 groups
        h = b.conv(h, 24, 3, padding=(1, 0), groups=12, name="dwm")    # multiplier 2
        h = b.batch_norm(h, name="bn")
        h = b.mul(h, b.constant("gamma", (24, 1, 1)), name="scale")
        h = b.max_pool(h, 2, 2, name="pool")
        y = b.conv(h, 5, (2, 3), stride=(1, 2), padding=1, name="last")
        b.output(b.relu(y, name="out"))
        return b.build()
    layers = ("first", "dwm", "bn", "scale", "pool", "last")
    original = build()
    assert channel_chain_error(original, layers) is None
    assert chain_channels(original, layers) == 3  # the first conv's groups
    g = clone_graph(original)
    _split(g, layers, 3)
    assert [g.node(f"first/cc{p}").attrs["group"] for p in range(3)] == [1, 1, 1]
    assert [g.node(f"dwm/cc{p}").outputs[0].shape[1] for p in range(3)] == [8, 8, 8]
    assert g.node("first/cc1.slice").op_type == "Slice"
    assert check_equivalence(original, g, seed=1).equivalent
    with pytest.raises(PreconditionError, match="4 parts for 3 channel units"):
        ChannelChainSplitPass(layers, 4).requires(original)


def test_two_layer_chain_and_grouped_middle_conv() -> None:
    """A grouped conv in the middle (bands of whole groups; the chain input x has a second
    reader, which is allowed), and a two-layer chain whose first layer is grouped."""
    def build() -> Graph:
        b = GraphBuilder("two", weights=True, seed=6)
        x = b.input("x", (1, 4, 8, 8))
        h = b.conv(x, 12, 3, padding=1, name="a")
        h = b.conv(h, 12, 3, padding=1, groups=4, name="g")  # 4 groups of 3 channels
        b.output(b.conv(h, 6, 1, name="z"))
        b.output(b.conv(x, 6, 1, name="side"))
        return b.build()
    original = build()
    assert chain_channels(original, ("a", "g", "z")) == 4
    g = clone_graph(original)
    _split(g, ("a", "g", "z"), 4)
    assert g.outputs[0].name == "z" and g.outputs[0].producer is g.node("z/acc3")
    assert check_equivalence(original, g, seed=2).equivalent
    g2 = build()
    _split(g2, ("g", "z"), 2)  # each part Slices the input channels of its two groups
    assert [n.op_type for n in g2.nodes][1:4] == ["Slice", "Conv", "Conv"]
    assert check_equivalence(original, g2, seed=3).equivalent
    assert "must be a dense Conv" in (channel_chain_error(original, ("a", "g")) or "")


# ----------------------------------------------------------------------------- random chains
@st.composite
def _chains(draw: st.DrawFn) -> tuple[Graph, tuple[str, ...], int]:
    """A random chain: L0 (kernel, stride, padding, channels, maybe grouped), 0-2 channel-wise
    layers (depthwise with kernel / stride / padding / dilation / multiplier, BN, Relu), and
    a last dense conv; plus a number of parts that fits."""
    cin = draw(st.integers(1, 6))
    size = (draw(st.integers(5, 12)), draw(st.integers(5, 12)))
    b = GraphBuilder("random", weights=True, seed=draw(st.integers(0, 1000)))
    x = b.input("x", (1, cin, *size))

    def window(h: Tensor, name: str, out_channels: int, groups: int, dilated: bool) -> Tensor:
        k = draw(st.integers(1, 3))
        d = draw(st.integers(1, 2)) if dilated else 1
        s = draw(st.integers(1, 2))
        p = draw(st.integers(0, k - 1))
        extent = d * (k - 1) + 1
        assume(all(n + 2 * p >= extent for n in h.shape[2:]))
        return b.conv(h, out_channels, k, stride=s, padding=p, dilation=d, groups=groups,
                      bias=draw(st.booleans()), name=name)

    hidden = draw(st.integers(2, 12))
    groups = draw(st.sampled_from([g for g in range(1, cin + 1)
                                   if cin % g == 0 and hidden % g == 0]))
    h = window(x, "l0", hidden, groups, False)
    layers = ["l0"]
    for i in range(draw(st.sampled_from([2, 1, 0]))):
        kind = draw(st.sampled_from(["dw", "bn", "dw", "relu"]))
        name = f"m{i}"
        if kind == "dw":
            h = window(h, name, h.shape[1] * draw(st.integers(1, 2)), h.shape[1], True)
        elif kind == "bn":
            h = b.batch_norm(h, name=name)
        else:
            h = b.relu(h, name=name)
        layers.append(name)
    y = window(h, "last", draw(st.integers(1, 8)), 1, False)
    layers.append("last")
    if draw(st.booleans()):
        y = b.relu(y, name="after")
    b.output(y)
    g = b.build()
    if draw(st.booleans()):
        g.node("l0").activation = RELU6
    units = chain_channels(g, layers)
    assume(units >= 2)
    return g, tuple(layers), draw(st.integers(2, min(units, 6)))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_chains())
def test_random_chains_are_equivalent(case: tuple[Graph, tuple[str, ...], int]) -> None:
    original, layers, parts = case
    g = clone_graph(original)
    _split(g, layers, parts)
    report = check_equivalence(original, g, seed=0)
    assert report.equivalent, report


# ----------------------------------------------------------------------------- the zoo
def _mobilenet_v2() -> Graph:
    g = build_network("mobilenet_v2", resolution=(64, 64), weights=True, seed=3)
    simplify(g)
    return g


def _depthwise_chains(g: Graph) -> list[tuple[str, str, str]]:
    """Every valid three-layer chain conv -> depthwise -> conv of ``g``."""
    nodes = g.nodes
    return [(a.name, b.name, c.name) for a, b, c in zip(nodes, nodes[1:], nodes[2:],
                                                            strict=False)
            if b.op_type == "Conv" and b.attr_int("group", 1) > 1 and
            channel_chain_error(g, (a.name, b.name, c.name)) is None]


def test_every_mobilenet_v2_chain_one_at_a_time_and_all_at_once() -> None:
    original = _mobilenet_v2()
    chains = _depthwise_chains(original)
    # the stem + block 1, and the 16 expand -> dw -> project blocks
    assert len(chains) == 17
    assert chains[0] == ("features.0.0", "features.1.conv.0.0", "features.1.conv.1")
    for chain in chains:
        g = clone_graph(original)
        _split(g, chain, 2)
        report = check_equivalence(original, g, seed=1)
        assert report.equivalent, (chain, report)
    g = clone_graph(original)
    for chain in chains:
        _split(g, chain, 3)
    assert sum(n.op_type == "Conv" for n in g.nodes) == \
        sum(n.op_type == "Conv" for n in original.nodes) + 2 * 3 * len(chains)
    report = check_equivalence(original, g, seed=2)
    assert report.equivalent, report


# ----------------------------------------------------------------------------- liveness
def test_liveness_of_one_block_by_hand() -> None:
    """x: 8 x 8 x 8 (512 elements), hidden 48 x 8 x 8 (3072), float32 (4 B/element).

    Layer by layer: expand x + h0 = 3584; dw x + h0 + h1 = 6656; project x + h1 + y = 4096;
    residual Add x + y + out = 1536: peak 6656 * 4 = 26624 B.

    2 parts (bands of 24 channels, 1536 elements; partial sums P of 512): expand/cc0
    x + h0_0 = 2048; dw/cc0 x + h0_0 + h1_0 = 3584; project/cc0 x + h1_0 + P0 = 2560;
    expand/cc1 x + P0 + h0_1 = 2560; dw/cc1 x + P0 + h0_1 + h1_1 = 4096; project/cc1
    x + P0 + h1_1 + P1 = 3072; acc1 x + P0 + P1 + y = 2048; Add 1536: peak 4096 * 4 = 16384 B.

    3 parts (bands of 16 channels, 1024 elements): dw/cc1 x + P0 + h0_1 + h1_1 = 3072;
    acc1 x + P0 + P1 + A1 = 2048; dw/cc2 x + A1 + h0_2 + h1_2 = 3072; acc2 x + A1 + P2 + y =
    2048: peak 3072 * 4 = 12288 B.
    """
    acc = Accounting()
    g = _block(hw=8)
    live = compute_liveness(g, acc, concat_in_place=True)
    assert list(live.live_bytes) == [4 * e for e in (3584, 6656, 4096, 1536)]
    assert live.peak_bytes == 26624
    g2 = _block(hw=8)
    _split(g2, BLOCK, 2)
    live2 = compute_liveness(g2, acc, concat_in_place=True)
    assert list(live2.live_bytes) == [4 * e for e in (2048, 3584, 2560, 2560, 4096, 3072,
                                                      2048, 1536)]
    assert live2.peak_bytes == 16384
    g3 = _block(hw=8)
    _split(g3, BLOCK, 3)
    assert compute_liveness(g3, acc, concat_in_place=True).peak_bytes == 12288


# ----------------------------------------------------------------------------- preconditions
def _quantised_block() -> Graph:
    """expand -> depthwise -> project in int8 with TFLite-style quantisation."""
    g = Graph("q")
    q = QuantParams((0.1,), (0,))
    x = g.add_input("x", (1, 4, 5, 5), DType.INT8, q)
    attrs = {"kernel_shape": (1, 1), "strides": (1, 1), "pads": (0, 0, 0, 0),
             "dilations": (1, 1), "group": 1}
    t = x
    for name, (o, i, group, k) in {"expand": (8, 4, 1, 1), "dw": (8, 1, 8, 3),
                                   "project": (4, 8, 1, 1)}.items():
        w = g.add_constant(f"{name}.w", (o, i, k, k), DType.INT8,
                           quant=QuantParams(tuple(0.01 * (j + 1) for j in range(o)),
                                             (0,) * o, 0))
        out = Tensor(name, (1, o, 5, 5), DType.INT8, TensorKind.ACTIVATION, quant=q)
        g.add_node(Node(name, "Conv", {**attrs, "kernel_shape": (k, k), "group": group,
                                       "pads": (k // 2,) * 4}), [t, w], [out])
        t = out
    g.outputs.append(t)
    verify(g)
    return g


def test_preconditions() -> None:
    g = _block()
    with pytest.raises(ConfigError):
        ChannelChainSplitPass(BLOCK, 1)
    with pytest.raises(PreconditionError, match="int32 accumulators"):
        ChannelChainSplitPass(BLOCK, 2).requires(_quantised_block())
    assert "int32 accumulators" in (channel_chain_error(_quantised_block(), BLOCK) or "")
    qdq = _block()  # float tensors with quantisation parameters (folded QDQ): refused too
    w = qdq.node("project").inputs[1]
    assert w is not None
    w.quant = QuantParams((0.02,), (0,))
    with pytest.raises(PreconditionError, match="quantised"):
        ChannelChainSplitPass(BLOCK, 2).requires(qdq)
    with pytest.raises(PreconditionError, match="49 parts for 48 channel units"):
        ChannelChainSplitPass(BLOCK, 49).requires(g)
    assert chain_channels(g, BLOCK) == 48
    with pytest.raises(PreconditionError, match="not consecutive"):
        ChannelChainSplitPass(("expand", "project"), 2).requires(g)
    with pytest.raises(PreconditionError, match="not consecutive"):
        ChannelChainSplitPass(("dw", "expand", "project"), 2).requires(g)
    with pytest.raises(PreconditionError, match="no node"):
        ChannelChainSplitPass(("nope", "dw", "project"), 2).requires(g)
    with pytest.raises(PreconditionError, match="two or more layers"):
        ChannelChainSplitPass(("expand",), 2).requires(g)
    with pytest.raises(PreconditionError, match="must be a dense Conv"):
        ChannelChainSplitPass(("expand", "dw"), 2).requires(g)  # ends at a depthwise conv
    with pytest.raises(PreconditionError, match="first layer"):
        ChannelChainSplitPass(("res", "out"), 2).requires(_extended_block())
    ext = _extended_block()
    with pytest.raises(PreconditionError, match="not channel-wise"):
        ChannelChainSplitPass(("expand", "lrn", "project"), 2).requires(ext)
    with pytest.raises(PreconditionError, match="only activation input"):
        ChannelChainSplitPass(("project", "res", "out", "tail"), 2).requires(ext)
    with pytest.raises(PreconditionError):
        chain_channels(g, ("expand", "project"))
    assert channel_chain_error(g, BLOCK) is None


def _extended_block() -> Graph:
    """expand -> LRN (mixes neighbouring channels) -> project -> Add(x, .) -> Relu -> conv."""
    b = GraphBuilder("ext", weights=True, seed=2)
    x = b.input("x", (1, 8, 6, 6))
    h = b.op("LRN", b.conv(x, 16, 1, name="expand"), name="lrn", size=3)
    y = b.conv(h, 8, 1, name="project")
    r = b.add(x, y, name="res")
    b.output(b.conv(b.relu(r, name="out"), 8, 1, name="tail"))
    return b.build()


def test_hidden_tensor_with_a_second_reader_or_as_graph_output_is_refused() -> None:
    b = GraphBuilder("fork", weights=True, seed=1)
    x = b.input("x", (1, 4, 6, 6))
    h = b.conv(x, 12, 1, name="expand")
    d = b.conv(h, 12, 3, padding=1, groups=12, name="dw")
    b.output(b.conv(d, 4, 1, name="project"), b.relu(h, name="other"))
    g = b.build()
    with pytest.raises(PreconditionError, match="read by the next layer"):
        ChannelChainSplitPass(("expand", "dw", "project"), 2).requires(g)
    b = GraphBuilder("out", weights=True, seed=1)
    x = b.input("x", (1, 4, 6, 6))
    d = b.conv(b.conv(x, 12, 1, name="expand"), 12, 3, padding=1, groups=12, name="dw")
    b.output(b.conv(d, 4, 1, name="project"), d)
    with pytest.raises(PreconditionError, match="graph output"):
        ChannelChainSplitPass(("expand", "dw", "project"), 2).requires(b.build())


def test_dense_conv_in_the_middle_is_refused() -> None:
    b = GraphBuilder("dense", weights=True, seed=1)
    x = b.input("x", (1, 4, 6, 6))
    h = b.conv(b.conv(x, 12, 1, name="a"), 12, 3, padding=1, name="b")
    b.output(b.conv(h, 4, 1, name="c"))
    g = b.build()
    with pytest.raises(PreconditionError, match="dense Conv in the middle"):
        ChannelChainSplitPass(("a", "b", "c"), 2).requires(g)
