"""``generate(graph, workload, schedule, hw)``: a network schedule as a C99 program + its files.

The generated program executes the schedule exactly as the cost model describes it
(:mod:`cnnmem.codegen.emit`), so its counters must equal :func:`cnnmem.dse.cost.evaluate`:
``dram_read_bytes``, ``dram_write_bytes`` and MACs per group, and ``sizeof(onchip)`` must equal
the network's ``buffer_bytes``. :func:`write_output_dir` writes ``model.c``, a ``Makefile``,
``schedule.json``, ``expected.json`` (the model's counts), ``io.json`` (file layout) and
``weights.bin``.

# NOTE: storage types. The C element type must have the hardware's bytes per element for the
# byte counters to mean what the model's do. Only float32 graphs are generated, so the hardware
# must have 4-byte activations, weights and partial sums, and weights in DRAM (a separate
# weight memory has no on-chip copies to generate).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnmem.codegen.emit import COUNTERS, ProgramIO, emit_program
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
from cnnmem.runtime.interpreter import constant_values

ELEMENT_BYTES = 4
"""Bytes of the generated storage type (float32) for activations, weights and partial sums."""

BUILD = "cc -std=c99 -O1 -Wall -Werror -o model model.c -lm"
"""How the tests (and the Makefile) build ``model.c``."""


@dataclass(frozen=True, slots=True)
class GeneratedCode:
    """A generated program and everything needed to run and check it.

    Attributes:
        source: the C99 text of ``model.c``.
        io: the binary file layout.
        weights: ``weights.bin`` content (float32, in ``io.weights`` order).
        schedule: the schedule generated.
        hw: the hardware it was counted for.
        expected: the cost model's per-group costs.
        layouts: per-group on-chip layouts.
        onchip_bytes: ``sizeof(onchip)`` of the program (= ``expected.buffer_bytes``).
    """

    source: str
    io: ProgramIO
    weights: np.ndarray
    schedule: NetworkSchedule
    hw: HardwareSpec
    expected: NetworkCost
    layouts: tuple[GroupLayout, ...]
    onchip_bytes: int

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
                "onchip_bytes": self.onchip_bytes,
                "buffer_bytes": self.expected.buffer_bytes,
                "dram_read_bytes": self.expected.dram_read_bytes,
                "dram_write_bytes": self.expected.dram_write_bytes,
                "macs": self.expected.macs, "counters": list(COUNTERS), "groups": groups}


def check_hw(hw: HardwareSpec) -> None:
    """Raise ConfigError unless ``hw`` counts float32 storage (module NOTE)."""
    sizes = (hw.act_bytes_per_element, hw.weight_bytes_per_element, hw.psum_bytes_per_element)
    if sizes != (ELEMENT_BYTES,) * 3:
        raise ConfigError(f"hardware {hw.name!r} has act/weight/psum elements of "
                          f"{'/'.join(map(str, sizes))} bytes; float32 code needs 4/4/4 "
                          "(use --buffer, or a --hw file with element_bytes 4/4/4)")
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


def check_supported(graph: Graph, workload: Workload) -> None:
    """Raise one UnsupportedOperatorError listing every layer the generator cannot emit
    (:func:`cnnmem.codegen.kernels.unsupported_reason`)."""
    nodes = {n.name: n for n in graph.nodes}
    problems = []
    for layer in workload.layers:
        node = nodes[layer.name]
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
        ConfigError: the hardware's element sizes are not float32's, or the schedule is
            invalid for the workload.
        UnsupportedOperatorError: some layers cannot be generated (all are listed).
    """
    check_hw(hw)
    check_supported(graph, workload)
    expected = evaluate_network(workload, schedule, hw)
    nodes = {n.name: n for n in graph.nodes}
    groups = []
    layouts = []
    for g, cost in zip(schedule.groups, expected.groups, strict=True):
        group = workload.group(g.first, g.stop)
        layout = group_layout(group, g)
        if layout.total * ELEMENT_BYTES != cost.buffer_bytes:
            raise InvariantError(f"group {group.describe()}: on-chip layout of "
                                 f"{layout.total * ELEMENT_BYTES} bytes differs from the cost "
                                 f"model's {cost.buffer_bytes}")
        groups.append((group, g, layout))
        layouts.append(layout)
    resolve = resolver(graph)
    outputs = list(workload.graph_outputs)
    header = (f"/* Generated by cnnmem codegen: model {workload.name!r}, "
              f"{len(schedule.groups)} fused groups.\n"
              f" * Build: {BUILD}\n"
              " * Run:   ./model weights.bin input.bin output.bin  (prints the counters)\n */")
    source, io = emit_program(workload, nodes, resolve, groups, workload.graph_inputs,
                              outputs, header)
    values = constant_values(graph, seed)
    packed: dict[tuple[str, str], np.ndarray] = {}
    for layer in workload.layers:
        for kind, arr in pack_weights(layer, nodes[layer.name], values).items():
            packed[(layer.name, kind)] = arr
    weights = np.concatenate([packed[(layer, kind)] for layer, kind, _ in io.weights]) \
        if io.weights else np.zeros(0, dtype=np.float32)
    return GeneratedCode(source, io, weights.astype(np.float32), schedule, hw, expected,
                         tuple(layouts), max(lay.total for lay in layouts) * ELEMENT_BYTES)


def write_output_dir(code: GeneratedCode, workload: Workload, out_dir: str | Path,
                     ) -> list[Path]:
    """Write ``model.c``, ``Makefile``, ``schedule.json``, ``expected.json``, ``io.json`` and
    ``weights.bin`` to ``out_dir``; returns the paths written."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    io = {"format": "raw little-endian float32, row-major (NCHW)",
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
    (d / "weights.bin").write_bytes(code.weights.astype("<f4").tobytes())
    written.append(d / "weights.bin")
    return written


def codegen_hw(*, hw: HardwareSpec | None, buffer_bytes: int | None,
               schedule_hw: Any = None) -> HardwareSpec:
    """The hardware to count for: ``hw`` (a ``--hw`` file) if given; else one shared buffer of
    ``buffer_bytes`` with float32 element sizes (``--buffer``); else the ``hw`` section of the
    schedule file.

    Raises:
        ConfigError: none of them, or element sizes that are not float32's (:func:`check_hw`).
    """
    if hw is None and buffer_bytes is not None:
        hw = HardwareSpec(f"float32-buffer-{buffer_bytes}B", shared_buffer_bytes=buffer_bytes,
                          act_bytes_per_element=ELEMENT_BYTES,
                          weight_bytes_per_element=ELEMENT_BYTES,
                          psum_bytes_per_element=ELEMENT_BYTES)
    if hw is None and schedule_hw is not None:
        from cnnmem.codegen.schedule_io import hw_from_json

        hw = hw_from_json(schedule_hw)
    if hw is None:
        raise ConfigError("codegen needs --buffer SIZE or --hw FILE (or a --schedule from "
                          "`cnnmem explore --json`, which names its hardware)")
    check_hw(hw)
    return hw
