"""The analytical cost model against the trace simulator: they must agree exactly.

Random layer chains and small DAGs (residual adds, channel concats, depthwise and grouped convs,
strides, dilation, pooling, batch 2), random fused groups and random schedules (tiles, loop
orders, halo policy, weight residency, input-channel tiling); then whole zoo networks under the
schedules the explorer picks.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnmem.api import ModelOptions, load
from cnnmem.dse.cost import evaluate, evaluate_network, evaluate_tiles, fits
from cnnmem.dse.explore import explore, layer_by_layer, relax
from cnnmem.dse.hw import HardwareSpec
from cnnmem.dse.space import LOOP_AXES, GroupSchedule, HaloPolicy, NetworkSchedule
from cnnmem.dse.trace import simulate, simulate_network
from cnnmem.dse.workload import LayerKind, Workload, extract_workload
from cnnmem.errors import ConfigError
from cnnmem.ir import GraphBuilder, Tensor

HW_SHARED = HardwareSpec("t", shared_buffer_bytes=1 << 20, act_bytes_per_element=2,
                         weight_bytes_per_element=1, psum_bytes_per_element=4)
HW_FLASH = HardwareSpec("f", activation_buffer_bytes=1 << 20, weights_in_separate_memory=True)


@st.composite
def networks(draw: st.DrawFn) -> Workload:
    """A random network of 1-4 compute layers over a small image."""
    batch = draw(st.sampled_from([1, 1, 1, 2]))
    b = GraphBuilder("rand")
    x = b.input("x", (batch, draw(st.integers(1, 4)), draw(st.integers(3, 11)),
                      draw(st.integers(3, 11))))
    made: list[Tensor] = [x]
    for _ in range(draw(st.integers(1, 4))):
        src = made[-1] if draw(st.booleans()) else draw(st.sampled_from(made))
        op = draw(st.sampled_from(["conv", "conv", "conv", "dw", "pool", "add", "concat"]))
        c, h, w = src.shape[1], src.shape[2], src.shape[3]
        if op in ("add", "concat"):
            same = [t for t in made if t.shape[2:] == src.shape[2:] and t is not src]
            if not same:
                op = "conv"
            else:
                other = draw(st.sampled_from(same))
                if op == "add" and other.shape == src.shape:
                    made.append(b.add(src, other))
                    continue
                if op == "concat" and other.shape[0] == src.shape[0]:
                    made.append(b.concat([src, other]))
                    continue
                op = "conv"
        k = draw(st.sampled_from([1, 2, 3]))
        stride = draw(st.sampled_from([1, 1, 2]))
        dil = draw(st.sampled_from([1, 1, 2]))
        pad = draw(st.integers(0, dil * (k - 1)))
        if min(h, w) + 2 * pad < dil * (k - 1) + 1:
            pad = dil * (k - 1)
        if op == "pool":
            made.append(b.max_pool(src, k, stride, padding=min(pad, k // 2)))
        elif op == "dw":
            made.append(b.conv(src, c, k, stride=stride, padding=pad, dilation=dil, groups=c))
        else:
            groups = draw(st.sampled_from([1, 1, 2])) if c % 2 == 0 else 1
            out = draw(st.integers(1, 4)) * groups
            made.append(b.conv(src, out, k, stride=stride, padding=pad, dilation=dil,
                               groups=groups, bias=draw(st.booleans())))
    b.output(made[-1])
    extra = [t for t in made[1:-1] if draw(st.booleans()) and draw(st.booleans())]
    b.output(*extra)  # some intermediates are graph outputs too (multi-output groups)
    return extract_workload(b.build())


@st.composite
def grouped_schedules(draw: st.DrawFn) -> tuple[Workload, GroupSchedule]:
    wl = draw(networks())
    n = len(wl.layers)
    ranges = [(a, z) for a in range(n) for z in range(a + 1, n + 1)
              if wl.group_problem(a, z) is None]
    if draw(st.booleans()):  # favour the longest fused groups half of the time
        longest = max(z - a for a, z in ranges)
        ranges = [(a, z) for a, z in ranges if z - a == longest]
    first, stop = draw(st.sampled_from(ranges))
    anchor = wl.layers[stop - 1]
    tci = None
    if stop - first == 1 and anchor.can_tile_input_channels and draw(st.booleans()):
        tci = draw(st.integers(1, anchor.c))
    order = "".join(draw(st.permutations(LOOP_AXES)))
    return wl, GroupSchedule(first, stop, draw(st.integers(1, anchor.oy)),
                             draw(st.integers(1, anchor.ox)), draw(st.integers(1, anchor.k)),
                             tci, order, draw(st.sampled_from(list(HaloPolicy))),
                             draw(st.booleans()))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grouped_schedules(), st.sampled_from([HW_SHARED, HW_FLASH]))
def test_evaluate_equals_trace(case: tuple[Workload, GroupSchedule], hw: HardwareSpec) -> None:
    wl, schedule = case
    group = wl.group(schedule.first, schedule.stop)
    try:
        model = evaluate(group, schedule, hw)
    except ConfigError:
        # the model rejects only schedules that leave a group output partly uncomputed; the
        # trace must reach the same verdict
        with pytest.raises(ConfigError, match="never computed"):
            simulate(group, schedule, hw)
        return
    trace = simulate(group, schedule, hw, check_invariants=True)
    assert trace.cost == model, schedule.describe()
    assert trace.peak_live_bytes <= model.buffer_bytes
    if fits(model, hw):
        assert trace.peak_live_bytes <= hw.total_buffer_bytes


@settings(max_examples=40, deadline=None)
@given(grouped_schedules())
def test_grid_matches_pointwise(case: tuple[Workload, GroupSchedule]) -> None:
    wl, schedule = case
    group = wl.group(schedule.first, schedule.stop)
    rows = tuple(sorted({1, schedule.tile_rows, group.anchor.oy}))
    cols = tuple(sorted({1, schedule.tile_cols, group.anchor.ox}))
    grid = evaluate_tiles(group, schedule, HW_SHARED, rows, cols)
    from dataclasses import replace

    for i, th in enumerate(rows):
        for j, tw in enumerate(cols):
            s = replace(schedule, tile_rows=th, tile_cols=tw)
            if not grid.valid[i, j]:
                with pytest.raises(ConfigError):
                    evaluate(group, s, HW_SHARED)
                continue
            assert grid.breakdown(i, j) == evaluate(group, s, HW_SHARED)


def test_residual_block_fused_reads_only_real_inputs() -> None:
    b = GraphBuilder("res")
    x = b.input("x", (1, 4, 8, 8))
    y = b.conv(b.conv(x, 4, 3, padding=1), 4, 3, padding=1)
    b.output(b.add(y, x))
    wl = extract_workload(b.build())
    group = wl.group(0, 3)
    assert group.external_inputs == ("x",) and group.outputs == (wl.layers[2].output,)
    whole = GroupSchedule(0, 3, 8, 8, 4)
    cost = evaluate(group, whole, HW_SHARED)
    assert cost.dram_act_read_bytes == 4 * 64 * 2  # x once
    assert cost.dram_act_write_bytes == 4 * 64 * 2  # the sum once
    assert cost.dram_weight_read_bytes == group.weight_elements
    assert simulate(group, whole, HW_SHARED).cost == cost


def test_halo_recompute_costs_macs_cache_costs_nothing_more() -> None:
    b = GraphBuilder("chain")
    x = b.input("x", (1, 2, 16, 16))
    b.output(b.conv(b.conv(x, 4, 3, padding=1), 4, 3, padding=1))
    wl = extract_workload(b.build())
    group = wl.group(0, 2)
    base = sum(layer.macs for layer in group.layers)
    cache = evaluate(group, GroupSchedule(0, 2, 4, 16, 4, halo=HaloPolicy.CACHE), HW_SHARED)
    recompute = evaluate(group, GroupSchedule(0, 2, 4, 16, 4, halo=HaloPolicy.RECOMPUTE),
                         HW_SHARED)
    assert cache.macs == base
    # 4 row tiles of 4 output rows; the first conv computes 6 rows per inner tile, 5 at edges
    assert recompute.macs == base + (6 + 6 + 5 + 5 - 16) * 16 * 4 * 2 * 9
    assert recompute.buffer_bytes == cache.buffer_bytes
    assert recompute.dram_act_read_bytes > cache.dram_act_read_bytes


def test_input_channel_tiles_spill_partial_sums_only_when_c_is_not_innermost() -> None:
    b = GraphBuilder("c")
    x = b.input("x", (1, 8, 6, 6))
    b.output(b.conv(x, 4, 3, padding=1))
    wl = extract_workload(b.build())
    group = wl.group(0, 1)
    inner = evaluate(group, GroupSchedule(0, 1, 3, 6, 4, 2, "yxkc"), HW_SHARED)
    outer = evaluate(group, GroupSchedule(0, 1, 3, 6, 4, 2, "kcyx"), HW_SHARED)
    assert inner.dram_psum_write_bytes == 0
    out = 4 * 36
    assert outer.dram_psum_write_bytes == outer.dram_psum_read_bytes == 3 * out * 4
    assert outer.buffer_psum_bytes == 3 * 6 * 4 * 4


def test_strided_skip_makes_multi_output_group_invalid() -> None:
    # x -> a (1x1) -> b (1x1 stride 2); a also leaves the group: odd rows of a are never needed
    b = GraphBuilder("skip")
    x = b.input("x", (1, 2, 8, 8))
    a = b.conv(x, 2, 1)
    s = b.conv(a, 2, 1, stride=2)
    b.output(s, a)
    wl = extract_workload(b.build())
    group = wl.group(0, 2)
    with pytest.raises(ConfigError, match="never computed"):
        evaluate(group, GroupSchedule(0, 2, 1, 4, 2), HW_SHARED)
    with pytest.raises(ConfigError, match="never computed"):
        simulate(group, GroupSchedule(0, 2, 1, 4, 2), HW_SHARED)


def test_unanchored_range_is_not_a_group() -> None:
    b = GraphBuilder("branch")
    x = b.input("x", (1, 2, 8, 8))
    p = b.conv(x, 2, 3, padding=1)
    q = b.conv(x, 2, 3, padding=1)
    b.output(b.add(p, q))
    wl = extract_workload(b.build())
    assert wl.group_problem(0, 2) is not None  # p does not feed q
    assert wl.group_problem(0, 3) is None
    with pytest.raises(ConfigError, match="does not feed"):
        wl.group(0, 2)


# ----------------------------------------------------------------------------- zoo networks
ZOO = [("dncnn", (24, 24)), ("vdsr", (20, 20)), ("mobilenet_v2", (64, 64)),
       ("resnet18", (64, 64))]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "resolution"), ZOO, ids=[n for n, _ in ZOO])
def test_zoo_network_schedules_match_trace(name: str, resolution: tuple[int, int]) -> None:
    wl = extract_workload(load(ModelOptions(name, resolution=resolution)))
    budget = 256 << 10 if name in ("dncnn", "vdsr") else 512 << 10
    hw = HardwareSpec.single_buffer(budget)
    result = explore(wl, hw, max_group_layers=4)
    front = result.front
    points = [layer_by_layer(wl, hw), relax(wl, front[-1], hw),
              relax(wl, front[len(front) // 2], hw)]
    for point in points:
        schedule = point.schedule
        model = evaluate_network(wl, schedule, hw)
        assert model == point.cost
        traced, peak = simulate_network(wl, schedule, hw)
        assert traced == model
        assert peak <= model.buffer_bytes <= budget


def test_blazeface_global_and_concat_layers_trace() -> None:
    wl = extract_workload(load(ModelOptions("blazeface")))
    kinds = {layer.kind for layer in wl.layers}
    assert LayerKind.GLOBAL in kinds
    groups = []
    for layer in wl.layers[-8:]:
        g = wl.group(layer.index, layer.index + 1)
        a = g.anchor
        groups.append(GroupSchedule(layer.index, layer.index + 1, max(1, a.oy // 2), a.ox,
                                    max(1, a.k // 2), weights_resident=False))
    for s in groups:
        g = wl.group(s.first, s.stop)
        assert simulate(g, s, HW_SHARED).cost == evaluate(g, s, HW_SHARED)
    # a whole network schedule covering every layer, one group per layer
    whole = NetworkSchedule(tuple(GroupSchedule(i, i + 1, layer.oy, layer.ox, layer.k)
                                  for i, layer in enumerate(wl.layers)))
    assert evaluate_network(wl, whole, HW_SHARED).dram_bytes > 0


def test_squeeze_excitation_broadcast_group() -> None:
    b = GraphBuilder("se")
    x = b.input("x", (1, 6, 8, 8))
    y = b.conv(x, 6, 3, padding=1)
    s = b.sigmoid(b.conv(b.global_avg_pool(y), 6, 1))
    b.output(b.mul(y, s))  # (1,6,8,8) * (1,6,1,1)
    wl = extract_workload(b.build())
    kinds = [layer.kind for layer in wl.layers]
    assert LayerKind.CHANNEL_REDUCE in kinds and kinds[-1] is LayerKind.ELEMENTWISE
    n = len(wl.layers)
    group = wl.group(0, n)
    for th, tw, tc, order in [(8, 8, 6, "yxkc"), (2, 8, 3, "yxkc"), (3, 3, 2, "kyxc"),
                              (1, 4, 6, "xykc")]:
        for halo in HaloPolicy:
            s_ = GroupSchedule(0, n, th, tw, tc, None, order, halo, weights_resident=False)
            assert simulate(group, s_, HW_SHARED, check_invariants=True).cost == \
                evaluate(group, s_, HW_SHARED)
