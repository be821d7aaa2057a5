"""``cnnmem restructure`` and ``cnnmem explore`` from the command line."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import onnx
import pytest

from cnnmem.cli import main


def test_restructure_writes_equivalent_onnx_and_json(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sq.onnx"
    code = main(["restructure", "squeezenet1_1", "--resolution", "96", "--dtype", "int8",
                 "-o", str(out), "--plots", str(tmp_path), "--json", str(tmp_path / "r.json")])
    assert code == 0
    data = json.loads((tmp_path / "r.json").read_text())
    for key in ("peak_before_bytes", "peak_after_bytes", "macs_before", "macs_after",
                "equivalent", "segments"):
        assert key in data
    assert data["equivalent"] is True
    assert data["peak_after_bytes"] < data["peak_before_bytes"]
    assert data["macs_after"] <= data["macs_before"] * 1.1
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    assert (tmp_path / "restructure_live.png").stat().st_size > 0
    assert "equivalent" in capsys.readouterr().out


def test_explore_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explore", "dncnn", "--resolution", "64", "--buffer", "64KiB", "--json",
                 "-o", str(tmp_path)])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ("baseline", "pareto", "best", "compulsory_dram_bytes"):
        assert key in data
    assert data["best"]["buffer_bytes"] <= 64 * 1024
    assert data["compulsory_dram_bytes"] <= data["best"]["dram_bytes"] <= \
        data["baseline"]["dram_bytes"]
    fronts = data["pareto"]
    assert all(a["buffer_bytes"] < b["buffer_bytes"] and a["dram_bytes"] > b["dram_bytes"]
               for a, b in itertools.pairwise(fronts))
    assert (tmp_path / "pareto.png").stat().st_size > 0


@pytest.mark.parametrize("args,message", [
    (["explore", "dncnn"], "one of the arguments --hw --buffer is required"),
    (["explore", "dncnn", "--buffer", "12 parsecs"], "--buffer"),
    (["restructure", "dncnn", "--max-overhead", "0.1", "--budget", "1MiB"], "at most one"),
])
def test_bad_options(args: list[str], message: str,
                     capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(args)
    except SystemExit as e:
        code = int(e.code or 0)
    assert code == 2 and message in capsys.readouterr().err


def test_restructure_tflite_int8_is_checked_bit_exact(capsys: pytest.CaptureFixture[str]) -> None:
    from cnnmem.api import restructure
    from conftest import models_dir

    out = restructure(str(models_dir() / "tflite" / "image_classification.tflite"))
    assert out.result.segments and out.result.peak_after_bytes < out.result.peak_before_bytes
    assert out.result.equivalent is True


def test_restructure_reports_the_layer_order(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A breadth-first ONNX file: the default search reorders it (JSON ``reordering``, the
    'layer order' line); ``--no-reorder`` keeps the file's order."""
    from cnnmem.frontend.onnx_export import save_onnx
    from cnnmem.ir import GraphBuilder

    b = GraphBuilder("two_branches", weights=True, seed=3)
    x = b.input("x", (1, 4, 32, 32))
    a1 = b.conv(x, 32, 3, padding=1, name="a1")
    c1 = b.conv(x, 32, 3, padding=1, name="b1")
    b.output(b.add(b.conv(a1, 4, 3, padding=1, name="a2"),
                   b.conv(c1, 4, 3, padding=1, name="b2"), name="sum"))
    path = tmp_path / "bfs.onnx"
    save_onnx(b.build(), str(path), random_weights=True, seed=1)
    assert main(["restructure", str(path), "--dtype", "int8", "--no-prove"]) == 0
    assert "reordered (least liveness peak" in capsys.readouterr().out
    assert main(["restructure", str(path), "--dtype", "int8", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["reordering"]["applied"] is True
    assert data["reordering"]["schedule"] == ["a1", "a2", "b1", "b2", "sum"]
    assert data["equivalent"] is True and data["plan_proven"] is True
    assert main(["restructure", str(path), "--dtype", "int8", "--json", "--no-reorder"]) == 0
    assert json.loads(capsys.readouterr().out)["reordering"] is None


def test_restructure_with_nothing_to_rewrite_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import models_dir

    path = models_dir() / "tflite" / "keyword_spotting.tflite"
    if not path.exists():
        pytest.skip("../shared/models is absent")
    assert main(["restructure", str(path), "--no-prove"]) == 0
    out = capsys.readouterr().out
    assert "nothing rewritten" in out and "rewrites: none (none of the" in out
