"""Renderings of a memory plan: C header, ASCII time x address chart, console summary.

The JSON address map is :meth:`cnnmem.planning.result.PlanResult.as_dict`; the PNG chart is in
:mod:`cnnmem.report.plots`.
"""

from __future__ import annotations

import hashlib
import re

from rich.console import Console
from rich.table import Table

from cnnmem.planning.result import PlanResult
from cnnmem.report.tables import human_bytes

_SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def c_identifier(name: str, max_len: int = 40) -> str:
    """Upper-case C identifier from a tensor name (``/features.0/Conv_output_0`` ->
    ``FEATURES_0_CONV_OUTPUT_0``). Names longer than ``max_len`` keep their start and end
    around an 8-digit hash of the full name, so that macros stay unique within C99's 63
    significant characters."""
    ident = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").upper()
    if not ident or ident[0].isdigit():
        ident = "T_" + ident
    if len(ident) > max_len:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8].upper()
        ident = f"{ident[:16].rstrip('_')}_{digest}_{ident[-14:].lstrip('_')}"
    return ident


def _comment(text: str) -> str:
    return text.replace("*/", "* /")


def c_header(result: PlanResult) -> str:
    """A C header with the arena size and one ``#define`` offset per buffer.

    Names that collide after sanitising get a numeric suffix; every buffer's tensors, size and
    lifetime are in a comment, so firmware can be checked against the plan.
    """
    guard = f"CNNMEM_PLAN_{c_identifier(result.model)}_H"
    seen: dict[str, int] = {}
    acct = result.accounting
    lines = [
        f"/* cnnmem memory plan for {_comment(result.model)}",
        f" * planner {result.planner}, dataflow "
        f"{result.dataflow.value if result.dataflow else 'n/a'}",
        f" * {acct.describe()}",
        f" * arena {result.arena_bytes} B, lower bound {result.lower_bound_bytes} B, "
        f"verified by execution: {result.verified}",
        " * Offsets are bytes from the start of the arena; lifetimes are inclusive step ranges.",
        " */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        f"#define CNNMEM_ARENA_SIZE {result.arena_bytes}u",
        f"#define CNNMEM_BUFFER_COUNT {len(result.buffers)}u",
        "",
    ]
    for b in result.buffers:
        ident = c_identifier(b.name)
        if ident in seen:
            seen[ident] += 1
            ident = f"{ident}_{seen[ident]}"
        else:
            seen[ident] = 0
        tensors = _comment(", ".join(b.tensors))
        lines.append(f"/* {tensors}: {b.size_bytes} B, steps {b.first_step}..{b.last_step} */")
        lines.append(f"#define CNNMEM_OFFSET_{ident} {b.offset}u")
    lines += ["", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def ascii_chart(result: PlanResult, width: int = 72) -> str:
    """tflite-micro-style time x address chart: one line per step, one character per
    ``arena/width`` bytes; each buffer has a symbol, ``*`` marks bytes shared by a layer's
    output and its dying input (an overlap the model allows), ``.`` is free."""
    arena = max(1, result.arena_bytes)
    steps = max((b.last_step for b in result.buffers), default=-1) + 1
    legend: list[str] = []
    symbol = {}
    for i, b in enumerate(result.buffers):
        symbol[b.name] = _SYMBOLS[i % len(_SYMBOLS)]
        legend.append(f"{symbol[b.name]}={b.name}")
    lines = [f"time x address ({arena} B across {width} columns; '*' = allowed overlap)"]
    for t in range(steps):
        row = ["."] * width
        for b in result.buffers:
            if not b.first_step <= t <= b.last_step:
                continue
            start = b.offset * width // arena
            end = max(start + 1, -(-(b.offset + b.size_bytes) * width // arena))
            for c in range(start, min(end, width)):
                row[c] = symbol[b.name] if row[c] == "." else "*"
        live = sum(b.size_bytes for b in result.buffers if b.first_step <= t <= b.last_step)
        lines.append(f"{t:4d} |{''.join(row)}| {human_bytes(live)}")
    lines.append("legend: " + ", ".join(legend[:40]) + (" ..." if len(legend) > 40 else ""))
    return "\n".join(lines)


def print_plan(result: PlanResult, console: Console, *, chart: bool = True,
               layers: bool = False) -> None:
    """Console summary of a plan (and optionally its chart and per-layer table)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    peak = result.peak_layer
    grid.add_row("model", result.model)
    grid.add_row("planner", result.planner + (f" ({'; '.join(result.plan.notes)})"
                                              if result.plan.notes else ""))
    grid.add_row("dataflow", result.dataflow.value if result.dataflow else "n/a")
    grid.add_row("arena", f"{human_bytes(result.arena_bytes)} ({result.arena_bytes:,} B)")
    grid.add_row("lower bound", f"{human_bytes(result.lower_bound_bytes)} "
                                f"({result.lower_bound_bytes:,} B) under this planner's rules")
    grid.add_row("fragmentation", f"{result.fragmentation_bytes:,} B")
    if result.plan.optimal is not None:
        grid.add_row("optimal", "proven" if result.plan.optimal else "not proven")
    if peak is not None:
        grid.add_row("peak layer", f"step {peak.step} {peak.layer!r} ({peak.op}): "
                                   f"{peak.required_bytes:,} B required")
    grid.add_row("verified", f"{result.verified} ({result.verification})")
    grid.add_row("accounting", result.accounting.describe())
    console.print(grid)
    if layers:
        table = Table(header_style="bold")
        for col in ("step", "layer", "op", "live", "required", "extent", "overlap", "dir"):
            table.add_column(col, no_wrap=col != "layer")
        for r in result.layers:
            ov = (f"{r.overlap_input} d={r.overlap_distance_bytes}/"
                  f"{r.overlap_reverse_distance_bytes}" if r.overlap_input else "-")
            table.add_row(str(r.step), r.layer, r.op, f"{r.live_bytes:,}",
                          f"{r.required_bytes:,}", f"{r.extent_bytes:,}", ov, r.direction or "-")
        console.print(table)
    if chart:
        console.print(ascii_chart(result), markup=False, highlight=False)
