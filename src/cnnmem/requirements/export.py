"""JSON (schema ``cnnmem.requirements/1``) and CSV forms of requirements reports.

Pure conversions of frozen reports into plain data; nothing is computed here except
bandwidth (``traffic x fps``) and roofline frame rates. Keys end in their unit (``_bytes``,
``_bytes_per_s``); MACs are multiply-accumulates.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

from cnnmem.dse.space import GroupSchedule
from cnnmem.requirements.analysis import (
    NetworkPoint,
    RequirementsReport,
    TradeoffPoint,
    throughput,
)
from cnnmem.requirements.scenarios import LAYER_SCENARIOS, Scenario, ScenarioPoint

SCHEMA = "cnnmem.requirements/1"

SCENARIO_DEFINITIONS = {
    Scenario.S1: "one tile = the whole layer: input, output and weights on chip; input and "
                 "weights read once, output written once",
    Scenario.S2: "whole spatial extent, output channels in tiles, weights streamed slice by "
                 "slice; input region of a channel tile resident; traffic = S1",
    Scenario.S3: "weights resident, spatial output tiles with all channels, cached halos; "
                 "minimum = 1x1 tiles (input rows re-read)",
    Scenario.S4: "weights resident, one output row per tile: (FY-1)*dy+1 input rows on chip; "
                 "every input row read once",
    Scenario.S5: "any single-layer tiling of the DSE space; minimum over tilings moving no "
                 "more data than S1",
    Scenario.S6: "fused groups (DSE Pareto front within the S1 buffer): smallest buffer "
                 "reaching the least traffic found",
}


def _finite(x: float) -> float | None:
    """``x``, or ``None`` for an infinite frame rate (no traffic and no MACs): JSON has no
    infinity."""
    return x if math.isfinite(x) else None


def _schedule(s: GroupSchedule) -> dict[str, Any]:
    return {"text": s.describe(), "tile_rows": s.tile_rows, "tile_cols": s.tile_cols,
            "tile_channels": s.tile_channels, "tile_in_channels": s.tile_in_channels,
            "loop_order": s.loop_order, "halo": s.halo.value,
            "weights_resident": s.weights_resident}


def _layer_point(p: ScenarioPoint, fps: float, mac_share: float) -> dict[str, Any]:
    """A layer's scenario point. ``bandwidth_bytes_per_s`` is its share of the network
    figure (traffic x fps); ``paced_bandwidth_bytes_per_s`` is what the layer needs while it
    runs if the frame time is split between layers in proportion to their MACs (compute-paced):
    ``traffic x fps / mac_share`` (``None`` for layers without MACs)."""
    c = p.cost
    return {"buffer_bytes": p.buffer_bytes, "dram_bytes": p.dram_bytes,
            "dram_read_bytes": c.dram_read_bytes, "dram_write_bytes": c.dram_write_bytes,
            "dram_weight_read_bytes": c.dram_weight_read_bytes,
            "bandwidth_bytes_per_s": p.dram_bytes * fps,
            "paced_bandwidth_bytes_per_s": (p.dram_bytes * fps / mac_share if mac_share > 0
                                            else None),
            "macs": c.macs, "schedule": _schedule(p.schedule)}


def _network_point(r: RequirementsReport, p: NetworkPoint) -> dict[str, Any]:
    t = throughput(p.dram_bytes, p.macs, r.hw)
    return {"buffer_bytes": p.buffer_bytes, "dram_bytes": p.dram_bytes,
            "dram_read_bytes": p.dram_read_bytes, "dram_write_bytes": p.dram_write_bytes,
            "bandwidth_bytes_per_s": r.bandwidth(p.dram_bytes), "macs": p.macs,
            "groups": p.groups, "fps_at_hw": _finite(t.fps), "bound": t.bound}


def _curve(r: RequirementsReport, pts: Sequence[TradeoffPoint]) -> list[dict[str, Any]]:
    out = []
    for p in pts:
        t = throughput(p.dram_bytes, p.macs, r.hw)
        out.append({"buffer_bytes": p.buffer_bytes, "dram_bytes": p.dram_bytes,
                    "bandwidth_bytes_per_s": r.bandwidth(p.dram_bytes), "macs": p.macs,
                    "fps_at_hw": _finite(t.fps), "bound": t.bound})
    return out


def report_dict(r: RequirementsReport, *, schema: bool = True) -> dict[str, Any]:
    """The report as JSON-ready data (schema ``cnnmem.requirements/1``)."""
    hw = r.hw
    design = None
    if r.design is not None:
        design = _network_point(r, r.design)
    fused = None
    if r.fused_at_budget is not None:
        fused = _curve(r, [r.fused_at_budget])[0]
    data: dict[str, Any] = {
        "model": r.model,
        "input_shape": list(r.input_shape),
        "fps": r.fps,
        "accounting": r.accounting(),
        "hw": {"name": hw.name, "description": hw.describe(),
               "budget_bytes": r.budget_bytes,
               "act_bytes_per_element": hw.act_bytes_per_element,
               "weight_bytes_per_element": hw.weight_bytes_per_element,
               "psum_bytes_per_element": hw.psum_bytes_per_element,
               "dram_bandwidth_bytes_per_s": hw.dram_bandwidth_bytes_per_s,
               "peak_macs_per_s": hw.peak_macs_per_s,
               "weights_in_separate_memory": hw.weights_in_separate_memory},
        "totals": {"layers": len(r.layers), "weight_bytes": r.weight_bytes, "macs": r.macs,
                   "max_layer_activation_bytes": r.max_activation_bytes,
                   "compulsory_dram_bytes": r.compulsory_dram_bytes},
        "scenarios": {s.value: {"title": s.title, "definition": SCENARIO_DEFINITIONS[s],
                                **_network_point(r, r.scenario(s))} for s in Scenario},
        "layers": [{"index": la.index, "name": la.name, "op": la.op_type,
                    "weight_bytes": la.weight_bytes, "input_bytes": la.input_bytes,
                    "output_bytes": la.output_bytes, "macs": la.macs,
                    "scenarios": {s.value: _layer_point(la.minimum(s), r.fps,
                                                        la.macs / max(r.macs, 1))
                                  for s in LAYER_SCENARIOS},
                    "design": {"scenario": (la.design.point.scenario.value
                                            if la.design.point else None),
                               "rationale": la.design.rationale,
                               **(_layer_point(la.design.point, r.fps,
                                               la.macs / max(r.macs, 1))
                                  if la.design.point else {})}}
                   for la in r.layers],
        "tradeoff": {"fused": _curve(r, r.fused_front),
                     "layer_by_layer": _curve(r, r.layer_by_layer_front)},
        "design": {"budget_bytes": r.budget_bytes, "network": design,
                   "fused_at_budget": fused},
        "max_group_layers": r.max_group_layers,
        "seconds": round(r.seconds, 3),
    }
    if schema:
        data = {"schema": SCHEMA, **data}
    return data


LAYER_CSV_COLUMNS = ("index", "name", "op", "weight_bytes", "input_bytes", "output_bytes",
                     "macs",
                     *(f"{s.value}_{k}" for s in LAYER_SCENARIOS
                       for k in ("buffer_bytes", "dram_bytes")),
                     "design_scenario", "design_buffer_bytes", "design_dram_bytes",
                     "design_rationale")


def layers_csv(r: RequirementsReport) -> str:
    """One CSV row per layer: sizes, MACs, each scenario's minimum buffer and traffic, the
    design point."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LAYER_CSV_COLUMNS)
    for la in r.layers:
        row: list[object] = [la.index, la.name, la.op_type, la.weight_bytes, la.input_bytes,
                             la.output_bytes, la.macs]
        for s in LAYER_SCENARIOS:
            p = la.minimum(s)
            row += [p.buffer_bytes, p.dram_bytes]
        d = la.design.point
        row += [d.scenario.value if d else "", d.buffer_bytes if d else "",
                d.dram_bytes if d else "", la.design.rationale]
        w.writerow(row)
    return buf.getvalue()


SUITE_CSV_COLUMNS = ("network", "domain", "input_shape", "weight_bytes",
                     "max_layer_activation_bytes", "macs",
                     *(f"{s.value}_{k}" for s in Scenario
                       for k in ("buffer_bytes", "dram_bytes", "bandwidth_bytes_per_s")),
                     "seconds")


def suite_csv(entries: Sequence[tuple[str, RequirementsReport]]) -> str:
    """One CSV row per network of the suite (``(domain, report)`` pairs)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SUITE_CSV_COLUMNS)
    for domain, r in entries:
        row: list[object] = [r.model, domain, "x".join(str(d) for d in r.input_shape),
                             r.weight_bytes, r.max_activation_bytes, r.macs]
        for s in Scenario:
            p = r.scenario(s)
            row += [p.buffer_bytes, p.dram_bytes, f"{r.bandwidth(p.dram_bytes):.6g}"]
        row.append(f"{r.seconds:.2f}")
        w.writerow(row)
    return buf.getvalue()
