"""TileSplitPass: exact receptive-field propagation, halo MACs and function preservation.

- Hand-computed row ranges and pads on a two-conv chain.
- Every zoo network (small resolutions), a segment chosen at its memory peak, 2/3/4 tiles:
  onnxruntime equivalence with the original (rtol 1e-4), ``verify`` passes, and the recomputed
  MACs equal ``macs_after - macs_before`` and an independent row-by-row dependency count.
- Hypothesis: random conv/pool chains (kernel, stride, dilation, pads, groups, ceil_mode,
  count_include_pad) and tile counts, tiled vs untiled in the numpy interpreter.
- Regions (residual block, fire module), preconditions and naming rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnmem.analysis.accounting import Accounting
from cnnmem.analysis.liveness import compute_liveness
from cnnmem.errors import ConfigError, PassError, PreconditionError
from cnnmem.frontend.onnx_export import to_onnx
from cnnmem.ir import DType, Graph, GraphBuilder, Node, Tensor, node_macs, verify
from cnnmem.passes.infra import PassManager
from cnnmem.passes.simplify import eliminate_dead_nodes, simplify
from cnnmem.passes.tile_split import (
    TileSplitPass,
    balanced_ranges,
    plan_tile_split,
    segment_error,
    tileable_chains,
)
from cnnmem.runtime import evaluate
from cnnmem.zoo import build_network, list_networks

INT8 = Accounting(dtype=DType.INT8)

# resolution per network for the zoo test (small, valid for each network's rule)
RESOLUTION = {"vgg16": 224, "inception_v3": 96, "googlenet": 64, "squeezenet1_1": 64,
              "tiny_yolov2": 64, "blazeface": 64, "fcn": 64, "ffdnet": 64}


def run_ort(graph: Graph, feeds: dict[str, np.ndarray], seed: int = 1) -> list[np.ndarray]:
    model = to_onnx(graph, random_weights=True, seed=seed)
    onnx.checker.check_model(model, full_check=True)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in session.run(None, feeds)]


def random_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t.name: rng.normal(size=t.shape).astype(t.dtype.numpy) for t in graph.inputs}


def assert_close(expected: Sequence[np.ndarray], got: Sequence[np.ndarray]) -> None:
    for a, b in zip(expected, got, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(a).max())))


def macs(graph: Graph) -> int:
    return sum(node_macs(n) for n in graph.nodes)


# ----------------------------------------------------------------------------- oracle
def _window_needs(node: Node, out_row: int, in_h: int) -> set[int]:
    """Input rows under the window of output row ``out_row``, walked cell by cell over the
    window's extent (a contiguous tile holds the rows between dilated taps too)."""
    g = node.geometry
    assert g is not None
    first = out_row * g.stride[0] - g.pads[0]
    extent = g.dilation[0] * (g.kernel[0] - 1) + 1
    return {r for r in range(first, first + extent) if 0 <= r < in_h}


