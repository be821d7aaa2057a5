"""``cnnmem plan`` outputs: JSON schema, C header that compiles, charts, errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cnnmem.cli import main
from conftest import models_dir


def test_plan_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "dncnn", "--resolution", "32", "--dtype", "int8", "--json",
                 "--verify"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ("planner", "dataflow", "dtype", "arena_bytes", "lower_bound_bytes", "verified",
                "buffers"):
        assert key in data
    assert data["planner"] == "overlap" and data["dataflow"] == "hwc-row"
    assert data["dtype"] == "int8" and data["verified"] is True
    b = data["buffers"][0]
    assert set(b) == {"name", "tensors", "offset", "size", "first_step", "last_step"}
    assert data["arena_bytes"] == max(x["offset"] + x["size"] for x in data["buffers"])


def test_output_dir_and_header_compiles(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    src = str(models_dir() / "tflite" / "mbv2_224_int8.tflite")
    assert main(["plan", src, "--align", "16", "-o", str(tmp_path), "--no-chart"]) == 0
    for name in ("plan.json", "plan.h", "plan_chart.txt", "plan_chart.png"):
        assert (tmp_path / name).stat().st_size > 0
    data = json.loads((tmp_path / "plan.json").read_text())
    header = (tmp_path / "plan.h").read_text()
    macros = re.findall(r"#define (CNNMEM_OFFSET_\w+) (\d+)u", header)
    assert len(macros) == len(data["buffers"]) == len({m for m, _ in macros})
    assert all(len(m) <= 63 for m, _ in macros)
    assert [int(v) for _, v in macros] == [b["offset"] for b in data["buffers"]]
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    prog = tmp_path / "check.c"
    prog.write_text('#include <stdio.h>\n#include "plan.h"\nint main(void) {\n'
                    f'  printf("%u %u\\n", CNNMEM_ARENA_SIZE, {macros[-1][0]});\n'
                    "  return 0;\n}\n")
    exe = tmp_path / "check"
    subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-I", str(tmp_path), str(prog), "-o",
                    str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    assert [int(v) for v in out] == [data["arena_bytes"], int(macros[-1][1])]
    capsys.readouterr()


def test_plan_compare_all_planners(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "squeezenet1_1", "--resolution", "64", "--planner", "all",
                 "--verify", "--time-limit", "5"]) == 0
    out = capsys.readouterr().out
    for name in ("naive", "pingpong", "greedy", "overlap", "optimal"):
        assert name in out
    assert "False" not in out


@pytest.mark.parametrize("args,message", [
    (["plan", "dncnn", "--planner", "best"], "invalid choice"),
    (["plan", "dncnn", "--dataflow", "diagonal"], "invalid choice"),
    (["plan", "dncnn", "--align", "0"], "--align must be a positive"),
    (["plan", "dncnn", "--tflm-plan", "x.tflite"], "--tflm-plan needs a .tflite model"),
])
def test_plan_bad_options(args: list[str], message: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(args)
    except SystemExit as e:  # argparse choices
        code = int(e.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and message in err
