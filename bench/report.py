"""Wall time of ``cnnmem report --quick`` on every built-in network (target: < 60 s each on
2 cores).

Run: ``python bench/report.py [--full] [--out DIR] [NAME ...]``. Each network runs in its own
``cnnmem report`` process (imports included, as a user sees it) at its default resolution with
the default budget (1 MiB shared buffer, int8); the table gives the wall time, the time of each
step (from the progress callback), the verdict of section 1 and the report's size. ``--full``
runs without ``--quick`` (the optimal planner, execution proofs and the full searches).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cnnmem.zoo import list_networks

LIMIT_S = 60.0
console = Console(width=180)

# runs in the child: cnnmem.api.report with a progress callback that times every step
_CHILD = """
import json, sys, time
from cnnmem.api import report
steps, start, current = {}, time.perf_counter(), [None]
def progress(step, done, total):
    name = step.split()[0]
    now = time.perf_counter()
    if name != current[0]:
        if current[0] is not None:
            steps[current[0]] = round(now - steps[current[0]], 2)
        steps[name] = now
        current[0] = name
out = report(sys.argv[1], sys.argv[2], quick=sys.argv[3] == "quick", progress=progress)
steps[current[0]] = round(time.perf_counter() - steps[current[0]], 2)
from cnnmem.report.bundle import summary
print(json.dumps({"steps": steps, "verdict": summary(out.data)["verdict"]}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="networks (default: the whole zoo)")
    parser.add_argument("--full", action="store_true", help="without --quick")
    parser.add_argument("--out", help="keep the reports in this folder")
    args = parser.parse_args()
    names = args.names or [e.name for e in list_networks()]
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="cnnmem-report-"))
    table = Table(title=f"cnnmem report {'' if args.full else '--quick '}wall time "
                        f"({os.cpu_count()} CPUs)", title_justify="left", header_style="bold")
    for col in ("network", "wall s", "< 60 s", "profile+plan", "restructure", "explore",
                "requirements", "write", "report.html", "verdict"):
        table.add_column(col, justify="left" if col in ("network", "verdict") else "right",
                         overflow="fold")
    worst = 0.0
    for name in names:
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", _CHILD, name, str(root / name),
                              "full" if args.full else "quick"], capture_output=True, text=True)
        wall = time.perf_counter() - start
        worst = max(worst, wall)
        if run.returncode != 0:
            table.add_row(name, f"{wall:.1f}", "-", "", "", "", "", "", "",
                          f"FAILED: {run.stderr.strip().splitlines()[-1:]}")
            continue
        info = json.loads(run.stdout.strip().splitlines()[-1])
        s = info["steps"]
        size = (root / name / "report.html").stat().st_size
        table.add_row(name, f"{wall:.1f}", "yes" if wall < LIMIT_S else "NO",
                      f"{s.get('profile', 0) + s.get('plan', 0):.1f}",
                      f"{s.get('restructure', 0):.1f}", f"{s.get('explore', 0):.1f}",
                      f"{s.get('requirements', 0):.1f}", f"{s.get('write', 0):.1f}",
                      f"{size / 1024:.0f} KiB", info["verdict"])
        console.print(f"{name}: {wall:.1f} s", highlight=False)
    console.print(table)
    console.print(f"reports in {root}; slowest {worst:.1f} s", highlight=False)
    return 0 if args.full or worst < LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main())
