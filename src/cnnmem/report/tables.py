"""Console and file renderings of reports: rich tables, JSON and CSV writers.

Reports are computed elsewhere; this module only formats them (tflite-micro keeps
``PrintMemoryPlan`` apart from the planner in the same way).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cnnmem.analysis.profile import MemoryProfile


def human_bytes(n: float) -> str:
    """Bytes in binary units: ``1.15 MiB``, ``96.0 KiB``, ``512 B``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"  # pragma: no cover


def human_count(n: float) -> str:
    """Counts with SI suffixes: ``300.77 M``, ``1.81 G``."""
    value = float(n)
    for unit in ("", "k", "M", "G", "T"):
        if abs(value) < 1000 or unit == "T":
            return f"{int(value)}" if unit == "" else f"{value:.2f} {unit}"
        value /= 1000
    return f"{value:.2f} T"  # pragma: no cover


def _shape(s: Iterable[int]) -> str:
    return "x".join(str(d) for d in s) or "scalar"


def dumps_json(data: Mapping[str, Any]) -> str:
    """Deterministic JSON: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` (creating parent folders)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


PROFILE_CSV_COLUMNS = ("index", "name", "op", "source_op", "activation", "input_shapes",
                       "output_shape", "weight_bytes", "input_bytes", "output_bytes", "macs",
                       "arithmetic_intensity", "live_bytes", "modelled")


def profile_csv(profile: MemoryProfile) -> str:
    """One CSV row per layer (columns :data:`PROFILE_CSV_COLUMNS`; shapes as ``1x3x224x224``,
    several input shapes joined by ``;``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(PROFILE_CSV_COLUMNS)
    for row in profile.layers:
        writer.writerow([
            row.index, row.name, row.op, row.source_op, row.activation or "",
            ";".join(_shape(s) for s in row.input_shapes), _shape(row.output_shape),
            row.weight_bytes, row.input_bytes, row.output_bytes, row.macs,
            f"{row.arithmetic_intensity:.4f}", row.live_bytes, int(row.modelled),
        ])
    return buf.getvalue()


def print_profile(profile: MemoryProfile, console: Console, *, top: int | None = None) -> None:
    """Per-layer table plus totals, with the accounting stated."""
    t = profile.totals
    table = Table(title=f"cnnmem profile: {profile.model}", title_justify="left",
                  show_lines=False, header_style="bold")
    for col, justify in (("#", "right"), ("layer", "left"), ("op", "left"),
                         ("output", "left"), ("weights", "right"), ("in act.", "right"),
                         ("out act.", "right"), ("MACs", "right"), ("MAC/B", "right"),
                         ("live", "right")):
        if col == "layer":
            table.add_column(col, overflow="fold", max_width=60)
        else:
            table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    rows = list(profile.layers)
    if top is not None:
        rows = sorted(rows, key=lambda r: (-r.live_bytes, r.index))[:top]
        rows.sort(key=lambda r: r.index)
    for r in rows:
        op = r.op + (f"+{r.activation}" if r.activation else "")
        if not r.modelled:
            op += " (not modelled)"
        style = "bold red" if r.index == t.peak_step else None
        table.add_row(str(r.index), r.name, op, _shape(r.output_shape),
                      human_bytes(r.weight_bytes), human_bytes(r.input_bytes),
                      human_bytes(r.output_bytes), human_count(r.macs),
                      f"{r.arithmetic_intensity:.1f}", human_bytes(r.live_bytes), style=style)
    console.print(table)
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("parameters", f"{t.params:,}")
    summary.add_row("weights", f"{human_bytes(t.weight_bytes)} ({t.weight_bytes:,} B, "
                               f"{t.weight_elements:,} elements)")
    summary.add_row("MACs", f"{human_count(t.macs)} ({t.macs:,} multiply-accumulates; "
                            "Conv/ConvTranspose/Gemm/MatMul)")
    summary.add_row("activations, sum", f"{human_bytes(t.activation_bytes)} "
                                        f"({t.activation_bytes:,} B; intermediate buffers, "
                                        "graph inputs/outputs excluded)")
    summary.add_row("largest activation", f"{human_bytes(t.largest_activation_bytes)} "
                                          f"({t.largest_activation})")
    summary.add_row("peak live activations",
                    f"{human_bytes(t.peak_live_activation_bytes)} "
                    f"({t.peak_live_activation_bytes:,} B) at layer {t.peak_step} "
                    f"{t.peak_layer!r} (layer-by-layer schedule)")
    summary.add_row("accounting", profile.accounting.describe())
    if profile.metadata.get("assumptions"):
        summary.add_row("assumptions", profile.metadata["assumptions"])
    if profile.not_modelled:
        listed = ", ".join(f"{op} x{len(names)}" for op, names in profile.not_modelled.items())
        summary.add_row("not modelled", f"{listed} (imported generically: their tensors are "
                                        "counted, their MACs are 0)")
    console.print(summary)
