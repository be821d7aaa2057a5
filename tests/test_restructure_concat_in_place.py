"""In-place Concat accounting: ``compute_liveness(..., concat_in_place=True)``.

Hand-computed lifetimes and live bytes on tiny graphs (int8 accounting: bytes = elements),
the qualifying rules (axis contiguous in HWC storage, inputs written only for the Concat), and
that the default stays the layer-by-layer accounting.
"""

from __future__ import annotations

import pytest

from cnnmem.analysis.accounting import Accounting
from cnnmem.analysis.liveness import compute_liveness, in_place_concats
from cnnmem.ir import DType, Graph, GraphBuilder
from cnnmem.passes.simplify import simplify
from cnnmem.passes.tile_split import TileSplitPass
from cnnmem.zoo import build_network

INT8 = Accounting(dtype=DType.INT8)


def _two_branch_concat(axis: int = 2, batch: int = 1) -> Graph:
    """x (2x4x4 = 32 B) -> a = conv(x) (3x4x4 = 48 B), b = conv(x) (48 B);
    cat = Concat(a, b, axis) (96 B); out = Relu(cat) (96 B)."""
    b = GraphBuilder("cat", seed=0)
    x = b.input("x", (batch, 2, 4, 4))
    a = b.conv(x, 3, 1, name="a")
    c = b.conv(x, 3, 1, name="b")
    b.output(b.relu(b.concat([a, c], axis=axis, name="cat"), name="out"))
    return b.build()


def test_default_liveness_by_hand() -> None:
    live = compute_liveness(_two_branch_concat(), INT8)
    # steps: 0 a, 1 b, 2 cat, 3 out.  x [0,1] 32; a [0,2] 48; b [1,2] 48; cat [2,3] 96;
    # out [3,3] 96
    assert live.live_bytes == (32 + 48, 32 + 48 + 48, 48 + 48 + 96, 96 + 96)
    assert {b.name for b in live.buffers} == {"x", "a", "b", "cat", "out"}


def test_concat_in_place_by_hand() -> None:
    g = _two_branch_concat()
    live = compute_liveness(g, INT8, concat_in_place=True)
    # cat's buffer opens when a is written (step 0) and lives to its last use (step 3);
    # a and b are sub-buffers of it
    cat = next(b for b in live.buffers if b.name == "cat")
    assert (cat.first_step, cat.last_step, cat.size_bytes) == (0, 3, 96)
    assert set(cat.tensors) == {"cat", "a", "b"}
    assert {b.name for b in live.buffers} == {"x", "cat", "out"}
    assert live.buffer_of["a"] == live.buffer_of["b"] == "cat"
    assert live.live_bytes == (32 + 96, 32 + 96, 96, 96 + 96)
    assert in_place_concats(g, INT8) == {"a": g.node("cat"), "b": g.node("cat")}


def test_concat_in_place_follows_the_schedule() -> None:
    g = _two_branch_concat()
    order = [g.node("b"), g.node("a"), g.node("cat"), g.node("out")]
    live = compute_liveness(g, INT8, order, concat_in_place=True)
    cat = next(b for b in live.buffers if b.name == "cat")
    assert (cat.first_step, cat.last_step) == (0, 3)


@pytest.mark.parametrize(("axis", "batch"), [(1, 1), (3, 1), (2, 2)])
def test_concat_along_a_strided_axis_is_not_in_place(axis: int, batch: int) -> None:
    """In HWC storage only a Concat along H (batch 1) or along N is contiguous per input."""
    g = _two_branch_concat(axis, batch)
    assert in_place_concats(g, INT8) == {}
    assert compute_liveness(g, INT8, concat_in_place=True) == compute_liveness(g, INT8)


