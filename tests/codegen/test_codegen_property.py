"""Property test: random small conv chains under random schedules, compiled and run.

For every drawn network and schedule the generated program must match onnxruntime and its
counters / on-chip size must equal the cost model (:meth:`codegen_harness.Run.check`).
"""

from __future__ import annotations

from typing import Any

from codegen_harness import run_case
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from cnnmem.dse import GroupSchedule, HaloPolicy, NetworkSchedule, Workload
from cnnmem.errors import ConfigError
from cnnmem.ir.builder import GraphBuilder
from cnnmem.ir.graph import Graph

_LAYER = st.fixed_dictionaries({
    "kind": st.sampled_from(["conv", "conv", "depthwise", "maxpool", "avgpool"]),
    "k": st.integers(1, 6), "kernel": st.integers(1, 3), "stride": st.integers(1, 2),
    "pad": st.integers(0, 1), "dilation": st.integers(1, 2), "relu": st.booleans(),
    "residual": st.booleans(),
})


def _network(layers: list[dict[str, Any]], channels: int, size: int) -> Graph:
    b = GraphBuilder("chain", weights=True, seed=len(layers))
    x = b.input("x", (1, channels, size, size))
    for spec in layers:
        h, c = x.shape[2], x.shape[1]
        kernel = min(spec["kernel"], h)
        pad = min(spec["pad"], kernel - 1)
        if spec["kind"] in ("maxpool", "avgpool"):
            y = (b.max_pool if spec["kind"] == "maxpool" else b.avg_pool)(
                x, kernel, spec["stride"], pad)
        else:
            dilation = spec["dilation"] if (kernel - 1) * spec["dilation"] < h else 1
            groups = c if spec["kind"] == "depthwise" else 1
            k = c if groups > 1 else spec["k"]
            y = b.conv(x, k, kernel, stride=spec["stride"], padding=pad, dilation=dilation,
                       groups=groups)
        if spec["residual"] and y.shape == x.shape:
            y = b.add(y, x)
        x = b.relu(y) if spec["relu"] else y
    b.output(x)
    return b.build()


@st.composite
def _case(draw: st.DrawFn) -> tuple[Graph, Any]:
    layers = draw(st.lists(_LAYER, min_size=1, max_size=4))
    graph = _network(layers, draw(st.integers(1, 4)), draw(st.integers(4, 9)))
    cut_draws = draw(st.lists(st.booleans(), min_size=8, max_size=8))
    tile_draws = draw(st.lists(st.integers(1, 8), min_size=40, max_size=40))
    order = draw(st.permutations("kcyx"))
    halo = draw(st.sampled_from(list(HaloPolicy)))
    resident = draw(st.booleans())

    def schedule(w: Workload) -> NetworkSchedule:
        groups, first = [], 0
        for i in range(1, len(w.layers) + 1):
            last = i == len(w.layers)
            if not last and not cut_draws[i % 8]:
                continue
            if w.group_problem(first, i) is not None and not last:
                continue
            a = w.group(first, i).anchor
            t = tile_draws[4 * len(groups):4 * len(groups) + 4]
            tci = None
            if i - first == 1 and a.can_tile_input_channels and t[3] < a.c:
                tci = t[3]
            groups.append(GroupSchedule(first, i, min(t[0], a.oy), min(t[1], a.ox),
                                        min(t[2], a.k), tci, "".join(order), halo, resident))
            first = i
        return NetworkSchedule(tuple(groups))

    return graph, schedule


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_case())
def test_random_conv_chains_match_model_and_onnxruntime(case: tuple[Graph, Any]) -> None:
    graph, schedule = case
    try:
        run = run_case(graph, schedule)
    except ConfigError as e:  # a group output left partly uncomputed: not a schedule
        assert "never computed" in str(e)
        reject()
    run.check()
