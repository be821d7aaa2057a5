"""Benchmark of activation memory planning: ours vs. published figures vs. baselines.

Run: ``python bench/planning.py [--quick] [--no-verify]``. Prints four tables:

1. DnCNN (17 layers, 64 ch, 3x3) at 64..512 px, int8, dataflow hwc-row: overlap vs. ping-pong,
   next to the published 48.8% and the model's ``50% - p/(2H)``.
2. Object detectors (Tiny-YOLOv2 416, BlazeFace 128), int8: savings vs. ping-pong, next to the
   published "up to 32.9%".
3. MobileNetV2 1.0 224 int8 (the TFLite file in ../shared/models): TFLM's measured arena head,
   greedy (must match it), overlap (must go well below it), the per-layer overlap bound.
4. Planner speed: every planner on ResNet-50; ``optimal`` on seeded 70-buffer instances where
   greedy leaves a gap.

Accounting: int8 (1 B/elem), fused graph, graph input/output in the arena unless stated, 1-byte
alignment (16 bytes for the TFLM comparison, as TFLM aligns).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cnnmem.api import ModelOptions, load, make_accounting, plan
from cnnmem.planning.interface import BufferSpec, PlanProblem, lower_bound
from cnnmem.planning.overlap import Dataflow
from cnnmem.planning.problem import build_problem, run_planner

MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
console = Console(width=160)


def pct(base: int, value: int) -> str:
    return f"{100.0 * (base - value) / base:.1f}%" if base else "-"


def dncnn_table(sizes: list[int], verify: bool) -> None:
    table = Table(title="1. DnCNN int8, hwc-row: overlap vs ping-pong (published: -48.8%)",
                  title_justify="left", header_style="bold")
    for col in ("H=W", "I/O", "pingpong B", "overlap B", "optimal B", "saving", "model 50%-p/2H",
                "published", "verified"):
        table.add_column(col, justify="right")
    for size in sizes:
        for include_io in (True, False):
            kw = {"dtype": "int8", "resolution": (size, size), "include_io": include_io}
            pp = plan("dncnn", planner="pingpong", **kw)  # type: ignore[arg-type]
            ov = plan("dncnn", planner="overlap", verify_plan=verify,
                      **kw)  # type: ignore[arg-type]
            opt = plan("dncnn", planner="optimal", time_limit_s=60, **kw)  # type: ignore[arg-type]
            model = 50.0 - 100.0 * 1 / (2 * size)
            table.add_row(str(size), "in" if include_io else "out", f"{pp.arena_bytes:,}",
                          f"{ov.arena_bytes:,}", f"{opt.arena_bytes:,}",
                          pct(pp.arena_bytes, ov.arena_bytes), f"{model:.1f}%", "48.8%",
                          str(ov.verified) if ov.verified is not None else "-")
    console.print(table)


def detector_table(verify: bool) -> None:
    table = Table(title="2. Object detectors int8, hwc-row (published: up to -32.9% vs "
                        "ping-pong)", title_justify="left", header_style="bold")
    for col in ("network", "pingpong B", "greedy B", "overlap B", "optimal B",
                "overlap vs pingpong", "overlap vs greedy", "verified"):
        table.add_column(col, justify="right")
    for name in ("tiny_yolov2", "blazeface"):
        res = {p: plan(name, planner=p, dtype="int8", verify_plan=verify and p == "overlap")
               for p in ("pingpong", "greedy", "overlap", "optimal")}
        table.add_row(name, *(f"{res[p].arena_bytes:,}" for p in res),
                      pct(res["pingpong"].arena_bytes, res["overlap"].arena_bytes),
                      pct(res["greedy"].arena_bytes, res["overlap"].arena_bytes),
                      str(res["overlap"].verified) if res["overlap"].verified is not None
                      else "-")
    console.print(table)


def mobilenet_table(verify: bool) -> None:
    path = MODELS / "tflite" / "mbv2_224_int8.tflite"
    if not path.is_file():
        console.print(f"3. skipped: {path} not found")
        return
    table = Table(title="3. MobileNetV2 1.0 224 int8 (TFLite file), 16-byte alignment",
                  title_justify="left", header_style="bold")
    for col in ("planner", "graph", "arena B", "vs TFLM 1,505,280", "lower bound B",
                "verified"):
        table.add_column(col, justify="right")
    table.add_row("TFLite Micro (measured)", "as run by TFLM", "1,505,280", "0.0%", "-", "-")
    for name, fuse in (("greedy", False), ("greedy", True), ("overlap", True),
                       ("optimal", True)):
        r = plan(str(path), planner=name, alignment=16, fuse=fuse, verify_plan=verify)
        table.add_row(name, "fused" if fuse else "unfused", f"{r.arena_bytes:,}",
                      pct(1_505_280, r.arena_bytes), f"{r.lower_bound_bytes:,}",
                      str(r.verified) if r.verified is not None else "-")
    console.print(table)


def speed_table() -> None:
    table = Table(title="4. Planner speed (2 cores); target < 1 s except optimal, optimal "
                        "proves 60+ tensors in < 60 s", title_justify="left",
                  header_style="bold")
    for col in ("case", "buffers", "planner", "arena B", "lower bound B", "optimal", "seconds"):
        table.add_column(col, justify="right")
    graph = load(ModelOptions("resnet50"))
    ctx = build_problem(graph, make_accounting(dtype="int8"), Dataflow.HWC_ROW)
    for name in ("naive", "pingpong", "greedy", "overlap", "optimal"):
        t = time.perf_counter()
        p = run_planner(name, ctx.problem, time_limit_s=60)
        table.add_row("resnet50 int8", str(len(ctx.problem.buffers)), name,
                      f"{p.arena_bytes:,}", f"{p.lower_bound_bytes:,}", str(p.optimal),
                      f"{time.perf_counter() - t:.3f}")
    for seed in (0, 1, 2, 3):
        rng = random.Random(seed)
        bufs = []
        for i in range(70):
            first = rng.randrange(0, 40)
            last = first + rng.randrange(0, 6)
            bufs.append(BufferSpec(f"b{i}", rng.randrange(1, 200) * 16, first, last))
        problem = PlanProblem(tuple(bufs), (), 16)
        greedy = run_planner("greedy", problem)
        t = time.perf_counter()
        p = run_planner("optimal", problem, time_limit_s=60)
        table.add_row(f"random seed {seed} (greedy {greedy.arena_bytes:,})", "70", "optimal",
                      f"{p.arena_bytes:,}", f"{lower_bound(problem):,}", str(p.optimal),
                      f"{time.perf_counter() - t:.3f}")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="DnCNN at 64 and 128 only")
    parser.add_argument("--no-verify", action="store_true", help="skip the execution proofs")
    args = parser.parse_args(argv)
    verify = not args.no_verify
    dncnn_table([64, 128] if args.quick else [64, 128, 256, 512], verify)
    detector_table(verify)
    mobilenet_table(verify)
    speed_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
