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
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
