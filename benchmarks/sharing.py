"""Processes sharing the CPU: how much slower each `xshot train` runs when 2 (and 3) start together.

Each run is the same me5-small `finetune` cell (XNLI en K = 16, ``--steps`` steps, 100 test pairs), started
as a separate `xshot train` process with nothing set in its environment (what a user does). Measured side by
side in one invocation: the run alone; 2 and 3 runs started together with xshot's default (each takes its
share of the physical cores); and 2 started together each taking every physical core (``OMP_NUM_THREADS`` =
the cores: xshot's default before the share). The ratio is a run's training time (``train_s`` of its
metrics.json) over the run alone. Run it on an otherwise idle machine.

    python benchmarks/sharing.py [--steps 20] [--repeats 2] [--out benchmarks/results/sharing.json]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402


def _command(out: Path, steps: int, model: str) -> list[str]:
    return [sys.executable, "-m", "xshot", "train", "--task", "nli", "--model", model, "--method", "finetune",
            "--train", "xnli:en:dev", "--k", "16", "--seed", "1", "--eval", "xnli:de:test", "--eval-limit", "100",
            "--max-steps", str(steps), "--lr", "1e-4", "--out", str(out), "--quiet"]


def together(n: int, steps: int, model: str, root: str, env_extra: dict[str, str]) -> list[float]:
    """Start ``n`` runs at once; each one's training seconds."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                             "XSHOT_BENCH_REEXECED")}
    env.update({"XSHOT_DATA_ROOT": root, "HF_HUB_OFFLINE": "1", **env_extra})
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"run{i}" for i in range(n)]
        procs = [subprocess.Popen(_command(o, steps, model), env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for o in outs]
        for p in procs:
            _, err = p.communicate()
            if p.returncode:
                sys.exit(f"benchmark: xshot train failed: {err.strip().splitlines()[-1] if err.strip() else p.returncode}")
        return [json.loads((o / "metrics.json").read_text())["time"]["train_s"] for o in outs]


def main() -> None:
    p = C.parser(__doc__.splitlines()[0], repeats=2)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    if args.quick:
        args.steps, args.repeats = 3, 1
    root = C.data_root(args.data_root)
    model = C.model_path("me5-small")
    import psutil

    cores = psutil.cpu_count(logical=False) or 1
    arms = {"alone": (1, {}), "2 together": (2, {}), "3 together": (3, {}),
            "2 together, each on every core (before)": (2, {"OMP_NUM_THREADS": str(cores)})}
    times: dict[str, list[float]] = {name: [] for name in arms}
    for rep in range(args.repeats):
        for name, (n, extra) in (list(arms.items())[rep % 2:] + list(arms.items())[:rep % 2]):
            C.log(f"repeat {rep + 1}: {name}")
            times[name] += together(n, args.steps, model, root, extra)
    alone = C.median(times["alone"])
    ratios = {name: round(C.median(t) / alone, 2) for name, t in times.items()}
    C.emit({
        "benchmark": "sharing", "steps": args.steps, "physical_cores": cores,
        "train_s": {name: [round(x, 2) for x in t] for name, t in times.items()},
        "ratio_to_alone": ratios,
        "targets": [C.target("2 together / alone", ratios["2 together"], "<=", 2.5),
                    C.target("3 together / alone", ratios["3 together"], "<=", 3.5)],
    }, args.out, 0)


if __name__ == "__main__":
    main()
