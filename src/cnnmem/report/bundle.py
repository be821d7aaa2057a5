"""Write a report folder: JSON, CSV, one image per figure, the rewritten ONNX and
``report.html`` (self-contained: the figures are embedded, no script, style or font comes from
the network).

Files (every one also linked from the page):

- ``report.json`` (schema ``cnnmem.report/1``): the summary of section 1 (budget, arenas,
  bounds, restructured peak, DRAM traffic and bandwidth at the target fps, accounting);
- ``profile.json`` / ``profile.csv`` (``cnnmem profile``), ``plan.json`` (every plan,
  ``cnnmem.plan-comparison/1``) / ``plans.csv`` / ``plan_layers.csv`` (per-step footprints),
  ``plan_chart_<planner>.txt`` (ASCII chart), ``restructure.json`` / ``restructure_live.csv``,
  ``rewritten.onnx``, ``explore.json`` / ``pareto.csv`` / ``schedule.csv``,
  ``requirements.json``;
- the figures as PNG (see :data:`FIGURES`).

The numbers are computed by the API (:func:`cnnmem.api.report`); this module only lays them
out, reusing each command's own JSON form and figure functions.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnmem.report.tables import dumps_json, profile_csv, write_text

if TYPE_CHECKING:
    from cnnmem.api import ReportData

REPORT_SCHEMA = "cnnmem.report/1"


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of the report.

    Attributes:
        section: id of the HTML section showing it.
        file: file name in the output folder.
        caption: what it shows, with its accounting.
    """

    section: str
    file: str
    caption: str


