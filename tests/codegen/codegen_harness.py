"""Build, run and check generated C programs (shared by the codegen tests).

``run_case(graph, schedule_fn, hw)`` simplifies the graph, generates C for the schedule,
compiles it with the system compiler (``cc -std=c99 -O1 -Wall -Werror``), runs it on seeded
random inputs and returns the program's outputs, counters and on-chip size next to
onnxruntime's outputs and the cost model's counts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from cnnmem.codegen import COUNTERS, GeneratedCode, generate, write_output_dir
from cnnmem.codegen.generate import resolver
from cnnmem.dse import HardwareSpec, NetworkSchedule, Workload, extract_workload
from cnnmem.frontend.onnx_export import to_onnx
from cnnmem.ir.graph import Graph
from cnnmem.passes.simplify import simplify

FLOAT_HW = HardwareSpec("float32-test", shared_buffer_bytes=1 << 30, act_bytes_per_element=4,
                        weight_bytes_per_element=4, psum_bytes_per_element=4)
"""A huge shared buffer with 4-byte elements: every schedule fits."""

CC = shutil.which("cc")


@dataclass
class Run:
    """One generated program, run."""

    code: GeneratedCode
    workload: Workload
    outputs: list[np.ndarray]
    reference: list[np.ndarray]
    report: dict[str, Any]

    def check(self, *, deep: bool = False) -> None:
        """Outputs allclose to onnxruntime (rtol 1e-4, atol 1e-5); counters and on-chip size
        equal to the model.

        ``deep``: the absolute tolerance is 1e-5 of the output's largest magnitude instead
        (deep networks with He-scaled random weights reach logits ~100, where onnxruntime's
        float sums and ours, accumulated in double, differ by ~1e-4 absolute).
        """
        for ours, ref in zip(self.outputs, self.reference, strict=True):
            atol = 1e-5 * max(1.0, float(np.abs(ref).max())) if deep else 1e-5
            np.testing.assert_allclose(ours, ref.reshape(ours.shape), rtol=1e-4, atol=atol)
        expected = self.code.expected
        assert self.report["onchip_bytes"] == expected.buffer_bytes
        for g, (counts, cost) in enumerate(zip(self.report["groups"], expected.groups,
                                               strict=True)):
            got = dict(zip(COUNTERS, counts, strict=True))
            want = {name: getattr(cost, name) for name in COUNTERS}
            assert got == want, (g, self.code.schedule.groups[g].describe())
        total = dict(zip(COUNTERS, self.report["counters"], strict=True))
        reads = (total["dram_act_read_bytes"] + total["dram_weight_read_bytes"] +
                 total["dram_psum_read_bytes"])
        writes = total["dram_act_write_bytes"] + total["dram_psum_write_bytes"]
        assert reads == expected.dram_read_bytes
        assert writes == expected.dram_write_bytes


def prepare(graph: Graph) -> tuple[Graph, Workload]:
    """Simplify (fuse activations, fold BN) and extract the workload."""
    simplify(graph)
    return graph, extract_workload(graph)


def run_code(graph: Graph, workload: Workload, code: GeneratedCode, *, seed: int = 0) -> Run:
    """Compile and run ``code``; onnxruntime runs the exported graph on the same inputs."""
    if CC is None:
        pytest.skip("no C compiler (cc) on PATH")
    rng = np.random.default_rng(seed)
    feeds = {t.name: rng.normal(size=t.shape).astype(np.float32) for t in graph.inputs}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_output_dir(code, workload, d)
        build = subprocess.run([CC, "-std=c99", "-O1", "-Wall", "-Werror", "-o",
                                str(d / "model"), str(d / "model.c"), "-lm"],
                               capture_output=True, text=True, check=False)
        assert build.returncode == 0, build.stderr[:4000]
        with open(d / "input.bin", "wb") as f:
            for name, _ in code.io.inputs:
                f.write(feeds[name].astype("<f4").tobytes())
        proc = subprocess.run([str(d / "model"), str(d / "weights.bin"), str(d / "input.bin"),
                               str(d / "output.bin")], capture_output=True, text=True,
                              check=False, timeout=60)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        raw = np.fromfile(d / "output.bin", dtype="<f4")
    outputs, at = [], 0
    for _, shape in code.io.outputs:
        n = int(np.prod(shape))
        outputs.append(raw[at:at + n].reshape(shape))
        at += n
    assert at == raw.size
    session = ort.InferenceSession(to_onnx(graph, random_weights=True, seed=0)
                                   .SerializeToString(), providers=["CPUExecutionProvider"])
    ref = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds),
                   strict=True))
    resolve = resolver(graph)
    sources = {t.name: resolve(t) for t in graph.outputs}
    reference = [ref[next(g for g, s in sources.items() if s == name)]
                 for name, _ in code.io.outputs]
    return Run(code, workload, outputs, reference, report)


def run_case(graph: Graph, schedule_fn: Callable[[Workload], NetworkSchedule],
             hw: HardwareSpec = FLOAT_HW, *, seed: int = 0) -> Run:
    """Simplify, schedule, generate, compile, run."""
    graph, workload = prepare(graph)
    schedule = schedule_fn(workload)
    code = generate(graph, workload, schedule, hw, seed=0)
    return run_code(graph, workload, code, seed=seed)
