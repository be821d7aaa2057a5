"""The command line: outputs, exit codes and one-line errors (no tracebacks without --debug)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from cnnmem.cli import main
from cnnmem.errors import ModelImportError
from conftest import models_dir


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_profile_json_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(models_dir() / "onnx" / "mobilenet_v2.onnx")
    code, out, err = run(["profile", path, "--dtype", "int8", "--json"], capsys)
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["totals"]["peak_live_activation_bytes"] == 1_505_280
    assert data["totals"]["macs"] == 300_774_272
    assert data["accounting"]["dtype"] == "int8"
    # deterministic: same input, same bytes out
    _code2, out2, _ = run(["profile", path, "--dtype", "int8", "--json"], capsys)
    assert out2 == out


def test_profile_table_csv_and_json_files(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = str(models_dir() / "onnx" / "resnet18.onnx")
    csv_path, json_path = tmp_path / "layers.csv", tmp_path / "p.json"
    code, out, _ = run(["profile", path, "--csv", str(csv_path), "--json", str(json_path)],
                       capsys)
    assert code == 0
    assert "peak live activations" in out and "accounting" in out
    assert "unfused" not in out and "fused graph" in out
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    data = json.loads(json_path.read_text())
    assert len(rows) == len(data["layers"])
    assert sum(int(r["macs"]) for r in rows) == 1_814_073_344


def test_profile_no_fuse_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(models_dir() / "onnx" / "resnet18.onnx")
    code, out, _ = run(["profile", path, "--no-fuse", "--top", "3"], capsys)
    assert code == 0 and "unfused graph" in out


@pytest.mark.parametrize("args,message", [
    (["profile", "absent.onnx"], "absent.onnx: no such file"),
    (["profile", "no_such_network"], "unknown network 'no_such_network'"),
    (["profile", "resnet18", "--dtype", "int3"], "unknown dtype 'int3'"),
    (["profile", "resnet18", "--input-shape", "input=1x3x64x64"], "--input-shape applies to "
                                                                  "model files"),
    (["profile", "resnet18", "--top", "0"], "--top must be a positive"),
])
def test_bad_input_is_one_line_exit_2(args: list[str], message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("cnnmem: error: ") and message in err
    assert "Traceback" not in err


def test_bad_model_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 10)
    code, _, err = run(["profile", str(bad)], capsys)
    assert code == 2 and "broken.onnx" in err and err.count("\n") == 1
    folder = tmp_path / "folder.onnx"
    folder.mkdir()
    code, _, err = run(["profile", str(folder)], capsys)
    assert code == 2 and "is a directory" in err


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    with pytest.raises(ModelImportError):
        main(["--debug", "profile", str(tmp_path / "absent.onnx")])


def test_console_script_exit_code_and_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "cnnmem.cli", "profile",
                           str(tmp_path / "x.onnx")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["profile", "resnet18", "--resolution", "abc"])
    assert e.value.code == 2
    assert "bad resolution 'abc'" in capsys.readouterr().err


def test_export_graph_only_onnx_with_random_weights(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sq.onnx"
    code, text, _ = run(["export", str(models_dir() / "onnx" / "squeezenet1_1.onnx"),
                         str(out), "--fused"], capsys)
    assert code == 0 and "seeded random values" in text
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"input": np.zeros((1, 3, 224, 224), np.float32)})
    assert y.shape == (1, 1000)


def test_bad_tflite_file_is_one_line_exit_2(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"\x18\x00\x00\x00TFL3" + b"\xff" * 40)
    code, _, err = run(["profile", str(bad)], capsys)
    assert code == 2 and err.count("\n") == 1 and "broken.tflite" in err
    assert "Traceback" not in err


def test_profile_tflite_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "layers.csv"
    code, text, _ = run(["profile", str(models_dir() / "tflite" / "mbv2_224_int8.tflite"),
                         "--csv", str(out)], capsys)
    assert code == 0 and "int8" in text
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 64 and sum(int(r["macs"]) for r in rows) == 300_774_272
