"""Figures (PNG/SVG). The only module that imports matplotlib, lazily, with the Agg backend.

Colours are fixed per planner so every figure of a report uses the same ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnmem.planning.result import PlanResult

PLANNER_COLORS = {
    "naive": "#7f7f7f",
    "pingpong": "#1f77b4",
    "greedy": "#ff7f0e",
    "overlap": "#2ca02c",
    "optimal": "#d62728",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: str | Path) -> Path:
    """Lay out, write (creating parent folders) and close a figure."""
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _unit(nbytes: float) -> tuple[float, str]:
    for scale, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if nbytes >= scale:
            return float(scale), name
    return 1.0, "B"


def plan_chart(result: PlanResult, path: str | Path) -> Path:
    """Time x address chart of a plan: one rectangle per buffer (steps on x, bytes on y).

    Overlaps the model allows show as darker, translucent intersections; the lower bound is a
    dashed line.
    """
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    scale, unit = _unit(max(result.arena_bytes, 1))
    steps = max((b.last_step for b in result.buffers), default=0) + 1
    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=110)
    color = PLANNER_COLORS.get(result.planner, "#2ca02c")
    for b in result.buffers:
        ax.add_patch(Rectangle((b.first_step, b.offset / scale), b.last_step - b.first_step + 1,
                               b.size_bytes / scale, facecolor=color, edgecolor="black",
                               linewidth=0.4, alpha=0.55))
    ax.axhline(result.arena_bytes / scale, color="black", linewidth=1.0,
               label=f"arena {result.arena_bytes / scale:.2f} {unit}")
    ax.axhline(result.lower_bound_bytes / scale, color="black", linestyle="--", linewidth=0.8,
               label=f"lower bound {result.lower_bound_bytes / scale:.2f} {unit}")
    ax.set_xlim(0, max(steps, 1))
    ax.set_ylim(0, result.arena_bytes / scale * 1.05 if result.arena_bytes else 1)
    ax.set_xlabel("schedule step (layer)")
    ax.set_ylabel(f"arena address ({unit})")
    flow = result.dataflow.value if result.dataflow else "n/a"
    ax.set_title(f"{result.model}: {result.planner} plan, dataflow {flow}, "
                 f"{result.accounting.dtype.short_name if result.accounting.dtype else 'file'}"
                 " dtype")
    ax.legend(loc="upper right", fontsize=8)
    return _save(plt, fig, path)


def live_curves(before: tuple[int, ...], after: tuple[int, ...], title: str,
                path: str | Path) -> Path:
    """Live activation bytes at every schedule step, before and after a rewrite."""
    plt = _pyplot()
    scale, unit = _unit(max((*before, *after, 1)))
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    # not planner colours (PLANNER_COLORS): slate before, cyan after (the report's colour for
    # restructured figures)
    ax.plot(range(len(before)), [b / scale for b in before], color="#34495e",
            label=f"before (peak {max(before, default=0) / scale:.2f} {unit})")
    ax.plot(range(len(after)), [b / scale for b in after], color="#17becf",
            label=f"after (peak {max(after, default=0) / scale:.2f} {unit})")
    ax.set_xlabel("schedule step (layer)")
    ax.set_ylabel(f"live activations ({unit})")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def pareto_front(points: list[tuple[int, int]], limits: dict[str, int], title: str,
                 path: str | Path, *, budget_bytes: int | None = None,
                 chosen: tuple[int, int] | None = None) -> Path:
    """Buffer bytes vs DRAM bytes of a Pareto front (log-log), with horizontal lines for the
    traffic limits (``{"compulsory": bytes, "layer-by-layer": bytes}``)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    xs = [p[0] / 1024 for p in points]
    ys = [p[1] / 1e6 for p in points]
    ax.step(xs, ys, where="post", color="#d62728", marker=".", label="Pareto front (fused)")
    styles = {"compulsory": ("black", "--"), "layer-by-layer": ("#1f77b4", ":")}
    for name, value in limits.items():
        color, style = styles.get(name, ("gray", "-."))
        ax.axhline(value / 1e6, color=color, linestyle=style,
                   label=f"{name} {value / 1e6:.1f} MB")
    if budget_bytes is not None:
        ax.axvline(budget_bytes / 1024, color="gray", linewidth=0.8,
                   label=f"budget {budget_bytes / 1024:.0f} KiB")
    if chosen is not None:
        ax.plot([chosen[0] / 1024], [chosen[1] / 1e6], "o", color="black", label="chosen")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("on-chip buffer (KiB)")
    ax.set_ylabel("DRAM traffic per frame (MB)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return _save(plt, fig, path)
