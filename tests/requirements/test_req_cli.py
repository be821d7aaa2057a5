"""``cnnmem requirements`` from the command line and through the API: JSON, CSV, plots, the
suite, bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

import cnnmem.api as cm
import cnnmem.requirements
from cnnmem.cli import main
from cnnmem.requirements import SuiteNetwork

SMALL = ["dncnn", "--resolution", "48x64", "--quick"]


def test_json_schema_and_content(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["requirements", *SMALL, "--fps", "60", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "cnnmem.requirements/1"
    assert data["model"] == "dncnn" and data["fps"] == 60.0
    assert data["hw"]["act_bytes_per_element"] == 2  # int16 default
    assert set(data["scenarios"]) == {"S1", "S2", "S3", "S4", "S5", "S6"}
    s1 = data["scenarios"]["S1"]
    assert s1["bandwidth_bytes_per_s"] == s1["dram_bytes"] * 60
    assert len(data["layers"]) == data["totals"]["layers"] == 18
    layer = data["layers"][1]
    for key in ("weight_bytes", "input_bytes", "output_bytes", "macs", "scenarios", "design"):
        assert key in layer
    assert layer["design"]["rationale"]
    # compute-paced bandwidth: the layer's traffic in its MAC share of the frame time
    p1 = layer["scenarios"]["S1"]
    share = layer["macs"] / data["totals"]["macs"]
    assert p1["paced_bandwidth_bytes_per_s"] == pytest.approx(p1["dram_bytes"] * 60 / share)
    assert data["layers"][-1]["scenarios"]["S1"]["paced_bandwidth_bytes_per_s"] is None  # Sub
    fused = data["tradeoff"]["fused"]
    assert [p["buffer_bytes"] for p in fused] == sorted(p["buffer_bytes"] for p in fused)
    assert data["max_group_layers"] == 2
    assert "MACs = multiply-accumulates" in data["accounting"]


def test_table_csv_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "layers.csv"
    code = main(["requirements", *SMALL, "--dtype", "int8", "--buffer", "64KiB",
                 "--bandwidth", "25.6GB/s", "--csv", str(csv_path), "-o", str(tmp_path / "o")])
    assert code == 0
    out = capsys.readouterr().out
    for text in ("minimum on-chip memory per scenario", "design points for a 64.00 KiB",
                 "on-chip size vs DRAM bandwidth", "accounting: elements: activations 1 B"):
        assert text in out
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert len(rows) == 18 and rows[0]["name"] == "dncnn.0"
    assert int(rows[1]["S2_dram_bytes"]) == int(rows[1]["S1_dram_bytes"])
    for name in ("requirements.json", "requirements.csv", "requirements_layers.png",
                 "requirements_tradeoff.png"):
        assert (tmp_path / "o" / name).stat().st_size > 0
    data = json.loads((tmp_path / "o" / "requirements.json").read_text())
    assert data["hw"]["dram_bandwidth_bytes_per_s"] == 25.6e9
    assert data["design"]["budget_bytes"] == 64 * 1024


def test_hw_file_sets_elements_and_budget(capsys: pytest.CaptureFixture[str]) -> None:
    hw = Path(__file__).resolve().parents[2] / "examples" / "hw" / "npu_split_buffers.yaml"
    assert main(["requirements", *SMALL, "--hw", str(hw), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hw"]["act_bytes_per_element"] == 2
    assert data["hw"]["weight_bytes_per_element"] == 1
    assert data["design"]["budget_bytes"] == 1 << 20


def test_suite_json_csv_and_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # the wiring of --suite on a two-network suite (the real one takes ~40 s: see
    # test_req_golden.py for its numbers and bench/requirements.py for its table)
    small = (SuiteNetwork("dncnn", (32, 48)), SuiteNetwork("tiny_yolov2", (64, 64)))
    monkeypatch.setattr(cnnmem.requirements, "SUITE", small)
    assert main(["requirements", "--suite", "--quick", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "memory requirements across domains" in out and "suite time" in out
    data = json.loads((tmp_path / "requirements_suite.json").read_text())
    assert data["schema"] == "cnnmem.requirements/1" and data["suite"] is True
    assert [(n["model"], n["domain"]) for n in data["networks"]] == \
        [("dncnn", "denoising"), ("tiny_yolov2", "detection")]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "requirements_suite.csv").read_text())))
    assert [r["network"] for r in rows] == ["dncnn", "tiny_yolov2"]
    assert (tmp_path / "requirements_domains.png").stat().st_size > 0
    assert main(["requirements", "--suite", "--quick", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["networks"]) == 2


def test_api_outcome_round_trips() -> None:
    out = cm.requirements("blazeface", resolution=(64, 64), quick=True, fps=15.0)
    data = json.loads(out.to_json())
    assert data == json.loads(json.dumps(out.as_dict()))
    assert data["fps"] == 15.0
    assert data["model"] == "blazeface"


@pytest.mark.parametrize(("argv", "message"), [
    (["requirements"], "give a MODEL"),
    (["requirements", "dncnn", "--suite"], "--suite runs the built-in networks"),
    (["requirements", "--suite", "--resolution", "64"], "--suite runs the built-in networks"),
    (["requirements", "dncnn", "--dtype", "int7"], "unknown dtype"),
    (["requirements", "dncnn", "--buffer", "lots"], "--buffer"),
    (["requirements", "dncnn", "--bandwidth", "fast"], "--bandwidth"),
    (["requirements", "dncnn", "--hw", "/nonexistent/hw.yaml"], "cannot read hardware file"),
    (["requirements", "dncnn", "--max-group-layers", "0"], "--max-group-layers"),
    (["requirements", "no_such_net"], "no_such_net"),
    (["requirements", "vgg16", "--resolution", "100"], "resolution"),
])
def test_bad_input_is_one_line(argv: list[str], message: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cnnmem: error:") and message in err
    assert len(err.splitlines()) == 1


def test_bad_fps_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["requirements", "dncnn", "--fps", "0"])
    assert "positive" in capsys.readouterr().err
    with pytest.raises(Exception, match="--fps"):
        cm.requirements("dncnn", resolution=(32, 32), fps=-1.0)
