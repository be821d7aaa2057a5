"""Liveness and the per-layer profile: hand-computed cases, an oracle property, goldens."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnmem.analysis.accounting import Accounting
from cnnmem.analysis.liveness import compute_liveness
from cnnmem.analysis.profile import profile_memory
from cnnmem.api import profile
from cnnmem.errors import ConfigError, InvariantError
from cnnmem.ir import DType, Graph, GraphBuilder
from conftest import manifest, models_dir


def chain() -> Graph:
    """x(1x2x4x4) -> conv(4ch) -> relu -> flatten -> fc(3); float32."""
    b = GraphBuilder("chain")
    x = b.input("x", (1, 2, 4, 4))
    c = b.conv(x, 4, 3, padding=1)  # 64 elems = 256 B
    r = b.relu(c)  # 256 B
    f = b.flatten(r)  # alias when fused
    b.output(b.linear(f, 3))  # 12 B
    return b.build()


def test_hand_computed_chain_unfused() -> None:
    g = chain()
    live = compute_liveness(g, Accounting(fused=False))
    # step0 conv: x(128)+c(256); step1 relu: c+r; step2 flatten: r+f; step3 fc: f+out(12)
    assert live.live_bytes == (384, 512, 512, 268)
    assert live.peak_bytes == 512 and live.peak_step == 1
    prof = profile_memory(g, Accounting(fused=False))
    assert prof.totals.activation_bytes == 256 * 3
    assert prof.layers[0].macs == 64 * 2 * 9
    assert prof.layers[3].macs == 3 * 64
    assert prof.layers[0].arithmetic_intensity == pytest.approx(1152 / (128 + 256 + 4 * 76))


def test_flatten_is_an_alias_when_fused() -> None:
    g = chain()
    live = compute_liveness(g, Accounting(fused=True))
    flat = next(b for b in live.buffers if "flatten" in b.tensors)
    assert flat.name == "relu" and flat.last_step == 3
    assert live.live_bytes == (384, 512, 256, 268)


def test_io_exclusion_and_alignment_and_dtype() -> None:
    g = chain()
    live = compute_liveness(g, Accounting(fused=False, include_io=False))
    assert live.live_bytes == (256, 512, 512, 256)
    aligned = compute_liveness(g, Accounting(fused=False, alignment=100))
    assert aligned.live_bytes[0] == 200 + 300
    int8 = compute_liveness(g, Accounting(fused=False, dtype=DType.INT8))
    assert int8.live_bytes == (32 + 64, 128, 128, 64 + 3)


def test_schedule_must_be_topological() -> None:
    g = chain()
    with pytest.raises(InvariantError, match="before"):
        compute_liveness(g, Accounting(), list(reversed(g.nodes)))
    with pytest.raises(InvariantError, match="every node"):
        compute_liveness(g, Accounting(), g.nodes[:2])


@st.composite
def random_dags(draw: st.DrawFn) -> Graph:
    """Random DAGs of Relu/Add/Concat/MaxPool over 1xCx8x8 tensors with random fan-in."""
    b = GraphBuilder("dag")
    n_inputs = draw(st.integers(1, 2))
    pool = [b.input(f"x{i}", (1, draw(st.integers(1, 4)), 8, 8)) for i in range(n_inputs)]
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["relu", "add", "concat", "pool", "flatten"]))
        a = pool[draw(st.integers(0, len(pool) - 1))]
        if kind == "relu":
            pool.append(b.relu(a))
        elif kind == "pool" and len(a.shape) == 4 and a.shape[2] >= 2:
            pool.append(b.max_pool(a, 2))
        elif kind == "flatten":
            pool.append(b.flatten(a))
        else:
            same = [t for t in pool if t.shape == a.shape]
            other = same[draw(st.integers(0, len(same) - 1))]
            if kind == "add":
                pool.append(b.add(a, other))
            elif len(a.shape) == 4 and other.shape[2:] == a.shape[2:]:
                pool.append(b.concat([a, other]))
    outs = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique_by=id))
    if all(t.producer is None for t in outs):
        outs = [b.relu(outs[0])]
    b.output(*outs)
    return b.build()


@settings(max_examples=60, deadline=None)
@given(random_dags(), st.booleans(), st.booleans())
def test_live_bytes_equal_brute_force_oracle(g: Graph, fused: bool, io: bool) -> None:
    acct = Accounting(fused=fused, include_io=io)
    live = compute_liveness(g, acct)
    # Oracle: a tensor's bytes are live from its producer's step to its last reader's step
    # (graph inputs from 0, graph outputs to the end). Fused: alias outputs add no bytes but
    # keep the aliased buffer alive.
    steps = list(g.nodes)
    aliases = {"Flatten"} if fused else set()

    def owner(t: object) -> object:
        while getattr(t, "producer", None) is not None and t.producer.op_type in aliases:  # type: ignore[attr-defined]
            t = t.producer.inputs[0]  # type: ignore[attr-defined]
        return t

    spans: dict[int, list[int]] = {}
    sizes: dict[int, int] = {}
    io_ids = set()
    for t in g.inputs:
        spans[id(t)] = [0, 0]
        sizes[id(t)] = t.size_bytes
        io_ids.add(id(t))
    for i, n in enumerate(steps):
        for t in n.inputs:
            if t is not None and not t.is_constant:
                spans[id(owner(t))][1] = max(spans[id(owner(t))][1], i)
        for t in n.outputs:
            o = owner(t)
            if o is t:
                spans[id(t)] = [i, i]
                sizes[id(t)] = t.size_bytes
            else:
                spans[id(o)][1] = max(spans[id(o)][1], i)
    for t in g.outputs:
        spans[id(owner(t))][1] = len(steps) - 1
        io_ids.add(id(owner(t)))
    expected = []
    for s in range(len(steps)):
        expected.append(sum(sizes[k] for k, (a, z) in spans.items() if a <= s <= z
                            and (io or k not in io_ids)))
    assert list(live.live_bytes) == expected
    # Bounds: the peak is at least any single step's own inputs + outputs, at most the sum.
    assert live.peak_bytes <= sum(b.size_bytes for b in live.buffers)


def test_mobilenet_v2_onnx_int8_matches_tflite_reference_figures() -> None:
    # The fused float ONNX export of torchvision MobileNetV2, counted at 1 byte per element,
    # has exactly the activation sizes of the int8 TFLite file converted from Keras: Σ
    # intermediate activation bytes = 6,895,776 (MANIFEST act_sum_bytes of
    # mbv2_224_int8.tflite) and the layer-by-layer peak equals TFLM's measured arena head
    # (1,505,280 B), which is that peak (112x112x16 + 112x112x96 at block 2's expansion).
    p = profile(str(models_dir() / "onnx" / "mobilenet_v2.onnx"), dtype="int8")
    tfl = next(e for e in manifest()["tflite"] if e["file"] == "tflite/mbv2_224_int8.tflite")
    assert p.totals.activation_bytes == tfl["act_sum_bytes"] == 6_895_776
    assert p.totals.largest_activation_bytes == tfl["act_max_bytes"] == 1_204_224
    assert p.totals.peak_live_activation_bytes == 1_505_280 == \
        tfl["tflm_arena_measured_here"]["head_bytes"]
    assert p.totals.macs == 300_774_272
    assert p.layers[p.totals.peak_step].live_bytes == 1_505_280


def test_unfused_profile_counts_every_tensor() -> None:
    path = str(models_dir() / "onnx" / "resnet18.onnx")
    fused = profile(path)
    unfused = profile(path, fuse=False)
    assert len(unfused.layers) == 49 and len(fused.layers) < len(unfused.layers)
    assert unfused.totals.activation_bytes == 4 * 5_746_176  # MANIFEST act_sum_elems, fp32
    assert fused.totals.peak_live_activation_bytes <= unfused.totals.peak_live_activation_bytes
    assert not unfused.accounting.fused and fused.accounting.fused


def test_profile_json_schema_is_stable() -> None:
    p = profile(str(models_dir() / "onnx" / "squeezenet1_1.onnx"), dtype="int8", alignment=16)
    d = p.as_dict()
    assert d["schema"] == "cnnmem.profile/1"
    assert {"name", "op", "output_shape", "weight_bytes", "macs"} <= set(d["layers"][0])
    assert {"params", "weight_bytes", "macs", "peak_live_activation_bytes"} <= set(d["totals"])
    assert d["accounting"]["dtype"] == "int8" and d["accounting"]["alignment_bytes"] == 16
    assert d["totals"]["macs"] == 349_151_936
    assert math.isclose(sum(r["macs"] for r in d["layers"]), d["totals"]["macs"])


def test_bad_accounting_options() -> None:
    with pytest.raises(ConfigError, match="unknown dtype 'int3'"):
        profile(str(models_dir() / "onnx" / "squeezenet1_1.onnx"), dtype="int3")
    with pytest.raises(ConfigError, match="--align"):
        profile(str(models_dir() / "onnx" / "squeezenet1_1.onnx"), alignment=0)
