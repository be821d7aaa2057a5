"""The execution proof: plans run inside one byte array; a too aggressive plan must fail."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cnnmem.analysis.accounting import Accounting
from cnnmem.api import ModelOptions, load, plan
from cnnmem.ir import Graph, GraphBuilder
from cnnmem.planning.interface import MemoryPlan
from cnnmem.planning.overlap import Dataflow
from cnnmem.planning.problem import build_problem, run_planner
from cnnmem.planning.result import make_result
from cnnmem.planning.simulate import prove_plan
from conftest import models_dir


def two_convs() -> Graph:
    b = GraphBuilder("two", weights=True, seed=3)
    x = b.input("x", (1, 4, 12, 12))
    y = b.relu(b.conv(x, 4, 3, padding=1, name="c1"))
    b.output(b.conv(y, 4, 3, padding=1, name="c2"))
    return b.build()


def _proof_with_input_shift(shift: int) -> tuple[bool, str, int]:
    """Overlap plan of two_convs (hwc-row), with the graph input moved ``shift`` bytes closer
    to the first conv's output than the plan put it."""
    from cnnmem.passes.simplify import simplify

    graph = two_convs()
    simplify(graph)
    acct = Accounting()
    ctx = build_problem(graph, acct, Dataflow.HWC_ROW)
    good = run_planner("overlap", ctx.problem)
    names = [b.name for b in good.problem.buffers]
    ov = ctx.overlaps[0]
    assert ov.input_buffer == "x"
    offsets = list(good.offsets)
    i_x, i_y = names.index("x"), names.index(ov.output_buffer)
    size = good.problem.buffers[i_x].size_bytes
    forward = offsets[i_x] - offsets[i_y] >= ov.min_distance_bytes
    # forward: input start d above output start; reverse: output end d above input end
    distance = (offsets[i_x] - offsets[i_y] if forward
                else offsets[i_y] + size - (offsets[i_x] + size))
    assert distance == ov.min_distance_bytes == 12 * 4 * 4  # one row of x: W*C*4 bytes
    offsets[i_x] += -shift if forward else shift
    base = min(offsets)
    offsets = [o - base for o in offsets]
    hand = MemoryPlan("hand", good.problem, tuple(offsets), good.lower_bound_bytes)
    result = make_result("two", "hand", Dataflow.HWC_ROW, acct, ctx, hand)
    proof = prove_plan(graph, result, ctx, seed=1)
    return proof.ok, proof.detail, distance


def test_exact_distance_passes_and_one_row_or_one_byte_closer_fails() -> None:
    ok, detail, row = _proof_with_input_shift(0)
    assert ok, detail
    ok, detail, _ = _proof_with_input_shift(row)  # one row too aggressive
    assert not ok and "corrupts data" in detail and "c1" in detail
    ok, detail, _ = _proof_with_input_shift(1)  # even one byte too close
    assert not ok


@pytest.mark.parametrize("dataflow", ["hwc-row", "hwc-pixel", "hwc-element", "chw-outer"])
def test_int8_tflite_plans_verified_in_every_dataflow(dataflow: str) -> None:
    path = str(models_dir() / "tflite" / "image_classification.tflite")
    result = plan(path, planner="overlap", dataflow=dataflow, verify_plan=True)
    assert result.verified is True, result.verification
    assert "bit-exact" in result.verification


def test_mobilenet_v2_int8_overlap_plan_verified() -> None:
    path = str(models_dir() / "tflite" / "mbv2_224_int8.tflite")
    result = plan(path, planner="overlap", alignment=16, verify_plan=True)
    assert result.arena_bytes == 1_204_224
    assert result.verified is True, result.verification


