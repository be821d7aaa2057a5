"""Unit tests of the HTML builder (escaping, tables, figures) and of the page produced by
``cnnmem report``: every section present, self-contained, deterministic, escaped."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from cnnmem.api import report
from cnnmem.frontend.onnx_export import save_onnx
from cnnmem.ir.builder import GraphBuilder
from cnnmem.report.bundle import Figure, rows_csv, write_report
from cnnmem.report.html import SECTIONS, Cell, esc, figure, table
from cnnmem.report.plots import PLANNER_COLORS

EVIL = '<script>alert("x")</script>&<img src=x onerror=alert(1)>'


def test_esc_escapes_markup_and_quotes() -> None:
    assert esc(EVIL) == ("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"
                         "&lt;img src=x onerror=alert(1)&gt;")
    assert esc("it's") == "it&#x27;s"


def test_table_escapes_cells_and_marks_numbers_for_sorting() -> None:
    html = table(("name", "bytes"), [[Cell(EVIL), Cell.size(2048)], ["b", Cell.num(7)]],
                 sortable=True, row_classes=["peak", ""], table_id="t")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.startswith('<table id="t" class="sortable">')
    assert '<td class="num" data-v="2048.0">2.00 KiB</td>' in html
    assert '<td class="num" data-v="7.0">7</td>' in html
    assert '<tr class="peak">' in html
    assert '<th class="num">bytes</th>' in html and "<th>name</th>" in html


def test_planner_cells_carry_the_planner_colour() -> None:
    html = table(("planner",), [[Cell("overlap", planner="overlap")]])
    assert (f'<td><span class="sw" style="background:{PLANNER_COLORS["overlap"]}"></span>'
            "overlap</td>") in html


def test_cell_size_of_missing_value() -> None:
    assert Cell.size(None) == Cell("-", None, "num")


def test_figure_is_embedded_as_data_url_with_escaped_caption() -> None:
    html = figure(Figure("memory", "a.png", f"caption {EVIL}"), b"\x89PNG")
    assert 'src="data:image/png;base64,iVBORw==' in html
    assert '<a href="a.png">a.png</a>' in html
    assert "<script>" not in html


def test_rows_csv() -> None:
    assert rows_csv(("a", "b"), [(1, "x,y")]) == 'a,b\n1,"x,y"\n'


def test_report_page_has_every_section_and_figure(blazeface_report: tuple[Path, int]) -> None:
    out, code = blazeface_report
    assert code == 0
    page = (out / "report.html").read_text()
    for sid, title in SECTIONS:
        assert f'<section id="{sid}"><h2>{esc(title)}</h2>' in page
    # every figure of the folder is embedded once and linked
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) >= 10
    assert page.count('<img src="data:image/png;base64,') == len(pngs)
    for name in pngs:
        assert f'<a href="{name}">{name}</a>' in page
    assert '<table id="layers" class="sortable">' in page
    assert '<a href="rewritten.onnx">rewritten.onnx</a>' in page
    assert "FLOPs" not in page.replace("(not FLOPs)", "")


def test_report_page_is_self_contained(blazeface_report: tuple[Path, int]) -> None:
    page = (blazeface_report[0] / "report.html").read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", page, re.I)
    assert not re.search(r"url\(\s*[\"']?\s*(https?:)?//", page, re.I)
    assert "@import" not in page and "<link rel=\"stylesheet\"" not in page
    # the only <link> is the empty data: icon (so no favicon.ico request)
    assert re.findall(r"<link[^>]*>", page) == ['<link rel="icon" href="data:,">']


def test_report_summary_json(blazeface_report: tuple[Path, int]) -> None:
    out = blazeface_report[0]
    s = json.loads((out / "report.json").read_text())
    assert s["schema"] == "cnnmem.report/1"
    assert s["quick"] is True
    assert set(s["plans"]) == {"naive", "pingpong", "greedy", "overlap"}
    assert s["lower_bound_bytes"] <= min(p["arena_bytes"] for p in s["plans"].values())
    assert s["plans"]["overlap"]["arena_bytes"] <= s["plans"]["pingpong"]["arena_bytes"]
    assert s["accounting"]["dtype"] == "int8"
    assert s["activation_budget_bytes"] == 1 << 20
    assert s["bandwidth_at_fps_bytes_per_s"] == pytest.approx(
        s["dram_bytes_per_frame"] * s["fps"])
    profile = json.loads((out / "profile.json").read_text())
    assert s["peak_live_bytes"] == profile["totals"]["peak_live_activation_bytes"]


def _evil_model(tmp_path: Path) -> Path:
    b = GraphBuilder("evil", weights=True, seed=0)
    x = b.input("x", (1, 3, 16, 16))
    with b.scope(EVIL):
        y = b.relu(b.conv(x, 8, 3, padding=1))
    b.output(b.conv(y, 4, 3, padding=1))
    return save_onnx(b.build(), tmp_path / "evil<b>.onnx")


def test_names_from_the_model_are_escaped_and_output_is_deterministic(tmp_path: Path) -> None:
    model = _evil_model(tmp_path)
    first = report(str(model), tmp_path / "a", quick=True, buffer="1KiB")
    second = report(str(model), tmp_path / "b", quick=True, buffer="1KiB")
    page = first.html.read_text()
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>" not in page
    assert "&lt;script&gt;alert" in page
    assert page == second.html.read_text()
    for name in ("report.json", "profile.json", "plan.json", "profile.csv", "plans.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # 1 KiB cannot hold a 16x16x8 int8 activation (2 KiB): the summary says so
    s = json.loads((tmp_path / "a" / "report.json").read_text())
    assert s["plans"]["overlap"]["fits"] is False
    assert "does not fit" in s["verdict"]
    # a section whose analysis is missing says so instead of showing numbers
    data = replace(first.data, requirements=None, requirements_note="not computed <here>")
    html, files = write_report(data, tmp_path / "c")
    page = html.read_text()
    assert ('<p class="unavailable">Requirements are unavailable: not computed &lt;here&gt;.'
            in page)
    assert not (tmp_path / "c" / "requirements.json").exists()
    assert all(f.parent == tmp_path / "c" for f in files)
