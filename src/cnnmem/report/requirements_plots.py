"""Figures of ``cnnmem requirements``: per-layer sizes, the trade-off curve, the domain suite.

matplotlib is imported lazily through :mod:`cnnmem.report.plots` (Agg backend). Every figure's
title or subtitle states its accounting (bytes per element, frame rate, hardware).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnmem.report.plots import _pyplot, _save

if TYPE_CHECKING:
    from cnnmem.requirements import RequirementsReport

SCENARIO_COLORS = {"S1": "#7f7f7f", "S2": "#1f77b4", "S3": "#9467bd", "S4": "#ff7f0e",
                   "S5": "#2ca02c", "S6": "#d62728"}
"""One colour per scenario, shared by every figure."""


def _elements(r: RequirementsReport) -> str:
    hw = r.hw
    return (f"activations {hw.act_bytes_per_element} B, weights "
            f"{hw.weight_bytes_per_element} B per element")


def _shape(r: RequirementsReport) -> str:
    return "x".join(str(d) for d in r.input_shape[1:])


def layer_bars(r: RequirementsReport, path: str | Path) -> Path:
    """Per-layer bars of weight bytes and activation bytes (input + output), log scale, with
    each layer's S4 (line buffer) and S5 (tiles) minimum on-chip bytes as markers."""
    plt = _pyplot()
    from cnnmem.requirements import Scenario

    n = len(r.layers)
    xs = list(range(n))
    fig, ax = plt.subplots(figsize=(max(8.0, min(0.18 * n + 4, 22.0)), 5), dpi=110)
    width = 0.4
    weights = [max(la.weight_bytes, 0) for la in r.layers]
    acts = [la.input_bytes + la.output_bytes for la in r.layers]
    ax.bar([x - width / 2 for x in xs], [w if w > 0 else float("nan") for w in weights],
           width, color="#1f77b4", label="weights")
    ax.bar([x + width / 2 for x in xs], acts, width, color="#8c564b",
           label="activations (input + output)")
    for s, marker in ((Scenario.S4, "_"), (Scenario.S5, "x")):
        ax.plot(xs, [la.minimum(s).buffer_bytes for la in r.layers], marker, linestyle="none",
                color=SCENARIO_COLORS[s.value], markersize=7,
                label=f"{s.value} minimum on-chip ({s.title})")
    ax.axhline(r.budget_bytes, color="black", linestyle="--", linewidth=0.8,
               label=f"budget {r.budget_bytes / 1024:.0f} KiB")
    ax.set_yscale("log")
    ax.set_xlabel("layer (schedule order)")
    ax.set_ylabel("bytes (log scale)")
    step = max(1, n // 30)
    ax.set_xticks(xs[::step])
    ax.set_xticklabels([r.layers[i].name for i in xs[::step]], rotation=90, fontsize=6)
    ax.set_title(f"{r.model} ({_shape(r)}): per-layer weights vs activations\n"
                 f"{_elements(r)}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3, which="both")
    return _save(plt, fig, path)


def tradeoff_curve(r: RequirementsReport, path: str | Path) -> Path:
    """Left: DRAM bandwidth needed at the target fps vs on-chip buffer (fused groups and
    layer by layer: the DSE Pareto fronts; scenario minima as markers). Right: achievable fps
    at the hardware's bandwidth vs on-chip buffer, with the compute-bound ceiling."""
    plt = _pyplot()
    from cnnmem.requirements import Scenario, throughput

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5), dpi=110)
    curves = (("layer by layer (one layer per group)", r.layer_by_layer_front, "#1f77b4"),
              ("fused groups (S6 front)", r.fused_front, "#d62728"))
    right = max((p.buffer_bytes for _, pts, _ in curves for p in pts), default=1)
    right = max(right, r.scenario(Scenario.S1).buffer_bytes, r.budget_bytes)
    for label, pts, color in curves:
        if not pts:
            continue
        # a front holds its last traffic for any larger buffer: extend it to the right edge
        ext = [*pts, pts[-1]]
        bx = [p.buffer_bytes / 1024 for p in pts] + [right / 1024]
        ax.step(bx, [r.bandwidth(p.dram_bytes) / 1e9 for p in ext], where="post",
                color=color, marker=".", markersize=3, label=label)
        ax2.step(bx, [min(throughput(p.dram_bytes, p.macs, r.hw).fps, 1e9) for p in ext],
                 where="post", color=color, marker=".", markersize=3, label=label)
    for s in Scenario:
        p = r.scenario(s)
        ax.plot([p.buffer_bytes / 1024], [r.bandwidth(p.dram_bytes) / 1e9], "o",
                color=SCENARIO_COLORS[s.value], label=f"{s.value}: {s.title}")
    hw_bw = r.hw.dram_bandwidth_bytes_per_s
    ax.axhline(hw_bw / 1e9, color="black", linestyle=":", linewidth=0.8,
               label=f"hardware {hw_bw / 1e9:g} GB/s")
    ax.axhline(r.bandwidth(r.compulsory_dram_bytes) / 1e9, color="black", linestyle="--",
               linewidth=0.8, label="compulsory (each input, weight, output once)")
    for a in (ax, ax2):
        a.axvline(r.budget_bytes / 1024, color="gray", linewidth=0.8)
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xlabel("on-chip buffer (KiB, log scale)")
        a.grid(alpha=0.3, which="both")
    ax.set_ylabel(f"DRAM bandwidth at {r.fps:g} fps (GB/s)")
    ax.set_title(f"{r.model}: bandwidth needed vs on-chip size", fontsize=10)
    ax.legend(fontsize=6, loc="best")
    ceiling = r.hw.peak_macs_per_s / max(r.macs, 1)
    ax2.axhline(ceiling, color="black", linestyle="--", linewidth=0.8,
                label=f"compute bound {ceiling:.3g} fps")
    ax2.axhline(r.fps, color="#2ca02c", linestyle=":", linewidth=0.8,
                label=f"target {r.fps:g} fps")
    ax2.set_ylabel(f"achievable fps at {hw_bw / 1e9:g} GB/s")
    ax2.set_title(f"{r.model}: frame rate vs on-chip size (roofline, "
                  f"{r.hw.macs_per_cycle} MACs/cycle x {r.hw.clock_hz / 1e6:g} MHz)",
                  fontsize=10)
    ax2.legend(fontsize=7, loc="best")
    fig.suptitle(f"{_elements(r)}; budget {r.budget_bytes / 1024:.0f} KiB (grey line); "
                 f"max fused group {r.max_group_layers} layers", fontsize=9)
    return _save(plt, fig, path)


