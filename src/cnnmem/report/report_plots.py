"""Figures of the HTML report that no single command draws: the arena summary, the per-layer
bars, the live-memory curve with every planner's arena, and the per-layer plan footprints.

Built on the helpers of :mod:`cnnmem.report.plots` (Agg backend, one save helper, binary
units) and its :data:`~cnnmem.report.plots.PLANNER_COLORS`, so a planner has the same colour in
every figure of a report. Every title ends with the accounting the figure counts under.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnmem.report.plots import PLANNER_COLORS, _pyplot, _save, _unit

if TYPE_CHECKING:
    from cnnmem.planning.result import PlanResult

BUDGET_COLOR = "#9467bd"
"""The on-chip budget line (not a planner colour)."""
PEAK_COLOR = "#d62728"
RESTRUCTURED_COLOR = "#17becf"
"""Restructured (rewritten-graph) figures, as in :func:`cnnmem.report.plots.live_curves`."""
LOG_RATIO = 20.0
"""Use a log axis when the largest plotted value exceeds the smallest nonzero one by this."""


def _wants_log(values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) > LOG_RATIO


def wrap_title(title: str, accounting: str, width: int = 110) -> str:
    """``title`` over the accounting text, wrapped to lines of at most ``width`` characters."""
    import textwrap

    return "\n".join([title, *textwrap.wrap(accounting, width)])


def _title(ax: Any, title: str, accounting: str) -> None:
    ax.set_title(wrap_title(title, accounting), fontsize=9)


def _annotate_peak(ax: Any, x: float, y: float, text: str, n: int) -> None:
    """Label the peak, on the side of it that has room (left in the right half)."""
    right_half = x > n / 2
    ax.annotate(text, (x, y), xytext=(-10 if right_half else 10, 4),
                textcoords="offset points", fontsize=8, color=PEAK_COLOR,
                ha="right" if right_half else "left", va="bottom")


def _finish(ax: Any, values: Sequence[float], scale: float, ylabel: str) -> None:
    """Log or linear y axis with headroom for the peak label; the legend under the axes."""
    top = max(values, default=1) / scale
    if _wants_log(values):
        ax.set_yscale("log")
        ax.set_ylim(top=top * 3)
        ylabel += ", log scale"
    else:
        ax.set_ylim(0, top * 1.15)
    ax.set_ylabel(f"bytes ({ylabel})")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3,
              frameon=False)
    ax.grid(alpha=0.3, which="both")


def arena_summary(bars: Sequence[tuple[str, int, str]], *, budget_bytes: int | None,
                  lower_bound_bytes: int, title: str, accounting: str,
                  path: str | Path) -> Path:
    """Horizontal bars: the arena each planner (or restructuring) needs, against the on-chip
    budget and the lower bound; log axis when the bars span more than :data:`LOG_RATIO`.

    Args:
        bars: ``(label, bytes, colour)`` per bar, top to bottom.
        budget_bytes: the on-chip budget line (``None``: none).
        lower_bound_bytes: the lower bound line.
        title: first title line.
        accounting: second title line.
        path: the image file to write.
    """
    plt = _pyplot()
    values = [b[1] for b in bars] + [lower_bound_bytes] + ([budget_bytes] if budget_bytes else [])
    scale, unit = _unit(max(values, default=1))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(bars) + 1.8), dpi=110)
    labels = [b[0] for b in bars]
    ys = list(range(len(bars)))[::-1]
    ax.barh(ys, [b[1] / scale for b in bars], color=[b[2] for b in bars], edgecolor="black",
            linewidth=0.4)
    for y, (_, value, _) in zip(ys, bars, strict=True):
        ax.annotate(f" {value / scale:.2f} {unit}", (value / scale, y), va="center", fontsize=8)
    ax.axvline(lower_bound_bytes / scale, color="black", linestyle="--", linewidth=0.9,
               label=f"lower bound (overlap rules) {lower_bound_bytes / scale:.2f} {unit}")
    if budget_bytes:
        ax.axvline(budget_bytes / scale, color=BUDGET_COLOR, linewidth=1.6,
                   label=f"on-chip budget {budget_bytes / scale:.2f} {unit}")
    ax.set_yticks(ys, labels)
    if _wants_log(values):
        ax.set_xscale("log")
    ax.set_xlim(right=max(values) / scale * 1.6 if _wants_log(values) else
                max(values) / scale * 1.18)
    ax.set_xlabel(f"activation arena ({unit}" + (", log scale)" if _wants_log(values) else ")"))
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3, which="both")
    _title(ax, title, accounting)
    return _save(plt, fig, path)


def layer_bars(names: Sequence[str], output_bytes: Sequence[int], weight_bytes: Sequence[int],
               live_bytes: Sequence[int], peak_index: int, *, title: str, accounting: str,
               path: str | Path) -> Path:
    """Per layer (schedule order): live activation bytes while it runs (bars, the peak layer
    red), with its output activation and its weights as markers; log axis when the values
    span orders of magnitude."""
    plt = _pyplot()
    values = [*output_bytes, *weight_bytes, *live_bytes]
    scale, unit = _unit(max(values, default=1))
    n = len(names)
    fig, ax = plt.subplots(figsize=(max(8.0, min(18.0, 0.09 * n + 6)), 5.4), dpi=110)
    xs = range(n)
    colors = [PEAK_COLOR if i == peak_index else "#8c9bb0" for i in xs]
    ax.bar(xs, [v / scale for v in live_bytes], width=0.85, color=colors,
           label="live activations while the layer runs")
    ax.plot(xs, [v / scale for v in output_bytes], "_", color="black", markersize=7,
            label="output activation")
    ax.plot(xs, [v / scale if v else float("nan") for v in weight_bytes], ".",
            color="#ff7f0e", markersize=4, label="weights")
    if 0 <= peak_index < n:
        _annotate_peak(ax, peak_index, live_bytes[peak_index] / scale,
                       f"peak: {names[peak_index]}\n{live_bytes[peak_index] / scale:.2f} {unit}",
                       n)
    ax.set_xlim(-1, n)
    ax.set_xlabel("layer (schedule step)")
    _finish(ax, values, scale, unit)
    _title(ax, title, accounting)
    return _save(plt, fig, path)


def live_memory(live_bytes: Sequence[int], peak_step: int, peak_layer: str,
                arenas: Mapping[str, int], *, budget_bytes: int | None, title: str,
                accounting: str, path: str | Path) -> Path:
    """Live activation bytes at every schedule step, the peak layer marked, with each
    planner's arena (planner colours) and the on-chip budget as horizontal lines."""
    plt = _pyplot()
    values = [*live_bytes, *arenas.values()] + ([budget_bytes] if budget_bytes else [])
    scale, unit = _unit(max(values, default=1))
    fig, ax = plt.subplots(figsize=(10, 5.4), dpi=110)
    xs = range(len(live_bytes))
    ax.fill_between(xs, [v / scale for v in live_bytes], step="mid", color="#c7d3e3")
    ax.step(xs, [v / scale for v in live_bytes], where="mid", color="#34495e", linewidth=1.0,
            label="live activations (sum of live buffers)")
    if 0 <= peak_step < len(live_bytes):
        peak = live_bytes[peak_step] / scale
        ax.plot([peak_step], [peak], "v", color=PEAK_COLOR, markersize=8)
        _annotate_peak(ax, peak_step, peak,
                       f"peak at step {peak_step}: {peak_layer}\n{peak:.2f} {unit}",
                       len(live_bytes))
    for name, arena in arenas.items():
        ax.axhline(arena / scale, color=PLANNER_COLORS.get(name, "gray"), linewidth=1.1,
                   linestyle="--", label=f"{name} arena {arena / scale:.2f} {unit}")
    if budget_bytes:
        ax.axhline(budget_bytes / scale, color=BUDGET_COLOR, linewidth=1.8,
                   label=f"on-chip budget {budget_bytes / scale:.2f} {unit}")
    ax.set_xlim(-0.5, max(len(live_bytes) - 0.5, 0.5))
    ax.set_xlabel("schedule step (layer)")
    _finish(ax, values, scale, unit)
    _title(ax, title, accounting)
    return _save(plt, fig, path)


