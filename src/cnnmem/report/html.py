"""``report.html``: one self-contained page answering, in order, the questions an engineer
asks about a network's on-chip memory.

1. *Summary* — does it fit? budget vs arenas, lower bound, restructured peak, DRAM traffic and
   bandwidth at the target fps, the accounting.
2. *Where the memory goes* — per-layer table (sortable) and bars, the live-memory curve.
3. *Buffer placement* — every planner's time x address chart, per-layer footprints,
   verification status.
4. *Restructuring* — peak before/after, rewritten segments, MAC overhead, equivalence, the
   rewritten ONNX file.
5. *Scheduling* — the buffer vs DRAM Pareto front with its limits, the schedule per group.
6. *Requirements* — scenario table and bandwidth vs on-chip trade-off.

# NOTE: the page must open with no network access: figures are embedded as base64 PNG
# (``data:`` URLs), the style sheet and the sorting script are inline, and the icon is an
# empty ``data:`` URL so the browser does not ask for ``favicon.ico``. Every piece of text that
# comes from the model or the user goes through :func:`esc`. Output is deterministic: no
# timestamps or timings.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cnnmem import __version__
from cnnmem.report.html_assets import CSS, SORT_JS
from cnnmem.report.plots import PLANNER_COLORS
from cnnmem.report.tables import human_bytes, human_count

if TYPE_CHECKING:
    from cnnmem.api import ReportData
    from cnnmem.report.bundle import Figure

SECTIONS = (("summary", "1. Summary"), ("memory", "2. Where the memory goes"),
            ("placement", "3. Buffer placement"), ("restructuring", "4. Restructuring"),
            ("scheduling", "5. Scheduling"), ("requirements", "6. Requirements"))
"""Section ids and headings, in page order."""


def esc(value: object) -> str:
    """HTML-escaped text (quotes too, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True, slots=True)
class Cell:
    """A table cell: escaped ``text``, an optional numeric sort key, a CSS class, and the
    planner whose colour swatch goes before the text (if any)."""

    text: str
    sort: float | None = None
    cls: str = ""
    planner: str = ""

    @classmethod
    def num(cls, value: float, text: str | None = None) -> Cell:
        """A right-aligned number sorted by ``value`` (shown as ``text`` or ``1,234``)."""
        shown = text if text is not None else (f"{value:,}" if isinstance(value, int)
                                               else f"{value:,.2f}")
        return cls(shown, float(value), "num")

    @classmethod
    def size(cls, nbytes: int | None) -> Cell:
        """Bytes in binary units, sorted by the byte count."""
        if nbytes is None:
            return cls("-", None, "num")
        return cls(human_bytes(nbytes), float(nbytes), "num")


def table(headers: Sequence[str], rows: Iterable[Sequence[Cell | str]], *,
          sortable: bool = False, row_classes: Sequence[str] | None = None,
          table_id: str = "") -> str:
    """An HTML table; ``sortable`` makes its columns sortable by clicking their header."""
    numeric: set[int] = set()
    body = []
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes and row_classes[i] else ""
        cells = []
        for j, c in enumerate(row):
            cell = c if isinstance(c, Cell) else Cell(str(c))
            if cell.cls == "num":
                numeric.add(j)
            attrs = f' class="{cell.cls}"' if cell.cls else ""
            if cell.sort is not None:
                attrs += f' data-v="{cell.sort!r}"'
            mark = swatch(cell.planner) if cell.planner else ""
            cells.append(f"<td{attrs}>{mark}{esc(cell.text)}</td>")
        row_attrs = f' class="{esc(cls)}"' if cls else ""
        body.append(f"<tr{row_attrs}>" + "".join(cells) + "</tr>")
    head = "".join(("<th class=\"num\">" if j in numeric else "<th>") + f"{esc(h)}</th>"
                   for j, h in enumerate(headers))
    ident = f' id="{esc(table_id)}"' if table_id else ""
    cls = ' class="sortable"' if sortable else ""
    return (f"<table{ident}{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
            "</tbody></table>")


