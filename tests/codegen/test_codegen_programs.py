"""Generated C programs: compiled, run, and checked against onnxruntime and the cost model.

Every case compiles ``model.c`` with ``cc -std=c99 -O1 -Wall -Werror``, runs it on seeded random
inputs and requires (a) its outputs to match onnxruntime (float allclose), (b) each group's
five byte counters and MACs to equal :func:`cnnmem.dse.cost.evaluate`, and the totals to equal
``dram_read_bytes`` / ``dram_write_bytes``, (c) ``sizeof(onchip)`` to equal ``buffer_bytes``.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from codegen_harness import CC, FLOAT_HW, prepare, run_case, run_code

from cnnmem.cli import main
from cnnmem.codegen import generate, schedule_from_json, schedule_to_json
from cnnmem.dse import (
    GroupSchedule,
    HaloPolicy,
    HardwareSpec,
    NetworkSchedule,
    Workload,
    best_schedule,
    evaluate_network,
    explore,
)
from cnnmem.errors import ConfigError, UnsupportedOperatorError
from cnnmem.ir.builder import GraphBuilder
from cnnmem.ir.graph import Graph
from cnnmem.zoo import build_network

CACHE, RECOMPUTE = HaloPolicy.CACHE, HaloPolicy.RECOMPUTE


def branchy() -> Graph:
    """conv+relu, maxpool (padded), dilated depthwise conv, 1x1 conv, residual add+relu,
    avgpool, concat with a branch, global average pool, Gemm; two graph outputs."""
    b = GraphBuilder("branchy", weights=True, seed=1)
    x = b.input("x", (1, 4, 11, 13))
    a = b.relu(b.conv(x, 8, 3, padding=1))
    p = b.max_pool(a, 3, 2, 1)
    c = b.relu(b.conv(p, 8, 3, padding=2, dilation=2, groups=8))
    d = b.conv(c, 8, 1)
    e = b.relu(b.add(d, p))
    f = b.avg_pool(e, 2, 1)
    h = b.concat([f, b.conv(f, 4, 1)])
    g = b.global_avg_pool(h)
    b.output(b.linear(b.flatten(g), 5), h)
    return b.build()


def conv_pair() -> Graph:
    """Two ungrouped convolutions (stride 2, then 'same'), for input-channel tiling."""
    b = GraphBuilder("pair", weights=True, seed=2)
    x = b.input("x", (1, 6, 9, 10))
    a = b.relu(b.conv(x, 7, 3, stride=2, padding=1))
    b.output(b.conv(a, 5, 3, padding=1))
    return b.build()


def _tiled(w: Workload, cuts: tuple[int, ...], order: str, halo: HaloPolicy,
           resident: bool) -> NetworkSchedule:
    """Groups split at ``cuts``, each tiled about 3 x 2 x 2 over its anchor."""
    groups, first = [], 0
    for stop in (*cuts, len(w.layers)):
        a = w.group(first, stop).anchor
        groups.append(GroupSchedule(first, stop, max(1, a.oy // 3), max(1, (a.ox + 1) // 2),
                                    max(1, a.k // 2), None, order, halo, resident))
        first = stop
    return NetworkSchedule(tuple(groups))


@pytest.mark.parametrize(("cuts", "order", "halo", "resident"), [
    ((3, 5, 7), "yxkc", CACHE, True),
    ((3, 5, 7), "yxkc", RECOMPUTE, False),
    ((3, 5, 7), "kyxc", CACHE, False),
    ((3, 5, 7), "xykc", RECOMPUTE, True),
    ((5,), "yxkc", CACHE, False),      # conv..add fused (5 layers), residual inside the group
    ((5,), "xkyc", RECOMPUTE, True),
    ((2, 4, 6, 7, 8, 9), "yxkc", CACHE, True),
])
def test_branchy_network(cuts: tuple[int, ...], order: str, halo: HaloPolicy,
                         resident: bool) -> None:
    run_case(branchy(), lambda w: _tiled(w, cuts, order, halo, resident)).check()


@pytest.mark.parametrize("order", ["yxkc", "kcyx", "cyxk", "ykcx", "xcky"])
@pytest.mark.parametrize(("halo", "resident"), [(CACHE, True), (CACHE, False),
                                                (RECOMPUTE, False)])
def test_input_channel_tiles_and_partial_sum_spills(order: str, halo: HaloPolicy,
                                                    resident: bool) -> None:
    def schedule(w: Workload) -> NetworkSchedule:
        return NetworkSchedule((GroupSchedule(0, 1, 2, 3, 3, 4, order, halo, resident),
                                GroupSchedule(1, 2, 3, 2, 2, 3, order, halo, resident)))

    run = run_case(conv_pair(), schedule)
    run.check()
    spills = sum(c.dram_psum_write_bytes for c in run.code.expected.groups)
    # the reduction loop inside the output-tile loops keeps partial sums on chip
    assert (spills == 0) == (order.index("c") == 3)


def test_fused_group_whole_tile_and_one_by_one_tiles() -> None:
    """The extremes: one tile per group, and 1x1x1 tiles (maximal halo traffic)."""
    def whole(w: Workload) -> NetworkSchedule:
        a = w.group(0, 2).anchor
        return NetworkSchedule((GroupSchedule(0, 2, a.oy, a.ox, a.k),))

    def tiny(w: Workload) -> NetworkSchedule:
        return NetworkSchedule((GroupSchedule(0, 2, 1, 1, 1, None, "yxkc", CACHE, False),))

    for schedule in (whole, tiny):
        run_case(conv_pair(), schedule).check()


def test_standalone_ops_and_activations() -> None:
    """Un-fused element-wise ops (a tensor read twice keeps its activation separate), BN,
    constants, Clip/LeakyRelu/Sigmoid fused into convolutions."""
    b = GraphBuilder("ops", weights=True, seed=4)
    x = b.input("x", (1, 3, 8, 8))
    y = b.conv(x, 6, 3, padding=1)
    r = b.relu(y)
    s = b.sub(r, y)            # y has two readers: the Relu stays a layer
    bn = b.batch_norm(s)
    m = b.mul(bn, b.constant("k", (1, 6, 1, 1), init="small"))
    q = b.relu6(b.conv(m, 6, 3, padding=1))
    lr = b.leaky_relu(b.conv(q, 6, 1), 0.2)
    sg = b.sigmoid(b.conv(lr, 4, 3, stride=2, padding=1))
    b.output(b.avg_pool(sg, 3, 1, 1, count_include_pad=True))
    graph = b.build()

    def schedule(w: Workload) -> NetworkSchedule:
        assert {layer.op_type for layer in w.layers} >= {"Relu", "Sub", "Mul",
                                                         "BatchNormalization"}
        return _tiled(w, (2, 5), "yxkc", CACHE, False)

    run_case(graph, schedule).check()


def test_counters_are_measured_not_copied() -> None:
    """Mutations: a program that never keeps data between tiles moves more bytes than the
    model (same outputs); a different schedule's model counts do not match this program."""
    graph, workload = prepare(conv_pair())
    schedule = NetworkSchedule((GroupSchedule(0, 2, 2, 2, 3, None, "yxkc", CACHE, False),))
    code = generate(graph, workload, schedule, FLOAT_HW)
    run = run_code(graph, workload, code)
    run.check()
    mutated = replace(schedule.groups[0], halo=RECOMPUTE)
    other = evaluate_network(workload, NetworkSchedule((mutated,)), FLOAT_HW)
    assert run.report["groups"][0][0] != other.groups[0].dram_act_read_bytes

    forgetful = replace(code, source=code.source.replace("keep_box(first,", "keep_box(first || 1,"))
    assert forgetful.source != code.source
    bad = run_code(graph, workload, forgetful)
    for ours, ref in zip(bad.outputs, bad.reference, strict=True):
        np.testing.assert_allclose(ours, ref.reshape(ours.shape), rtol=1e-4, atol=1e-5)
    with pytest.raises(AssertionError):
        bad.check()
    assert bad.report["counters"][0] > code.expected.groups[0].dram_act_read_bytes


