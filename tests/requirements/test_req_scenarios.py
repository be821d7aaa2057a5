"""Scenario families S1..S5 on small layers, checked against hand-computed figures.

Hardware for the hand computations: 1-byte activations and weights, 4-byte partial sums
(``HardwareSpec.single_buffer`` defaults), so bytes = elements.
"""

from __future__ import annotations

import pytest

from cnnmem.dse.cost import evaluate
from cnnmem.dse.hw import HardwareSpec
from cnnmem.dse.space import group_candidates
from cnnmem.dse.workload import LayerGroup, extract_workload
from cnnmem.errors import ConfigError
from cnnmem.ir import GraphBuilder
from cnnmem.requirements import Scenario, layer_families
from cnnmem.requirements.analysis import design_choice
from cnnmem.requirements.scenarios import S5_OPTIONS

HW = HardwareSpec.single_buffer(1 << 20)  # act 1 B, weight 1 B, psum 4 B


def _conv_group(c: int, k: int, h: int, w: int, kernel: int, *, stride: int = 1,
                pad: int = 0, groups: int = 1) -> LayerGroup:
    b = GraphBuilder("one")
    x = b.input("x", (1, c, h, w))
    b.output(b.conv(x, k, kernel, stride=stride, padding=pad, groups=groups))
    wl = extract_workload(b.build())
    return wl.group(0, 1)


def _minima(group: LayerGroup) -> dict[Scenario, tuple[int, int]]:
    return {f.scenario: (f.minimum().buffer_bytes, f.minimum().dram_bytes)
            for f in layer_families(group, HW)}


def test_conv3x3_pad1_hand_computed() -> None:
    # X = 4 x 6 x 6 = 144, Y = 8 x 6 x 6 = 288, W = 8*4*3*3 + 8 bias = 296
    m = _minima(_conv_group(4, 8, 6, 6, 3, pad=1))
    # S1: everything on chip; traffic = X + W + Y once
    assert m[Scenario.S1] == (144 + 288 + 296, 144 + 296 + 288)
    # S2 minimum: Tc = 1: whole X + one 6x6 output plane + one slice (4*9 weights + 1 bias)
    assert m[Scenario.S2] == (144 + 36 + 37, 728)
    # S3 minimum: 1x1 output tiles: a 3x3x4 window + 8 outputs + all weights. Cached halos
    # keep 2 of 3 columns along a row but nothing across rows: output row y loads its input
    # rows (2 at the borders, 3 inside) x 6 cols x 4 ch: (2+3+3+3+3+2) * 24 = 384
    assert m[Scenario.S3] == (36 + 8 + 296, 384 + 296 + 288)
    # S4: one output row: 3 input rows x 6 x 4 = 72, output row 8 x 6 = 48, weights 296;
    # consecutive row tiles share 2 rows, so every input row is read once
    assert m[Scenario.S4] == (72 + 48 + 296, 728)
    # S5: no more traffic than S1, never more buffer than S2 or S4
    b5, d5 = m[Scenario.S5]
    assert d5 <= 728 and b5 <= min(m[Scenario.S2][0], m[Scenario.S4][0])


def test_strided_1x1_reads_only_the_rows_it_needs() -> None:
    # 1x1 conv, stride 2, 2 -> 2 channels, 4x4 -> 2x2. Regions are boxes: the whole layer
    # needs input rows/cols 0..2 (3 x 3 x 2 = 18 of the 32 input elements); W = 2*2 + 2 = 6
    m = _minima(_conv_group(2, 2, 4, 4, 1, stride=2))
    assert m[Scenario.S1] == (18 + 8 + 6, 18 + 6 + 8)
    # S4: output row y needs input row 2y only: 1 x 3 x 2 = 6 on chip, 2 rows read (12)
    assert m[Scenario.S4] == (6 + 2 * 2 + 6, 12 + 6 + 8)
    assert m[Scenario.S4][1] < m[Scenario.S1][1]