def independent_recomputed_macs(graph: Graph, segment: Sequence[str], parts: int) -> int:
    """Recomputed MACs from row-by-row dependencies: for every tile, the set of rows each
    tensor must provide (the union over its readers' taps), whose span (first..last) is what a
    contiguous tile computes; summed over tiles minus the layer height, times row MACs."""
    nodes = [n for n in graph.nodes if n.name in set(segment)]
    y = nodes[-1].outputs[0]
    total = 0
    rows_per_tile: dict[str, list[int]] = {n.name: [] for n in nodes}
    for t in range(parts):
        lo, hi = t * y.shape[2] // parts, (t + 1) * y.shape[2] // parts
        need: dict[str, set[int]] = {y.name: set(range(lo, hi))}
        for node in reversed(nodes):
            out = node.outputs[0]
            rows = need[out.name]
            span = set(range(min(rows), max(rows) + 1))
            rows_per_tile[node.name].append(len(span))
            for x in node.activation_inputs:
                if node.geometry is not None:
                    wanted = set().union(*(_window_needs(node, r, x.shape[2]) for r in span))
                else:
                    wanted = set(span)
                need.setdefault(x.name, set()).update(wanted)
    for node in nodes:
        h = node.outputs[0].shape[2]
        total += (sum(rows_per_tile[node.name]) - h) * (node_macs(node) // h)
    return total


# ----------------------------------------------------------------------------- hand example
def _two_convs() -> Graph:
    b = GraphBuilder("two", weights=True, seed=0)
    x = b.input("x", (1, 2, 8, 5))
    y = b.conv(x, 3, 3, padding=1, name="c1")
    y = b.conv(y, 4, 3, stride=2, padding=1, name="c2")
    b.output(b.relu(y, name="out"))
    return b.build()


def test_hand_computed_ranges_and_pads() -> None:
    g = _two_convs()
    plan = plan_tile_split(g, ("c1", "c2"), 2)
    c1, c2 = plan.layers
    # c2 (s=2, k=3, p=1): out [0,2) -> lo=-1, hi=4 -> rows [0,4), pads (1,0);
    #                     out [2,4) -> lo=3, hi=8 -> rows [3,8), pads (0,0)
    assert c2.out_rows == ((0, 2), (2, 4))
    assert c2.in_rows == ((0, 4), (3, 8))
    assert c2.pads == ((1, 0), (0, 0))
    # c1 (s=1, k=3, p=1): out [0,4) -> rows [0,5), pads (1,0); out [3,8) -> rows [2,8), (0,1)
    assert c1.out_rows == ((0, 4), (3, 8))
    assert c1.in_rows == ((0, 5), (2, 8))
    assert c1.pads == ((1, 0), (0, 1))
    assert plan.input_rows == (((0, 5), (2, 8)),)
    # one row of c1 is computed twice: 3 out channels x 5 columns x 2 in channels x 9 taps
    assert c1.recomputed_rows == 1 and c2.recomputed_rows == 0
    assert plan.recomputed_macs == 3 * 5 * 2 * 9


def test_rewrite_structure_names_and_stats() -> None:
    g = _two_convs()
    before = macs(g)
    result = PassManager([TileSplitPass(("c1", "c2"), 2)])(g)
    verify(g)
    ops = [(n.name, n.op_type) for n in g.nodes]
    assert ops == [("c1/tile0.slice", "Slice"), ("c1/tile0", "Conv"), ("c2/tile0", "Conv"),
                   ("c1/tile1.slice", "Slice"), ("c1/tile1", "Conv"), ("c2/tile1", "Conv"),
                   ("c2/concat", "Concat"), ("out", "Relu")]
    concat = g.node("c2/concat")
    assert concat.outputs[0].name == "c2"  # the segment output keeps its name
    assert concat.attrs["axis"] == 2
    assert g.node("c1/tile0").inputs[1] is g.node("c1/tile1").inputs[1]  # shared weights
    assert g.node("c1/tile0").attrs["pads"] == (1, 1, 0, 1)
    assert g.node("c1/tile1").attrs["pads"] == (0, 1, 1, 1)
    stats = result.stats["tile-split"]
    assert stats["macs_before"] == before
    assert stats["macs_after"] == macs(g)
    assert stats["recomputed_macs"] == macs(g) - before == 3 * 5 * 2 * 9


def test_tiled_chain_equals_original_in_onnxruntime() -> None:
    g0, g1 = _two_convs(), _two_convs()
    TileSplitPass(("c1", "c2"), 3)(g1)
    feeds = random_feeds(g0)
    assert_close(run_ort(g0, feeds), run_ort(g1, feeds))


# ----------------------------------------------------------------------------- zoo
def _cut_classifier(graph: Graph, last: str) -> Graph:
    """Make ``last``'s output the graph output and drop what follows (VGG16's 123 M classifier
    weights are not touched by tiling and would dominate the test's run time)."""
    graph.outputs = [graph.node(last).outputs[0]]
    eliminate_dead_nodes(graph)
    graph.remove_unused_constants()
    verify(graph)
    return graph


def peak_segment(graph: Graph, max_len: int = 6) -> tuple[str, ...]:
    """The longest valid schedule interval (<= max_len nodes, output H >= 4) containing a node
    near the liveness peak (nearest first; ties: earliest)."""
    nodes = graph.nodes
    peak = compute_liveness(graph, INT8).peak_step
    for radius in range(len(nodes)):
        near = range(max(0, peak - radius), min(len(nodes), peak + radius + 1))
        best: tuple[int, int] | None = None
        for i in range(len(nodes)):
            for j in range(i, min(len(nodes), i + max_len)):
                if not any(i <= k <= j for k in near):
                    continue
                seg = list(nodes[i:j + 1])
                out = seg[-1].outputs[0]
                if len(out.shape) != 4 or out.shape[2] < 4 or segment_error(graph, seg):
                    continue
                if best is None or j - i > best[1] - best[0]:
                    best = (i, j)
        if best is not None:
            return tuple(n.name for n in nodes[best[0]:best[1] + 1])
    raise AssertionError(f"{graph.name}: no tileable segment")


ZOO_CASES = [(e.name, True) for e in list_networks()] + [("mobilenet_v2", False),
                                                         ("resnet18", False)]


def _zoo_graph(name: str, fused: bool) -> Graph:
    res = RESOLUTION.get(name, 64)
    g = build_network(name, resolution=(res, res))
    if name == "vgg16":
        _cut_classifier(g, "features.30")
    if fused:
        simplify(g)
    return g


@pytest.mark.parametrize(("name", "fused"), ZOO_CASES,
                         ids=[f"{n}-{'fused' if f else 'unfused'}" for n, f in ZOO_CASES])
def test_zoo_segment_at_peak_is_equivalent(name: str, fused: bool) -> None:
    original = _zoo_graph(name, fused)
    segment = peak_segment(original)
    feeds = random_feeds(original)
    expected = run_ort(original, feeds)
    for parts in (2, 3, 4):
        g = _zoo_graph(name, fused)
        before = macs(g)
        result = PassManager([TileSplitPass(segment, parts)])(g)
        verify(g)
        stats = result.stats["tile-split"]
        assert stats["recomputed_macs"] == macs(g) - before == stats["macs_after"] - \
            stats["macs_before"]
        assert stats["recomputed_macs"] == independent_recomputed_macs(original, segment, parts)
        assert [t.name for t in g.outputs] == [t.name for t in original.outputs]
        assert_close(expected, run_ort(g, feeds))


# ----------------------------------------------------------------------------- property
@st.composite
def window_chains(draw: st.DrawFn) -> tuple[Graph, tuple[str, ...], int]:
    channels = draw(st.integers(1, 3))
    h = draw(st.integers(6, 24))
    w = draw(st.integers(3, 7))
    b = GraphBuilder("chain", weights=True, seed=draw(st.integers(0, 9)))
    x = b.input("x", (1, channels, h, w))
    names = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "dw", "max", "avg"]))
        k = draw(st.integers(1, 4))
        d = draw(st.integers(1, 2)) if kind in ("conv", "dw") else 1
        k_eff = d * (k - 1) + 1
        s = draw(st.integers(1, 3))
        top, bottom = draw(st.integers(0, k_eff - 1)), draw(st.integers(0, k_eff - 1))
        left = right = min(1, k - 1)
        if x.shape[2] + top + bottom < k_eff or x.shape[3] + left + right < k:
            break
        name = f"l{i}"
        if kind in ("conv", "dw"):
            out_c = draw(st.integers(1, 3)) if kind == "conv" else x.shape[1]
            groups = 1 if kind == "conv" else x.shape[1]
            x = b.conv(x, out_c, (k, k), stride=(s, 1), padding=(top, left, bottom, right),
                       dilation=(d, 1), groups=groups, name=name)
        else:
            op = "MaxPool" if kind == "max" else "AveragePool"
            attrs = {"kernel_shape": (k, k), "strides": (s, 1),
                     "pads": (top, left, bottom, right),
                     "ceil_mode": int(draw(st.booleans()))}
            if kind == "avg":
                attrs["count_include_pad"] = int(draw(st.booleans()))
            x = b.op(op, x, name=name, **attrs)
        names.append(name)
        if draw(st.booleans()):
            x = b.relu(x, name=f"r{i}")
            names.append(f"r{i}")
    if not names:
        x = b.relu(x, name="r")
        names.append("r")
    b.output(b.op("Identity", x, name="out"))
    graph = b.build()
    parts = draw(st.integers(2, max(2, min(6, graph.node(names[-1]).outputs[0].shape[2]))))
    return graph, tuple(names), parts


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window_chains())
def test_random_chains_tiled_equal_untiled(case: tuple[Graph, tuple[str, ...], int]) -> None:
    graph, segment, parts = case
    out_h = graph.node(segment[-1]).outputs[0].shape[2]
    if parts > out_h:
        with pytest.raises(PreconditionError):
            TileSplitPass(segment, parts).requires(graph)
        return
    feeds = random_feeds(graph, 3)
    expected = evaluate(graph, feeds)[graph.outputs[0].name]
    before = macs(graph)
    independent = independent_recomputed_macs(graph, segment, parts)
    result = TileSplitPass(segment, parts)(graph)
    verify(graph)
    got = evaluate(graph, feeds)[graph.outputs[0].name]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert result.stats["recomputed_macs"] == macs(graph) - before == independent