@pytest.mark.parametrize(("name", "resolution", "width", "budget"), [
    ("mobilenet_v2", (32, 32), 0.5, 64 * 1024),
    ("squeezenet1_1", (48, 48), None, 96 * 1024),
    ("resnet18", (32, 32), None, 256 * 1024),
])
def test_zoo_network_best_schedule(name: str, resolution: tuple[int, int],
                                   width: float | None, budget: int) -> None:
    """The explorer's best schedule at a budget (fused groups, streamed weights, channel
    tiles) of a zoo network at reduced resolution."""
    kw = {"width": width} if width is not None else {}
    graph, workload = prepare(build_network(name, weights=True, seed=3,
                                            resolution=resolution, **kw))
    hw = HardwareSpec("f32", shared_buffer_bytes=budget, act_bytes_per_element=4,
                      weight_bytes_per_element=4, psum_bytes_per_element=4)
    point = best_schedule(workload, explore(workload, hw, max_group_layers=8))
    assert any(g.stop - g.first > 1 for g in point.schedule.groups)
    run = run_code(graph, workload, generate(graph, workload, point.schedule, hw))
    run.check(deep=name == "resnet18")
    assert run.report["onchip_bytes"] == point.buffer_bytes <= budget


def test_unsupported_layers_are_listed() -> None:
    b = GraphBuilder("bad", weights=True, seed=0)
    x = b.input("x", (1, 2, 4, 4))
    y = b.conv_transpose(b.conv(x, 2, 3, padding=1), 2, 2, stride=2)
    b.output(b.softmax(b.flatten(y)))
    graph, workload = prepare(b.build())
    schedule = NetworkSchedule(tuple(
        GroupSchedule(i, i + 1, layer.oy, layer.ox, layer.k)
        for i, layer in enumerate(workload.layers)))
    with pytest.raises(UnsupportedOperatorError, match="2 layer") as info:
        generate(graph, workload, schedule, FLOAT_HW)
    assert "ConvTranspose" in str(info.value) and "Softmax" in str(info.value)


