"""Execution proofs of plans of restructured graphs (in-place Concats).

The plans come from :func:`cnnmem.restructure.measure.build_problem_in_place`: the tiles of a
segment are written straight into the buffer of the Concat along H that joins them, each at
``buffer offset + (first row) * (bytes per row)`` in channels-last storage, and the Concat only
checks. Positive cases: zoo networks with row-band and grid tiles (grids nest a Concat along W
inside the in-place Concat along H), the greedy and the overlap planner, graph I/O in and out
of the arena, a TFLite model, and ``cnnmem restructure`` itself. Negative cases: a tile moved
within the buffer, every tile at the buffer's start (the layout before in-place Concats were
supported), and a live buffer moved onto the Concat's buffer must all fail the proof.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cnnmem.analysis.accounting import Accounting
from cnnmem.analysis.liveness import compute_liveness
from cnnmem.errors import PlanningError
from cnnmem.ir import DType, Graph, GraphBuilder
from cnnmem.passes.simplify import simplify
from cnnmem.passes.tile_split import TileSplitPass
from cnnmem.planning.interface import MemoryPlan
from cnnmem.planning.overlap import Dataflow
from cnnmem.planning.problem import PlanningContext, run_planner
from cnnmem.planning.result import BufferRecord, PlanResult, make_result
from cnnmem.planning.simulate import ProofResult, prove_plan
from cnnmem.restructure import SegmentRewrite, apply_rewrites
from cnnmem.restructure.measure import build_problem_in_place
from cnnmem.zoo import build_network
from conftest import MODELS_DIR

RES = 64

# explicit rewrites: a grid (Concat along W per row band, nested in the in-place Concat along
# H) and row bands on each network; mobilenet_v2's 8x2 grid of an 8-row output has one-row
# bands, whose Concats along W are themselves contiguous (in place) and therefore not nested
# into the Concat along H, which then copies
SEGMENTS: dict[str, tuple[SegmentRewrite, ...]] = {
    "mobilenet_v2": (
        SegmentRewrite(("features.0.0", "features.1.conv.0.0", "features.1.conv.1",
                        "features.2.conv.0.0", "features.2.conv.1.0"), "HW", 2, 2),
        SegmentRewrite(("features.2.conv.2", "features.3.conv.0.0", "features.3.conv.1.0",
                        "features.3.conv.2", "features.3.add"), "H", 4),
        SegmentRewrite(("features.4.conv.0.0", "features.4.conv.1.0"), "HW", 8, 2),
    ),
    "resnet18": (
        SegmentRewrite(("conv1", "maxpool"), "HW", 2, 2),
        SegmentRewrite(("layer1.0.conv1", "layer1.0.conv2", "layer1.0.add"), "H", 4),
    ),
    "squeezenet1_1": (
        SegmentRewrite(("features.0", "features.2"), "H", 3),
        SegmentRewrite(("features.3.squeeze", "features.3.expand1x1", "features.3.expand3x3",
                        "features.3.cat"), "HW", 3, 2),
    ),
}

_REWRITTEN: dict[str, Graph] = {}


def _rewritten(name: str) -> Graph:
    """``name`` at 64x64 with :data:`SEGMENTS` applied (built once per session; read only)."""
    if name not in _REWRITTEN:
        g = build_network(name, resolution=(RES, RES), weights=True, seed=1)
        simplify(g)
        _REWRITTEN[name] = apply_rewrites(g, SEGMENTS[name])
    return _REWRITTEN[name]


def _plan(graph: Graph, planner: str = "greedy", include_io: bool = True
          ) -> tuple[PlanResult, PlanningContext]:
    """The plan the restructuring search measures: int8 accounting, in-place Concats, the
    hwc-row overlap rules for the overlap planner."""
    acct = Accounting(dtype=DType.INT8, include_io=include_io)
    flow = Dataflow.HWC_ROW if planner == "overlap" else None
    ctx = build_problem_in_place(graph, acct, flow)
    result = make_result(graph.name, planner, flow, acct, ctx, run_planner(planner, ctx.problem))
    return result, ctx


def _with_buffer(result: PlanResult, name: str, **changes: object) -> PlanResult:
    """``result`` with buffer ``name``'s record changed (a hand-made, corrupted plan)."""
    buffers = tuple(replace(b, **changes) if b.name == name else b  # type: ignore[arg-type]
                    for b in result.buffers)
    return replace(result, buffers=buffers)


def _host(result: PlanResult) -> BufferRecord:
    """The first buffer holding the tiles of an in-place Concat."""
    return next(b for b in result.buffers if any(b.tensor_offsets))


CASES = [(name, planner, io) for name in ("mobilenet_v2", "squeezenet1_1")
         for planner in ("greedy", "overlap") for io in (True, False)]