# ----------------------------------------------------------------------------- pooling borders
@pytest.mark.parametrize(("ceil_mode", "pads", "h"), [(0, (1, 1, 1, 1), 9), (1, (1, 1, 1, 1), 10),
                                                      (1, (0, 0, 0, 0), 10), (1, (2, 1, 1, 1), 11)])
def test_average_pool_count_include_pad_borders(ceil_mode: int, pads: tuple[int, ...],
                                                h: int) -> None:
    """Interior tile borders are real rows, not padding: count_include_pad must not count them
    (and a ceil-mode overflow window must not count its overflow cells)."""
    def build() -> Graph:
        b = GraphBuilder("avg", weights=True, seed=0)
        x = b.input("x", (1, 2, h, 7))
        y = b.op("AveragePool", x, name="pool", kernel_shape=(3, 3), strides=(2, 2),
                 pads=pads, ceil_mode=ceil_mode, count_include_pad=1)
        y = b.op("AveragePool", y, name="pool2", kernel_shape=(3, 3), strides=(1, 1),
                 pads=(1, 1, 1, 1), count_include_pad=1)
        b.output(b.relu(y, name="out"))
        return b.build()
    g0 = build()
    feeds = random_feeds(g0)
    expected = run_ort(g0, feeds)
    for parts in (2, 3):
        g = build()
        TileSplitPass(("pool", "pool2"), parts)(g)
        assert_close(expected, run_ort(g, feeds))
        np.testing.assert_allclose(evaluate(g, feeds)["out"], expected[0], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- regions
def _residual(downsample: bool) -> Graph:
    b = GraphBuilder("res", weights=True, seed=2)
    x = b.input("x", (1, 4, 12, 6))
    y = b.relu(b.conv(x, 4, 3, padding=1, name="c1"), name="r1")
    y = b.conv(y, 4 if not downsample else 6, 3, padding=1, stride=2 if downsample else 1,
               name="c2")
    skip = x if not downsample else b.conv(x, 6, 1, stride=2, name="ds")
    b.output(b.relu(b.add(y, skip, name="add"), name="out"))
    return b.build()


@pytest.mark.parametrize("downsample", [False, True])
def test_residual_block_region(downsample: bool) -> None:
    g0 = _residual(downsample)
    segment = tuple(n.name for n in g0.nodes[:-1])  # everything but the final Relu
    assert segment_error(g0, list(g0.nodes[:-1])) is None
    feeds = random_feeds(g0)
    expected = run_ort(g0, feeds)
    for parts in (2, 3):
        g = _residual(downsample)
        before = macs(g)
        stats = TileSplitPass(segment, parts)(g).stats
        verify(g)
        assert stats["recomputed_macs"] == macs(g) - before == \
            independent_recomputed_macs(g0, segment, parts)
        assert_close(expected, run_ort(g, feeds))
        # the block input is read through Slices of its rows (by c1 and by the Add or ds)
        assert sum(n.op_type == "Slice" and n.inputs[0] is g.inputs[0] for n in g.nodes) >= \
            parts


def test_fire_module_region_reads_squeeze_hull_through_slices() -> None:
    def build() -> Graph:
        b = GraphBuilder("fire", weights=True, seed=4)
        x = b.input("x", (1, 3, 10, 8))
        s = b.conv(x, 4, 1, name="squeeze")
        e1 = b.conv(s, 3, 1, name="e1")
        e3 = b.conv(s, 3, 3, padding=1, name="e3")
        b.output(b.relu(b.concat([e1, e3], axis=1, name="cat"), name="out"))
        return b.build()
    g0 = build()
    feeds = random_feeds(g0)
    expected = run_ort(g0, feeds)
    g = build()
    segment = ("squeeze", "e1", "e3", "cat")
    plan = plan_tile_split(g, segment, 2)
    squeeze = plan.layers[0]
    assert squeeze.out_rows == ((0, 6), (4, 10))  # hull of e1's [0,5) and e3's [0,6)
    TileSplitPass(segment, 2)(g)
    verify(g)
    # e1 reads the squeeze tile through a Slice of the tile tensor (5 of its 6 rows)
    e1 = g.node("e1/tile0")
    assert e1.inputs[0] is not None and e1.inputs[0].producer is not None
    assert e1.inputs[0].producer.op_type == "Slice"
    assert_close(expected, run_ort(g, feeds))


# ----------------------------------------------------------------------------- preconditions
def _branchy() -> Graph:
    b = GraphBuilder("branchy", weights=True, seed=0)
    x = b.input("x", (1, 2, 8, 8))
    y = b.conv(x, 2, 3, padding=1, name="c1")
    z = b.conv(y, 2, 3, padding=1, name="c2")
    b.output(b.add(z, y, name="add"), b.linear(b.flatten(z, name="fl"), 3, name="fc"))
    return b.build()


def test_preconditions_name_the_problem() -> None:
    g = _branchy()
    with pytest.raises(PreconditionError, match="also read outside"):
        TileSplitPass(("c1", "c2"), 2).requires(g)
    with pytest.raises(PreconditionError, match="cannot be tiled"):
        TileSplitPass(("fl",), 2).requires(g)
    with pytest.raises(PreconditionError, match="no node"):
        TileSplitPass(("nope",), 2).requires(g)
    with pytest.raises(PreconditionError, match="parts"):
        TileSplitPass(("c1",), 9).requires(g)
    with pytest.raises(ConfigError):
        TileSplitPass(("c1",), 1)
    with pytest.raises(ConfigError, match="axis"):
        TileSplitPass(("c1",), 2, axis="W")
    with pytest.raises(PassError):
        PassManager([TileSplitPass(("c1", "c2"), 2)])(g)
    # a valid region of the same graph: c1 .. add (c2's output is read by fc: not valid)
    assert "also read outside" in (segment_error(g, [g.node("c1"), g.node("c2"),
                                                     g.node("add")]) or "")


def test_balanced_ranges_and_chains() -> None:
    assert balanced_ranges(10, 3) == ((0, 3), (3, 6), (6, 10))
    assert balanced_ranges(4, 4) == ((0, 1), (1, 2), (2, 3), (3, 4))
    with pytest.raises(ConfigError):
        balanced_ranges(3, 4)
    g = _two_convs()
    assert tileable_chains(g) == [("c1", "c2", "out")]


def test_segment_output_as_graph_output_and_multiple_segments() -> None:
    def build() -> Graph:
        b = GraphBuilder("g", weights=True, seed=5)
        x = b.input("x", (1, 2, 16, 6))
        y = b.conv(x, 3, 3, padding=1, name="a1")
        y = b.max_pool(b.relu(y, name="a2"), 2, name="a3")
        y = b.conv(y, 3, 3, padding=1, name="b1")
        b.output(b.relu(y, name="b2"))
        return b.build()
    g0, g = build(), build()
    feeds = random_feeds(g0)
    PassManager([TileSplitPass(("a1", "a2", "a3"), 4), TileSplitPass(("b1", "b2"), 2)])(g)
    assert g.outputs[0].name == "b2" and g.outputs[0].producer is not None
    assert g.outputs[0].producer.op_type == "Concat"
    assert_close(run_ort(g0, feeds), run_ort(g, feeds))


def test_unused_tensor_helper_is_consistent() -> None:
    # the oracle itself: on an untiled chain each layer computes its rows exactly once
    g = _two_convs()
    assert independent_recomputed_macs(g, ("c1", "c2"), 1) == 0
    t: Tensor = g.node("c1").outputs[0]
    assert t.shape == (1, 3, 8, 5)



# ----------------------------------------------------------------------------- H x W tiles
def independent_grid_recomputed_macs(graph: Graph, segment: Sequence[str], rows: int,
                                     cols: int) -> int:
    """Recomputed MACs of an H x W tiling from element-by-element dependencies: for every
    tile, the set of (row, column) cells each tensor must provide (the union over its readers'
    windows), whose bounding box is what a tile computes; summed over tiles minus the layer
    size, times the MACs of one output element."""
    nodes = [n for n in graph.nodes if n.name in set(segment)]
    y = nodes[-1].outputs[0]
    computed = {n.name: 0 for n in nodes}
    for t in range(rows):
        for u in range(cols):
            r0, r1 = t * y.shape[2] // rows, (t + 1) * y.shape[2] // rows
            c0, c1 = u * y.shape[3] // cols, (u + 1) * y.shape[3] // cols
            need: dict[str, set[tuple[int, int]]] = {
                y.name: {(r, c) for r in range(r0, r1) for c in range(c0, c1)}}
            for node in reversed(nodes):
                cells = need[node.outputs[0].name]
                rs = range(min(r for r, _ in cells), max(r for r, _ in cells) + 1)
                cs = range(min(c for _, c in cells), max(c for _, c in cells) + 1)
                computed[node.name] += len(rs) * len(cs)
                g = node.geometry
                for x in node.activation_inputs:
                    wanted = need.setdefault(x.name, set())
                    for r in rs:
                        for c in cs:
                            if g is None:
                                wanted.add((r, c))
                                continue
                            # every cell of the window's extent: a contiguous tile holds the
                            # cells between dilated taps too
                            for i in range(g.dilation[0] * (g.kernel[0] - 1) + 1):
                                for j in range(g.dilation[1] * (g.kernel[1] - 1) + 1):
                                    rr = r * g.stride[0] - g.pads[0] + i
                                    cc = c * g.stride[1] - g.pads[1] + j
                                    if 0 <= rr < x.shape[2] and 0 <= cc < x.shape[3]:
                                        wanted.add((rr, cc))
    total = 0
    for node in nodes:
        out = node.outputs[0]
        size = out.shape[2] * out.shape[3]
        total += (computed[node.name] - size) * (node_macs(node) // size)
    return total


@st.composite
def window_grids(draw: st.DrawFn) -> tuple[Graph, tuple[str, ...], int, int]:
    """Random conv / pool chains with geometry along both axes, and a tile grid."""
    channels = draw(st.integers(1, 3))
    b = GraphBuilder("grid", weights=True, seed=draw(st.integers(0, 9)))
    x = b.input("x", (1, channels, draw(st.integers(5, 14)), draw(st.integers(5, 14))))
    names = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "conv", "dw", "max", "avg"]))
        k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if kind != "max" and \
            kind != "avg" else (1, 1)
        k_eff = tuple(d[a] * (k[a] - 1) + 1 for a in range(2))
        s = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        pads = (draw(st.integers(0, k_eff[0] - 1)), draw(st.integers(0, k_eff[1] - 1)),
                draw(st.integers(0, k_eff[0] - 1)), draw(st.integers(0, k_eff[1] - 1)))
        if x.shape[2] + pads[0] + pads[2] < k_eff[0] or x.shape[3] + pads[1] + pads[3] < k_eff[1]:
            break
        name = f"l{i}"
        if kind in ("conv", "dw"):
            out_c = draw(st.integers(1, 3)) if kind == "conv" else x.shape[1]
            x = b.conv(x, out_c, k, stride=s, padding=pads, dilation=d,
                       groups=1 if kind == "conv" else x.shape[1], name=name)
        else:
            attrs = {"kernel_shape": k, "strides": s, "pads": pads,
                     "ceil_mode": int(draw(st.booleans()))}
            if kind == "avg":
                attrs["count_include_pad"] = int(draw(st.booleans()))
            x = b.op("MaxPool" if kind == "max" else "AveragePool", x, name=name, **attrs)
        names.append(name)
        if draw(st.booleans()):
            x = b.relu(x, name=f"r{i}")
            names.append(f"r{i}")
    if not names:
        x = b.relu(x, name="r")
        names.append("r")
    b.output(b.op("Identity", x, name="out"))
    graph = b.build()
    out = graph.node(names[-1]).outputs[0]
    rows = draw(st.integers(1, max(1, min(4, out.shape[2]))))
    cols = draw(st.integers(2, max(2, min(4, out.shape[3]))))
    return graph, tuple(names), rows, cols


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window_grids())
def test_random_chains_grid_tiled_equal_untiled(
        case: tuple[Graph, tuple[str, ...], int, int]) -> None:
    graph, segment, rows, cols = case
    if cols > graph.node(segment[-1]).outputs[0].shape[3]:
        with pytest.raises(PreconditionError, match="columns"):
            TileSplitPass(segment, rows, "HW", cols).requires(graph)
        return
    feeds = random_feeds(graph, 3)
    expected = evaluate(graph, feeds)[graph.outputs[0].name]
    before = macs(graph)
    independent = independent_grid_recomputed_macs(graph, segment, rows, cols)
    result = TileSplitPass(segment, rows, "HW", cols)(graph)
    verify(graph)
    got = evaluate(graph, feeds)[graph.outputs[0].name]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert result.stats["recomputed_macs"] == macs(graph) - before == independent
    assert result.stats["tiles"] == rows * cols


