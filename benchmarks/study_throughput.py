"""Study throughput: cells per hour on a fixed mix of the headline study's kinds of cells, this checkout against
the code before the speed work (a ``git worktree`` of the base commit), side by side in one invocation.

The mix (one seed, reduced sizes so that one side takes minutes): NER on me5-small (WikiANN en, K = 10 mentions
per type -> MasakhaNER 2.0 hau, swa) and XNLI on gemma3-270m (en, 16 per class -> de, sw), each with finetune,
prompt, dualcl and lora at ``--steps`` steps and ``--eval-limit`` test examples per language, plus the finetune
cells with their learning rate chosen by 2-fold cross-validation on the shots (2 candidates). Each side runs the
whole mix as one ``xshot run`` on a fresh store with nothing set in its environment (the user's default); a third
side runs this checkout with successive halving over the folds (``selection_halving: true``); a fourth runs it as two
``xshot run`` processes on one store, started together (what a local executor with two workers would do: each
cell on one of the two cores). Before each one-process side of
this checkout runs, ``xshot plan`` estimates its cells: reported against each cell's measured wall time, with the
unit costs that would have made the estimate exact (what ``Cost`` in ``xshot/methods/*/__init__.py`` is fitted to). Reported: each
side's wall time and cells per hour, each cell's wall time from its store, the head / base throughput ratio and,
within each side, a cross-validated cell's time over its unselected twin. Run it on an otherwise idle machine.

    python benchmarks/study_throughput.py [--base ed6e59a] [--steps 30] [--eval-limit 100] [--sides base,head,halving,two-processes] [--out FILE]
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

#: the commit before the speed work of issue 30 (sharing the cores, halving, merged adapters, bf16 screens)
BASE = "ed6e59a"

MIX = """\
name: throughput-mix
description: the fixed mix of benchmarks/study_throughput.py
models: [{me5}]
seeds: [1]
defaults: {{max_steps: {steps}, batch_size: 8, max_length: 128, eval_limit: {eval_limit}, bootstrap: 0,
           selection_folds: 2}}
methods: {methods}
settings:
  - name: ner
    task: ner
    models: [{me5}]
    train: wikiann:en:train
    k: [10]
    eval: ["masakhaner2:hau:test", "masakhaner2:swa:test"]
  - name: ner-cv
    task: ner
    models: [{me5}]
    methods: [{{name: finetune, search: {{learning_rate: [3.0e-5, 1.0e-4]}}, selection: cv{halving}}}]
    train: wikiann:en:train
    k: [10]
    eval: ["masakhaner2:hau:test", "masakhaner2:swa:test"]
  - name: nli
    task: nli
    models: [{gemma}]
    train: xnli:en:dev
    k: [16]
    eval: ["xnli:de:test", "xnli:sw:test"]
  - name: nli-cv
    task: nli
    models: [{gemma}]
    methods: [{{name: finetune, search: {{learning_rate: [3.0e-5, 1.0e-4]}}, selection: cv{halving}}}]
    train: xnli:en:dev
    k: [16]
    eval: ["xnli:de:test", "xnli:sw:test"]