CASES += [("resnet18", "greedy", True), ("resnet18", "overlap", False)]  # big weights: slower


@pytest.mark.parametrize(("name", "planner", "include_io"), CASES)
def test_rewritten_zoo_plans_are_proven(name: str, planner: str, include_io: bool) -> None:
    graph = _rewritten(name)
    result, ctx = _plan(graph, planner, include_io)
    proof = prove_plan(graph, result, ctx, seed=2)
    assert proof.ok, proof.detail
    # every segment ends in an in-place Concat (mobilenet_v2's one-row bands add 8 more)
    assert proof.in_place_concats >= len(SEGMENTS[name])
    assert "channels-last storage" in proof.detail
    if planner == "overlap":
        assert proof.unit_layers > 0  # layers inside tiles ran over their own inputs


def test_nested_grid_bands_are_slices_of_the_in_place_buffer() -> None:
    graph = _rewritten("resnet18")
    result, _ = _plan(graph)
    host = next(b for b in result.buffers if b.name == "maxpool")
    bands = [t for t in host.tensors if t != "maxpool"]
    # 2 row bands, each the Concat along W of 2 column tiles, absorbed at rows 0 and 8 of
    # maxpool's 64x16x16 int8 output: 8 rows x 16 columns x 64 channels apart
    assert len(bands) == 2
    assert all(graph.tensor(t).producer.op_type == "Concat" for t in bands)  # type: ignore
    assert sorted(host.tensor_offset(t) - host.offset for t in bands) == [0, 8 * 16 * 64]


def test_one_row_bands_concat_in_place_along_w() -> None:
    """A Concat along W of one-row tiles is contiguous in HWC, so it is in place itself; the
    Concat along H of its outputs then cannot nest them and copies."""
    graph = _rewritten("mobilenet_v2")
    live = compute_liveness(graph, Accounting(dtype=DType.INT8), concat_in_place=True)
    cat = graph.node(next(n.name for n in graph.nodes if n.op_type == "Concat"
                          and n.outputs[0].name == "features.4.conv.1.0"))
    assert not any(t is not None and t.name in live.slice_offsets for t in cat.inputs)
    for band in cat.inputs:
        assert band is not None and band.producer is not None
        tiles = band.producer.inputs
        assert [live.slice_offsets[t.name] for t in tiles if t is not None] == [0, 4 * 144]


def _graph_output_tiled(axis: str) -> Graph:
    """x (1, 3, 8, 8) -> conv -> conv = the graph output, tiled into 2 bands (or 2x2)."""
    b = GraphBuilder("tiny", weights=True, seed=5)
    x = b.input("x", (1, 3, 8, 8))
    y = b.relu(b.conv(x, 4, 3, padding=1, name="c1"), name="r1")
    b.output(b.conv(y, 5, 3, padding=1, name="c2"))
    g = b.build()
    simplify(g)
    TileSplitPass(("c1", "c2"), 2, axis, 2 if axis == "HW" else 1)(g)
    return g


@pytest.mark.parametrize("axis", ["H", "HW"])
@pytest.mark.parametrize("planner", ["greedy", "overlap"])
def test_tiles_of_a_graph_output_outside_the_arena(axis: str, planner: str) -> None:
    """``--exclude-io``: the Concat's buffer is the graph output, in a separate array; its
    tiles are written into their slices of that array."""
    g = _graph_output_tiled(axis)
    result, ctx = _plan(g, planner, include_io=False)
    assert all(b.name != "c2" for b in result.buffers)  # the output is outside the arena
    proof = prove_plan(g, result, ctx, seed=3)
    assert proof.ok and proof.in_place_concats == 1, proof.detail
    result, ctx = _plan(g, planner, include_io=True)
    host = next(b for b in result.buffers if b.name == "c2")
    # float32 graph, int8 accounting: rows 0..3 and 4..7 of an 8x8x5 output, 40 B a row
    assert sorted(host.tensor_offsets)[-1] == 4 * 8 * 5
    proof = prove_plan(g, result, ctx, seed=3)
    assert proof.ok and proof.in_place_concats == 1, proof.detail


def test_slice_offsets_by_hand() -> None:
    b = GraphBuilder("t", seed=0)
    x = b.input("x", (1, 1, 8, 4))
    y = b.conv(x, 4, 3, padding=1, name="c1")
    y = b.conv(y, 2, 3, padding=1, name="c2")
    b.output(b.relu(y, name="out"))
    g = b.build()
    TileSplitPass(("c1", "c2"), 2)(g)
    live = compute_liveness(g, Accounting(dtype=DType.INT8), concat_in_place=True)
    tiles = g.node("c2/concat").inputs
    # c2: 8 rows x 4 columns x 2 channels; tile 1 starts at row 4: 4 * 4 * 2 bytes
    assert {t.name: live.slice_offsets[t.name] for t in tiles if t is not None} == {
        tiles[0].name: 0, tiles[1].name: 32}  # type: ignore[union-attr]
    assert compute_liveness(g, Accounting(dtype=DType.INT8)).slice_offsets == {}


