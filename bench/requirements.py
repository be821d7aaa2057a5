"""Benchmark / reproduction of the domain study: ``cnnmem requirements --suite`` as a table.

Run: ``python bench/requirements.py [--quick] [--dtype int16] [--fps 30]``. Per network:
weights, the largest layer's input + output, MACs, then the minimum on-chip memory and the DRAM
bandwidth at the target frame rate for S1 (everything on chip, layer by layer), S4 (line
buffer), S5 (output tiles with halos, no re-reads) and S6 (fused groups from the DSE), and the
analysis time. Default accounting: 16-bit activations and weights, 32-bit partial sums, weights
in DRAM (see ``cnnmem requirements --help``).
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from cnnmem.api import requirements_suite
from cnnmem.requirements.tables import suite_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fused groups of at most 2 layers")
    parser.add_argument("--dtype", default=None, help="element type (default int16)")
    parser.add_argument("--fps", type=float, default=30.0, help="target frame rate")
    args = parser.parse_args()
    console = Console(width=200)
    start = time.perf_counter()
    suite = requirements_suite(fps=args.fps, dtype=args.dtype, quick=args.quick,
                               progress=lambda d, t, n: console.print(f"[{d}/{t}] {n}"))
    console.print(suite_table(suite.entries))
    console.print(f"accounting: {suite.entries[0][1].accounting()}", soft_wrap=True)
    console.print(f"total {time.perf_counter() - start:.1f} s", soft_wrap=True)


if __name__ == "__main__":
    main()