def domain_comparison(entries: Sequence[tuple[str, RequirementsReport]],
                      path: str | Path) -> Path:
    """The domain suite side by side (log scales): weights vs the largest layer's
    activations; minimum on-chip bytes of S1, S4, S5, S6; DRAM bandwidth at the target fps of
    S1 (layer by layer), S5 and S6 (fused)."""
    plt = _pyplot()
    from cnnmem.requirements import Scenario

    names = [f"{r.model}\n{d}\n{_shape(r)}" for d, r in entries]
    xs = list(range(len(entries)))
    fig, axes = plt.subplots(1, 3, figsize=(18, 6), dpi=110)

    def bars(ax: Any, series: list[tuple[str, list[float], str]], ylabel: str,
             title: str) -> None:
        width = 0.8 / max(len(series), 1)
        for i, (label, values, color) in enumerate(series):
            off = (i - (len(series) - 1) / 2) * width
            ax.bar([x + off for x in xs], [v if v > 0 else float("nan") for v in values],
                   width, label=label, color=color)
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels(names, fontsize=7, rotation=45, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3, which="both")

    reports = [r for _, r in entries]
    mib = float(1 << 20)
    bars(axes[0], [("weights", [r.weight_bytes / mib for r in reports], "#1f77b4"),
                   ("largest layer input + output",
                    [r.max_activation_bytes / mib for r in reports], "#ff7f0e")],
         "MiB (log scale)", "weights vs activations")
    bars(axes[1], [(f"{s.value}: {s.title}",
                    [r.scenario(s).buffer_bytes / mib for r in reports],
                    SCENARIO_COLORS[s.value])
                   for s in (Scenario.S1, Scenario.S4, Scenario.S5, Scenario.S6)],
         "MiB (log scale)", "minimum on-chip memory per scenario")
    fps = reports[0].fps if reports else 30.0
    bars(axes[2], [(f"{s.value}: {s.title}",
                    [r.bandwidth(r.scenario(s).dram_bytes) / 1e9 for r in reports],
                    SCENARIO_COLORS[s.value])
                   for s in (Scenario.S1, Scenario.S5, Scenario.S6)],
         f"GB/s at {fps:g} fps (log scale)", "DRAM bandwidth at that on-chip size")
    if reports:
        fig.suptitle(f"memory requirements across domains: {_elements(reports[0])}; "
                     "traffic = DRAM reads + writes per frame", fontsize=11)
    return _save(plt, fig, path)