# ---- negative cases: a corrupted plan must fail -------------------------------------------


def _proof(graph: Graph, result: PlanResult, ctx: PlanningContext) -> ProofResult:
    return prove_plan(graph, result, ctx, seed=2)


@pytest.mark.parametrize("planner", ["greedy", "overlap"])
def test_a_tile_moved_inside_its_buffer_fails(planner: str) -> None:
    graph = _rewritten("squeezenet1_1")
    result, ctx = _plan(graph, planner)
    assert _proof(graph, result, ctx).ok
    host = _host(result)
    within = list(host.tensor_offsets)
    k = within.index(max(within))
    for shift in (-1, -within[k] // 2):  # one byte, half the tile's start
        moved = within.copy()
        moved[k] += shift
        bad = _with_buffer(result, host.name, tensor_offsets=tuple(moved))
        proof = _proof(graph, bad, ctx)
        assert not proof.ok, shift
        assert "corrupts data" in proof.detail or "overwritten" in proof.detail


def test_every_tile_at_the_buffer_start_fails() -> None:
    """The layout before in-place Concats were supported: each tile at the buffer's offset."""
    graph = _rewritten("squeezenet1_1")
    result, ctx = _plan(graph)
    host = _host(result)
    bad = _with_buffer(result, host.name, tensor_offsets=(0,) * len(host.tensors))
    assert not _proof(graph, bad, ctx).ok


def test_a_live_buffer_moved_onto_the_concat_buffer_fails() -> None:
    graph = _rewritten("mobilenet_v2")
    result, ctx = _plan(graph)
    host = _host(result)
    # a buffer that opens while the Concat's buffer holds tiles and is not one of them
    victim = next(b for b in result.buffers if b.name != host.name
                  and host.first_step < b.first_step < host.last_step)
    names = [b.name for b in result.plan.problem.buffers]
    offsets = list(result.plan.offsets)
    offsets[names.index(victim.name)] = host.offset
    hand = MemoryPlan("hand", result.plan.problem, tuple(offsets),
                      result.plan.lower_bound_bytes)
    with pytest.raises(PlanningError):
        hand.verify()  # the static checker sees it too
    bad = make_result("mobilenet_v2", "hand", None, result.accounting, ctx, hand)
    proof = _proof(graph, bad, ctx)
    assert not proof.ok
    assert "overwritten" in proof.detail or "corrupts data" in proof.detail


def test_chw_outer_with_in_place_concats_is_refused() -> None:
    graph = _rewritten("resnet18")
    acct = Accounting(dtype=DType.INT8)
    ctx = build_problem_in_place(graph, acct, Dataflow.CHW_OUTER)
    result = make_result("r", "greedy", Dataflow.CHW_OUTER, acct, ctx,
                         run_planner("greedy", ctx.problem))
    with pytest.raises(PlanningError, match="channels-last"):
        prove_plan(graph, result, ctx)


# ---- a TFLite model and the restructure command ---------------------------------------------


def test_tflite_rewrite_plan_is_proven_bit_exact() -> None:
    path = MODELS_DIR / "tflite" / "image_classification.tflite"
    if not path.is_file():
        pytest.skip(f"reference models not found at {path.parent}")
    from cnnmem.api import restructure

    out = restructure(str(path), parts=(2, 4), max_iterations=2, seed=1)
    assert out.result.segments
    assert out.plan_proven is True, out.plan_proof
    assert "bit-exact" in out.plan_proof and "in place: inputs written" in out.plan_proof
    assert f"plan of {out.result.peak_after_bytes} B" in out.plan_proof
    out = restructure(str(path), parts=(2, 4), max_iterations=2, planner="overlap",
                      include_io=False, seed=1)
    assert out.plan_proven is True, out.plan_proof


def test_restructure_cli_reports_the_proof(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from cnnmem.cli import main

    args = ["restructure", "resnet18", "--resolution", "32", "--dtype", "int8", "--budget",
            "19000"]  # one greedy step
    code = main([*args, "--json", str(tmp_path / "r.json")])
    assert code == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["segments"] and data["plan_proven"] is True
    assert f"plan of {data['peak_after_bytes']} B" in data["plan_proof"]
    assert "in place: inputs written" in data["plan_proof"]
    assert "plan proven    yes: greedy plan" in capsys.readouterr().out
    code = main([*args, "--no-prove", "--json", "-"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["plan_proven"] is None and data["plan_proof"] == "not run"
