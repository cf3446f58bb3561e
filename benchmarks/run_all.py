"""Run every benchmark, write each one's JSON to ``benchmarks/results/<name>.json``, print a summary table.

Each benchmark runs in its own process, one after another (they would compete for the cores
otherwise). ``--quick`` passes ``--quick`` to all of them (a smoke run, not a measurement);
``--only`` / ``--skip`` select benchmarks; ``-- ARGS`` after a benchmark's name are not supported:
run that script directly for other sizes. Exit status 0 even when targets are missed (the table and
the JSON say which); 1 when a benchmark failed to produce its JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("eval_throughput", "verbalizer_scoring", "cell_cost", "memory", "scaling", "precision", "precision_seeds",
              "compile", "threads", "training_kernels", "auto_precision")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default="", help="comma-separated benchmark names")
    p.add_argument("--skip", default="", help="comma-separated benchmark names")
    p.add_argument("--results", type=Path, default=HERE / "results")
    p.add_argument("--data-root", default=None)
    args = p.parse_args()
    only = [x for x in args.only.split(",") if x]
    skip = {x for x in args.skip.split(",") if x}
    names = [n for n in (only or BENCHMARKS) if n not in skip]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(BENCHMARKS)})")

    summary, failed = [], []
    for name in names:
        out = args.results / f"{name}.json"
        cmd = [sys.executable, str(HERE / f"{name}.py"), "--out", str(out)]
        if args.quick:
            cmd.append("--quick")
        if args.data_root:
            cmd += ["--data-root", args.data_root]
        print(f"== {name}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        if out.exists():
            out.unlink()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, env=dict(os.environ))
        wall = time.perf_counter() - start
        if proc.returncode != 0 or not out.exists():
            failed.append(name)
            summary.append((name, "FAILED", f"exit {proc.returncode}", "", "", wall))
            continue
        result = json.loads(out.read_text())
        for t in result.get("targets", []):
            summary.append((name, t["name"], f"{t['value']:.4g}", f"{t['op']} {t['threshold']:g}",
                            "met" if t["met"] else "MISSED", wall))

    width = max((len(r[1]) for r in summary), default=10)
    print(f"{'benchmark':20s} {'target':{width}s} {'value':>10s} {'goal':>10s}  status   wall")
    for name, target, value, goal, status, wall in summary:
        print(f"{name:20s} {target:{width}s} {value:>10s} {goal:>10s}  {status:7s} {wall:6.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
