"""Benchmark of memory-efficient scheduling: DRAM traffic of the best fused/tiled schedule vs.
the layer-by-layer baseline vs. the compulsory traffic.

Run: ``python bench/dse.py [--quick]``. Buffers 64 KiB / 256 KiB / 1 MiB, int8 (1 B
activations and weights, 4 B partial sums), weights sharing the buffer (table 1) and weights in a
separate memory (table 2). The published target is >= 10x below layer-by-layer at 1 MiB on the
HD pixel-processing networks. Traffic in MB (10^6 bytes) per frame; time = one exploration.
Table 3 compares activation traffic on torchvision MobileNetV2 (fp32) with TiGrIS.
Table 4 ("optimality") checks, where the cut vs layer-by-layer is below 10x (table 1), that
the reported schedule is the optimum of the modelled space: on a slice of the network (its
first 6 layers, same resolution and budget) exhaustive search over every group partition and
every schedule of the explorer's space (and of the explorer's tile sizes with all 24 loop
orders, both halo policies, both weight modes) against the explorer; then the explorer against
every integer tile size on random small layer chains (:mod:`cnnmem.dse.exhaustive`).
Exploration is single-threaded; seconds are wall time of one ``explore`` call.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace

from rich.console import Console
from rich.table import Table

from cnnmem.api import ModelOptions, load
from cnnmem.dse import HardwareSpec, Workload, best_schedule, explore, extract_workload
from cnnmem.dse.exhaustive import Space, exhaustive, front_differences, workload_slice
from cnnmem.dse.space import CandidateOptions
from cnnmem.ir import GraphBuilder

console = Console(width=170)
BUFFERS = [64 * 1024, 256 * 1024, 1024 * 1024]
NETWORKS = [("vdsr", (256, 256)), ("vdsr", (1080, 1920)), ("dncnn", (256, 256)),
            ("dncnn", (1080, 1920)), ("vgg16", None), ("resnet50", None),
            ("mobilenet_v2", None), ("tiny_yolov2", None), ("blazeface", None)]


Case = tuple[str, tuple[int, int] | None]
OPTIONS = CandidateOptions(max_recompute=0.25)


def run(separate_weights: bool, networks: list[Case]) -> dict[tuple[Case, int], float]:
    """Table 1 / 2; returns the reduction vs layer by layer per (network, buffer)."""
    what = "weights in a separate memory" if separate_weights else "weights share the buffer"
    table = Table(title=f"DRAM traffic per frame, {what}: best / layer-by-layer (ratio), MB",
                  title_justify="left", header_style="bold")
    ratios: dict[tuple[Case, int], float] = {}
    for col in ("network", "compulsory", "64 KiB", "256 KiB", "1 MiB", "MACs x",
                "explore s (max)"):
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
                hw = replace(hw, weights_in_separate_memory=True)
            t = time.perf_counter()
            result = explore(wl, hw, options=OPTIONS)
            seconds = max(seconds, time.perf_counter() - t)
            compulsory = f"{result.compulsory.dram_bytes / 1e6:.2f}"
            lbl = result.layer_by_layer()
            if not result.front or lbl is None:
                cells.append("does not fit")
                continue
            best = best_schedule(wl, result)
            cells.append(f"{best.dram_bytes / 1e6:.1f} / {lbl.dram_bytes / 1e6:.1f} "
                         f"({lbl.dram_bytes / best.dram_bytes:.1f}x)")
            ratios[((name, res), size)] = lbl.dram_bytes / best.dram_bytes
            macs_ratio = f"{best.macs / max(1, sum(layer.macs for layer in wl.layers)):.2f}"
        label = f"{name} {res[0]}x{res[1]}" if res else name
        table.add_row(label, compulsory, *cells, macs_ratio, f"{seconds:.1f}")
    console.print(table)
    return ratios


SLICE = 6


def optimality_table(ratios: dict[tuple[Case, int], float]) -> None:
    """Table 4, first part: exhaustive search on network slices where the cut is < 10x."""
    table = Table(title=f"Optimality where the cut is < 10x (shared buffer): first {SLICE} "
                        "layers, same resolution and budget; DRAM bytes per frame",
                  title_justify="left", header_style="bold")
    for col in ("network slice", "budget", "cut", "explorer", "exhaustive: explorer space",
                "front equal", "all orders/halos/weights", "partitions", "schedules",
                "explore s", "exhaustive s"):
        table.add_column(col, justify="right")
    workloads: dict[Case, Workload] = {}
    for ((name, res), size), ratio in ratios.items():
        if ratio >= 10:
            continue
        if (name, res) not in workloads:
            wl = extract_workload(load(ModelOptions(name, resolution=res)))
            workloads[(name, res)] = workload_slice(wl, 0, min(SLICE, len(wl.layers)))
        wl = workloads[(name, res)]
        hw = HardwareSpec.single_buffer(size)
        n = len(wl.layers)
        t = time.perf_counter()
        found = explore(wl, hw, max_group_layers=n, options=OPTIONS)
        t_explore = time.perf_counter() - t
        own_options = replace(OPTIONS, refine_templates=0)
        unrefined = explore(wl, hw, max_group_layers=n, options=own_options)
        t = time.perf_counter()
        own = exhaustive(wl, hw, Space.EXPLORER, options=own_options)
        orders = exhaustive(wl, hw, Space.ORDERS, options=own_options)
        t_exh = time.perf_counter() - t
        best, o_best, r_best = found.best(), own.best(), orders.best()
        label = f"{name} {res[0]}x{res[1]}" if res else name
        if best is None or o_best is None or r_best is None:
            table.add_row(label, f"{size >> 10} KiB", f"{ratio:.1f}x", "does not fit", "-",
                          "-", "-", "-", "-", "-", "-")
            continue
        equal = not front_differences(unrefined.front, own.front)
        table.add_row(label, f"{size >> 10} KiB", f"{ratio:.1f}x", f"{best.dram_bytes:,}",
                      f"{o_best.dram_bytes:,}", "yes" if equal else "NO",
                      f"{r_best.dram_bytes:,}", str(own.partitions),
                      f"{own.schedules_evaluated + orders.schedules_evaluated:,}",
                      f"{t_explore:.2f}", f"{t_exh:.1f}")
    console.print(table)


def _chain(seed: int) -> Workload:
    """A deterministic random chain of 2-5 conv / depthwise / pool / add layers, <= 7x7."""
    rng = random.Random(seed)
    b = GraphBuilder(f"chain{seed}")
    x = b.input("x", (1, rng.randint(1, 3), rng.randint(3, 7), rng.randint(3, 7)))
    made = [x]
    for _ in range(rng.randint(2, 5)):
        src = made[-1]
        op = rng.choice(["conv", "conv", "dw", "pool", "add"])
        same = [t for t in made[:-1] if t.shape == src.shape]
        if op == "add" and same:
            made.append(b.add(src, rng.choice(same)))
        elif op == "pool" and min(src.shape[2:]) >= 2:
            made.append(b.max_pool(src, 2))
        elif op == "dw":
            made.append(b.conv(src, src.shape[1], 3, padding=1, groups=src.shape[1]))
        else:
            k = rng.choice([1, 3])
            made.append(b.conv(src, rng.randint(1, 3), k, padding=k // 2,
                               stride=rng.choice([1, 1, 2]), bias=rng.random() < 0.5))
    b.output(made[-1])
    return extract_workload(b.build())


def full_space_table(count: int) -> None:
    """Table 4, second part: the explorer against every integer tile size."""
    own_equal = at_budget_equal = cases = 0
    gaps: list[float] = []
    t = time.perf_counter()
    for seed in range(count):
        wl = _chain(seed)
        n = len(wl.layers)
        full = exhaustive(wl, HardwareSpec.single_buffer(1 << 20), Space.FULL)
        lo, hi = full.front[0].buffer_bytes, full.front[-1].buffer_bytes
        for fraction in (0.0, 0.1, 0.3):
            hw = HardwareSpec.single_buffer(int(lo + fraction * (hi - lo)))
            own_options = CandidateOptions(refine_templates=0)
            own = exhaustive(wl, hw, Space.EXPLORER, options=own_options)
            unrefined = explore(wl, hw, max_group_layers=n, options=own_options)
            found = explore(wl, hw, max_group_layers=n).best()
            optimum = full.best(hw.total_buffer_bytes)
            assert found is not None and optimum is not None
            cases += 1
            own_equal += not front_differences(unrefined.front, own.front)
            at_budget_equal += found.dram_bytes == optimum.dram_bytes
            gaps.append(found.dram_bytes / optimum.dram_bytes - 1)
    table = Table(title=f"Explorer vs every integer tile, all loop orders, halos and weight "
                        f"modes: {count} random chains of 2-5 layers (<= 7x7, <= 3 channels) x "
                        "3 budgets", title_justify="left", header_style="bold")
    for col in ("cases", "own-space front equal", "best = full optimum", "worst gap",
                "mean gap", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(str(cases), f"{own_equal}/{cases}", f"{at_budget_equal}/{cases}",
                  f"{100 * max(gaps):.2f}%", f"{100 * sum(gaps) / len(gaps):.3f}%",
                  f"{time.perf_counter() - t:.0f}")
    console.print(table)


def tigris_table() -> None:
    """torchvision MobileNetV2 fp32 224, weights in a separate memory (activation traffic only),
    next to TiGrIS (~20 MiB at 256 KiB; needs >= ~38 KiB to run at all)."""
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
    ratios = run(False, nets)
    run(True, nets)
    tigris_table()
    optimality_table(ratios)
    full_space_table(10 if args.quick else 40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
