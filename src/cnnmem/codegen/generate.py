"""``generate(graph, workload, schedule, hw)``: a network schedule as a C99 program + its files.

The generated program executes the schedule exactly as the cost model describes it
(:mod:`cnnmem.codegen.emit`), so its counters must equal :func:`cnnmem.dse.cost.evaluate`:
``dram_read_bytes``, ``dram_write_bytes`` and MACs per group, and ``sizeof(onchip)`` must equal
the network's ``buffer_bytes``. :func:`write_output_dir` writes ``model.c``, a ``Makefile``,
``schedule.json``, ``expected.json`` (the model's counts), ``io.json`` (file layout) and
``weights.bin``.

# NOTE: storage types. The C element type must have the hardware's bytes per element for the
# byte counters to mean what the model's do, so the element sizes follow the graph: float32
# graphs need 4-byte activations, weights, biases and partial sums; int8 graphs (TFLite) 1-byte
# activations and weights, 4-byte (int32) biases and partial sums (:data:`INT8_SIZES`). Weights
# must be in DRAM (a separate weight memory has no on-chip copies to generate). A float32 graph
# input feeding a QUANTIZE, and a DEQUANTIZE producing a float32 graph output, are left to the
# host (:func:`strip_float_boundary`): the program reads and writes the int8 tensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnmem.codegen import qkernels
from cnnmem.codegen.emit import COUNTERS, FLOAT32, INT8, ProgramIO, Storage, emit_program
from cnnmem.codegen.kernels import clip_problem, pack_weights, unsupported_reason
from cnnmem.codegen.layout import GroupLayout, group_layout
from cnnmem.codegen.schedule_io import schedule_to_json
from cnnmem.dse.cost import NetworkCost, evaluate_network
from cnnmem.dse.hw import HardwareSpec
from cnnmem.dse.space import NetworkSchedule
from cnnmem.dse.workload import Workload
from cnnmem.errors import ConfigError, InvariantError, UnsupportedOperatorError
from cnnmem.ir.graph import Graph, Tensor
from cnnmem.ir.ops import is_alias
from cnnmem.ir.types import DType
from cnnmem.runtime.interpreter import constant_values
from cnnmem.runtime.quantized import is_quantized

ELEMENT_BYTES = 4
"""Bytes of the generated storage type (float32) for activations, weights and partial sums."""

INT8_SIZES = (1, 1, 4, 4)
"""act / weight / psum / bias element bytes of int8 programs."""

BUILD = "cc -std=c99 -O1 -Wall -Werror -o model model.c -lm"
"""How the tests (and the Makefile) build ``model.c``."""


@dataclass(frozen=True, slots=True)
class GeneratedCode:
    """A generated program and everything needed to run and check it.

    Attributes:
        source: the C99 text of ``model.c``.
        io: the binary file layout.
        weights: ``weights.bin`` content (raw little-endian items in ``io.weights`` order:
            float32; or int8 weights and int32 biases).
        schedule: the schedule generated.
        hw: the hardware it was counted for.
        expected: the cost model's per-group costs.
        layouts: per-group on-chip layouts.
        onchip_bytes: ``sizeof(onchip)`` of the program (= ``expected.buffer_bytes``).
    """

    source: str
    io: ProgramIO
    weights: bytes
    schedule: NetworkSchedule
    hw: HardwareSpec
    expected: NetworkCost
    layouts: tuple[GroupLayout, ...]
    onchip_bytes: int
    storage: Storage = FLOAT32

    def expected_dict(self, workload: Workload) -> dict[str, Any]:
        """The model's counts in the program's counter names (``expected.json``)."""
        groups = []
        for g, c in zip(self.schedule.groups, self.expected.groups, strict=True):
            d = {name: getattr(c, name) for name in COUNTERS}
            d.update(first_layer=workload.layers[g.first].name,
                     last_layer=workload.layers[g.stop - 1].name, schedule=g.describe(),
                     buffer_bytes=c.buffer_bytes, dram_read_bytes=c.dram_read_bytes,
                     dram_write_bytes=c.dram_write_bytes)
            groups.append(d)
        return {"schema": "cnnmem.codegen/1", "model": workload.name,
                "storage": self.storage.name,
                "element_bytes": {"activation": self.hw.act_bytes_per_element,
                                  "weight": self.hw.weight_bytes_per_element,
                                  "bias": self.hw.bias_bytes,
                                  "partial_sum": self.hw.psum_bytes_per_element},
                "onchip_bytes": self.onchip_bytes,
                "buffer_bytes": self.expected.buffer_bytes,
                "dram_read_bytes": self.expected.dram_read_bytes,
                "dram_write_bytes": self.expected.dram_write_bytes,
                "macs": self.expected.macs, "counters": list(COUNTERS), "groups": groups}


def check_hw(hw: HardwareSpec, storage: Storage = FLOAT32) -> None:
    """Raise ConfigError unless ``hw`` counts ``storage``'s element sizes (module NOTE)."""
    if storage.quantized:
        sizes = (hw.act_bytes_per_element, hw.weight_bytes_per_element,
                 hw.psum_bytes_per_element, hw.bias_bytes)
        if sizes != INT8_SIZES:
            raise ConfigError(f"hardware {hw.name!r} has act/weight/psum/bias elements of "
                              f"{'/'.join(map(str, sizes))} bytes; int8 code needs 1/1/4/4 "
                              "(use --buffer, or a --hw file with element_bytes 1/1/4 and "
                              "bias: 4)")
    three = (hw.act_bytes_per_element, hw.weight_bytes_per_element, hw.psum_bytes_per_element)
    if not storage.quantized and (three != (ELEMENT_BYTES,) * 3 or hw.bias_bytes != 4):
        raise ConfigError(f"hardware {hw.name!r} has act/weight/psum elements of "
                          f"{'/'.join(map(str, three))} bytes (bias {hw.bias_bytes}); float32 "
                          "code needs 4/4/4 (use --buffer, or a --hw file with element_bytes "
                          "4/4/4)")
    if hw.weights_in_separate_memory:
        raise ConfigError(f"hardware {hw.name!r} keeps weights in a separate memory; codegen "
                          "supports weight_storage: dram only")