def test_inputs_read_elsewhere_or_graph_io_are_not_absorbed() -> None:
    b = GraphBuilder("g", seed=0)
    x = b.input("x", (1, 2, 4, 4))
    a = b.conv(x, 2, 1, name="a")
    c = b.conv(x, 2, 1, name="c")
    cat = b.concat([a, c], axis=2, name="cat")
    b.output(b.relu(cat, name="out"), b.relu(a, name="side"))  # a has a second reader
    g = b.build()
    assert in_place_concats(g, INT8) == {}
    b = GraphBuilder("g2", seed=0)
    x = b.input("x", (1, 2, 4, 4))
    a = b.conv(x, 2, 1, name="a")
    b.output(b.concat([a, x], axis=2, name="cat"))  # x is a graph input
    assert in_place_concats(b.build(), INT8) == {}
    b = GraphBuilder("g3", seed=0)
    x = b.input("x", (1, 2, 4, 4))
    a = b.conv(x, 2, 1, name="a")
    c = b.conv(x, 2, 1, name="c")
    b.output(b.concat([a, c], axis=2, name="cat"), a)  # a is a graph output
    assert in_place_concats(b.build(), INT8) == {}


def test_alias_inputs_are_not_absorbed_under_the_fused_accounting() -> None:
    b = GraphBuilder("g", seed=0)
    x = b.input("x", (1, 2, 4, 4))
    a = b.reshape(b.conv(x, 2, 1, name="a"), (1, 2, 4, 4), name="r")
    c = b.conv(x, 2, 1, name="c")
    b.output(b.concat([a, c], axis=2, name="cat"))
    g = b.build()
    assert in_place_concats(g, INT8) == {}
    assert set(in_place_concats(g, Accounting(dtype=DType.INT8, fused=False))) == {"r", "c"}


def test_nested_concats_absorb_only_the_outer_inputs() -> None:
    b = GraphBuilder("g", seed=0)
    x = b.input("x", (1, 2, 4, 4))
    a = b.conv(x, 2, 1, name="a")
    c = b.conv(x, 2, 1, name="c")
    inner = b.concat([a, c], axis=2, name="inner")
    d = b.conv(x, 2, 1, name="d")
    b.output(b.relu(b.concat([inner, d], axis=2, name="outer"), name="out"))
    g = b.build()
    absorbed = in_place_concats(g, INT8)
    assert set(absorbed) == {"a", "c"}  # inner's own buffer is not nested into outer's
    live = compute_liveness(g, INT8, concat_in_place=True)
    assert {b.name for b in live.buffers} == {"x", "inner", "d", "outer", "out"}


def test_tiled_segment_output_lives_from_the_first_tile() -> None:
    b = GraphBuilder("t", seed=0)
    x = b.input("x", (1, 1, 8, 4))
    y = b.conv(x, 4, 3, padding=1, name="c1")
    y = b.conv(y, 1, 3, padding=1, name="c2")
    b.output(b.relu(y, name="out"))
    g = b.build()
    TileSplitPass(("c1", "c2"), 2)(g)
    steps = [n.name for n in g.nodes]
    assert steps == ["c1/tile0.slice", "c1/tile0", "c2/tile0", "c1/tile1.slice", "c1/tile1",
                     "c2/tile1", "c2/concat", "out"]
    live = compute_liveness(g, INT8, concat_in_place=True)
    c2 = next(b for b in live.buffers if b.name == "c2")
    assert (c2.first_step, c2.last_step, c2.size_bytes) == (2, 7, 32)
    # step 4 (c1 of tile 1; x died at its last Slice, step 3): c2's whole buffer 32 + the
    # slice of x rows [2,8) 24 + c1's tile rows [3,8) x 4 channels 80
    assert live.live_bytes[4] == 32 + 24 + 80
    # layer by layer, only tile 0's output (rows [0,4): 16 B) is live instead of c2's buffer
    assert compute_liveness(g, INT8).live_bytes[4] == 16 + 24 + 80


@pytest.mark.parametrize("name", ["googlenet", "inception_v3", "squeezenet1_1", "resnet18"])
def test_default_unchanged_and_flag_never_adds_bytes_on_zoo_graphs(name: str) -> None:
    g = build_network(name)
    simplify(g)
    default = compute_liveness(g, INT8)
    assert compute_liveness(g, INT8, concat_in_place=False) == default
    in_place = compute_liveness(g, INT8, concat_in_place=True)
    # channel concats are not contiguous in HWC: nothing changes on these untiled graphs
    assert in_place == default