def plan_footprints(results: Sequence[PlanResult], *, title: str, accounting: str,
                    path: str | Path) -> Path:
    """Per schedule step: the address range each plan spans (planner colours), the bytes
    live at that step, and the bytes that must coexist when a layer's output may overlap
    its dying input (the overlap model's per-layer footprint, dashed)."""
    plt = _pyplot()
    if not results:
        raise ValueError("plan_footprints needs at least one plan")
    live = [r.live_bytes for r in results[0].layers]
    required = min((r for r in results), key=lambda r: r.lower_bound_bytes).layers
    values = [*live, *(row.extent_bytes for r in results for row in r.layers)]
    scale, unit = _unit(max(values, default=1))
    fig, ax = plt.subplots(figsize=(10, 5.4), dpi=110)
    xs = range(len(live))
    ax.step(xs, [v / scale for v in live], where="mid", color="#7f8c8d", linewidth=2.2,
            alpha=0.5, label="live bytes (disjoint footprint)")
    ax.step(xs, [row.required_bytes / scale for row in required], where="mid", color="black",
            linestyle="--", linewidth=1.0, label="overlap footprint (output over dying input)")
    for r in results:
        ax.step(xs, [row.extent_bytes / scale for row in r.layers], where="mid",
                color=PLANNER_COLORS.get(r.planner, "gray"), linewidth=1.0,
                label=f"{r.planner}: address range used")
    ax.set_xlabel("schedule step (layer)")
    _finish(ax, values, scale, unit)
    _title(ax, title, accounting)
    return _save(plt, fig, path)
