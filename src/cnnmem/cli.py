"""Command line: argparse wiring only; every command calls the public API.

Errors a user can cause print one line (``cnnmem: error: ...``) and exit with code 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

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


_COMMANDS = {"zoo": _cmd_zoo, "profile": _cmd_profile, "plan": _cmd_plan,
             "export": _cmd_export}


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