def resolver(graph: Graph) -> Any:
    """``tensor -> name of the tensor holding its data`` (aliases resolved, as the workload
    does)."""
    def resolve(t: Tensor) -> str:
        while t.producer is not None and is_alias(t.producer) and \
                len(t.producer.activation_inputs) == 1 and len(t.producer.outputs) == 1:
            t = t.producer.activation_inputs[0]
        return t.name
    return resolve


def storage_of(graph: Graph, workload: Workload) -> Storage:
    """:data:`~cnnmem.codegen.emit.INT8` if the workload's first layer reads a quantised int8
    tensor (a TFLite int8 graph), else :data:`~cnnmem.codegen.emit.FLOAT32`."""
    nodes = {n.name: n for n in graph.nodes}
    for layer in workload.layers[:1]:
        x = nodes[layer.name].input(0)
        if x is not None and x.dtype is DType.INT8 and is_quantized(x):
            return INT8
    return FLOAT32


def strip_float_boundary(graph: Graph) -> list[str]:
    """Leave a float32 graph input's QUANTIZE and a float32 graph output's DEQUANTIZE to the
    host (module NOTE): the int8 tensors become the graph's inputs / outputs (in place).
    Returns one line per node removed."""
    notes = []
    for node in list(graph.nodes):
        scale_free = len(node.inputs) < 2 or node.inputs[1] is None
        x, y = node.inputs[0], node.outputs[0]
        if not scale_free or x is None:
            continue
        if node.op_type == "QuantizeLinear" and any(x is t for t in graph.inputs) and \
                x.dtype is DType.FLOAT32 and is_quantized(y) and len(x.consumers) == 1:
            new = graph.add_input(graph.unique_name(y.name), y.shape, y.dtype, quant=y.quant)
            graph.replace_all_uses(y, new)
            graph.remove_node(node)
            graph.inputs = [new if t is x else t for t in graph.inputs if t is not new]
            notes.append(f"QUANTIZE {x.name!r} -> {new.name!r} runs on the host")
        elif node.op_type == "DequantizeLinear" and any(y is t for t in graph.outputs) and \
                is_quantized(x) and not y.consumers:
            graph.outputs = [x if t is y else t for t in graph.outputs]
            graph.remove_node(node)
            notes.append(f"DEQUANTIZE {x.name!r} -> {y.name!r} runs on the host")
    return notes


def check_supported(graph: Graph, workload: Workload) -> None:
    """Raise one UnsupportedOperatorError listing every layer the generator cannot emit
    (:func:`cnnmem.codegen.kernels.unsupported_reason`, int8:
    :func:`cnnmem.codegen.qkernels.unsupported_reason`)."""
    nodes = {n.name: n for n in graph.nodes}
    problems = []
    quantized = storage_of(graph, workload).quantized
    for layer in workload.layers:
        node = nodes[layer.name]
        if quantized:
            why = qkernels.unsupported_reason(layer, node)
            if why is not None:
                problems.append(f"{layer.name} ({node.op_type}: {why})")
            continue
        why = unsupported_reason(layer, node)
        if why is None and node.op_type == "Clip":
            why = clip_problem(node)
        if why is not None:
            problems.append(f"{layer.name} ({node.op_type}: {why})")
    if problems:
        raise UnsupportedOperatorError(f"codegen cannot generate {len(problems)} layer(s): "
                                       + ", ".join(problems))