def test_hardware_must_count_float32_elements() -> None:
    graph, workload = prepare(conv_pair())
    schedule = _tiled(workload, (), "yxkc", CACHE, True)
    with pytest.raises(ConfigError, match="4/4/4"):
        generate(graph, workload, schedule, HardwareSpec.single_buffer("1MiB"))
    separate = HardwareSpec("sep", activation_buffer_bytes=1 << 20, act_bytes_per_element=4,
                            weight_bytes_per_element=4, psum_bytes_per_element=4,
                            weights_in_separate_memory=True)
    with pytest.raises(ConfigError, match="separate"):
        generate(graph, workload, schedule, separate)


def test_schedule_json_round_trip() -> None:
    _, workload = prepare(branchy())
    schedule = _tiled(workload, (3, 5, 7), "kyxc", RECOMPUTE, False)
    doc = json.loads(json.dumps(schedule_to_json(workload, schedule)))
    assert schedule_from_json(doc, workload) == (schedule, None)
    by_name = {"best": {"groups": [{k: v for k, v in g.items() if k not in ("first", "stop")}
                                   | {"layers": g["stop"] - g["first"]}
                                   for g in doc["groups"]]}}
    assert schedule_from_json(by_name, workload)[0] == schedule
    with pytest.raises(ConfigError, match="no 'groups'"):
        schedule_from_json({"best": {}}, workload)
    with pytest.raises(ConfigError, match="covers"):
        schedule_from_json({"groups": doc["groups"][:1]}, workload)


@pytest.mark.skipif(CC is None, reason="no C compiler")
def test_cli_codegen_from_explore_json(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       ) -> None:
    """``explore --json`` -> ``codegen --schedule`` -> make -> run: the program's counters are
    expected.json's."""
    hw = tmp_path / "f32.yaml"
    hw.write_text("name: f32\nbuffer:\n  shared: 48KiB\nelement_bytes:\n  activation: 4\n"
                  "  weight: 4\n  partial_sum: 4\ndram_bandwidth: 8GB/s\nmacs_per_cycle: 64\n"
                  "clock: 500MHz\n")
    model = ["mobilenet_v2", "--resolution", "16x16", "--width", "0.35"]
    assert main(["explore", *model, "--hw", str(hw), "--max-group-layers", "4",
                 "--json", str(tmp_path / "best.json")]) == 0
    out = tmp_path / "out"
    assert main(["codegen", *model, "--schedule", str(tmp_path / "best.json"),
                 "-o", str(out)]) == 0
    capsys.readouterr()
    expected = json.loads((out / "expected.json").read_text())
    best = json.loads((tmp_path / "best.json").read_text())["best"]
    assert expected["dram_read_bytes"] == best["dram_read_bytes"]
    assert expected["buffer_bytes"] == best["buffer_bytes"]
    subprocess.run(["make", "-s", "-C", str(out)], check=True, capture_output=True)
    np.random.default_rng(0).normal(size=(1, 3, 16, 16)).astype("<f4").tofile(out / "in.bin")
    proc = subprocess.run([str(out / "model"), "weights.bin", "in.bin", "out.bin"], cwd=out,
                          capture_output=True, text=True, check=True)
    report = json.loads(proc.stdout)
    assert report["onchip_bytes"] == expected["onchip_bytes"]
    for counts, group in zip(report["groups"], expected["groups"], strict=True):
        assert dict(zip(expected["counters"], counts, strict=True)) == \
            {k: group[k] for k in expected["counters"]}
    # a plain schedule.json is accepted back; without hardware (no hw section) it is refused
    assert main(["codegen", *model, "--schedule", str(out / "schedule.json"), "--buffer",
                 "48KiB", "-o", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "model.c").read_text() == (out / "model.c").read_text()
    assert main(["codegen", *model, "--schedule", str(out / "schedule.json"),
                 "-o", str(tmp_path / "x")]) == 2
    assert "--buffer" in capsys.readouterr().err
