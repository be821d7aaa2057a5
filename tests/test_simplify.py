"""Simplification passes: each rule on a tiny inline graph, checked by onnxruntime equivalence."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import pytest

from cnnmem.errors import PassError
from cnnmem.frontend.onnx_export import to_onnx
from cnnmem.frontend.onnx_import import load_onnx
from cnnmem.ir import Graph, GraphBuilder, Tensor, verify
from cnnmem.ir.types import Activation
from cnnmem.passes.infra import Pass, PassManager, PassResult
from cnnmem.passes.simplify import (
    ActivationFusionPass,
    BatchNormFoldPass,
    ConstantFoldingPass,
    IdentityEliminationPass,
    PadFusionPass,
    simplify,
)
from conftest import models_dir


def run_ort(graph: Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    model = to_onnx(graph, random_weights=True, seed=1)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in session.run(None, feeds)]


def random_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t.name: rng.normal(size=t.shape).astype(t.dtype.numpy) for t in graph.inputs}


def assert_same_function(build: Callable[[], Graph], passes: list[Pass]) -> Graph:
    """Run ``passes`` on a fresh graph and compare with the untouched one in onnxruntime."""
    before = build()
    after = build()
    PassManager(passes)(after)
    verify(after)
    feeds = random_feeds(before)
    for a, b in zip(run_ort(before, feeds), run_ort(after, feeds), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(a).max()))
    return after


def ops(graph: Graph) -> Counter[str]:
    return Counter(n.op_type for n in graph.nodes)


def _conv_bn_act(act: str) -> Callable[[], Graph]:
    def build() -> Graph:
        b = GraphBuilder("t", weights=True, seed=3)
        x = b.input("x", (1, 4, 9, 9))
        y = b.batch_norm(b.conv(x, 6, 3, stride=2, padding=1, bias=act == "relu"))
        y = {"relu": b.relu, "relu6": b.relu6, "sigmoid": b.sigmoid,
             "leaky": b.leaky_relu}[act](y)
        b.output(y)
        return b.build()
    return build


@pytest.mark.parametrize("act", ["relu", "relu6", "sigmoid", "leaky"])
def test_conv_bn_activation_fold_and_fuse(act: str) -> None:
    after = assert_same_function(_conv_bn_act(act), [BatchNormFoldPass(),
                                                     ActivationFusionPass()])
    assert ops(after) == Counter({"Conv": 1})
    conv = after.nodes[0]
    assert conv.activation is not None
    if act == "relu6":
        assert conv.activation == Activation("Clip", (("max", 6.0), ("min", 0.0)))


def test_bn_fold_into_grouped_conv_transpose_and_gemm() -> None:
    def build() -> Graph:
        b = GraphBuilder("t", weights=True, seed=5)
        x = b.input("x", (1, 4, 5, 5))
        y = b.batch_norm(b.conv_transpose(x, 6, 4, stride=2, padding=1))
        y = b.batch_norm(b.conv(y, 8, 3, groups=2, padding=1, bias=False))
        z = b.flatten(b.global_avg_pool(y))
        w = b.linear(z, 3)
        b.output(b.op("BatchNormalization", w, *[
            b.constant(f"fcbn.{k}", (3,), init=i) for k, i in
            (("weight", "uniform_pos"), ("bias", "small"), ("mean", "small"),
             ("var", "uniform_pos"))], epsilon=1e-5))
        return b.build()
    after = assert_same_function(build, [BatchNormFoldPass()])
    assert "BatchNormalization" not in ops(after)


def test_bn_without_foldable_producer_stays() -> None:
    def build() -> Graph:
        b = GraphBuilder("t", weights=True)
        x = b.input("x", (1, 3, 8, 8))
        b.output(b.batch_norm(b.relu(x)))
        return b.build()
    after = assert_same_function(build, [BatchNormFoldPass()])
    assert ops(after)["BatchNormalization"] == 1


def test_bn_not_folded_when_conv_output_has_other_users() -> None:
    def build() -> Graph:
        b = GraphBuilder("t", weights=True)
        x = b.input("x", (1, 3, 8, 8))
        c = b.conv(x, 3, 1)
        b.output(b.add(b.batch_norm(c), c))
        return b.build()
    after = assert_same_function(build, [BatchNormFoldPass()])
    assert ops(after)["BatchNormalization"] == 1


def test_pad_fused_into_conv() -> None:
    def build() -> Graph:
        b = GraphBuilder("t", weights=True)
        x = b.input("x", (1, 3, 8, 8))
        pads = b.int_constant("pads", [0, 0, 1, 2, 0, 0, 3, 1])
        p = b.op("Pad", x, pads, mode="constant")
        b.output(b.conv(p, 4, 3, padding=1))
        return b.build()
    after = assert_same_function(build, [PadFusionPass()])
    assert ops(after) == Counter({"Conv": 1})
    assert after.nodes[0].attrs["pads"] == (2, 3, 4, 2)


def test_reflect_pad_is_not_fused() -> None:
    def build() -> Graph:
        b = GraphBuilder("t", weights=True)
        x = b.input("x", (1, 3, 8, 8))
        pads = b.int_constant("pads", [0, 0, 1, 1, 0, 0, 1, 1])
        p = b.op("Pad", x, pads, mode="reflect")
        b.output(b.conv(p, 4, 3))
        return b.build()
    after = assert_same_function(build, [PadFusionPass()])
    assert ops(after)["Pad"] == 1


def test_identity_and_dropout_removed_but_input_to_output_kept() -> None:
    def build() -> Graph:
        b = GraphBuilder("t", weights=True)
        x = b.input("x", (1, 3, 4, 4))
        y = b.dropout(b.op("Identity", b.relu(x)))
        b.output(y, b.op("Identity", x))
        return b.build()
    after = assert_same_function(build, [IdentityEliminationPass()])
    assert ops(after) == Counter({"Relu": 1, "Identity": 1})


def test_activation_not_fused_into_multi_use_producer() -> None:
    def build() -> Graph:
        b = GraphBuilder("t", weights=True)
        x = b.input("x", (1, 3, 8, 8))
        c = b.conv(x, 3, 1)
        b.output(b.add(b.relu(c), c))
        return b.build()
    after = assert_same_function(build, [ActivationFusionPass()])
    assert ops(after)["Relu"] == 1


def test_constant_folding_removes_shape_arithmetic() -> None:
    def build() -> Graph:
        b = GraphBuilder("t", weights=True)
        x = b.input("x", (1, 6, 4, 4))
        shape = b.op("Shape", x)
        n = b.op("Gather", shape, b.int_constant("i0", 0), axis=0)
        c = b.op("Gather", shape, b.int_constant("i1", 1), axis=0)
        half = b.op("Div", c, b.int_constant("two", 2))
        target = b.concat([b.op("Unsqueeze", v, b.int_constant(f"ax{i}", [0]))
                           for i, v in enumerate((n, b.int_constant("k2", 2), half))]
                          + [b.int_constant("m1", [-1])], axis=0)
        b.output(b.op("Reshape", x, target))
        return b.build()
    after = assert_same_function(build, [ConstantFoldingPass()])
    assert ops(after) == Counter({"Reshape": 1})


def test_pass_manager_names_the_failing_pass() -> None:
    class Broken(Pass):
        name = "broken"

        def call(self, graph: Graph) -> PassResult:
            node = graph.nodes[0]
            node.outputs[0].shape = (1, 2, 3, 4)  # breaks the shape invariant
            return PassResult(graph, True)

    b = GraphBuilder("t")
    x = b.input("x", (1, 3, 8, 8))
    b.output(b.relu(x))
    with pytest.raises(PassError, match=r"pass broken broke the graph \(after "
                                        r"identity-elimination\)"):
        PassManager([IdentityEliminationPass(), Broken()])(b.build())


def test_simplify_real_models_preserves_function() -> None:
    for name in ("squeezenet1_1_full", "mobilenet_v2_full"):
        path = models_dir() / "onnx" / f"{name}.onnx"
        before, after = load_onnx(path), load_onnx(path)
        result = simplify(after)
        assert result.modified and after.metadata["fused"] == "true"
        assert not any(n.op_type in ("Relu", "Clip") for n in after.nodes)
        feeds = random_feeds(before)
        a, b = run_ort(before, feeds)[0], run_ort(after, feeds)[0]
        # mobilenet_v2_full's outputs are tiny (~3e-9): compare relative to the output scale
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * np.abs(a).max())


def test_simplify_graph_only_model_keeps_counts() -> None:
    graph = load_onnx(models_dir() / "onnx" / "shufflenet_v2_x1_0.onnx")
    simplify(graph)
    assert not any(n.op_type in ("Shape", "Gather", "Div") for n in graph.nodes)
    assert all(isinstance(t, Tensor) for t in graph.outputs)