@pytest.mark.parametrize("name,res,dataflow", [
    ("dncnn", 32, "hwc-row"), ("vdsr", 24, "hwc-row"), ("ffdnet", 32, "hwc-pixel"),
    ("resnet18", 64, "hwc-row"), ("mobilenet_v2", 64, "hwc-row"),
    ("mobilenet_v2", 32, "chw-outer"), ("squeezenet1_1", 64, "hwc-pixel"),
    ("googlenet", 64, "hwc-row"), ("tiny_yolov2", 64, "hwc-row"), ("blazeface", 64, "hwc-row"),
    ("fcn", 64, "hwc-row"), ("inception_v3", 96, "hwc-row"), ("resnet50", 64, "chw-outer"),
])
def test_zoo_overlap_plans_verified(name: str, res: int, dataflow: str) -> None:
    result = plan(name, planner="overlap", dataflow=dataflow, resolution=(res, res),
                  verify_plan=True)
    assert result.verified is True, result.verification
    assert "matches onnxruntime" in result.verification


@pytest.mark.parametrize("planner", ["naive", "pingpong", "greedy", "optimal"])
def test_other_planners_verified(planner: str) -> None:
    result = plan("squeezenet1_1", planner=planner, resolution=(64, 64), verify_plan=True,
                  time_limit_s=10)
    assert result.verified is True, result.verification


def test_int8_accounting_on_float_model_is_executed_scaled() -> None:
    # a plan made for 1-byte elements runs with float32 data at 4x the offsets
    result = plan("dncnn", planner="overlap", dtype="int8", resolution=(32, 32),
                  verify_plan=True)
    assert result.verified is True, result.verification
    assert f"one {4 * result.arena_bytes}-byte array" in result.verification


def test_graph_only_onnx_file_verified_with_random_weights() -> None:
    result = plan(str(models_dir() / "onnx" / "squeezenet1_1.onnx"), planner="overlap",
                  verify_plan=True)
    assert result.verified is True, result.verification


def test_unchanged_graph_after_load() -> None:
    graph = load(ModelOptions("dncnn", resolution=(32, 32)), weights=True)
    ctx = build_problem(graph, Accounting(), Dataflow.HWC_ROW)
    res = make_result("dncnn", "overlap", Dataflow.HWC_ROW, Accounting(), ctx,
                      run_planner("overlap", ctx.problem))
    assert prove_plan(graph, res, ctx).ok
    assert replace(res, verified=True).verified


def test_overwriting_a_live_skip_tensor_is_caught() -> None:
    b = GraphBuilder("skip", weights=True, seed=5)
    x = b.input("x", (1, 4, 8, 8))
    y = b.relu(b.conv(x, 4, 3, padding=1, name="c1"))
    z = b.conv(y, 4, 3, padding=1, name="c2")
    b.output(b.add(x, z))
    graph = b.build()
    from cnnmem.passes.simplify import simplify

    simplify(graph)
    acct = Accounting()
    ctx = build_problem(graph, acct, None)  # no overlap allowed anywhere
    good = run_planner("greedy", ctx.problem)
    names = [buf.name for buf in good.problem.buffers]
    offsets = list(good.offsets)
    offsets[names.index("c2")] = offsets[names.index("x")]  # c2 written over the live x
    hand = MemoryPlan("hand", good.problem, tuple(offsets), good.lower_bound_bytes)
    result = make_result("skip", "hand", None, acct, ctx, hand)
    proof = prove_plan(graph, result, ctx)
    assert not proof.ok
    assert "'x' was overwritten while still live" in proof.detail
    ok_result = make_result("skip", "greedy", None, acct, ctx, good)
    assert prove_plan(graph, ok_result, ctx).ok


def test_graph_io_outside_the_arena() -> None:
    result = plan("resnet18", planner="overlap", resolution=(64, 64), include_io=False,
                  verify_plan=True)
    assert result.verified is True, result.verification
    inside = plan("resnet18", planner="overlap", resolution=(64, 64))
    assert result.arena_bytes <= inside.arena_bytes


def test_shufflenet_channel_shuffle_views_get_no_unsafe_overlap() -> None:
    # 1x1 convs read the channel-shuffled tensor through a Reshape view of a Transpose: the
    # row model does not describe that byte order, so no overlap may be granted there.
    result = plan(str(models_dir() / "onnx" / "shufflenet_v2_x1_0.onnx"), planner="overlap",
                  input_shapes=None, verify_plan=True)
    assert result.verified is True, result.verification
