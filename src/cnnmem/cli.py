"""Command line: argparse wiring only; every command calls the public API.

Errors a user can cause print one line (``cnnmem: error: ...``) and exit with code 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from cnnmem import __version__
from cnnmem.errors import CnnmemError, ConfigError


def _resolution(text: str) -> tuple[int, int]:
    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        dims = []
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) <= 0:
        raise argparse.ArgumentTypeError(f"bad resolution {text!r}: write HxW, e.g. 224x224 "
                                         "(or one number for a square input)")
    return dims[0], dims[1]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an .onnx or .tflite file, or a built-in network (cnnmem zoo)")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=1x3x224x224",
                   help="pin an ONNX input's shape (repeatable)")
    p.add_argument("--resolution", type=_resolution, metavar="HxW",
                   help="input resolution of a built-in network")
    p.add_argument("--width", type=_positive_float, metavar="W",
                   help="width multiplier of a built-in network that has one")
    p.add_argument("--no-fuse", action="store_true",
                   help="keep the graph as imported (no BN folding, activation/pad fusion, "
                        "Identity removal; reshapes get their own buffers)")


def build_parser() -> argparse.ArgumentParser:
    """The ``cnnmem`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="cnnmem",
        description="How much on-chip memory does this CNN need, why, and how to make it less.")
    parser.add_argument("--version", action="version", version=f"cnnmem {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    zoo = sub.add_parser("zoo", help="list the built-in networks")
    zoo.add_argument("--json", action="store_true", help="print JSON instead of a table")

    prof = sub.add_parser("profile", help="per-layer memory table of a model")
    _add_model_args(prof)
    prof.add_argument("--dtype", metavar="T",
                      help="element type for activations and weights (int8, int16, float16, "
                           "float32...); default: as stored in the file")
    prof.add_argument("--align", type=int, default=1, metavar="BYTES",
                      help="round every buffer up to a multiple of BYTES (default 1)")
    prof.add_argument("--exclude-io", action="store_true",
                      help="leave graph inputs/outputs out of the live-memory figures")
    prof.add_argument("--json", nargs="?", const="-", metavar="FILE",
                      help="write the profile as JSON to FILE (or stdout without FILE)")
    prof.add_argument("--csv", metavar="FILE", help="write one CSV row per layer to FILE")
    prof.add_argument("--top", type=int, metavar="N",
                      help="show only the N layers with the most live memory")

    pl = sub.add_parser("plan", help="plan the activation arena (address map, C header, chart)")
    _add_model_args(pl)
    pl.add_argument("--planner", default="overlap",
                    choices=["naive", "pingpong", "greedy", "overlap", "optimal", "all"],
                    help="placement algorithm (default overlap); 'all' compares them")
    pl.add_argument("--dataflow", default="hwc-row",
                    choices=["hwc-row", "hwc-pixel", "hwc-element", "chw-outer", "none"],
                    help="order in which layers produce outputs, which sets how far an output "
                         "may overlap its dying input (default hwc-row; none: no overlap)")
    pl.add_argument("--dtype", metavar="T", help="element type for activations (as profile)")
    pl.add_argument("--align", type=int, default=1, metavar="BYTES",
                    help="buffer size and offset alignment (default 1)")
    pl.add_argument("--exclude-io", action="store_true",
                    help="keep graph inputs/outputs out of the arena")
    pl.add_argument("--time-limit", type=_positive_float, default=60.0, metavar="S",
                    help="time limit of the optimal planner in seconds (default 60)")
    pl.add_argument("--verify", action="store_true",
                    help="prove the plan by running the network inside one byte array at the "
                         "planned addresses and comparing with a reference evaluation")
    pl.add_argument("--seed", type=int, default=0, help="seed of the verification's data")
    pl.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="address map as JSON to FILE (or stdout without FILE)")
    pl.add_argument("--header", metavar="FILE", help="write a C header with the offsets")
    pl.add_argument("--tflm-plan", metavar="OUT.tflite",
                    help="TFLite models: write a copy with the plan as a TFLite Micro offline "
                         "memory plan (needs ai-edge-litert; overlap plans need --dataflow "
                         "hwc-element, the loop order of TFLM's kernels)")
    pl.add_argument("--layers", action="store_true", help="print the per-layer footprints")
    pl.add_argument("--no-chart", action="store_true", help="do not print the ASCII chart")
    pl.add_argument("-o", "--output-dir", metavar="DIR",
                    help="write plan.json, plan.h, plan_chart.txt and plan_chart.png to DIR")

    rs = sub.add_parser("restructure", help="rewrite a model so its activation peak drops")
    _add_model_args(rs)
    rs.add_argument("--max-overhead", type=float, metavar="F",
                    help="least peak within this MAC overhead (fraction, default 0.1)")
    rs.add_argument("--budget", metavar="SIZE",
                    help="least MAC overhead whose peak fits SIZE (e.g. 256KiB)")
    rs.add_argument("--planner", default="greedy", choices=["greedy", "overlap", "optimal"],
                    help="planner the search minimises (default greedy); overlap plans each "
                         "layer's output over its dying input (hwc-row dataflow): lower "
                         "peaks, slower search")
    rs.add_argument("--dtype", metavar="T", help="element type for activations (as profile)")
    rs.add_argument("--align", type=int, default=1, metavar="BYTES")
    rs.add_argument("--exclude-io", action="store_true",
                    help="keep graph inputs/outputs out of the arena (e.g. a camera frame "
                         "buffer of its own)")
    rs.add_argument("--no-check", action="store_true",
                    help="skip the onnxruntime equivalence check (and the plan's proof)")
    rs.add_argument("--no-prove", action="store_true",
                    help="skip the execution proof of the rewritten graph's plan (run by "
                         "default with the equivalence check)")
    rs.add_argument("--no-reorder", action="store_true",
                    help="keep the model's own layer order (default: search in the topological "
                         "order with the least liveness peak when it is lower)")
    rs.add_argument("--no-channels", action="store_true",
                    help="tile only: do not try channel chains (conv, channel-wise layers, conv "
                         "computed in channel bands with partial sums; tried by default on "
                         "float graphs under a float accounting, where they are exact)")
    rs.add_argument("--seed", type=int, default=0, help="seed of random weights and inputs")
    rs.add_argument("-o", "--output", metavar="OUT.onnx", help="write the rewritten model")
    rs.add_argument("--plots", metavar="DIR", help="write live-memory curves before/after")
    rs.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="result as JSON to FILE (or stdout)")

    ex = sub.add_parser("explore", help="fused/tiled schedules: on-chip buffer vs DRAM traffic")
    _add_model_args(ex)
    hw = ex.add_mutually_exclusive_group(required=True)
    hw.add_argument("--hw", metavar="HW.yaml", help="hardware description (examples/hw/)")
    hw.add_argument("--buffer", metavar="SIZE",
                    help="one shared on-chip buffer of SIZE (e.g. 256KiB), default hardware")
    ex.add_argument("--max-group-layers", type=int, default=16, metavar="L",
                    help="longest fused group (default 16)")
    ex.add_argument("--max-recompute", type=float, default=0.25, metavar="F",
                    help="drop schedules recomputing more than F x the MACs (default 0.25; "
                         "-1: no limit)")
    ex.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="result as JSON to FILE (or stdout)")
    ex.add_argument("-o", "--output-dir", metavar="DIR",
                    help="write explore.json and pareto.png to DIR")

    rp = sub.add_parser("report", help="the whole analysis as one self-contained HTML page "
                                       "plus JSON, CSV and figures")
    _add_model_args(rp)
    rp_hw = rp.add_mutually_exclusive_group()
    rp_hw.add_argument("--hw", metavar="HW.yaml", help="hardware description (examples/hw/)")
    rp_hw.add_argument("--buffer", metavar="SIZE",
                       help="one shared on-chip buffer of SIZE, default hardware (default "
                            "1MiB when neither --hw nor --buffer is given)")
    rp.add_argument("--dtype", metavar="T",
                    help="element type for activations (default: the hardware's activation "
                         "element size, int8 for --buffer)")
    rp.add_argument("--fps", type=_positive_float, default=30.0,
                    help="target frame rate for the bandwidth figures (default 30)")
    rp.add_argument("--quick", action="store_true",
                    help="skip the optimal planner and the execution proofs, narrow the "
                         "restructuring and scheduling searches")
    rp.add_argument("--time-limit", type=_positive_float, default=60.0, metavar="S",
                    help="time limit of the optimal planner in seconds (default 60)")
    rp.add_argument("--seed", type=int, default=0,
                    help="seed of random weights/inputs (proofs, equivalence, ONNX export)")
    rp.add_argument("-o", "--output-dir", metavar="DIR", required=True,
                    help="write report.html, JSON, CSV and figures to DIR")

    _add_requirements_parser(sub)

    cg = sub.add_parser("codegen", help="plain C99 of a fused/tiled schedule that counts its "
                                        "DRAM transfers")
    _add_model_args(cg)
    cg.add_argument("--schedule", metavar="FILE",
                    help="`cnnmem explore --json` output (its best schedule) or a schedule.json;"
                         " default: explore at the budget")
    cghw = cg.add_mutually_exclusive_group()
    cghw.add_argument("--hw", metavar="HW.yaml", help="hardware description (element_bytes "
                                                     "must be 4/4/4 for float32 code)")
    cghw.add_argument("--buffer", metavar="SIZE",
                      help="one shared buffer of SIZE with float32 (4-byte) elements")
    cg.add_argument("-o", "--output-dir", metavar="DIR", required=True,
                    help="write model.c, Makefile, schedule.json, expected.json, io.json, "
                         "weights.bin")
    cg.add_argument("--seed", type=int, default=0, help="seed of weights the model lacks")
    cg.add_argument("--max-group-layers", type=int, default=16, metavar="L",
                    help="longest fused group when exploring (default 16)")
    cg.add_argument("--json", action="store_true", help="print the expected counts as JSON")

    exp = sub.add_parser("export", help="write a built-in network (or a model) as ONNX")
    _add_model_args(exp)
    exp.add_argument("output", help="the .onnx file to write")
    exp.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    exp.add_argument("--fused", action="store_true",
                     help="export the simplified graph (default: as built/imported)")
    return parser


def _cmd_zoo(args: argparse.Namespace, console: Console) -> int:
    from cnnmem.report.tables import dumps_json
    from cnnmem.zoo import list_networks

    entries = list_networks()
    if args.json:
        data = {"networks": [
            {"name": e.name, "domain": e.domain, "description": e.description,
             "default_resolution": list(e.default_resolution),
             "input_channels": e.input_channels, "supports_width": e.supports_width}
            for e in entries]}
        sys.stdout.write(dumps_json(data))
        return 0
    table = Table(title="cnnmem built-in networks", title_justify="left", header_style="bold")
    for col in ("name", "domain", "input", "width", "description"):
        table.add_column(col, overflow="fold")
    for e in entries:
        h, w = e.default_resolution
        table.add_row(e.name, e.domain, f"{e.input_channels}x{h}x{w}",
                      "yes" if e.supports_width else "-", e.description)
    console.print(table)
    return 0


def _input_shapes(args: argparse.Namespace) -> dict[str, tuple[int, ...]]:
    from cnnmem.frontend.onnx_import import parse_input_shapes

    return parse_input_shapes(args.input_shape)


def _cmd_profile(args: argparse.Namespace, console: Console) -> int:
    from cnnmem.api import profile
    from cnnmem.report.tables import dumps_json, print_profile, profile_csv, write_text

    if args.top is not None and args.top <= 0:
        raise ConfigError("--top must be a positive number of layers")
    result = profile(args.model, dtype=args.dtype, fuse=not args.no_fuse,
                     input_shapes=_input_shapes(args), resolution=args.resolution,
                     width=args.width, include_io=not args.exclude_io, alignment=args.align)
    if args.csv:
        write_text(args.csv, profile_csv(result))
    if args.json == "-":
        sys.stdout.write(dumps_json(result.as_dict()))
        return 0
    if args.json:
        write_text(args.json, dumps_json(result.as_dict()))
    print_profile(result, console, top=args.top)
    for path, what in ((args.json, "JSON"), (args.csv, "CSV")):
        if path:
            console.print(f"wrote {what} to {path}", soft_wrap=True)
    return 0


def _cmd_codegen(args: argparse.Namespace, console: Console) -> int:
    from cnnmem.api import codegen
    from cnnmem.report.tables import dumps_json, human_bytes

    if args.no_fuse:
        raise ConfigError("codegen works on the simplified graph; drop --no-fuse")
    out = codegen(args.model, output_dir=args.output_dir, schedule_path=args.schedule,
                  hw_path=args.hw, buffer=args.buffer, seed=args.seed,
                  max_group_layers=args.max_group_layers, input_shapes=_input_shapes(args),
                  resolution=args.resolution, width=args.width)
    if args.json:
        sys.stdout.write(dumps_json(out.expected))
        return 0
    e = out.expected
    sizes = e["element_bytes"]
    console.print(f"{e['storage']} program: elements activation {sizes['activation']} B, "
                  f"weight {sizes['weight']} B, bias {sizes['bias']} B, partial sum "
                  f"{sizes['partial_sum']} B", soft_wrap=True)
    console.print(f"{out.model}: {len(e['groups'])} fused groups"
                  f"{' (explored)' if out.explored else ''}; on-chip array "
                  f"{human_bytes(e['onchip_bytes'])}, DRAM read {human_bytes(e['dram_read_bytes'])}"
                  f", write {human_bytes(e['dram_write_bytes'])} per frame", soft_wrap=True)
    console.print(f"wrote {args.output_dir} (build: make -C {args.output_dir}; run: ./model "
                  "weights.bin input.bin output.bin)", soft_wrap=True)
    return 0


def _cmd_export(args: argparse.Namespace, console: Console) -> int:
    from cnnmem.api import ModelOptions, load
    from cnnmem.frontend.onnx_export import save_onnx

    options = ModelOptions(args.model, _input_shapes(args), args.resolution, args.width,
                           fuse=args.fused)
    graph = load(options, weights=True, seed=args.seed)
    missing = any(t.data is None for t in graph.constants)
    path = save_onnx(graph, args.output, random_weights=True, seed=args.seed)
    note = " (weights absent in the source: filled with seeded random values)" if missing else ""
    console.print(f"wrote {path} ({len(graph)} nodes, "
                  f"{'fused' if args.fused else 'unfused'} graph){note}", soft_wrap=True)
    return 0


def _cmd_plan(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from cnnmem.api import plan
    from cnnmem.report.plan_outputs import ascii_chart, c_header, print_plan
    from cnnmem.report.tables import dumps_json, human_bytes, write_text

    if args.align < 1:
        raise ConfigError("--align must be a positive number of bytes")
    names = (["naive", "pingpong", "greedy", "overlap", "optimal"] if args.planner == "all"
             else [args.planner])
    results = [plan(args.model, planner=name, dataflow=args.dataflow, dtype=args.dtype,
                    fuse=not args.no_fuse, alignment=args.align,
                    include_io=not args.exclude_io, input_shapes=_input_shapes(args),
                    resolution=args.resolution, width=args.width,
                    time_limit_s=args.time_limit, verify_plan=args.verify, seed=args.seed)
               for name in names]
    if args.planner == "all":
        if args.json:
            data = {"schema": "cnnmem.plan-comparison/1",
                    "plans": [r.as_dict() for r in results]}
            if args.json == "-":
                sys.stdout.write(dumps_json(data))
                return 0
            write_text(args.json, dumps_json(data))
        base = next(r for r in results if r.planner == "pingpong").arena_bytes
        table = Table(title=f"cnnmem plan: {results[0].model} "
                            f"(dataflow {args.dataflow})", title_justify="left",
                      header_style="bold")
        for col in ("planner", "arena", "bytes", "vs pingpong", "lower bound", "optimal",
                    "verified"):
            table.add_column(col, justify="left" if col == "planner" else "right")
        for r in results:
            change = 100.0 * (r.arena_bytes - base) / base if base else 0.0
            table.add_row(r.planner, human_bytes(r.arena_bytes), f"{r.arena_bytes:,}",
                          f"{change:+.1f}%" if round(change, 1) else "0.0%",
                          f"{r.lower_bound_bytes:,}",
                          {True: "proven", False: "no", None: "-"}[r.plan.optimal],
                          str(r.verified))
        console.print(table)
        console.print(f"accounting: {results[0].accounting.describe()}", soft_wrap=True)
        return 0 if all(r.verified is not False for r in results) else 1
    result = results[0]
    if args.json == "-":
        sys.stdout.write(dumps_json(result.as_dict()))
        return 0 if result.verified is not False else 1
    if args.json:
        write_text(args.json, dumps_json(result.as_dict()))
    if args.header:
        write_text(args.header, c_header(result))
    if args.tflm_plan:
        _write_tflm_plan(args, result)
    if args.output_dir:
        from cnnmem.report.plots import plan_chart

        out = Path(args.output_dir)
        write_text(out / "plan.json", dumps_json(result.as_dict()))
        write_text(out / "plan.h", c_header(result))
        write_text(out / "plan_chart.txt", ascii_chart(result) + "\n")
        plan_chart(result, out / "plan_chart.png")
    print_plan(result, console, chart=not args.no_chart, layers=args.layers)
    for path in (args.json, args.header, args.tflm_plan, args.output_dir):
        if path:
            console.print(f"wrote {path}", soft_wrap=True)
    if result.verified is False:
        console.print(f"the execution proof FAILED: {result.verification}", style="bold red",
                      soft_wrap=True)
        return 1
    return 0


def _write_tflm_plan(args: argparse.Namespace, result: object) -> None:
    from cnnmem.frontend.tflite_offline import write_offline_plan
    from cnnmem.planning.result import PlanResult

    assert isinstance(result, PlanResult)
    if result.source_format != "tflite":
        raise ConfigError("--tflm-plan needs a .tflite model")
    overlapping = [r for r in result.layers if r.direction in ("forward", "reverse")]
    if overlapping and (result.dataflow is None or result.dataflow.value != "hwc-element"):
        raise ConfigError(f"this plan overlaps buffers under dataflow "
                          f"{result.dataflow.value if result.dataflow else 'none'}, but TFLite "
                          "Micro's kernels write one element at a time, forward: plan with "
                          "--dataflow hwc-element (or a disjoint planner) for --tflm-plan")
    offsets = {t: b.offset for b in result.buffers for t in b.tensors}
    write_offline_plan(args.model, args.tflm_plan, offsets)


def _reordering_text(reordering: Any) -> str:
    """One line on the memory-aware schedule of ``cnnmem restructure``."""
    from cnnmem.report.tables import human_bytes

    if reordering is None:
        return "the model's own (--no-reorder)"
    how = "least liveness peak over all topological orders" if reordering.exact else \
        "greedy heuristic (too many orders for the exact search)"
    if reordering.applied:
        return (f"reordered ({how}): liveness peak {human_bytes(reordering.live_peak_before_bytes)}"
                f" -> {human_bytes(reordering.live_peak_after_bytes)}, arena before tiling "
                f"{human_bytes(reordering.arena_bytes)}")
    if reordering.live_peak_after_bytes < reordering.live_peak_before_bytes:
        return (f"the model's own: a lower-peak order ({how}) would raise the planner's arena "
                f"to more than {human_bytes(reordering.arena_bytes)}")
    return f"the model's own (already {how})"


def _cmd_restructure(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from cnnmem.api import restructure
    from cnnmem.frontend.onnx_export import save_onnx
    from cnnmem.report.tables import dumps_json, human_bytes, human_count, write_text

    out = restructure(args.model, max_overhead=args.max_overhead, budget=args.budget,
                      planner=args.planner, dtype=args.dtype, alignment=args.align,
                      input_shapes=_input_shapes(args), resolution=args.resolution,
                      width=args.width, check=not args.no_check, seed=args.seed,
                      include_io=not args.exclude_io,
                      prove=not (args.no_check or args.no_prove), reorder=not args.no_reorder,
                      channels=False if args.no_channels else None)
    r = out.result
    code = 0 if r.equivalent is not False and out.plan_proven is not False else 1
    if args.output:
        if out.rewritten.metadata.get("source_format") == "tflite":
            raise ConfigError("-o writes ONNX; a TFLite model cannot be written as ONNX")
        save_onnx(out.rewritten, args.output, random_weights=True, seed=args.seed)
    if args.plots:
        from cnnmem.report.plots import live_curves

        live_curves(out.live_before, out.live_after,
                    f"{out.model}: live activations before/after restructuring",
                    Path(args.plots) / "restructure_live.png")
    if args.json == "-":
        sys.stdout.write(dumps_json(out.as_dict()))
        return code
    if args.json:
        write_text(args.json, dumps_json(out.as_dict()))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("model", out.model)
    grid.add_row("peak", f"{human_bytes(r.peak_before_bytes)} -> "
                         f"{human_bytes(r.peak_after_bytes)} ({-100 * r.peak_saving:+.1f}%, "
                         f"planner {r.planner}, in-place concatenation)")
    if r.overlap_before_bytes is not None:
        grid.add_row("overlap arena", f"{human_bytes(r.overlap_before_bytes)} -> "
                                      f"{human_bytes(r.overlap_after_bytes or 0)}")
    grid.add_row("MACs", f"{human_count(r.macs_before)} -> {human_count(r.macs_after)} "
                         f"({100 * r.mac_overhead:+.2f}%)")
    grid.add_row("layer order", _reordering_text(r.reordering))
    integer = out.original.metadata.get("source_format") == "tflite" or \
        out.original.metadata.get("qdq_folded") == "true"
    how = ("cnnmem's int8 interpreter, bit-exact on every shared tensor" if integer
           else "onnxruntime, random inputs and weights")
    unchanged = not r.segments and not r.schedule
    grid.add_row("equivalent", {True: f"yes ({how})", False: "NO",
                                None: "nothing rewritten" if unchanged and not args.no_check
                                else "not checked"}[r.equivalent])
    grid.add_row("plan proven", {True: "yes", False: "NO", None: "not run"}[out.plan_proven]
                 + ("" if out.plan_proven is None else f": {out.plan_proof}"))
    grid.add_row("accounting", r.accounting.describe())
    console.print(grid)
    if r.segments:
        table = Table(title="rewrites", title_justify="left", header_style="bold")
        for col in ("#", "layers", "axis", "tiles (rows x cols; cN: N channel bands)"):
            table.add_column(col)
        for i, seg in enumerate(r.segments):
            first, last = seg.layers[0], seg.layers[-1]
            table.add_row(str(i), f"{first} .. {last} ({len(seg.layers)} layers)", seg.axis,
                          seg.grid)
        console.print(table)
    else:
        console.print(f"rewrites: none (none of the {r.evaluated} evaluated states lowers the "
                      "arena within the budget)", soft_wrap=True)
    for path in (args.output, args.plots, args.json):
        if path:
            console.print(f"wrote {path}", soft_wrap=True)
    return code


def _cmd_explore(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from rich.progress import Progress

    from cnnmem.api import explore
    from cnnmem.dse.cost import estimate_latency
    from cnnmem.report.tables import dumps_json, human_bytes, human_count, write_text

    recompute = None if args.max_recompute is not None and args.max_recompute < 0 \
        else args.max_recompute
    with Progress(console=console, transient=True, disable=args.json == "-") as bar:
        task = bar.add_task("exploring fused groups", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        out = explore(args.model, hw_path=args.hw, buffer=args.buffer,
                      max_group_layers=args.max_group_layers, max_recompute=recompute,
                      input_shapes=_input_shapes(args), resolution=args.resolution,
                      width=args.width, progress=progress)
    data = out.as_dict()
    if args.output_dir:
        from cnnmem.report.plots import pareto_front

        d = Path(args.output_dir)
        write_text(d / "explore.json", dumps_json(data))
        pareto_front([(p.buffer_bytes, p.dram_bytes) for p in out.result.front],
                     {"compulsory": out.result.compulsory.dram_bytes,
                      "layer-by-layer": out.baseline.dram_bytes},
                     f"{out.model}: on-chip buffer vs DRAM traffic", d / "pareto.png",
                     budget_bytes=out.hw.total_buffer_bytes,
                     chosen=(out.best.buffer_bytes, out.best.dram_bytes))
    if args.json == "-":
        sys.stdout.write(dumps_json(data))
        return 0
    if args.json:
        write_text(args.json, dumps_json(data))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("model", out.model)
    grid.add_row("hardware", out.hw.describe())
    for label, p in (("best schedule", out.best), ("layer-by-layer", out.baseline)):
        lat = estimate_latency(p.dram_bytes, p.macs, out.hw)
        fps = f"{1 / lat.bound_s:.1f} fps" if lat.bound_s else "-"
        grid.add_row(label, f"DRAM {human_bytes(p.dram_bytes)} per frame, buffer "
                            f"{human_bytes(p.buffer_bytes)}, {human_count(p.macs)} MACs, "
                            f"{fps} ({'memory' if lat.dram_s >= lat.compute_s else 'compute'}"
                            " bound)")
    grid.add_row("compulsory", f"DRAM {human_bytes(out.result.compulsory.dram_bytes)} (each "
                               "input, weight and output once)")
    grid.add_row("reduction", f"{data['reduction_vs_baseline']:.1f}x less DRAM traffic than "
                              "layer by layer")
    grid.add_row("search", f"{len(out.result.front)} Pareto points, "
                           f"{out.result.candidates_evaluated:,} candidates, "
                           f"{out.seconds:.1f} s")
    console.print(grid)
    table = Table(title="best schedule per fused group", title_justify="left",
                  header_style="bold")
    for col in ("layers", "tile (rows x cols x ch)", "order", "halo", "weights", "buffer",
                "DRAM read", "DRAM write", "MACs"):
        table.add_column(col, no_wrap=col != "layers")
    for g in data["best"]["groups"]:
        tile = f"{g['tile_rows']}x{g['tile_cols']}x{g['tile_channels']}"
        if g["tile_in_channels"]:
            tile += f"/ci{g['tile_in_channels']}"
        table.add_row(f"{g['first_layer']} .. {g['last_layer']} ({g['layers']})", tile,
                      g["loop_order"], g["halo"],
                      "resident" if g["weights_resident"] else "streamed",
                      human_bytes(g["buffer_bytes"]), human_bytes(g["dram_read_bytes"]),
                      human_bytes(g["dram_write_bytes"]), human_count(g["macs"]))
    console.print(table)
    for path in (args.json, args.output_dir):
        if path:
            console.print(f"wrote {path}", soft_wrap=True)
    return 0


def _cmd_report(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from cnnmem.api import report

    if args.no_fuse:
        raise ConfigError("cnnmem report analyses the fused graph (restructuring and "
                          "scheduling need it); use cnnmem profile/plan --no-fuse")
    columns = (TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}
        totals: dict[str, int] = {}

        def progress(step: str, done: int, total: int | None) -> None:
            # one bar per step ("plan naive" and "plan greedy" share the "plan" bar); a new
            # step completes the previous ones
            name = step.split()[0]
            if name not in tasks:
                for other, task in tasks.items():
                    bar.update(task, completed=totals[other], total=totals[other])
                tasks[name] = bar.add_task(step, total=total)
            totals[name] = total or 1
            bar.update(tasks[name], completed=done, total=total, description=step)

        out = report(args.model, args.output_dir, hw_path=args.hw, buffer=args.buffer,
                     dtype=args.dtype, fps=args.fps, quick=args.quick,
                     input_shapes=_input_shapes(args), resolution=args.resolution,
                     width=args.width, time_limit_s=args.time_limit, seed=args.seed,
                     progress=progress)
    from cnnmem.report.bundle import summary

    s = summary(out.data)
    console.print(f"{out.data.model}: {s['verdict']}", soft_wrap=True)
    console.print(f"wrote {out.html} and {len(out.files) - 1} more files in "
                  f"{args.output_dir}", soft_wrap=True)
    failed = [r.planner for r in out.data.plans if r.verified is False]
    equivalent = out.data.restructured.result.equivalent if out.data.restructured else None
    if failed or equivalent is False:
        console.print(f"check FAILED: execution proof of {failed or 'none'}, restructured "
                      f"model equivalent: {equivalent}", style="bold red", soft_wrap=True)
        return 1
    return 0


def _add_requirements_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rq = sub.add_parser("requirements",
                        help="on-chip memory and DRAM bandwidth per dataflow scenario (S1..S6), "
                             "trade-off curve, design points; --suite: domain comparison")
    rq.add_argument("model", nargs="?",
                    help="an .onnx or .tflite file, or a built-in network (omit with --suite)")
    rq.add_argument("--suite", action="store_true",
                    help="the built-in domain suite (classification, detection, denoising, "
                         "super-resolution, segmentation) at its own resolutions")
    rq.add_argument("--input-shape", action="append", default=[], metavar="NAME=1x3x224x224",
                    help="pin an ONNX input's shape (repeatable)")
    rq.add_argument("--resolution", type=_resolution, metavar="HxW",
                    help="input resolution of a built-in network")
    rq.add_argument("--width", type=_positive_float, metavar="W",
                    help="width multiplier of a built-in network that has one")
    rq.add_argument("--fps", type=_positive_float, default=30.0,
                    help="target frame rate (default 30)")
    rq.add_argument("--hw", metavar="HW.yaml",
                    help="hardware: element sizes, DRAM bandwidth, MACs/cycle, clock, budget")
    rq.add_argument("--buffer", metavar="SIZE",
                    help="on-chip budget of the design points (one shared buffer; default "
                         "1MiB, or the --hw file's buffers)")
    rq.add_argument("--dtype", metavar="T",
                    help="element type of activations and weights (partial sums: max(4 B, "
                         "T)); default int16, or the --hw file's sizes")
    rq.add_argument("--bandwidth", metavar="RATE",
                    help="DRAM bandwidth for the achievable fps (e.g. 25.6GB/s; default 8GB/s "
                         "or the --hw file's)")
    rq.add_argument("--max-group-layers", type=int, metavar="L",
                    help="longest fused group of S6 (default 4; 2 with --quick)")
    rq.add_argument("--quick", action="store_true", help="smaller fused-group search")
    rq.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="result as JSON to FILE (or stdout)")
    rq.add_argument("--csv", metavar="FILE",
                    help="one CSV row per layer (per network with --suite) to FILE")
    rq.add_argument("-o", "--output-dir", metavar="DIR",
                    help="write JSON, CSV and figures (per-layer bars, trade-off curve; "
                         "domain comparison with --suite) to DIR")


def _cmd_requirements(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from rich.progress import Progress

    from cnnmem import api
    from cnnmem.report.tables import write_text
    from cnnmem.requirements import layers_csv, suite_csv
    from cnnmem.requirements import tables as rt

    if args.suite and (args.model or args.resolution or args.input_shape or args.width):
        raise ConfigError("--suite runs the built-in networks at their own resolutions: "
                          "give no MODEL, --resolution, --input-shape or --width")
    if not args.suite and not args.model:
        raise ConfigError("give a MODEL (file or built-in network) or --suite")
    if args.max_group_layers is not None and args.max_group_layers < 1:
        raise ConfigError("--max-group-layers must be >= 1")
    common = {"fps": args.fps, "hw_path": args.hw, "buffer": args.buffer, "dtype": args.dtype,
              "quick": args.quick, "bandwidth": args.bandwidth}
    out_dir = Path(args.output_dir) if args.output_dir else None
    with Progress(console=console, transient=True, disable=args.json == "-") as bar:
        task = bar.add_task("requirements", total=None)
        if args.suite:
            suite = api.requirements_suite(
                **common, progress=lambda d, t, name: bar.update(
                    task, completed=d, total=t, description=f"suite: {name} done"))
        else:
            one = api.requirements(args.model, **common,
                                   max_group_layers=args.max_group_layers,
                                   input_shapes=_input_shapes(args), resolution=args.resolution,
                                   width=args.width,
                                   progress=lambda d, t: bar.update(task, completed=d, total=t))
    if args.suite:
        text, csv_text = suite.to_json(), suite_csv(suite.entries)
        if out_dir is not None:
            from cnnmem.report.requirements_plots import domain_comparison

            write_text(out_dir / "requirements_suite.json", text)
            write_text(out_dir / "requirements_suite.csv", csv_text)
            domain_comparison(suite.entries, out_dir / "requirements_domains.png")
    else:
        text, csv_text = one.to_json(), layers_csv(one.report)
        if out_dir is not None:
            from cnnmem.report.requirements_plots import layer_bars, tradeoff_curve

            write_text(out_dir / "requirements.json", text)
            write_text(out_dir / "requirements.csv", csv_text)
            layer_bars(one.report, out_dir / "requirements_layers.png")
            tradeoff_curve(one.report, out_dir / "requirements_tradeoff.png")
    if args.csv:
        write_text(args.csv, csv_text)
    if args.json == "-":
        sys.stdout.write(text)
        return 0
    if args.json:
        write_text(args.json, text)
    if args.suite:
        console.print(rt.suite_table(suite.entries))
        first = suite.entries[0][1]
        console.print(f"accounting: {first.accounting()}", soft_wrap=True)
        console.print(f"suite time {suite.seconds:.1f} s (fused groups of at most "
                      f"{first.max_group_layers} layers)", soft_wrap=True)
    else:
        r = one.report
        console.print(rt.layer_table(r))
        console.print(rt.scenario_table(r))
        console.print(rt.tradeoff_table(r))
        console.print(rt.design_table(r))
        console.print(rt.design_summary(r), soft_wrap=True)
        console.print(f"hardware: {r.hw.describe()}", soft_wrap=True)
        console.print(f"accounting: {r.accounting()}", soft_wrap=True)
        console.print(f"time {r.seconds:.1f} s (fused groups of at most {r.max_group_layers} "
                      "layers)", soft_wrap=True)
    for path in (args.json, args.csv, args.output_dir):
        if path:
            console.print(f"wrote {path}", soft_wrap=True)
    return 0


_COMMANDS = {"zoo": _cmd_zoo, "profile": _cmd_profile, "plan": _cmd_plan,
             "restructure": _cmd_restructure, "explore": _cmd_explore, "export": _cmd_export,
             "report": _cmd_report, "requirements": _cmd_requirements}


_COMMANDS["codegen"] = _cmd_codegen


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnnmem`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=False, width=160)
    try:
        return _COMMANDS[args.command](args, console)
    except CnnmemError as e:
        if args.debug:
            raise
        print(f"cnnmem: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("cnnmem: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        print(f"cnnmem: internal error: {type(e).__name__}: {e} (rerun with --debug for the "
              "traceback and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
