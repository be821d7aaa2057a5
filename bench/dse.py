"""Benchmark of memory-efficient scheduling: DRAM traffic of the best fused/tiled schedule vs.
the layer-by-layer baseline vs. the compulsory traffic.

Run: ``python bench/dse.py [--quick]``. Buffers 64 KiB / 256 KiB / 1 MiB, int8 (1 B
activations and weights, 4 B partial sums), weights sharing the buffer (table 1) and weights in a
separate memory (table 2). The published target is >= 10x below layer-by-layer at 1 MiB on the
HD pixel-processing networks. Traffic in MB (10^6 bytes) per frame; time = one exploration.
"""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console
from rich.table import Table

from cnnmem.api import ModelOptions, load
from cnnmem.dse import HardwareSpec, best_schedule, explore, extract_workload
from cnnmem.dse.space import CandidateOptions

console = Console(width=170)
BUFFERS = [64 * 1024, 256 * 1024, 1024 * 1024]
NETWORKS = [("vdsr", (256, 256)), ("vdsr", (1080, 1920)), ("dncnn", (256, 256)),
            ("dncnn", (1080, 1920)), ("vgg16", None), ("resnet50", None),
            ("mobilenet_v2", None), ("tiny_yolov2", None), ("blazeface", None)]


def run(separate_weights: bool, networks: list[tuple[str, tuple[int, int] | None]]) -> None:
    what = "weights in a separate memory" if separate_weights else "weights share the buffer"
    table = Table(title=f"DRAM traffic per frame, {what}: best / layer-by-layer (ratio), MB",
                  title_justify="left", header_style="bold")
    for col in ("network", "compulsory", "64 KiB", "256 KiB", "1 MiB", "MACs x", "seconds"):
        table.add_column(col, justify="right")
    for name, res in networks:
        graph = load(ModelOptions(name, resolution=res))
        wl = extract_workload(graph)
        cells = []
        seconds = 0.0
        macs_ratio = "-"
        compulsory = "-"
        for size in BUFFERS:
            hw = HardwareSpec.single_buffer(size)
            if separate_weights:
                from dataclasses import replace

                hw = replace(hw, weights_in_separate_memory=True)
            t = time.perf_counter()
            result = explore(wl, hw, options=CandidateOptions(max_recompute=0.25))
            seconds = time.perf_counter() - t
            compulsory = f"{result.compulsory.dram_bytes / 1e6:.2f}"
            lbl = result.layer_by_layer()
            if not result.front or lbl is None:
                cells.append("does not fit")
                continue
            best = best_schedule(wl, result)
            cells.append(f"{best.dram_bytes / 1e6:.1f} / {lbl.dram_bytes / 1e6:.1f} "
                         f"({lbl.dram_bytes / best.dram_bytes:.1f}x)")
            macs_ratio = f"{best.macs / max(1, sum(layer.macs for layer in wl.layers)):.2f}"
        label = f"{name} {res[0]}x{res[1]}" if res else name
        table.add_row(label, compulsory, *cells, macs_ratio, f"{seconds:.1f}")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="HD networks only")
    args = parser.parse_args(argv)
    nets = [n for n in NETWORKS if n[1] == (1080, 1920)] if args.quick else NETWORKS
    run(False, nets)
    run(True, nets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