@pytest.mark.parametrize(("name", "grid"), [("mobilenet_v2", (2, 2)), ("resnet18", (1, 3)),
                                            ("squeezenet1_1", (3, 2)), ("dncnn", (2, 3))])
def test_zoo_segment_grid_tiles_are_equivalent(name: str, grid: tuple[int, int]) -> None:
    """H x W tiles of the peak segment of real networks (residual blocks, fire modules,
    inverted residuals) compute the same outputs in onnxruntime; the MAC growth equals the
    element-level recount."""
    original = _zoo_graph(name, True)
    segment = peak_segment(original)
    feeds = random_feeds(original)
    expected = run_ort(original, feeds)
    g = _zoo_graph(name, True)
    before = macs(g)
    stats = PassManager([TileSplitPass(segment, grid[0], "HW", grid[1])])(g).stats["tile-split"]
    assert stats["recomputed_macs"] == macs(g) - before == \
        independent_grid_recomputed_macs(original, segment, *grid)
    assert sum(n.op_type == "Concat" and n.attr_int("axis", 0) == 3 for n in g.nodes) == grid[0]
    assert_close(expected, run_ort(g, feeds))


def test_grid_tiles_shrink_the_intermediates_and_name_their_nodes() -> None:
    b = GraphBuilder("wide", weights=True, seed=0)
    x = b.input("x", (1, 3, 16, 16))
    y = b.relu(b.conv(x, 32, 3, padding=1, name="c1"), name="r1")
    y = b.conv(y, 4, 3, padding=1, name="c2")
    b.output(b.relu(y, name="out"))
    g_rows, g_grid = b.build(), _copy_graph_via_builder()
    TileSplitPass(("c1", "r1", "c2"), 4)(g_rows)
    TileSplitPass(("c1", "r1", "c2"), 2, "HW", 2)(g_grid)
    assert "c1/tile1_0" in {n.name for n in g_grid.nodes}
    assert "c2/band1.concat" in {n.name for n in g_grid.nodes}
    biggest_tile = max(t.shape[2] * t.shape[3] for n in g_grid.nodes
                       if n.name.startswith("c1/") and n.op_type == "Conv" for t in n.outputs)
    assert biggest_tile == 9 * 9  # 8 x 8 output tile + 1 halo row and column
    with pytest.raises(ConfigError, match="col_parts"):
        TileSplitPass(("c1",), 2, "HW", 1)
    with pytest.raises(ConfigError, match="axis"):
        TileSplitPass(("c1",), 2, "W")


def _copy_graph_via_builder() -> Graph:
    b = GraphBuilder("wide", weights=True, seed=0)
    x = b.input("x", (1, 3, 16, 16))
    y = b.relu(b.conv(x, 32, 3, padding=1, name="c1"), name="r1")
    y = b.conv(y, 4, 3, padding=1, name="c2")
    b.output(b.relu(y, name="out"))
    return b.build()
