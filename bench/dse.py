"""Benchmark of memory-efficient scheduling: DRAM traffic of the best fused/tiled schedule vs.
the layer-by-layer baseline vs. the compulsory traffic.

Run: ``python bench/dse.py [--quick]``. Buffers 64 KiB / 256 KiB / 1 MiB, int8 (1 B
activations and weights, 4 B partial sums), weights sharing the buffer (table 1) and weights in a
separate memory (table 2). The published target is >= 10x below layer-by-layer at 1 MiB on the
HD pixel-processing networks. Traffic in MB (10^6 bytes) per frame; time = one exploration.
Table 3 compares activation traffic on torchvision MobileNetV2 (fp32) with TiGrIS.
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


def tigris_table() -> None:
    """torchvision MobileNetV2 fp32 224, weights in a separate memory (activation traffic only),
    next to TiGrIS (~20 MiB at 256 KiB; needs >= ~38 KiB to run at all)."""
    from dataclasses import replace

    wl = extract_workload(load(ModelOptions("mobilenet_v2")))
    base_macs = sum(layer.macs for layer in wl.layers)
    table = Table(title="MobileNetV2 fp32 224, activation traffic to slow memory (TiGrIS: "
                        "~20 MiB at 256 KiB, needs >= ~38 KiB)", title_justify="left",
                  header_style="bold")
    for col in ("fast memory", "cnnmem MiB", "layer-by-layer MiB", "TiGrIS MiB", "MACs x"):
        table.add_column(col, justify="right")
    for kib in (16, 24, 32, 38, 64, 128, 256, 512, 1024):
        hw = replace(HardwareSpec.single_buffer(kib * 1024), act_bytes_per_element=4,
                     weight_bytes_per_element=4, psum_bytes_per_element=4,
                     weights_in_separate_memory=True)
        result = explore(wl, hw, options=CandidateOptions(max_recompute=0.25))
        tigris = {256: "~20", 38: "minimum"}.get(kib, "-")
        if not result.front:
            table.add_row(f"{kib} KiB", "does not fit", "-", tigris, "-")
            continue
        best = best_schedule(wl, result)
        lbl = result.layer_by_layer()
        table.add_row(f"{kib} KiB", f"{best.dram_bytes / 2**20:.2f}",
                      f"{lbl.dram_bytes / 2**20:.2f}" if lbl else "does not fit", tigris,
                      f"{best.macs / base_macs:.2f}")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="HD networks only")
    args = parser.parse_args(argv)
    nets = [n for n in NETWORKS if n[1] == (1080, 1920)] if args.quick else NETWORKS
    run(False, nets)
    run(True, nets)
    tigris_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
