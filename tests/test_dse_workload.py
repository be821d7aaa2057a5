"""Workload extraction: layer kinds, alias resolution, totals that match the graph counts, and
the group rules for branches."""

from __future__ import annotations

from collections import Counter

import pytest

from cnnmem.analysis.counts import count_graph
from cnnmem.api import ModelOptions, load
from cnnmem.dse.cost import evaluate
from cnnmem.dse.hw import HardwareSpec
from cnnmem.dse.space import GroupSchedule, schedule_problem, whole_tile_schedule
from cnnmem.dse.trace import simulate
from cnnmem.dse.workload import LayerKind, canonical_shape, extract_workload
from cnnmem.ir import GraphBuilder

ZOO = [("vgg16", None), ("resnet50", None), ("mobilenet_v2", None), ("tiny_yolov2", None),
       ("blazeface", None), ("dncnn", (32, 32)), ("vdsr", (32, 32))]


@pytest.mark.parametrize(("name", "resolution"), ZOO, ids=[n for n, _ in ZOO])
def test_totals_match_graph_counts(name: str, resolution: tuple[int, int] | None) -> None:
    graph = load(ModelOptions(name, resolution=resolution))
    wl = extract_workload(graph)
    counts = count_graph(graph)
    assert sum(layer.macs for layer in wl.layers) == counts.macs
    assert wl.weight_elements == counts.weight_elements
    for layer in wl.layers:
        out = wl.tensors[layer.output]
        if layer.kind is not LayerKind.OPAQUE:
            assert layer.macs == layer.macs_per_output * out.elements
        assert (layer.n, layer.k, layer.oy, layer.ox) == out.dims[:1] + out.dims[1:]
        assert wl.group_problem(layer.index, layer.index + 1) is None


def test_vgg16_flatten_is_an_alias_and_gemm_is_dense() -> None:
    wl = extract_workload(load(ModelOptions("vgg16")))
    kinds = Counter(layer.kind for layer in wl.layers)
    assert kinds == {LayerKind.CONV: 13, LayerKind.POOL: 5, LayerKind.DENSE: 3}
    fc6 = wl.layers[18]
    assert fc6.inputs == (wl.layers[17].output,)  # the pool output, through Flatten
    assert (fc6.k, fc6.c, fc6.main_weight_elements) == (4096, 25088, 4096 * 25088)
    conv = wl.layers[0]
    assert (conv.k, conv.c, conv.fy, conv.stride, conv.pad, conv.groups) == \
        (64, 3, 3, (1, 1), (1, 1), 1)


def test_blazeface_reshaped_heads_are_global() -> None:
    wl = extract_workload(load(ModelOptions("blazeface")))
    by_op = {layer.op_type: layer.kind for layer in wl.layers}
    assert by_op["Transpose"] is LayerKind.GLOBAL
    assert by_op["Pad"] is LayerKind.GLOBAL  # channel padding
    assert by_op["Concat"] is LayerKind.GLOBAL  # concat of 3-D reshapes
    assert set(wl.graph_outputs) == {"classificators", "regressors"}


def test_depthwise_and_pool_channel_mapping() -> None:
    wl = extract_workload(load(ModelOptions("mobilenet_v2", resolution=(64, 64))))
    dw = next(layer for layer in wl.layers if layer.kind is LayerKind.CONV and layer.groups > 1)
    assert dw.groups == dw.k == dw.c and dw.in_channels_per_group == 1


def test_canonical_shapes() -> None:
    assert canonical_shape("a", (1, 3, 4, 5)).dims == (1, 3, 4, 5)
    assert canonical_shape("a", (2, 1000)).dims == (2, 1000, 1, 1)
    assert canonical_shape("a", (1, 16, 16, 2, 3)).dims == (1, 256, 2, 3)
    assert canonical_shape("a", (7,)).dims == (1, 7, 1, 1)
    assert canonical_shape("a", ()).elements == 1


def test_multi_output_group_writes_shared_tensor_once() -> None:
    b = GraphBuilder("mo")
    x = b.input("x", (1, 4, 8, 8))
    a = b.conv(x, 4, 3, padding=1)
    c = b.conv(a, 4, 3, padding=1)
    d = b.conv(a, 4, 1)  # a is read outside the group [0, 2)
    b.output(b.add(c, d))
    wl = extract_workload(b.build())
    group = wl.group(0, 2)
    assert group.outputs == (c.name, a.name)
    hw = HardwareSpec.single_buffer(1 << 20)
    schedule = GroupSchedule(0, 2, 3, 8, 4)
    cost = evaluate(group, schedule, hw)
    assert cost.dram_act_write_bytes == 2 * 4 * 64  # both outputs once
    assert simulate(group, schedule, hw).cost == cost


def test_opaque_layer_runs_whole() -> None:
    b = GraphBuilder("up")
    x = b.input("x", (1, 4, 6, 6))
    y = b.conv_transpose(x, 2, 2, stride=2)
    b.output(b.conv(y, 2, 3, padding=1))
    wl = extract_workload(b.build())
    assert wl.layers[0].kind is LayerKind.OPAQUE
    assert wl.group_problem(0, 2) is not None
    group = wl.group(0, 1)
    hw = HardwareSpec.single_buffer(1 << 20)
    whole = whole_tile_schedule(group)
    assert schedule_problem(group, GroupSchedule(0, 1, 6, 12, 2)) is not None
    cost = evaluate(group, whole, hw)
    assert cost.macs == wl.layers[0].macs
    assert cost.dram_act_read_bytes == 4 * 36 and cost.dram_act_write_bytes == 2 * 144
    assert simulate(group, whole, hw).cost == cost