def test_pooling_has_no_weights_and_s2_keeps_one_channel() -> None:
    b = GraphBuilder("pool")
    x = b.input("x", (1, 3, 4, 4))
    b.output(b.max_pool(x, 2))
    group = extract_workload(b.build()).group(0, 1)
    m = _minima(group)
    assert m[Scenario.S1] == (48 + 12, 48 + 12)
    # S2 minimum: one channel at a time: its 4x4 input plane + its 2x2 output plane
    assert m[Scenario.S2] == (16 + 4, 60)


def test_depthwise_s2_slices_input_channels() -> None:
    # depthwise 3x3 pad 1 on 4 x 5 x 5: W = 4*9 + 4 = 40; a 1-channel tile needs 1 input plane
    m = _minima(_conv_group(4, 4, 5, 5, 3, pad=1, groups=4))
    assert m[Scenario.S1] == (100 + 100 + 40, 240)
    assert m[Scenario.S2] == (25 + 25 + 10, 240)


def test_opaque_layer_runs_whole_in_every_scenario() -> None:
    b = GraphBuilder("deconv")
    x = b.input("x", (1, 2, 3, 3))
    b.output(b.conv_transpose(x, 2, 2, stride=2))
    group = extract_workload(b.build()).group(0, 1)
    points = {(f.minimum().schedule, f.minimum().buffer_bytes, f.minimum().dram_bytes)
              for f in layer_families(group, HW)}
    assert len(points) == 1


def test_s5_minimum_equals_brute_force_over_the_dse_space() -> None:
    group = _conv_group(3, 4, 5, 7, 3, pad=1)
    fams = layer_families(group, HW)
    cap = fams[0].points[0].dram_bytes
    big = HW.with_shared_buffer(1 << 40)
    costs = [evaluate(group, s, big)
             for s in group_candidates(group, weights_in_separate_memory=False,
                                       options=S5_OPTIONS)]
    brute = min((c.buffer_bytes, c.dram_bytes) for c in costs if c.dram_bytes <= cap)
    s5 = fams[4].minimum()
    assert (s5.buffer_bytes, s5.dram_bytes) == brute
    # every S5 member is an exact evaluate() of its own schedule
    for p in fams[4].points[:5]:
        assert evaluate(group, p.schedule, big) == p.cost


def test_families_need_a_single_layer() -> None:
    b = GraphBuilder("two")
    x = b.input("x", (1, 2, 4, 4))
    b.output(b.conv(b.conv(x, 2, 1), 2, 1))
    with pytest.raises(ConfigError, match="per layer"):
        layer_families(extract_workload(b.build()).group(0, 2), HW)


def test_design_choice_hand_computed() -> None:
    group = _conv_group(4, 8, 6, 6, 3, pad=1)
    fams = layer_families(group, HW)
    sizes = (296, 144 + 288, 728)
    # everything fits: S1, one tile
    d = design_choice(fams, HW.with_shared_buffer(728), sizes)
    assert d.point is not None and d.point.scenario is Scenario.S1
    assert "fits" in d.rationale
    # 700 B: same traffic needs >= 2 tiles; S2 with Tc = 4 (144 + 4*36 + 4*37 = 436 B) ties
    # with 2 row tiles of S3/S5 (4 input rows: 96 + 144 + 296 = 536 B) and wins on buffer
    d = design_choice(fams, HW.with_shared_buffer(700), sizes)
    assert d.point is not None
    assert (d.point.scenario, d.point.buffer_bytes, d.point.dram_bytes, d.point.tiles) == \
        (Scenario.S2, 436, 728, 2)
    assert d.rationale.startswith("whole layer 728 B > budget")
    # 10 B: not even a 1x1x1 tile with one input channel fits
    d = design_choice(fams, HW.with_shared_buffer(10), sizes)
    assert d.point is None and d.rationale.startswith("does not fit")
