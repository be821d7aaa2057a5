"""Rich tables of requirements reports (built here, printed by the CLI and the benchmark).

Sizes in binary units (KiB, MiB: :func:`cnnmem.report.tables.human_bytes`), bandwidth in
decimal GB/s (10^9 bytes/s), MACs with SI suffixes. Nothing here computes requirements.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from cnnmem.report.tables import human_bytes, human_count
from cnnmem.requirements.analysis import RequirementsReport, throughput
from cnnmem.requirements.scenarios import LAYER_SCENARIOS, Scenario

TRADEOFF_BUDGETS = tuple(1 << s for s in (14, 16, 18, 20, 22, 24, 26))
"""On-chip sizes of the trade-off table: 16 KiB, 64 KiB ... 64 MiB (plus the budget)."""


def gbps(bytes_per_s: float) -> str:
    """``"255 GB/s"``-style text (3 significant digits, decimal units)."""
    return f"{bytes_per_s / 1e9:.3g} GB/s"


def _fps(value: float) -> str:
    return f"{value:.3g}" if value < 1e6 else "inf"


def scenario_table(r: RequirementsReport) -> Table:
    """Network minimum on-chip memory, traffic and bandwidth of S1..S6."""
    t = Table(title=f"{r.model}: minimum on-chip memory per scenario (network = max over "
                    "layers / groups)", title_justify="left", header_style="bold")
    for col in ("scenario", "on chip", "what", "traffic/frame", f"BW @ {r.fps:g} fps",
                "fps @ hw", "bound"):
        t.add_column(col, justify="left" if col in ("scenario", "what", "bound") else "right",
                     overflow="fold")
    for s in Scenario:
        p = r.scenario(s)
        tp = throughput(p.dram_bytes, p.macs, r.hw)
        t.add_row(s.value, human_bytes(p.buffer_bytes), s.title, human_bytes(p.dram_bytes),
                  gbps(r.bandwidth(p.dram_bytes)), _fps(tp.fps), tp.bound)
    return t


def layer_table(r: RequirementsReport) -> Table:
    """Per layer: sizes, MACs, the minimum on-chip bytes of S1..S5 and the design scenario."""
    t = Table(title=f"{r.model}: per layer (minimum on-chip bytes per scenario; S1 traffic = "
                    "input + weights + output)", title_justify="left", header_style="bold")
    for col in ("#", "layer", "op", "weights", "input", "output", "MACs",
                *(s.value for s in LAYER_SCENARIOS), "S1 traffic", "design"):
        t.add_column(col, justify="left" if col in ("layer", "op", "design") else "right",
                     overflow="fold")
    for la in r.layers:
        d = la.design.point
        t.add_row(str(la.index), la.name, la.op_type, human_bytes(la.weight_bytes),
                  human_bytes(la.input_bytes), human_bytes(la.output_bytes),
                  human_count(la.macs),
                  *(human_bytes(la.minimum(s).buffer_bytes) for s in LAYER_SCENARIOS),
                  human_bytes(la.minimum(Scenario.S1).dram_bytes),
                  d.scenario.value if d else "none")
    return t


def design_table(r: RequirementsReport) -> Table:
    """Design points at the budget: per layer the chosen scenario and its one-line reason."""
    t = Table(title=f"{r.model}: design points for a {human_bytes(r.budget_bytes)} on-chip "
                    "budget (least traffic that fits)", title_justify="left",
              header_style="bold")
    for col in ("layer", "scenario", "on chip", "traffic/frame", "rationale"):
        t.add_column(col, justify="right" if col in ("on chip", "traffic/frame") else "left",
                     overflow="fold")
    for la in r.layers:
        d = la.design.point
        t.add_row(la.name, d.scenario.value if d else "-",
                  human_bytes(d.buffer_bytes) if d else "-",
                  human_bytes(d.dram_bytes) if d else "-", la.design.rationale)
    return t


def tradeoff_table(r: RequirementsReport) -> Table:
    """Least DRAM bandwidth at the target fps and achievable fps at the hardware's bandwidth
    for a ladder of on-chip sizes (fused groups vs layer by layer, from the DSE fronts)."""
    from cnnmem.dse.pareto import best_within

    t = Table(title=f"{r.model}: on-chip size vs DRAM bandwidth at {r.fps:g} fps "
                    f"(fps at {r.hw.dram_bandwidth_bytes_per_s / 1e9:g} GB/s)",
              title_justify="left", header_style="bold")
    for col in ("on chip", "fused BW", "fused fps", "bound", "layer-by-layer BW",
                "layer-by-layer fps"):
        t.add_column(col, justify="right")
    sizes = sorted({*TRADEOFF_BUDGETS, r.budget_bytes})
    for size in sizes:
        f = best_within(r.fused_front, size)
        lbl = best_within(r.layer_by_layer_front, size)
        cells = []
        for p, with_bound in ((f, True), (lbl, False)):
            if p is None:
                cells += ["does not fit", "-"] + (["-"] if with_bound else [])
                continue
            tp = throughput(p.dram_bytes, p.macs, r.hw)
            cells += [gbps(r.bandwidth(p.dram_bytes)), _fps(tp.fps)]
            if with_bound:
                cells.append(tp.bound)
        label = human_bytes(size) + (" (budget)" if size == r.budget_bytes else "")
        t.add_row(label, *cells)
    return t


def suite_table(entries: Sequence[tuple[str, RequirementsReport]]) -> Table:
    """The domain suite: one row per network."""
    fps = entries[0][1].fps if entries else 30.0
    t = Table(title=f"memory requirements across domains (on chip / DRAM bandwidth at "
                    f"{fps:g} fps)", title_justify="left", header_style="bold")
    for col in ("network", "domain", "input", "weights", "max layer act", "MACs",
                "S1 layer", "S1 BW", "S4 line buf", "S5 tiles", "S5 BW", "S6 fused", "S6 BW",
                "time"):
        t.add_column(col, justify="left" if col in ("network", "domain") else "right")
    for domain, r in entries:
        s1, s4, s5, s6 = (r.scenario(s) for s in (Scenario.S1, Scenario.S4, Scenario.S5,
                                                    Scenario.S6))
        t.add_row(r.model, domain, "x".join(str(d) for d in r.input_shape[1:]),
                  human_bytes(r.weight_bytes), human_bytes(r.max_activation_bytes),
                  human_count(r.macs), human_bytes(s1.buffer_bytes),
                  gbps(r.bandwidth(s1.dram_bytes)), human_bytes(s4.buffer_bytes),
                  human_bytes(s5.buffer_bytes), gbps(r.bandwidth(s5.dram_bytes)),
                  human_bytes(s6.buffer_bytes), gbps(r.bandwidth(s6.dram_bytes)),
                  f"{r.seconds:.1f} s")
    return t


def design_summary(r: RequirementsReport) -> str:
    """One line: the network at its design points vs fused groups at the same budget."""
    budget = human_bytes(r.budget_bytes)
    if r.design is None:
        missing = [la.name for la in r.layers if la.design.point is None]
        text = (f"design points at {budget}: {len(missing)} layer(s) fit no scenario "
                f"({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''})")
    else:
        tp = throughput(r.design.dram_bytes, r.design.macs, r.hw)
        text = (f"design points at {budget}: {human_bytes(r.design.dram_bytes)}/frame = "
                f"{gbps(r.bandwidth(r.design.dram_bytes))} at {r.fps:g} fps; "
                f"{_fps(tp.fps)} fps at the hardware's bandwidth ({tp.bound} bound)")
    if r.fused_at_budget is not None:
        f = r.fused_at_budget
        text += (f"; fused groups at the same budget: {human_bytes(f.dram_bytes)}/frame = "
                 f"{gbps(r.bandwidth(f.dram_bytes))}")
    else:
        text += "; no fused schedule fits the budget"
    return text
