"""int8 (TFLite-style) code generation: generated C == cnnmem's integer interpreter byte for
byte, counters == the cost model, sizeof(onchip) == buffer_bytes.

Small int8 graphs built here (conv incl. depthwise / stride / padding, pooling, add, relu6,
fused groups, CACHE / RECOMPUTE, streamed / resident weights, input-channel tiles with int32
partial-sum spills) and real TFLite files (skipped when absent).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from codegen_harness import CC

from cnnmem.codegen import COUNTERS, generate, write_output_dir
from cnnmem.codegen.generate import resolver, strip_float_boundary
from cnnmem.dse import HardwareSpec, NetworkSchedule, extract_workload
from cnnmem.dse.cost import evaluate
from cnnmem.dse.space import GroupSchedule, HaloPolicy
from cnnmem.dse.trace import simulate
from cnnmem.dse.workload import Workload
from cnnmem.ir.graph import Graph, Node, Tensor, TensorKind
from cnnmem.ir.types import Activation, DType, QuantParams
from cnnmem.passes.simplify import simplify
from cnnmem.runtime.interpreter import evaluate as interpret

INT8_HW = HardwareSpec("int8-test", shared_buffer_bytes=1 << 30, act_bytes_per_element=1,
                       weight_bytes_per_element=1, psum_bytes_per_element=4,
                       bias_bytes_per_element=4)
MODELS = Path(__file__).resolve().parents[2].parent / "shared" / "models" / "tflite"
RELU6 = Activation("Clip", (("max", 6.0), ("min", 0.0)))


class _Q:
    """Builds small int8 graphs with TFLite-style quantisation."""

    def __init__(self, seed: int = 0) -> None:
        self.g = Graph("q")
        self.rng = np.random.default_rng(seed)
        self.n = 0

    def q(self) -> QuantParams:
        return QuantParams((float(self.rng.uniform(0.02, 0.08)),),
                           (int(self.rng.integers(-20, 20)),))

    def input(self, shape: tuple[int, ...]) -> Tensor:
        return self.g.add_input("x", shape, DType.INT8, quant=self.q())

    def _node(self, op: str, ins: list[Tensor | None], shape: tuple[int, ...],
              attrs: dict[str, object] | None = None, act: Activation | None = None,
              quant: QuantParams | None = None) -> Tensor:
        self.n += 1
        name = f"{op.lower()}{self.n}"
        node = Node(name, op, attrs or {}, activation=act)  # type: ignore[arg-type]
        out = Tensor(name, shape, DType.INT8, TensorKind.ACTIVATION, quant=quant or self.q())
        self.g.add_node(node, ins, [out])
        return out

    def conv(self, x: Tensor, k: int, f: int, *, stride: int = 1, pad: int = 0,
             group: int = 1, act: Activation | None = None) -> Tensor:
        n, c, h, w = x.shape
        cg = c // group
        ws = tuple(float(v) for v in self.rng.uniform(0.003, 0.02, k))
        wt = self.g.add_constant(f"w{self.n}", (k, cg, f, f), DType.INT8,
                                 quant=QuantParams(ws, (0,) * k, 0),
                                 data=self.rng.integers(-127, 128, (k, cg, f, f)).astype(np.int8))
        bt = self.g.add_constant(f"b{self.n}", (k,), DType.INT32,
                                 data=self.rng.integers(-2000, 2000, k).astype(np.int32))
        oh = (h + 2 * pad - f) // stride + 1
        ow = (w + 2 * pad - f) // stride + 1
        return self._node("Conv", [x, wt, bt], (n, k, oh, ow),
                          {"kernel_shape": (f, f), "strides": (stride, stride),
                           "pads": (pad, pad, pad, pad), "group": group, "dilations": (1, 1)},
                          act)

    def pool(self, x: Tensor, op: str, f: int, stride: int, pad: int = 0) -> Tensor:
        n, c, h, w = x.shape
        oh = (h + 2 * pad - f) // stride + 1
        ow = (w + 2 * pad - f) // stride + 1
        return self._node(op, [x], (n, c, oh, ow),
                          {"kernel_shape": (f, f), "strides": (stride, stride),
                           "pads": (pad, pad, pad, pad)}, quant=x.quant)

    def add(self, a: Tensor, b: Tensor, act: Activation | None = None) -> Tensor:
        return self._node("Add", [a, b], a.shape, act=act)

    def relu6(self, x: Tensor) -> Tensor:
        return self._node("Clip", [x], x.shape, {"min": 0.0, "max": 6.0})


def branchy() -> Graph:
    """conv(pad, relu) -> depthwise(stride 2, relu6) -> conv 1x1 + residual add -> avg/max pool,
    a standalone ReLU6."""
    b = _Q(1)
    x = b.input((1, 6, 13, 11))
    a = b.conv(x, 8, 3, pad=1, act=Activation("Relu"))
    d = b.conv(a, 8, 3, stride=2, pad=1, group=8, act=RELU6)
    p = b.conv(d, 8, 1)
    s = b.add(p, d, act=Activation("Relu"))
    m = b.pool(s, "MaxPool", 2, 1)
    r = b.relu6(m)
    v = b.pool(r, "AveragePool", 3, 2, pad=1)
    b.g.outputs.append(v)
    return b.g


def wide() -> Graph:
    """Two ungrouped convs with many input channels (input-channel tiles)."""
    b = _Q(2)
    x = b.input((1, 24, 9, 9))
    a = b.conv(x, 16, 3, pad=1, act=Activation("Relu"))
    c = b.conv(a, 12, 3, stride=2)
    b.g.outputs.append(c)
    return b.g


def _run(graph: Graph, workload: Workload, schedule: NetworkSchedule,
         hw: HardwareSpec = INT8_HW, seed: int = 0) -> None:
    """Generate, compile, run; outputs == interpreter exactly, counters == model."""
    if CC is None:
        pytest.skip("no C compiler (cc) on PATH")
    code = generate(graph, workload, schedule, hw)
    assert len({n for n, _ in code.io.inputs}) == len(code.io.inputs) == len(graph.inputs)
    rng = np.random.default_rng(seed)
    feeds = {t.name: rng.integers(-128, 128, t.shape).astype(np.int8) for t in graph.inputs}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_output_dir(code, workload, d)
        build = subprocess.run([CC, "-std=c99", "-O1", "-Wall", "-Werror", "-o",
                                str(d / "model"), str(d / "model.c"), "-lm"],
                               capture_output=True, text=True, check=False)
        assert build.returncode == 0, build.stderr[:4000]
        (d / "input.bin").write_bytes(b"".join(feeds[n].tobytes() for n, _ in code.io.inputs))
        proc = subprocess.run([str(d / "model"), str(d / "weights.bin"), str(d / "input.bin"),
                               str(d / "output.bin")], capture_output=True, text=True,
                              check=False, timeout=120)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        raw = np.fromfile(d / "output.bin", dtype=np.int8)
    values = interpret(graph, feeds)
    resolve = resolver(graph)
    at = 0
    for name, shape in code.io.outputs:
        n = int(np.prod(shape))
        want = next(values[t.name] for t in graph.outputs if resolve(t) == name)
        np.testing.assert_array_equal(raw[at:at + n], want.reshape(-1))
        at += n
    assert at == raw.size
    assert report["onchip_bytes"] == code.expected.buffer_bytes
    for g, (counts, cost) in enumerate(zip(report["groups"], code.expected.groups,
                                           strict=True)):
        assert dict(zip(COUNTERS, counts, strict=True)) == \
            {c: getattr(cost, c) for c in COUNTERS}, (g, schedule.groups[g].describe())


def _prepared(graph: Graph) -> tuple[Graph, Workload]:
    simplify(graph)
    strip_float_boundary(graph)
    return graph, extract_workload(graph)


def _one_group(workload: Workload, rows: int, cols: int, order: str, halo: HaloPolicy,
               resident: bool, tk: int | None = None, tc: int | None = None
               ) -> NetworkSchedule:
    last = workload.layers[-1]
    return NetworkSchedule((GroupSchedule(0, len(workload.layers), rows, cols,
                                          tk or last.k, tile_in_channels=tc,
                                          loop_order=order, halo=halo,
                                          weights_resident=resident),))


@pytest.mark.parametrize(("halo", "resident", "order"), [
    (HaloPolicy.CACHE, True, "yxkc"), (HaloPolicy.RECOMPUTE, False, "kyxc"),
    (HaloPolicy.CACHE, False, "xykc")])
def test_branchy_fused(halo: HaloPolicy, resident: bool, order: str) -> None:
    graph, workload = _prepared(branchy())
    layers = workload.layers
    split = 3
    schedule = NetworkSchedule((
        GroupSchedule(0, split, 2, 3, layers[split - 1].k, loop_order=order, halo=halo,
                      weights_resident=resident),
        GroupSchedule(split, len(layers), 2, 2, layers[-1].k, loop_order=order, halo=halo,
                      weights_resident=resident)))
    _run(graph, workload, schedule)


def test_layer_by_layer() -> None:
    graph, workload = _prepared(branchy())
    schedule = NetworkSchedule(tuple(GroupSchedule(i, i + 1, layer.oy, layer.ox, layer.k)
                                     for i, layer in enumerate(workload.layers)))
    _run(graph, workload, schedule, seed=3)


@pytest.mark.parametrize("order", ["ckyx", "kcyx", "yxkc", "kyxc"])
def test_input_channel_tiles_spill_int32(order: str) -> None:
    graph, workload = _prepared(wide())
    layers = workload.layers
    schedule = NetworkSchedule((
        GroupSchedule(0, 1, 3, 4, 8, tile_in_channels=10, loop_order=order,
                      halo=HaloPolicy.CACHE, weights_resident=False),
        GroupSchedule(1, 2, 2, 2, 5, tile_in_channels=6, loop_order=order,
                      halo=HaloPolicy.CACHE, weights_resident=False)))
    cost = evaluate(workload.group(0, 1), schedule.groups[0], INT8_HW)
    if order in ("ckyx", "kcyx"):
        assert cost.dram_psum_write_bytes > 0
    assert layers[0].bias_elements
    _run(graph, workload, schedule)


def test_bias_bytes_model_equals_trace() -> None:
    _, workload = _prepared(branchy())
    for resident in (True, False):
        group = workload.group(0, 3)
        s = GroupSchedule(0, 3, 2, 3, 8, weights_resident=resident)
        assert simulate(group, s, INT8_HW).cost == evaluate(group, s, INT8_HW)
    one = HardwareSpec("w", shared_buffer_bytes=1 << 20)
    biases = sum(layer.bias_elements for layer in workload.layers[:3])
    s = GroupSchedule(0, 3, 2, 3, 8, weights_resident=True)
    assert evaluate(workload.group(0, 3), s, INT8_HW).dram_weight_read_bytes == \
        evaluate(workload.group(0, 3), s, one).dram_weight_read_bytes + 3 * biases


@pytest.mark.parametrize(("model", "buffer"), [("image_classification.tflite", 48 << 10),
                                               ("visual_wake_words.tflite", 96 << 10)])
def test_real_tflite_best_schedule(model: str, buffer: int) -> None:
    """The explorer's best schedule of a real int8 TFLite model at its native size."""
    path = MODELS / model
    if not path.exists():
        pytest.skip(f"{path} not present")
    from cnnmem.dse import best_schedule
    from cnnmem.dse import explore as dse_explore
    from cnnmem.frontend.tflite_import import load_tflite

    graph, workload = _prepared(load_tflite(path))
    hw = HardwareSpec("int8", shared_buffer_bytes=buffer, act_bytes_per_element=1,
                      weight_bytes_per_element=1, psum_bytes_per_element=4,
                      bias_bytes_per_element=4)
    schedule = best_schedule(workload, dse_explore(workload, hw, max_group_layers=6)).schedule
    assert len(schedule.groups) < len(workload.layers)  # something is fused
    _run(graph, workload, schedule, hw)