def generate(graph: Graph, workload: Workload, schedule: NetworkSchedule, hw: HardwareSpec,
             *, seed: int = 0) -> GeneratedCode:
    """Generate C99 for ``schedule`` of ``workload`` (extracted from ``graph``) on ``hw``.

    ``seed`` fills constants without data exactly as
    ``to_onnx(graph, random_weights=True, seed=seed)`` does.

    Raises:
        ConfigError: the hardware's element sizes are not the graph's (float32: 4/4/4; int8:
            act/weight/psum/bias 1/1/4/4), or the schedule is invalid for the workload.
        UnsupportedOperatorError: some layers cannot be generated (all are listed).
    """
    storage = storage_of(graph, workload)
    check_hw(hw, storage)
    check_supported(graph, workload)
    expected = evaluate_network(workload, schedule, hw)
    nodes = {n.name: n for n in graph.nodes}
    groups = []
    layouts = []
    for g, cost in zip(schedule.groups, expected.groups, strict=True):
        group = workload.group(g.first, g.stop)
        layout = group_layout(group, g, element_bytes=storage.element_bytes)
        if layout.nbytes != cost.buffer_bytes:
            raise InvariantError(f"group {group.describe()}: on-chip layout of "
                                 f"{layout.nbytes} bytes differs from the cost "
                                 f"model's {cost.buffer_bytes}")
        groups.append((group, g, layout))
        layouts.append(layout)
    resolve = resolver(graph)
    outputs = list(workload.graph_outputs)
    header = (f"/* Generated by cnnmem codegen: model {workload.name!r}, "
              f"{len(schedule.groups)} fused groups, {storage.name} elements.\n"
              f" * Build: {BUILD}\n"
              " * Run:   ./model weights.bin input.bin output.bin  (prints the counters)\n */")
    source, io = emit_program(workload, nodes, resolve, groups, workload.graph_inputs,
                              outputs, header, storage)
    values = constant_values(graph, seed)
    packed: dict[tuple[str, str], np.ndarray] = {}
    pack = qkernels.pack_weights if storage.quantized else pack_weights
    for layer in workload.layers:
        for kind, arr in pack(layer, nodes[layer.name], values).items():
            packed[(layer.name, kind)] = arr if storage.quantized else arr.astype(np.float32)
    weights = b"".join(packed[(layer, kind)].astype(packed[(layer, kind)].dtype.newbyteorder("<"))
                       .tobytes() for layer, kind, _ in io.weights)
    return GeneratedCode(source, io, weights, schedule, hw, expected, tuple(layouts),
                         max(lay.nbytes for lay in layouts), storage)


def write_output_dir(code: GeneratedCode, workload: Workload, out_dir: str | Path,
                     ) -> list[Path]:
    """Write ``model.c``, ``Makefile``, ``schedule.json``, ``expected.json``, ``io.json`` and
    ``weights.bin`` to ``out_dir``; returns the paths written."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    fmt = ("raw little-endian float32, row-major (NCHW)" if not code.storage.quantized else
           "raw little-endian, row-major (NCHW): activations and weights int8, biases int32")
    io = {"format": fmt, "element_bytes": code.expected_dict(workload)["element_bytes"],
          "run": "./model weights.bin input.bin output.bin",
          "weights": [{"layer": layer, "item": kind, "elements": n}
                      for layer, kind, n in code.io.weights],
          "inputs": [{"name": n, "shape": list(s)} for n, s in code.io.inputs],
          "outputs": [{"name": n, "shape": list(s)} for n, s in code.io.outputs],
          "stdout": {"onchip_bytes": "sizeof(onchip)",
                     "counters": list(COUNTERS), "groups": "the counters of each group"}}
    files = {
        "model.c": code.source,
        "Makefile": f"model: model.c\n\t{BUILD}\n",
        "schedule.json": json.dumps(schedule_to_json(workload, code.schedule), indent=2) + "\n",
        "expected.json": json.dumps(code.expected_dict(workload), indent=2) + "\n",
        "io.json": json.dumps(io, indent=2) + "\n",
    }
    written = []
    for name, text in files.items():
        (d / name).write_text(text)
        written.append(d / name)
    (d / "weights.bin").write_bytes(code.weights)
    written.append(d / "weights.bin")
    return written


def codegen_hw(*, hw: HardwareSpec | None, buffer_bytes: int | None,
               schedule_hw: Any = None, storage: Storage = FLOAT32) -> HardwareSpec:
    """The hardware to count for: ``hw`` (a ``--hw`` file) if given; else one shared buffer of
    ``buffer_bytes`` with ``storage``'s element sizes (``--buffer``); else the ``hw`` section
    of the schedule file.

    Raises:
        ConfigError: none of them, or element sizes that are not ``storage``'s
            (:func:`check_hw`).
    """
    if hw is None and buffer_bytes is not None:
        if storage.quantized:
            hw = HardwareSpec(f"int8-buffer-{buffer_bytes}B", shared_buffer_bytes=buffer_bytes,
                              act_bytes_per_element=1, weight_bytes_per_element=1,
                              psum_bytes_per_element=4, bias_bytes_per_element=4)
        else:
            hw = HardwareSpec(f"float32-buffer-{buffer_bytes}B",
                              shared_buffer_bytes=buffer_bytes,
                              act_bytes_per_element=ELEMENT_BYTES,
                              weight_bytes_per_element=ELEMENT_BYTES,
                              psum_bytes_per_element=ELEMENT_BYTES)
    if hw is None and schedule_hw is not None:
        from cnnmem.codegen.schedule_io import hw_from_json

        hw = hw_from_json(schedule_hw)
    if hw is None:
        raise ConfigError("codegen needs --buffer SIZE or --hw FILE (or a --schedule from "
                          "`cnnmem explore --json`, which names its hardware)")
    check_hw(hw, storage)
    return hw