def kv(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column definition list of (label, escaped-later text) pairs."""
    return '<dl class="kv">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>"
                                       for k, v in pairs) + "</dl>"


def swatch(planner: str) -> str:
    """A small square in the planner's colour (the colour of its figures)."""
    return f'<span class="sw" style="background:{PLANNER_COLORS.get(planner, "#999")}"></span>'


def figure(fig: Figure, png: bytes) -> str:
    """An embedded figure with its caption and a link to its file."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="fig-{esc(fig.file.rsplit(".", 1)[0])}">'
            f'<img src="data:image/png;base64,{data}" alt="{esc(fig.caption)}">'
            f"<figcaption>{esc(fig.caption)} File: <a href=\"{esc(fig.file)}\">"
            f"{esc(fig.file)}</a></figcaption></figure>")


def _yes_no(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    if value is None:
        return "-"
    return f'<span class="{"yes" if value else "no"}">{esc(yes if value else no)}</span>'


def _unavailable(text: str) -> str:
    return f'<p class="unavailable">{esc(text)}</p>'


def _gbps(bytes_per_s: float) -> str:
    return f"{bytes_per_s / 1e9:.3g} GB/s"


# ----------------------------------------------------------------------------- sections
def _summary(data: ReportData, s: Mapping[str, Any], figs: str) -> str:
    best = s["plans"][s["best_planner"]]
    level = "ok" if best["fits"] or s["restructured_fits"] else \
        ("warn" if s["dram_bytes_per_frame"] is not None else "bad")
    budget = s["activation_budget_bytes"]
    rows = []
    for r in data.plans:
        gap = r.arena_bytes - budget
        rows.append([Cell(r.planner, planner=r.planner), Cell.size(r.arena_bytes),
                     Cell.size(r.lower_bound_bytes),
                     Cell("yes" if gap <= 0 else f"no (+{human_bytes(gap)})",
                          float(gap), "yes" if gap <= 0 else "no")])
    planners = table(("planner", "arena", "lower bound (its rules)", "fits the budget"), rows)
    pairs = [("on-chip budget", f"{human_bytes(budget)} ({budget:,} B) for activations — "
                                f"{data.budget_source}; {s['hw']}"),
             ("peak live activations", f"{human_bytes(s['peak_live_bytes'])} at layer "
                                       f"{s['peak_layer']!r} (layer-by-layer schedule)"),
             ("lower bound", f"{human_bytes(s['lower_bound_bytes'])} — no placement under the "
                             "overlap rules (hwc-row dataflow) can use fewer bytes"),
             ("best plan", f"{s['best_planner']}: {human_bytes(best['arena_bytes'])}")]
    if s["restructured_peak_bytes"] is not None:
        pairs.append(("best restructured peak",
                      f"{human_bytes(s['restructured_peak_bytes'])} "
                      f"({'fits' if s['restructured_fits'] else 'does not fit'}; section 4)"))
    else:
        pairs.append(("best restructured peak", data.restructure_note or "-"))
    if s["dram_bytes_per_frame"] is not None:
        pairs.append(("DRAM traffic, best schedule",
                      f"{human_bytes(s['dram_bytes_per_frame'])} per frame in "
                      f"{human_bytes(s['schedule_buffer_bytes'])} of on-chip buffer (section 5)"))
        pairs.append((f"bandwidth at {data.fps:g} fps",
                      f"{_gbps(s['bandwidth_at_fps_bytes_per_s'])} needed, "
                      f"{_gbps(s['dram_bandwidth_bytes_per_s'])} available — "
                      + ("enough" if s["bandwidth_ok"] else "NOT enough")
                      + (f"; roofline frame rate {s['max_fps']:.1f} fps" if s["max_fps"]
                         else "")))
    else:
        pairs.append(("DRAM traffic, best schedule", data.explore_note or "-"))
    acct = s["accounting"]
    accounting = kv([
        ("dtype", f"{acct['dtype']} for every activation figure (from --dtype, or the "
                  "hardware's activation element size)"),
        ("graph", "fused (BN folded, activations fused, reshapes alias their input)"
         if acct["fused"] else "unfused"),
        ("graph inputs/outputs", "counted in live memory and the arena"
         if acct["graph_io_counted"] else "not counted"),
        ("alignment", f"{acct['alignment_bytes']} B"),
        ("MACs", "multiply-accumulates of Conv, ConvTranspose, Gemm, MatMul (not FLOPs)"),
        ("weights", "not activation memory: listed per layer; the schedules of section 5 "
                    "hold them in the buffer or stream them from DRAM"),
    ])
    quick = ('<p class="note">--quick: the optimal planner and the execution proofs were '
             "skipped and the restructuring and scheduling searches narrowed.</p>"
             if data.quick else "")
    return (f'<div class="verdict {level}">{esc(s["verdict"][:1].upper() + s["verdict"][1:])}'
            f"</div>{quick}{kv(pairs)}{planners}{figs}<h3>Accounting</h3>{accounting}")


def _memory(data: ReportData, figs: str) -> str:
    p = data.profile
    t = p.totals
    pairs = [("parameters", f"{t.params:,}"),
             ("weights", f"{human_bytes(t.weight_bytes)} ({t.weight_bytes:,} B)"),
             ("MACs", f"{human_count(t.macs)} ({t.macs:,} multiply-accumulates)"),
             ("activations, sum", f"{human_bytes(t.activation_bytes)} (intermediate buffers, "
                                  "each once)"),
             ("largest activation", f"{human_bytes(t.largest_activation_bytes)} "
                                    f"({t.largest_activation})"),
             ("peak live activations", f"{human_bytes(t.peak_live_activation_bytes)} at step "
                                       f"{t.peak_step}, layer {t.peak_layer!r}")]
    if p.not_modelled:
        pairs.append(("not modelled", ", ".join(f"{op} x{len(n)}"
                                                for op, n in p.not_modelled.items())
                      + " (imported generically: tensors counted, MACs 0)"))
    rows = []
    classes = []
    for r in p.layers:
        op = r.op + (f"+{r.activation}" if r.activation else "")
        rows.append([Cell.num(r.index), Cell(r.name), Cell(op),
                     Cell("x".join(map(str, r.output_shape))), Cell.size(r.weight_bytes),
                     Cell.size(r.input_bytes), Cell.size(r.output_bytes),
                     Cell.num(r.macs, human_count(r.macs)),
                     Cell.num(r.arithmetic_intensity, f"{r.arithmetic_intensity:.1f}"),
                     Cell.size(r.live_bytes)])
        classes.append("peak" if r.index == t.peak_step else "")
    layers = table(("#", "layer", "op", "output", "weights", "input act.", "output act.",
                    "MACs", "MACs/B", "live"), rows, sortable=True, row_classes=classes,
                   table_id="layers")
    return (kv(pairs) + figs + "<h3>Per-layer table</h3>"
            '<p class="note">Click a column header to sort. The peak layer is highlighted. '
            f"{esc(p.accounting.describe())}.</p>"
            f'<div class="scroll">{layers}</div>')


def _placement(data: ReportData, figs: Sequence[str]) -> str:
    pingpong = next((r.arena_bytes for r in data.plans if r.planner == "pingpong"), None)
    rows = []
    for r in data.plans:
        change = 100.0 * (r.arena_bytes - pingpong) / pingpong if pingpong else 0.0
        proof = {True: "proven", False: "FAILED", None: "not run"}[r.verified]
        detail = "skipped (--quick)" if data.quick and r.verified is None else \
            f"{proof}: {r.verification}"
        rows.append([Cell(r.planner, planner=r.planner), Cell.size(r.arena_bytes),
                     Cell.num(change, f"{change:+.1f}%"), Cell.size(r.lower_bound_bytes),
                     Cell.size(r.fragmentation_bytes),
                     Cell({True: "proven", False: "not proven", None: "-"}[r.plan.optimal]),
                     Cell("passed"),
                     Cell(detail,
                          cls="ok-text" if r.verified else ("no" if r.verified is False else ""))])
    plans = table(("planner", "arena", "vs pingpong", "lower bound", "fragmentation",
                   "optimal", "overlap checker", "execution proof"), rows)
    overlap = next((r for r in data.plans if r.planner == "overlap"), data.plans[-1])
    fp_rows = [[Cell.num(r.step), Cell(r.layer), Cell(r.op), Cell.size(r.live_bytes),
                Cell.size(r.required_bytes), Cell.size(r.extent_bytes),
                Cell(r.overlap_input or "-"),
                Cell(f"{r.overlap_distance_bytes:,} / {r.overlap_reverse_distance_bytes:,}"
                     if r.overlap_input else "-"), Cell(r.direction or "-")]
               for r in overlap.layers]
    footprints = table(("step", "layer", "op", "live (disjoint)", "required (overlap)",
                        "address range used", "overlaps input", "distance fwd / rev (B)",
                        "direction"), fp_rows, sortable=True, table_id="footprints")
    flow = overlap.dataflow.value if overlap.dataflow else "none"
    return ('<p class="note">ping-pong keeps every layer\'s input and output apart; overlap '
            "lets a layer's output overlap the input that dies at that layer by the distance "
            f"the dataflow ({esc(flow)}) allows; optimal is the exact minimum under the same "
            "rules (CP-SAT). Colours are the same in every figure. Every plan passed the "
            "overlap checker (no two live buffers share a byte unless the overlap model allows "
            "it); the execution proof runs the network inside one byte array at the planned "
            "addresses and compares every tensor with a reference evaluation.</p>"
            f"{plans}{figs[0] if figs else ''}"
            f'<h3>Time x address charts</h3><div class="figs">{"".join(figs[1:])}</div>'
            f"<details><summary>Per-layer overlap footprints ({esc(overlap.planner)} plan)"
            f'</summary><div class="scroll">{footprints}</div></details>')


def _restructuring(data: ReportData, figs: str, onnx_name: str | None) -> str:
    rs = data.restructured
    if rs is None:
        return _unavailable(f"Restructuring is not available: {data.restructure_note}")
    r = rs.result
    integer = rs.original.metadata.get("source_format") == "tflite" or \
        rs.original.metadata.get("qdq_folded") == "true"
    how = ("cnnmem's integer interpreter, bit-exact on every shared tensor" if integer
           else "onnxruntime on random inputs and weights, rtol 1e-4")
    equivalent = {True: f"equivalent ({how})", False: f"NOT equivalent ({how})",
                  None: "not checked"}[r.equivalent]
    pairs = [("peak", f"{human_bytes(r.peak_before_bytes)} -> {human_bytes(r.peak_after_bytes)}"
                      f" ({-100 * r.peak_saving:+.1f}%, planner {r.planner}, concatenations "
                      "in place)"),
             ("MACs", f"{human_count(r.macs_before)} -> {human_count(r.macs_after)} "
                      f"({100 * r.mac_overhead:+.2f}% multiply-accumulates from halo "
                      "recomputation)"),
             ("equivalence check", equivalent),
             ("states evaluated", f"{r.evaluated:,}")]
    if r.overlap_before_bytes is not None:
        pairs.insert(1, ("overlap arena", f"{human_bytes(r.overlap_before_bytes)} -> "
                                          f"{human_bytes(r.overlap_after_bytes or 0)}"))
    if data.quick:
        pairs.append(("search", "--quick: segments of at most 6 layers, 2/4/8 tiles, "
                                "12 greedy steps"))
    if onnx_name:
        link = (f'<p>Rewritten model: <a href="{esc(onnx_name)}">{esc(onnx_name)}</a> '
                "(passes onnx.checker; weights as in the source, seeded random where the "
                "source has none).</p>")
    elif not r.segments:
        link = ('<p class="note">No rewrite lowered the peak within the MAC budget, so no '
                "rewritten model was written.</p>")
    else:
        link = ('<p class="note">The source is a TFLite model, which cannot be written back '
                "as ONNX: no rewritten file.</p>")
    # the segments' JSON form: "parts" is the number of tiles, "grid" (when present) the
    # row bands x column bands of an H x W tiling
    rows = []
    for i, seg in enumerate(s.as_dict() for s in r.segments):
        grid = "x".join(map(str, seg["grid"])) if seg.get("grid") else str(seg["parts"])
        rows.append([Cell.num(i), Cell(seg["layers"][0]), Cell(seg["layers"][-1]),
                     Cell.num(len(seg["layers"])), Cell(seg["axis"]),
                     Cell.num(seg["parts"]), Cell(grid)])
    segments = table(("#", "first layer", "last layer", "layers", "axis", "tiles",
                      "grid (rows x cols)"), rows)
    front = table(("peak", "MACs", "MAC overhead", "segments"),
                  [[Cell.size(p.peak_bytes), Cell.num(p.macs, human_count(p.macs)),
                    Cell.num(p.overhead, f"{100 * p.overhead:+.2f}%"),
                    Cell.num(len(p.segments))] for p in r.pareto])
    return (kv(pairs) + link + figs + "<h3>Rewritten segments</h3>"
            + (segments if r.segments else '<p class="note">none</p>')
            + "<details><summary>Pareto front of the search (peak vs MACs)</summary>"
            + front + "</details>")


def _scheduling(data: ReportData, figs: str) -> str:
    ex = data.explored
    if ex is None:
        return _unavailable(f"No schedule: {data.explore_note}")
    d = ex.as_dict()
    pairs = [("hardware", ex.hw.describe())]
    for label, key in (("best schedule", "best"), ("layer-by-layer", "baseline")):
        p = d[key]
        fps = f"{p['fps']:.1f} fps" if p["fps"] else "-"
        pairs.append((label, f"DRAM {human_bytes(p['dram_bytes'])} per frame, buffer "
                             f"{human_bytes(p['buffer_bytes'])}, {human_count(p['macs'])} MACs, "
                             f"{fps} ({p['bound']} bound); at {data.fps:g} fps "
                             f"{_gbps(p['dram_bytes'] * data.fps)}"))
    pairs.append(("compulsory", f"DRAM {human_bytes(d['compulsory_dram_bytes'])} per frame "
                                "(each input, weight and output once)"))
    if d["reduction_vs_baseline"]:
        pairs.append(("reduction", f"{d['reduction_vs_baseline']:.1f}x less DRAM traffic than "
                                   "layer by layer"))
    pairs.append(("search", f"{len(d['pareto'])} Pareto points, "
                            f"{d['candidates_evaluated']:,} candidates, fused groups of at most "
                            f"{d['max_group_layers']} layers"))
    rows = []
    for g in d["best"]["groups"]:
        tile = f"{g['tile_rows']}x{g['tile_cols']}x{g['tile_channels']}"
        if g["tile_in_channels"]:
            tile += f"/ci{g['tile_in_channels']}"
        rows.append([Cell(g["first_layer"]), Cell(g["last_layer"]), Cell.num(g["layers"]),
                     Cell(tile), Cell(g["loop_order"]), Cell(g["halo"]),
                     Cell("resident" if g["weights_resident"] else "streamed"),
                     Cell.size(g["buffer_bytes"]), Cell.size(g["dram_read_bytes"]),
                     Cell.size(g["dram_write_bytes"]), Cell.num(g["macs"],
                                                                human_count(g["macs"]))])
    groups = table(("first layer", "last layer", "layers", "tile (rows x cols x ch)", "order",
                    "halo", "weights", "buffer", "DRAM read", "DRAM write", "MACs"), rows,
                   sortable=True, table_id="groups")
    return (kv(pairs) + figs + "<h3>Chosen schedule per fused group</h3>"
            f'<div class="scroll">{groups}</div>')


def _requirements(data: ReportData, figs: str) -> str:
    if data.requirements is None:
        return _unavailable(f"Requirements are unavailable: {data.requirements_note}. No "
                            "scenario table or bandwidth vs on-chip curve is shown.")
    d = data.requirements.as_dict()
    rows = []
    for name, sc in sorted(d["scenarios"].items()):
        fps = sc["fps_at_hw"]
        rows.append([Cell(name), Cell(sc["title"]), Cell.size(sc["buffer_bytes"]),
                     Cell.size(sc["dram_bytes"]),
                     Cell.num(sc["bandwidth_bytes_per_s"], _gbps(sc["bandwidth_bytes_per_s"])),
                     Cell.num(fps, f"{fps:.1f}") if fps is not None else Cell("-"),
                     Cell(sc["bound"]), Cell(sc["definition"])])
    scenarios = table(("scenario", "", "on-chip buffer", "DRAM per frame",
                       f"bandwidth at {d['fps']:g} fps", "fps at the hardware", "bound",
                       "definition"), rows, table_id="scenarios")
    hw = d["hw"]
    pairs = [("accounting", d["accounting"]),
             ("budget", f"{human_bytes(hw['budget_bytes'])}; {hw['description']}"),
             ("compulsory DRAM traffic", human_bytes(d["totals"]["compulsory_dram_bytes"])
              + " per frame")]
    design = d["design"]["network"]
    if design is not None:
        pairs.append(("design point at the budget",
                      f"buffer {human_bytes(design['buffer_bytes'])}, DRAM "
                      f"{human_bytes(design['dram_bytes'])} per frame = "
                      f"{_gbps(design['bandwidth_bytes_per_s'])} at {d['fps']:g} fps"
                      + (f", {design['fps_at_hw']:.1f} fps at the hardware ("
                         f"{design['bound']} bound)" if design["fps_at_hw"] else "")))
    fused = d["design"]["fused_at_budget"]
    if fused is not None:
        pairs.append(("fused groups at the budget",
                      f"buffer {human_bytes(fused['buffer_bytes'])}, DRAM "
                      f"{human_bytes(fused['dram_bytes'])} per frame = "
                      f"{_gbps(fused['bandwidth_bytes_per_s'])}"))
    return kv(pairs) + "<h3>Scenarios</h3>" + scenarios + figs


def render_html(data: ReportData, summary: Mapping[str, Any], figures: Sequence[Figure],
                images: Mapping[str, bytes], files: Sequence[str],
                onnx_name: str | None) -> str:
    """The whole page.

    Args:
        data: what the API computed.
        summary: section 1 as data (:func:`cnnmem.report.bundle.summary`).
        figures: the figures, each shown in its section.
        images: PNG bytes by figure file name.
        files: every file of the report folder, linked at the bottom.
        onnx_name: the rewritten ONNX file, if written.
    """
    def figs(section: str) -> list[str]:
        return [figure(f, images[f.file]) for f in figures if f.section == section]

    bodies = {
        "summary": _summary(data, summary, "".join(figs("summary"))),
        "memory": _memory(data, "".join(figs("memory"))),
        "placement": _placement(data, figs("placement")),
        "restructuring": _restructuring(data, "".join(figs("restructuring")), onnx_name),
        "scheduling": _scheduling(data, "".join(figs("scheduling"))),
        "requirements": _requirements(data, "".join(figs("requirements"))),
    }
    nav = "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title in SECTIONS)
    sections = "".join(f'<section id="{sid}"><h2>{esc(title)}</h2>{bodies[sid]}</section>'
                       for sid, title in SECTIONS)
    links = "".join(f'<li><a href="{esc(name)}">{esc(name)}</a></li>' for name in files)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>cnnmem report: {esc(data.model)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>cnnmem report: {esc(data.model)}</h1>
<p><code>{esc(data.command)}</code></p>
<p>{esc(data.profile.accounting.describe())}; {esc(data.hw.describe())}</p>
</header>
<nav>{nav}</nav>
<main>{sections}</main>
<footer><p>Files in this folder:</p><ul>{links}</ul>
<p>cnnmem {esc(__version__)}</p></footer>
<script>{SORT_JS}</script>
</body>
</html>
"""
