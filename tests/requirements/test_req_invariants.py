"""Ordering invariants of the scenarios, per layer (random convolutions) and per network."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from cnnmem.dse.hw import HardwareSpec
from cnnmem.dse.pareto import best_within, is_front
from cnnmem.dse.workload import Workload, extract_workload
from cnnmem.ir import GraphBuilder
from cnnmem.requirements import Scenario, analyse, layer_families
from cnnmem.requirements.analysis import design_choice

HW = HardwareSpec.single_buffer(1 << 20)


@st.composite
def conv_layers(draw: st.DrawFn) -> Workload:
    c = draw(st.integers(1, 5))
    depthwise = draw(st.booleans())
    k = c if depthwise else draw(st.integers(1, 5))
    kernel = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 2))
    pad = draw(st.integers(0, kernel // 2))
    h = draw(st.integers(kernel, 8))
    w = draw(st.integers(kernel, 8))
    b = GraphBuilder("rand")
    x = b.input("x", (1, c, h, w))
    b.output(b.conv(x, k, kernel, stride=stride, padding=pad, groups=c if depthwise else 1,
                    bias=draw(st.booleans())))
    return extract_workload(b.build())


@settings(max_examples=20, deadline=None)
@given(conv_layers())
def test_layer_scenario_ordering(wl: Workload) -> None:
    fams = layer_families(wl.group(0, 1), HW)
    m = {f.scenario: f.minimum() for f in fams}
    s1, s2, s3, s4, s5 = (m[s] for s in (Scenario.S1, Scenario.S2, Scenario.S3, Scenario.S4,
                                         Scenario.S5))
    # buffers: every scenario needs at most S1; S3 (any tile) at most the line buffer S4;
    # S5 (any tiling without re-reads) at most S2 and S4, which move no more than S1
    assert s2.buffer_bytes <= s1.buffer_bytes
    assert s3.buffer_bytes <= s4.buffer_bytes <= s1.buffer_bytes
    assert s5.buffer_bytes <= min(s2.buffer_bytes, s4.buffer_bytes)
    # traffic: S2 moves exactly S1's; S4 reads every needed row once (<= S1); S5 never more
    # than S1. (S3's 1x1 tiles re-read halo rows, but with a stride larger than the kernel
    # they also skip the columns a row box reads: no general order between S3 and S4.)
    assert s2.dram_bytes == s1.dram_bytes
    assert s4.dram_bytes <= s1.dram_bytes
    assert s5.dram_bytes <= s1.dram_bytes
    # every member writes the output exactly once (partial-sum spills are counted apart)
    out = wl.tensors[wl.layers[0].output].elements * HW.act_bytes_per_element
    assert all(p.cost.dram_act_write_bytes == out for f in fams for p in f.points)


@settings(max_examples=15, deadline=None)
@given(conv_layers(), st.lists(st.integers(1, 4000), min_size=2, max_size=5))
def test_a_larger_budget_never_needs_more_traffic(wl: Workload, budgets: list[int]) -> None:
    fams = layer_families(wl.group(0, 1), HW)
    sizes = (0, 0, fams[0].points[0].buffer_bytes)
    traffic = []
    for b in sorted(budgets):
        d = design_choice(fams, HW.with_shared_buffer(b), sizes)
        if d.point is not None:
            assert d.point.buffer_bytes <= b
        traffic.append(d.point.dram_bytes if d.point else None)
    fitted = [t for t in traffic if t is not None]
    assert fitted == sorted(fitted, reverse=True)
    # once something fits, a larger budget fits too
    assert traffic == [None] * (len(traffic) - len(fitted)) + fitted


def _branchy_net() -> Workload:
    b = GraphBuilder("branchy")
    x = b.input("x", (1, 3, 12, 12))
    y = b.conv(x, 8, 3, padding=1)
    z = b.conv(y, 8, 3, padding=1)
    s = b.add(z, y)
    p = b.max_pool(s, 2)
    b.output(b.conv(p, 4, 1))
    return extract_workload(b.build())


def test_network_ordering_and_tradeoff_curve() -> None:
    wl = _branchy_net()
    r = analyse(wl, HW.with_shared_buffer(2048), fps=30.0, max_group_layers=5)
    s = {sc: r.scenario(sc) for sc in Scenario}
    # network = max buffer / summed traffic of the per-layer minima
    for sc in (Scenario.S1, Scenario.S4, Scenario.S5):
        assert s[sc].buffer_bytes == max(la.minimum(sc).buffer_bytes for la in r.layers)
        assert s[sc].dram_bytes == sum(la.minimum(sc).dram_bytes for la in r.layers)
    # fused traffic <= tiled layer-by-layer traffic <= layer-by-layer traffic, within S1's size
    assert s[Scenario.S6].dram_bytes <= s[Scenario.S5].dram_bytes <= s[Scenario.S1].dram_bytes
    assert s[Scenario.S6].buffer_bytes <= s[Scenario.S1].buffer_bytes
    assert s[Scenario.S2].dram_bytes == s[Scenario.S1].dram_bytes
    assert r.compulsory_dram_bytes <= s[Scenario.S6].dram_bytes
    # S6 is the end of the fused front
    assert (r.fused_front[-1].buffer_bytes, r.fused_front[-1].dram_bytes) == \
        (s[Scenario.S6].buffer_bytes, s[Scenario.S6].dram_bytes)
    # curves are Pareto fronts; at every buffer, fused <= layer by layer, and a larger buffer
    # never needs more bandwidth
    assert is_front(r.fused_front) and is_front(r.layer_by_layer_front)
    sizes = sorted({p.buffer_bytes for p in (*r.fused_front, *r.layer_by_layer_front)})
    prev = None
    for size in sizes:
        f = best_within(r.fused_front, size)
        lbl = best_within(r.layer_by_layer_front, size)
        assert f is not None
        if lbl is not None:
            assert f.dram_bytes <= lbl.dram_bytes
        if prev is not None:
            assert r.bandwidth(f.dram_bytes) <= prev
        prev = r.bandwidth(f.dram_bytes)
    # design points fit the budget and do no better than fused groups at the same budget
    assert r.design is not None and r.fused_at_budget is not None
    assert all(la.design.point is not None and la.design.point.buffer_bytes <= 2048
               for la in r.layers)
    assert r.fused_at_budget.dram_bytes <= r.design.dram_bytes


def test_bandwidth_is_traffic_times_fps() -> None:
    wl = _branchy_net()
    a = analyse(wl, HW, fps=30.0, max_group_layers=2)
    b = analyse(wl, HW, fps=60.0, max_group_layers=2)
    for sc in Scenario:
        assert a.scenario(sc) == b.scenario(sc)
        assert b.bandwidth(b.scenario(sc).dram_bytes) == \
            2 * a.bandwidth(a.scenario(sc).dram_bytes)


def test_deterministic() -> None:
    wl = _branchy_net()
    a, b = (analyse(wl, HW, max_group_layers=3) for _ in range(2))
    for x, y in itertools.zip_longest(a.layers, b.layers):
        assert x == y
    assert a.network == b.network and a.fused_front == b.fused_front
