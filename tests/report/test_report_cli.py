"""``cnnmem report`` on the command line: the files it writes, options and errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cnnmem.cli import main
from cnnmem.frontend.onnx_export import save_onnx
from cnnmem.ir.builder import GraphBuilder

REPO_ROOT = Path(__file__).resolve().parents[2]

EXPECTED = ("report.html", "report.json", "profile.json", "profile.csv", "plan.json",
            "plans.csv", "plan_layers.csv", "restructure.json", "restructure_live.csv",
            "rewritten.onnx", "explore.json", "pareto.csv", "schedule.csv",
            "summary_arenas.png", "layer_memory.png", "live_memory.png", "plan_footprints.png",
            "restructure_live.png", "pareto.png",
            *(f"plan_chart_{p}.{ext}" for p in ("naive", "pingpong", "greedy", "overlap")
              for ext in ("png", "txt")))


def test_report_writes_every_file(blazeface_report: tuple[Path, int]) -> None:
    out, code = blazeface_report
    assert code == 0
    for name in EXPECTED:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    # --quick: no optimal plan
    assert not (out / "plan_chart_optimal.png").exists()
    plans = json.loads((out / "plan.json").read_text())
    assert plans["schema"] == "cnnmem.plan-comparison/1"
    assert [p["planner"] for p in plans["plans"]] == ["naive", "pingpong", "greedy", "overlap"]
    assert json.loads((out / "explore.json").read_text())["schema"] == "cnnmem.explore/1"
    assert json.loads((out / "restructure.json").read_text())["schema"] == \
        "cnnmem.restructure/1"
    with (out / "profile.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(json.loads((out / "profile.json").read_text())["layers"])


def test_report_bad_buffer_is_a_one_line_error(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "blazeface", "--buffer", "bad", "-o", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.startswith("cnnmem: error: --buffer")
    assert not (tmp_path / "x").exists()


def test_report_of_an_onnx_file_with_a_hardware_file(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    b = GraphBuilder("tiny", weights=True, seed=0)
    x = b.input("x", (1, 3, 32, 32))
    y = b.relu(b.conv(x, 16, 3, padding=1))
    b.output(b.conv(b.max_pool(y, 2), 8, 3, padding=1))
    model = save_onnx(b.build(), tmp_path / "tiny.onnx")
    out = tmp_path / "out"
    hw = REPO_ROOT / "examples" / "hw" / "edge_npu_1mib.yaml"
    assert main(["report", str(model), "--hw", str(hw), "--dtype", "int8", "--fps", "60",
                 "--quick", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tiny.onnx: fits" in printed and "report.html" in printed
    s = json.loads((out / "report.json").read_text())
    assert s["budget_source"] == "--hw edge_npu_1mib.yaml"
    assert s["fps"] == 60.0
    assert s["command"] == ("cnnmem report " + str(model) + " --hw edge_npu_1mib.yaml "
                            "--dtype int8 --fps 60 --quick")
    page = (out / "report.html").read_text()
    assert "edge-npu-1mib" in page


def test_report_rejects_no_fuse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "blazeface", "--no-fuse", "-o", str(tmp_path)]) == 2
    assert "fused graph" in capsys.readouterr().err


def test_report_needs_an_output_dir() -> None:
    with pytest.raises(SystemExit) as e:
        main(["report", "blazeface"])
    assert e.value.code == 2


def test_report_hw_and_buffer_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        main(["report", "blazeface", "--hw", "x.yaml", "--buffer", "1MiB", "-o", str(tmp_path)])
    assert e.value.code == 2
