"""Peak resident memory of one training cell per method and backbone, each in a fresh process.

Every cell is ``xshot train`` (the command a user runs, with its allocator settings): NLI, K=16 per
class from ``xnli:en:dev``, a few optimisation steps (the optimiser state is allocated at the first),
then evaluation on a small XNLI test subset, written to a temporary ``--out`` directory. The peak is
the child's ``ru_maxrss`` from ``wait4`` (only that child, not the maximum over all children), so
imports, model loading, training, evaluation and saving all count.

Targets: me5-small at most 3 GiB for every method; gemma3-270m at most 8 GiB; the parameter-efficient
methods (soft-prompt, LoRA) below full fine-tuning on the same backbone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

METHODS = ("finetune", "prompt", "soft-prompt", "lora", "dualcl")
LIMITS_GIB = {"me5-small": 3.0, "gemma3-270m": 8.0}
PEFT = ("soft-prompt", "lora")


def cell(model: str, method: str, steps: int, eval_spec: str, eval_limit: int, root: str, threads: int,
         options: list[str] = ()) -> dict:
    env = dict(os.environ)
    env.update(C.ALLOCATOR_ENV)
    env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "XSHOT_NO_CACHE": "1",
                "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"})
    with tempfile.TemporaryDirectory(prefix="xshot-mem-") as out:
        cmd = [sys.executable, "-m", "xshot", "train", "--task", "nli", "--model", model, "--method", method,
               "--train", "xnli:en:dev", "--k", "16", "--seed", "1", "--max-steps", str(steps), "--eval", eval_spec,
               "--eval-limit", str(eval_limit), "--data-root", root, "--out", out, "--quiet"]
        for option in options:
            cmd += ["--option", option]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        stdout, stderr = proc.stdout.read().decode(errors="replace"), proc.stderr.read().decode(errors="replace")
        proc.returncode = os.waitstatus_to_exitcode(status)
        metrics = {}
        try:
            import json

            metrics = json.loads(open(os.path.join(out, "metrics.json")).read())
        except (OSError, ValueError):
            pass
    if proc.returncode != 0:
        return {"ok": False, "returncode": proc.returncode, "error": (stderr or stdout).strip()[-2000:], "wall_s": wall}
    return {"ok": True, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "peak_rss_gib": round(usage.ru_maxrss / 2**20, 3),
            "self_reported_peak_mib": round(metrics.get("peak_memory_mb", float("nan")), 1),
            "params": metrics.get("params"), "wall_s": round(wall, 1),
            "train_s": round(metrics.get("time", {}).get("train_s", float("nan")), 2)}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--models", default="me5-small,gemma3-270m")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--eval", default="xnli:de:test")
    p.add_argument("--eval-limit", type=int, default=32)
    p.add_argument("--option", "-o", action="append", default=[], help="method option key=value for every cell")
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.models, args.methods, args.steps, args.eval_limit = "me5-small", "finetune,lora", 1, 8
    root = C.data_root(args.data_root)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]

    cells: dict[str, dict[str, dict]] = {}
    for name in models:
        path = C.model_path(name)
        for method in methods:
            C.log(f"memory: {name} {method} ...")
            cells.setdefault(name, {})[method] = r = cell(path, method, args.steps, args.eval, args.eval_limit, root,
                                                          args.threads, args.option)
            C.log(f"memory: {name} {method}: {r.get('peak_rss_gib', r.get('error'))} GiB")

    targets = []
    for name, by_method in cells.items():
        limit = LIMITS_GIB.get(name)
        ok = {m: r for m, r in by_method.items() if r["ok"]}
        failed = sorted(set(by_method) - set(ok))
        if limit is not None:
            worst = max((r["peak_rss_gib"] for r in ok.values()), default=float("nan"))
            targets.append(C.target(f"{name}: largest peak RSS over methods (GiB)", worst if not failed else float("inf"),
                                    "<=", limit, f"failed: {', '.join(failed)}" if failed else ""))
        if "finetune" in ok:
            for m in PEFT:
                if m in ok:
                    targets.append(C.target(f"{name}: {m} peak / finetune peak", ok[m]["peak_rss_gib"] /
                                            ok["finetune"]["peak_rss_gib"], "<", 1.0))
    result = {
        "benchmark": "memory",
        "cell": {"task": "nli", "train": "xnli:en:dev", "k": 16, "steps": args.steps, "eval": args.eval,
                 "eval_limit": args.eval_limit, "options": args.option,
                 "command": "python -m xshot train ... --out TMP"},
        "peak_rss": cells,
        "targets": targets,
    }
    C.emit(result, args.out, args.threads)


if __name__ == "__main__":
    main()