"""
#: the mix's methods (the study's ``methods:``)
METHODS = ("[{name: finetune, learning_rate: 1.0e-4}, {name: prompt, learning_rate: 1.0e-4}, "
           "{name: dualcl, learning_rate: 1.0e-4}, {name: lora, learning_rate: 5.0e-4}]")


#: the sides (the code, the mix's selection option): the base commit, this checkout, this checkout with successive
#: halving over the folds, this checkout as two processes sharing one store
SIDES = {"base": "", "head": "", "halving": ", selection_halving: true", "two-processes": ""}
#: the sides that run as more than one process
PROCESSES = {"two-processes": 2}


def worktree(commit: str) -> Path:
    """A checkout of ``commit`` beside the repository's temporary files (made once, reused)."""
    path = Path(tempfile.gettempdir()) / f"xshot-base-{commit}"
    if not (path / "src" / "xshot").is_dir():
        subprocess.run(["git", "-C", str(C.REPO), "worktree", "add", "--detach", "--force", str(path), commit],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def side_env(src: Path, root: str) -> dict[str, str]:
    """The user's default environment (no thread settings) with the code under ``src``."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                             "XSHOT_BENCH_REEXECED", "PYTHONPATH")}
    env.update({"PYTHONPATH": str(src), "XSHOT_DATA_ROOT": root, "HF_HUB_OFFLINE": "1"})
    return env


def xshot(args: list[str], src: Path, root: str) -> str:
    """``python -m xshot ARGS`` with the code under ``src``; its standard output."""
    done = subprocess.run([sys.executable, "-m", "xshot", *args], env=side_env(src, root), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode:
        sys.exit(f"benchmark: xshot {args[0]} ({src}) failed: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout


def run_side(src: Path, study: Path, store: Path, root: str, processes: int = 1) -> float:
    """``xshot run`` of the mix with the code under ``src``, default environment, as ``processes`` processes
    started together on one store (they divide the cells by claiming them); wall seconds until all end."""
    start = time.perf_counter()
    args = [sys.executable, "-m", "xshot", "run", str(study), "--store", str(store), "-q"]
    running = [subprocess.Popen(args, env=side_env(src, root), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True) for _ in range(processes)]
    for proc in running:
        _, err = proc.communicate()
        if proc.returncode:
            sys.exit(f"benchmark: xshot run ({src}) failed: {err.strip().splitlines()[-1:]}")
    return time.perf_counter() - start


def cells(store: Path) -> dict[str, dict]:
    """Each cell's setting, method and wall seconds, keyed by setting/method (the mix has one seed)."""
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT setting, method, MAX(wall_s), MIN(status) FROM results GROUP BY cell").fetchall()
    return {f"{s}/{m}": {"wall_s": round(w, 1), "status": st} for s, m, w, st in rows}


def plan_against_measured(plan: dict, store: Path, per_cell: dict[str, dict]) -> dict[str, dict]:
    """Each cell's ``xshot plan`` estimate (made before the side ran, on its empty store) against its measured
    wall seconds, keyed as :func:`cells`; with the parts (load, training with selection, evaluation) and the
    unit costs (``Cost.unit`` of the cell's task) that would have made its training and evaluation estimates
    exact."""
    import plan_check
    from xshot.methods import get_method

    estimates = {f"{c['setting']}/{c['method']}": c for c in plan["cells"]}
    out = {}
    for cell in plan_check.cells_of(plan_check.rows_of(store)):
        config, measured_eval, _ = plan_check.measured_and_estimated(cell)
        key = f"{cell['setting']}/{config.method}"
        est = estimates[key]
        step_s, eval_s = get_method(config.method).cost.unit(config.task)
        wall = per_cell[key]["wall_s"]
        out[key] = {
            "measured_s": wall, "estimated_s": est["est_s"], "ratio": round(wall / est["est_s"], 2),
            "measured_parts_s": [round(x, 1) for x in (cell["load_s"], cell["train_s"], measured_eval)],
            "estimated_parts_s": [est["est_load_s"], est["est_train_s"], est["est_eval_s"]],
            "exact_unit_costs": {"task": config.task,
                                 "step_s": round(step_s * cell["train_s"] / est["est_train_s"], 3)
                                 if est["est_train_s"] else None,
                                 "eval_s": round(eval_s * measured_eval / est["est_eval_s"], 4)}}
    return out


def mix(args, halving: str, me5: str, gemma: str) -> str:
    """The mix as a study file: its four methods with the selection cells, or ``--methods`` without them."""
    import yaml

    methods = METHODS if args.methods is None else "[" + ", ".join(args.methods) + "]"
    study = yaml.safe_load(MIX.format(steps=args.steps, eval_limit=args.eval_limit, halving=halving, me5=me5,
                                      gemma=gemma, methods=methods))
    if args.methods is not None:
        study["settings"] = [s for s in study["settings"] if not s["name"].endswith("-cv")]
    return yaml.safe_dump(study, sort_keys=False)


def main() -> None:
    p = C.parser(__doc__.splitlines()[0], repeats=1)
    p.add_argument("--base", default=BASE)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--eval-limit", type=int, default=100)
    p.add_argument("--methods", type=lambda v: v.split(","), default=None, metavar="NAMES",
                   help="measure these methods (their default learning rates) instead of the mix's four, without "
                        "the selection cells: unit costs for the plan of methods outside the mix")
    p.add_argument("--sides", type=lambda v: v.split(","), default=list(SIDES), metavar="NAMES",
                   help=f"comma-separated sides to run (default all: {','.join(SIDES)})")
    args = p.parse_args()
    if args.quick:
        args.steps, args.eval_limit = 2, 8
    root = C.data_root(args.data_root)
    me5, gemma = C.model_path("me5-small"), C.model_path("gemma3-270m")
    unknown = set(args.sides) - set(SIDES)
    if unknown:
        sys.exit(f"benchmark: --sides: unknown {sorted(unknown)}; choose from {', '.join(SIDES)}")
    sides = {name: (worktree(args.base) / "src" if name == "base" else C.REPO / "src", halving)
             for name, halving in SIDES.items() if name in args.sides}
    result: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (src, halving) in sides.items():
            study = Path(tmp) / f"mix{len(result)}.yaml"
            study.write_text(mix(args, halving, me5, gemma))
            store = Path(tmp) / f"{len(result)}.sqlite"
            mine = src == C.REPO / "src" and name not in PROCESSES
            plan = json.loads(xshot(["plan", str(study), "--store", str(store), "--json"], src, root)) if mine else None
            C.log(f"study_throughput: {name} ...")
            wall = run_side(src, study, store, root, PROCESSES.get(name, 1))
            per_cell = cells(store)
            cv = {task: per_cell[f"{task}-cv/finetune"]["wall_s"] / per_cell[f"{task}/finetune"]["wall_s"]
                  for task in ("ner", "nli") if f"{task}-cv/finetune" in per_cell}
            result[name] = {"wall_s": round(wall, 1), "cells": len(per_cell),
                            "cells_per_hour": round(3600 * len(per_cell) / wall, 2), "per_cell": per_cell,
                            "cross_validated_over_unselected": {k: round(v, 2) for k, v in cv.items()}}
            if mine:
                result[name]["plan"] = plan_against_measured(plan, store, per_cell)
            C.log(f"study_throughput: {name}: {wall:.0f} s, {len(per_cell)} cells")
    targets = []
    if "base" in result and "head" in result:
        speedup = result["head"]["cells_per_hour"] / result["base"]["cells_per_hour"]
        targets.append(C.target("throughput, head / base", speedup, ">=", 2.0))
    if "two-processes" in result and "head" in result:
        targets.append(C.target("throughput, two processes / one (this checkout)",
                                result["two-processes"]["cells_per_hour"] / result["head"]["cells_per_hour"], ">", 1.0,
                                "above 1 would justify a local executor with several workers"))
    for task, v in result.get("halving", {}).get("cross_validated_over_unselected", {}).items():
        targets.append(C.target(f"{task} cross-validated cell / unselected (halving)", v, "<=", 2.5))
    targets += [C.target(f"plan: {side} {cell} measured / estimated", c["ratio"], op, bound)
                for side, r in result.items() if "plan" in r
                for cell, c in r["plan"].items() for op, bound in ((">=", 0.7), ("<=", 1.3))]
    C.emit({"benchmark": "study_throughput", "base_commit": args.base, "steps": args.steps,
            "eval_limit": args.eval_limit, "sides": result, "targets": targets}, args.out, 0)


if __name__ == "__main__":
    main()