class _Folder:
    """The output folder; remembers every file written into it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: list[str] = []

    def path(self, name: str) -> Path:
        """The path of ``name`` in the folder, recorded as written."""
        if name not in self.written:
            self.written.append(name)
        return self.root / name

    def text(self, name: str, content: str) -> Path:
        """Write a text file."""
        return write_text(self.path(name), content)


def rows_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text with a header line (``\\n`` line ends)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def activation_budget(hw: Any) -> int:
    """On-chip bytes available to activations: the activation buffer of separate buffers,
    else the shared buffer (which also holds the weights in use; the schedules of section 5
    count them)."""
    if hw.activation_buffer_bytes is not None:
        return int(hw.activation_buffer_bytes)
    return int(hw.shared_buffer_bytes)


def summary(data: ReportData) -> dict[str, Any]:
    """Section 1 as data (schema ``cnnmem.report/1``): does the network fit, under which
    accounting, and what does the best schedule cost in DRAM bandwidth."""
    hw = data.hw
    budget = activation_budget(hw)
    acct = data.profile.accounting
    plans = {r.planner: {"arena_bytes": r.arena_bytes, "lower_bound_bytes": r.lower_bound_bytes,
                         "fits": r.arena_bytes <= budget, "optimal": r.plan.optimal,
                         "verified": r.verified, "verification": r.verification}
             for r in data.plans}
    # ties go to the simpler planner (the plans come in REPORT_PLANNERS order)
    best_planner = min(data.plans, key=lambda r: r.arena_bytes).planner
    lower = min(r.lower_bound_bytes for r in data.plans)
    out: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "model": data.model,
        "command": data.command,
        "quick": data.quick,
        "fps": data.fps,
        "hw": hw.describe(),
        "budget_source": data.budget_source,
        "activation_budget_bytes": budget,
        "accounting": {"dtype": data.dtype, "fused": acct.fused,
                       "graph_io_counted": acct.include_io, "alignment_bytes": acct.alignment,
                       "description": acct.describe(),
                       "macs": "multiply-accumulates of Conv, ConvTranspose, Gemm, MatMul"},
        "peak_live_bytes": data.profile.totals.peak_live_activation_bytes,
        "peak_layer": data.profile.totals.peak_layer,
        "plans": plans,
        "best_planner": best_planner,
        "lower_bound_bytes": lower,
        "restructured_peak_bytes": None,
        "restructured_fits": None,
        "dram_bytes_per_frame": None,
        "schedule_buffer_bytes": None,
        "bandwidth_at_fps_bytes_per_s": None,
        "dram_bandwidth_bytes_per_s": hw.dram_bandwidth_bytes_per_s,
        "bandwidth_ok": None,
        "max_fps": None,
    }
    if data.restructured is not None:
        r = data.restructured.result
        peaks = [p for p in (r.peak_after_bytes, r.overlap_after_bytes) if p is not None]
        out["restructured_peak_bytes"] = min(peaks)
        out["restructured_fits"] = min(peaks) <= budget
    if data.explored is not None:
        from cnnmem.dse.cost import estimate_latency

        best = data.explored.best
        need = best.dram_bytes * data.fps
        lat = estimate_latency(best.dram_bytes, best.macs, hw)
        out.update(dram_bytes_per_frame=best.dram_bytes, schedule_buffer_bytes=best.buffer_bytes,
                   bandwidth_at_fps_bytes_per_s=need,
                   bandwidth_ok=need <= hw.dram_bandwidth_bytes_per_s,
                   max_fps=1 / lat.bound_s if lat.bound_s else None)
    out["verdict"] = _verdict(out)
    return out


def _verdict(s: dict[str, Any]) -> str:
    from cnnmem.report.tables import human_bytes

    budget = human_bytes(s["activation_budget_bytes"])
    best = s["plans"][s["best_planner"]]
    if best["fits"]:
        return (f"fits: every activation stays on chip with the {s['best_planner']} plan "
                f"({human_bytes(best['arena_bytes'])} of {budget})")
    if s["restructured_fits"]:
        return (f"fits after restructuring: peak {human_bytes(s['restructured_peak_bytes'])} "
                f"of {budget} (layer by layer it needs {human_bytes(best['arena_bytes'])})")
    if s["dram_bytes_per_frame"] is not None:
        return (f"does not fit on chip as a whole (needs {human_bytes(best['arena_bytes'])}, "
                f"budget {budget}): a fused, tiled schedule runs in "
                f"{human_bytes(s['schedule_buffer_bytes'])} of buffer moving "
                f"{human_bytes(s['dram_bytes_per_frame'])} of DRAM traffic per frame")
    return (f"does not fit: needs {human_bytes(best['arena_bytes'])} "
            f"(budget {budget}) and no fused schedule fits the buffer")


def _plan_files(data: ReportData, out: _Folder) -> list[Figure]:
    from cnnmem.report.plan_outputs import ascii_chart
    from cnnmem.report.plots import plan_chart
    from cnnmem.report.report_plots import plan_footprints

    acct = data.profile.accounting.describe()
    out.text("plan.json", dumps_json({"schema": "cnnmem.plan-comparison/1",
                                              "plans": [r.as_dict() for r in data.plans]}))
    out.text("plans.csv", rows_csv(
        ("planner", "dataflow", "arena_bytes", "lower_bound_bytes", "fragmentation_bytes",
         "optimal", "verified", "peak_layer"),
        [(r.planner, r.dataflow.value if r.dataflow else "", r.arena_bytes,
          r.lower_bound_bytes, r.fragmentation_bytes,
          "" if r.plan.optimal is None else r.plan.optimal,
          "" if r.verified is None else r.verified,
          r.peak_layer.layer if r.peak_layer else "") for r in data.plans]))
    out.text("plan_layers.csv", rows_csv(
        ("step", "layer", "op", "live_bytes",
         *(f"{r.planner}_{k}" for r in data.plans for k in ("required_bytes", "extent_bytes"))),
        [(row.step, row.layer, row.op, row.live_bytes,
          *(v for r in data.plans for v in (r.layers[row.step].required_bytes,
                                            r.layers[row.step].extent_bytes)))
         for row in data.plans[0].layers]))
    figures = [Figure("placement", "plan_footprints.png",
                      "Per-layer footprint of each plan: the address range it spans at every "
                      "step, against the bytes live (disjoint) and the bytes that must "
                      f"coexist when outputs overlap dying inputs. {acct}.")]
    plan_footprints(data.plans, title=f"{data.model}: per-layer footprints", accounting=acct,
                    path=out.path("plan_footprints.png"))
    for r in data.plans:
        out.text(f"plan_chart_{r.planner}.txt", ascii_chart(r) + "\n")
        plan_chart(r, out.path(f"plan_chart_{r.planner}.png"))
        figures.append(Figure("placement", f"plan_chart_{r.planner}.png",
                              f"{r.planner}: time x address chart (each rectangle a buffer: "
                              f"schedule steps x arena bytes). {acct}."))
    return figures


def _profile_files(data: ReportData, out: _Folder, budget: int) -> list[Figure]:
    from cnnmem.report.report_plots import (
        RESTRUCTURED_COLOR,
        arena_summary,
        layer_bars,
        live_memory,
    )

    p = data.profile
    acct = p.accounting.describe()
    out.text("profile.json", dumps_json(p.as_dict()))
    out.text("profile.csv", profile_csv(p))
    from cnnmem.report.plots import PLANNER_COLORS

    bars = [(r.planner, r.arena_bytes, PLANNER_COLORS.get(r.planner, "gray"))
            for r in data.plans]
    if data.restructured is not None:
        rr = data.restructured.result
        bars.append((f"restructured ({rr.planner})", rr.peak_after_bytes,
                     RESTRUCTURED_COLOR))
        if rr.overlap_after_bytes is not None:
            bars.append(("restructured (overlap)", rr.overlap_after_bytes,
                         RESTRUCTURED_COLOR))
    arena_summary(bars, budget_bytes=budget,
                  lower_bound_bytes=min(r.lower_bound_bytes for r in data.plans),
                  title=f"{data.model}: activation arena per planner vs on-chip budget",
                  accounting=acct, path=out.path("summary_arenas.png"))
    t = p.totals
    layer_bars([r.name for r in p.layers], [r.output_bytes for r in p.layers],
               [r.weight_bytes for r in p.layers], [r.live_bytes for r in p.layers],
               t.peak_step, title=f"{data.model}: memory per layer", accounting=acct,
               path=out.path("layer_memory.png"))
    live_memory([r.live_bytes for r in p.layers], t.peak_step, t.peak_layer,
                {r.planner: r.arena_bytes for r in data.plans}, budget_bytes=budget,
                title=f"{data.model}: live activations over the layer-by-layer schedule",
                accounting=acct, path=out.path("live_memory.png"))
    return [
        Figure("summary", "summary_arenas.png",
               f"Activation arena each planner needs (and the best restructured peak) against "
               f"the on-chip budget and the lower bound. {acct}."),
        Figure("memory", "layer_memory.png",
               f"Per layer: live activation bytes while it runs (bar; the peak layer red), its "
               f"output activation and its weights. {acct}."),
        Figure("memory", "live_memory.png",
               "Live activation bytes at every step of the layer-by-layer schedule, the peak "
               f"marked, with each planner's arena and the budget. {acct}."),
    ]


def _restructure_files(data: ReportData, out: _Folder) -> tuple[list[Figure], str | None]:
    """Figures and the rewritten ONNX file name (``None``: not written)."""
    from cnnmem.report.plots import live_curves
    from cnnmem.report.report_plots import wrap_title

    rs = data.restructured
    if rs is None:
        return [], None
    out.text("restructure.json", dumps_json(rs.as_dict()))
    n = max(len(rs.live_before), len(rs.live_after))
    out.text("restructure_live.csv", rows_csv(
        ("step", "live_bytes_before", "live_bytes_after"),
        [(i, rs.live_before[i] if i < len(rs.live_before) else "",
          rs.live_after[i] if i < len(rs.live_after) else "") for i in range(n)]))
    acct = rs.result.as_dict()["accounting"]
    live_curves(rs.live_before, rs.live_after,
                wrap_title(f"{data.model}: live activations before/after restructuring", acct,
                           95),
                out.path("restructure_live.png"))
    figures = [Figure("restructuring", "restructure_live.png",
                      "Live activation bytes per schedule step before and after the rewrite "
                      f"(the rewritten graph has more steps: one per tile and layer). {acct}.")]
    onnx_name = None
    if rs.result.segments and rs.rewritten.metadata.get("source_format") != "tflite":
        from cnnmem.frontend.onnx_export import save_onnx

        save_onnx(rs.rewritten, out.path("rewritten.onnx"), random_weights=True, seed=data.seed)
        onnx_name = "rewritten.onnx"
    return figures, onnx_name


def _explore_files(data: ReportData, out: _Folder) -> list[Figure]:
    from cnnmem.report.plots import pareto_front

    ex = data.explored
    if ex is None:
        return []
    d = ex.as_dict()
    out.text("explore.json", dumps_json(d))
    out.text("pareto.csv", rows_csv(
        ("buffer_bytes", "dram_bytes", "macs"),
        [(p["buffer_bytes"], p["dram_bytes"], p["macs"]) for p in d["pareto"]]))
    keys = ("first_layer", "last_layer", "layers", "schedule", "tile_rows", "tile_cols",
            "tile_channels", "tile_in_channels", "loop_order", "halo", "weights_resident",
            "buffer_bytes", "dram_read_bytes", "dram_write_bytes", "dram_weight_read_bytes",
            "macs")
    out.text("schedule.csv", rows_csv(
        keys, [["" if g[k] is None else g[k] for k in keys] for g in d["best"]["groups"]]))
    hw = ex.hw
    elements = (f"elements: act {hw.act_bytes_per_element} B, weight "
                f"{hw.weight_bytes_per_element} B, psum {hw.psum_bytes_per_element} B")
    pareto_front([(p.buffer_bytes, p.dram_bytes) for p in ex.result.front],
                 {"compulsory": ex.result.compulsory.dram_bytes,
                  "layer-by-layer": ex.baseline.dram_bytes},
                 f"{data.model}: on-chip buffer vs DRAM traffic per frame\n{elements}; "
                 "fused graph", out.path("pareto.png"), budget_bytes=hw.total_buffer_bytes,
                 chosen=(ex.best.buffer_bytes, ex.best.dram_bytes))
    return [Figure("scheduling", "pareto.png",
                   "Pareto front of fused, tiled schedules: on-chip buffer (weights, activations"
                   " and partial sums) vs DRAM bytes per frame, log-log, with the compulsory "
                   f"traffic and the layer-by-layer baseline; {elements}.")]


def _requirements_files(data: ReportData, out: _Folder) -> list[Figure]:
    from cnnmem.report.requirements_plots import tradeoff_curve

    if data.requirements is None:
        return []
    out.text("requirements.json", data.requirements.to_json())
    d = data.requirements.as_dict()
    keys = ("buffer_bytes", "dram_bytes", "dram_read_bytes", "dram_write_bytes",
            "bandwidth_bytes_per_s", "macs", "fps_at_hw", "bound")
    out.text("requirements_scenarios.csv", rows_csv(
        ("scenario", "title", *keys),
        [(name, sc["title"], *("" if sc[k] is None else sc[k] for k in keys))
         for name, sc in sorted(d["scenarios"].items())]))
    tradeoff_curve(data.requirements.report, out.path("requirements_tradeoff.png"))
    return [Figure("requirements", "requirements_tradeoff.png",
                   "Left: DRAM bandwidth needed at the target fps vs on-chip buffer (fused and "
                   "layer-by-layer Pareto fronts, scenario minima as markers); right: frame "
                   f"rate at the hardware's bandwidth. {d['accounting']}.")]


def write_report(data: ReportData, output_dir: str | Path) -> tuple[Path, tuple[Path, ...]]:
    """Write every file of the report into ``output_dir`` (created if needed).

    Returns:
        ``report.html`` and every file written, sorted by name.
    """
    from cnnmem.report.html import render_html

    root = Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    out = _Folder(root)
    s = summary(data)
    out.text("report.json", dumps_json(s))
    figures = _profile_files(data, out, s["activation_budget_bytes"])
    figures += _plan_files(data, out)
    restructure_figures, onnx_name = _restructure_files(data, out)
    figures += restructure_figures
    figures += _explore_files(data, out)
    figures += _requirements_files(data, out)
    written = sorted(out.written)
    images = {f.file: (root / f.file).read_bytes() for f in figures}
    html = write_text(root / "report.html",
                      render_html(data, s, figures, images, written, onnx_name))
    return html, tuple(sorted([html, *(root / name for name in written)]))
