"""Benchmark of dataflow restructuring: ours vs. published figures vs. baselines.

Run: ``python bench/restructure.py``. Tables:

1. VGG16, SqueezeNet1.1, MobileNetV2, ResNet18, InceptionV3 at their standard resolutions:
   peak before/after (greedy planner = the best layer-wise disjoint arena, in-place
   concatenation), MAC overhead, the tiles of each rewrite (``4`` row bands, ``6x4`` row x
   column grid), onnxruntime equivalence, search time (target < 30 s on 2 cores) and total
   time (import, search, rewrite, equivalence check with full random weights); average next to
   the published 62.9% saving / 8.6% MACs.
2. MobileNetV2 1.0 224 int8 at <= 10% MAC overhead, next to the published patch-based 172 kB
   (MCUNetV2) and Vela's cascading 353.5 KiB: greedy-planner search (graph input/output in the
   arena), and the search that minimises the overlap planner's arena with and without the
   graph input/output in the arena.
3. The five networks under float32 accounting, where channel chains (a conv, channel-wise
   layers and a conv computed in bands of the hidden channels, partial sums added) are exact:
   tiles only vs tiles + channel chains.

Accounting (tables 1-2): int8 (1 B/elem), fused graph, graph input/output in the arena, 1-byte
alignment.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cnnmem.api import restructure

console = Console(width=160)
TFLITE_MBV2 = Path(__file__).resolve().parents[1] / ".." / "shared" / "models" / "tflite" / \
    "mbv2_224_int8.tflite"
NETWORKS = [("vgg16", None), ("squeezenet1_1", None), ("mobilenet_v2", None),
            ("resnet18", None), ("inception_v3", None)]


def main() -> int:
    table = Table(title="1. Restructuring at max MAC overhead 10% (published: -62.9% peak, "
                        "+8.6% MACs on average)", title_justify="left", header_style="bold")
    for col in ("network", "peak before B", "peak after B", "saving", "MAC overhead",
                "overlap arena after B", "rewrites (tiles)", "equivalent", "search s",
                "total s"):
        table.add_column(col, justify="right")
    savings, overheads = [], []
    mbv2 = None
    for name, res in NETWORKS:
        t = time.perf_counter()
        out = restructure(name, max_overhead=0.1, dtype="int8", resolution=res)
        r = out.result
        savings.append(r.peak_saving)
        overheads.append(r.mac_overhead)
        if name == "mobilenet_v2":
            mbv2 = r
        table.add_row(name, f"{r.peak_before_bytes:,}", f"{r.peak_after_bytes:,}",
                      f"{100 * r.peak_saving:.1f}%", f"{100 * r.mac_overhead:+.2f}%",
                      f"{r.overlap_after_bytes:,}" if r.overlap_after_bytes else "-",
                      " ".join(s.grid for s in r.segments), str(r.equivalent),
                      f"{r.search_seconds:.1f}", f"{time.perf_counter() - t:.1f}")
    table.add_row("average", "", "", f"{100 * sum(savings) / len(savings):.1f}%",
                  f"{100 * sum(overheads) / len(overheads):+.2f}%", "", "", "", "", "")
    table.add_row("published", "", "", "62.9%", "+8.60%", "", "", "", "", "")
    console.print(table)
    assert mbv2 is not None
    t2 = Table(title="2. MobileNetV2 1.0 224 int8 at <= 10% MAC overhead (kB = 1000 B; graph "
                     "input and output in the arena)", title_justify="left", header_style="bold")
    for col in ("method", "model", "peak", "MAC overhead"):
        t2.add_column(col, justify="right")
    rows = [("zoo mobilenet_v2 (torchvision, int8 accounting)", mbv2)]
    if TFLITE_MBV2.exists():
        tfl = restructure(str(TFLITE_MBV2), max_overhead=0.1).result
        rows.append((f"{TFLITE_MBV2.name} (the Vela / TFLM file)", tfl))
    for model, r in rows:
        t2.add_row("layer by layer (greedy = TFLM)", model, f"{r.peak_before_bytes / 1000:.1f} kB",
                   "0%")
        t2.add_row("cnnmem restructure (greedy)", model, f"{r.peak_after_bytes / 1000:.1f} kB",
                   f"{100 * r.mac_overhead:+.2f}%")
        if r.overlap_after_bytes:
            t2.add_row("cnnmem restructure, then overlap planner", model,
                       f"{r.overlap_after_bytes / 1000:.1f} kB", f"{100 * r.mac_overhead:+.2f}%")
    if TFLITE_MBV2.exists():
        # the search minimising the overlap planner's arena (hwc-row), with and without the
        # graph input/output in the arena; the patch-based 172 kB (= 28x28x32 + 28x28x192 B,
        # the expand layer of block 4, computed layer by layer) counts no input image
        for include_io in (True, False):
            t = time.perf_counter()
            ov = restructure(str(TFLITE_MBV2), max_overhead=0.1, planner="overlap",
                             include_io=include_io).result
            io = "I/O in arena" if include_io else "I/O outside the arena"
            t2.add_row(f"cnnmem restructure searching the overlap arena ({io}; search "
                       f"{ov.search_seconds:.0f} s, total {time.perf_counter() - t:.0f} s; "
                       f"bit-exact: {ov.equivalent})",
                       TFLITE_MBV2.name,
                       f"{ov.peak_before_bytes / 1000:.1f} -> {ov.peak_after_bytes / 1000:.1f} kB",
                       f"{100 * ov.mac_overhead:+.2f}%")
    t2.add_row("Vela cascading (measured, --optimise Size)", "mbv2_224_int8.tflite",
               f"{353.5 * 1.024:.1f} kB", "0%")
    t2.add_row("patch-based (MCUNetV2, published)", "MobileNetV2", "172.0 kB", "~+10%")
    console.print(t2)
    channel_chains()
    return 0


def channel_chains() -> None:
    """Table 3: float32 accounting, where channel chains (partial sums) are exact: the search
    with tiles only vs tiles and channel chains, at <= 10% MACs."""
    t3 = Table(title="3. float32 (4 B/elem): tiles only vs tiles + channel chains (partial "
                     "sums), <= 10% MACs, greedy planner, graph I/O in the arena",
               title_justify="left", header_style="bold")
    for col in ("network", "peak before B", "tiles only B", "MACs", "tiles + chains B",
                "MACs ", "rewrites", "equivalent", "search s"):
        t3.add_column(col, justify="right")
    for name, res in NETWORKS:
        plain = restructure(name, max_overhead=0.1, dtype="float32", resolution=res,
                            channels=False, check=False, prove=False).result
        both = restructure(name, max_overhead=0.1, dtype="float32", resolution=res).result
        t3.add_row(name, f"{plain.peak_before_bytes:,}",
                   f"{plain.peak_after_bytes:,} ({100 * plain.peak_saving:.1f}%)",
                   f"{100 * plain.mac_overhead:+.2f}%",
                   f"{both.peak_after_bytes:,} ({100 * both.peak_saving:.1f}%)",
                   f"{100 * both.mac_overhead:+.2f}%", " ".join(s.grid for s in both.segments),
                   str(both.equivalent), f"{both.search_seconds:.1f}")
    console.print(t3)


if __name__ == "__main__":
    sys.exit(main())
