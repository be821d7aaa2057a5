"""End to end in TensorFlow Lite Micro: our plans, written as TFLM offline memory plans, run in
TFLM's own interpreter and must give exactly the outputs of TFLM's own planning.

Only input-sensitive models are used for the output comparison (the random-init
mbv2_224_int8.tflite and keyword_spotting.tflite give the same output for every input, so a
corrupting plan could not be seen there). A plan that puts every tensor at offset 0 must change
the output: that shows TFLM really uses the offline plan.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnmem.api import plan
from cnnmem.cli import main
from cnnmem.frontend.tflite_offline import read_offline_plan, write_offline_plan
from conftest import models_dir

runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
pytest.importorskip("ai_edge_litert.schema_py_generated")

SENSITIVE = ["image_classification", "anomaly_detection", "tflite_micro_speech",
             "visual_wake_words"]


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    interp = runtime.Interpreter.from_file(str(path), arena_size=8 << 20)
    interp.set_input(x, 0)
    interp.invoke()
    return np.asarray(interp.get_output(0))


def _input(path: Path, seed: int = 0) -> np.ndarray:
    d = runtime.Interpreter.from_file(str(path), arena_size=8 << 20).get_input_details(0)
    rng = np.random.default_rng(seed)
    if d["dtype"] == np.float32:
        return rng.normal(size=d["shape"]).astype(np.float32)
    return rng.integers(-128, 128, size=d["shape"]).astype(d["dtype"])


@pytest.mark.parametrize("name", SENSITIVE)
def test_overlap_plans_run_in_tflite_micro(name: str, tmp_path: Path) -> None:
    src = models_dir() / "tflite" / f"{name}.tflite"
    x = _input(src)
    reference = _run(src, x)
    greedy = plan(str(src), planner="greedy", alignment=16, fuse=False, dataflow="none")
    overlap = plan(str(src), planner="overlap", alignment=16, fuse=False,
                   dataflow="hwc-element")
    assert overlap.arena_bytes <= greedy.arena_bytes
    for result in (greedy, overlap):
        out = tmp_path / f"{result.planner}.tflite"
        offsets = {t: b.offset for b in result.buffers for t in b.tensors}
        write_offline_plan(src, out, offsets)
        assert read_offline_plan(out) == offsets
        np.testing.assert_array_equal(_run(out, x), reference)
    broken = tmp_path / "broken.tflite"
    write_offline_plan(src, broken, {t: 0 for b in overlap.buffers for t in b.tensors})
    assert not np.array_equal(_run(broken, x), reference)


def test_overlap_saves_memory_against_tflm_on_resnet8() -> None:
    src = models_dir() / "tflite" / "image_classification.tflite"
    overlap = plan(str(src), planner="overlap", alignment=16, fuse=False,
                   dataflow="hwc-element")
    assert overlap.arena_bytes < 49_152 * 0.7  # TFLM's own arena head: 49,152 B


def test_cli_writes_tflm_plan_and_refuses_row_dataflow(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    src = str(models_dir() / "tflite" / "image_classification.tflite")
    out = tmp_path / "planned.tflite"
    assert main(["plan", src, "--dataflow", "hwc-element", "--align", "16", "--no-chart",
                 "--tflm-plan", str(out)]) == 0
    assert read_offline_plan(out)
    capsys.readouterr()
    code = main(["plan", src, "--dataflow", "hwc-row", "--tflm-plan", str(tmp_path / "x.tflite")])
    err = capsys.readouterr().err
    assert code == 2 and "hwc-element" in err and err.count("\n") == 1
