"""Wall time of a tiny study as its evaluation languages grow 1 -> 2 -> 4 -> 8, and xshot plan's estimate.

The study: me5-small, ``finetune``, K=16 per class from ``xnli:en:dev``, a few steps, two seeds (two
cells), evaluation on the first N of en, de, sw, ur, zh, ar, hi, ru (XNLI test, a small subset each),
run by the local executor into a temporary results store, exactly as ``xshot run`` does. For every N:

* the wall time (median over the repetitions; the series runs in alternating order, 1..8 then 8..1);
* how often a backbone was loaded (``load_backbone`` calls: one per cell, however many languages) and
  how often evaluation data was tokenized (cache misses: once per language, the second cell reads
  every set from the on-disk cache of ``xshot.training.cache``); the cache directory is fresh for
  every study, so each N starts cold;
* a linear fit ``wall = fixed + per_language x N``: the marginal cost of a language is its evaluation,
  not another model load or tokenization;
* ``xshot.studies.plan.estimate`` for the same cells, and the ratio estimate / measured (target: within
  +-30%), with the measured load, per-step and per-example costs the estimator's defaults can be
  calibrated from.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

LANGUAGES = ("en", "de", "sw", "ur", "zh", "ar", "hi", "ru")

STUDY = """\
name: scaling-{n}
task: nli
models: ["{model}"]
methods: [finetune]
seeds: [1, 2]
languages: [{languages}]
defaults:
  max_steps: {steps}
  batch_size: 8
  max_length: 128
  eval_limit: {eval_limit}
  bootstrap: 200
settings:
  - name: en-fewshot
    train: xnli:en:dev
    k: [16]
    eval: ["xnli:{{lang}}:test"]
"""


def main() -> None:
    p = C.parser(__doc__.splitlines()[0], repeats=2)
    p.add_argument("--counts", default="1,2,4,8", help="numbers of evaluation languages")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--eval-limit", type=int, default=40, help="examples per language")
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.counts, args.steps, args.eval_limit, args.repeats = "1,2", 1, 10, 1
    root = C.data_root(args.data_root)
    counts = [int(x) for x in args.counts.split(",")]

    import numpy as np

    import xshot.training.run as run_module
    from xshot.methods.inputs import InputFormat
    from xshot.studies import ResultsStore, expand
    from xshot.studies.execute import run_study
    from xshot.studies.plan import estimate
    from xshot.studies.spec import parse_study
    from xshot.training import cache

    me5 = C.model_path("me5-small")
    counters = {"loads": 0, "encode_calls": 0, "encoded_examples": 0}
    real_load, real_encode = run_module.load_backbone, InputFormat.encode_nli

    def counting_load(*a, **kw):
        counters["loads"] += 1
        return real_load(*a, **kw)

    def counting_encode(self, examples, classes):
        counters["encode_calls"] += 1
        counters["encoded_examples"] += len(examples)
        return real_encode(self, examples, classes)

    run_module.load_backbone = counting_load
    InputFormat.encode_nli = counting_encode

    def study_cells(n: int):
        text = STUDY.format(n=n, model=me5, languages=", ".join(LANGUAGES[:n]), steps=args.steps,
                            eval_limit=args.eval_limit)
        study, _ = parse_study(text, f"<scaling-{n}>")
        return expand(study)

    # warm-up, not timed: imports, the first model load and the file cache
    with tempfile.TemporaryDirectory(prefix="xshot-scaling-") as tmp:
        os.environ["XSHOT_CACHE_DIR"] = str(Path(tmp) / "cache")
        warm = parse_study(STUDY.format(n=0, model=me5, languages="en", steps=1, eval_limit=4), "<warm-up>")[0]
        run_study(expand(warm)[:1], ResultsStore(Path(tmp) / "warm.sqlite"), executor="local", data_root=root,
                  progress=False)

    measured: dict[int, list[dict]] = {n: [] for n in counts}
    for rep in range(args.repeats):
        for n in (counts if rep % 2 == 0 else list(reversed(counts))):
            cells = study_cells(n)
            for k in counters:
                counters[k] = 0
            before = dict(cache.stats)
            with tempfile.TemporaryDirectory(prefix="xshot-scaling-") as tmp:
                os.environ["XSHOT_CACHE_DIR"] = str(Path(tmp) / "cache")
                store = ResultsStore(Path(tmp) / "study.sqlite")
                cell_times: list[dict] = []
                start = time.perf_counter()
                outcome = run_study(cells, store, executor="local", data_root=root, progress=False,
                                    on_cell=lambda cell, out: cell_times.append(
                                        {"wall_s": out.get("wall_s"), **(out.get("metrics") or {}).get("time", {}),
                                         "n": sum(e["n"] for e in ((out.get("metrics") or {}).get("evaluations") or {}).values())}))
                wall = time.perf_counter() - start
            if outcome.failed:
                sys.exit(f"scaling: a cell failed: {outcome.failures}")
            measured[n].append({
                "wall_s": wall, "cells": len(cells), "model_loads": counters["loads"],
                "encode_calls": counters["encode_calls"], "encoded_examples": counters["encoded_examples"],
                "cache_misses": cache.stats["misses"] - before.get("misses", 0),
                "cache_hits": cache.stats["hits"] - before.get("hits", 0),
                "cell_times": cell_times,
            })
            C.log(f"scaling: {n} languages: {wall:.1f}s, loads {counters['loads']}, "
                  f"misses {measured[n][-1]['cache_misses']}, hits {measured[n][-1]['cache_hits']}")

    rows = []
    for n in counts:
        runs = measured[n]
        plan = estimate(study_cells(n))["estimate"]
        wall = C.median([r["wall_s"] for r in runs])
        last = runs[-1]
        rows.append({"languages": n, "cells": last["cells"], "wall_s": round(wall, 2),
                     "wall_s_all": [round(r["wall_s"], 2) for r in runs],
                     "model_loads": last["model_loads"], "eval_sets_tokenized": last["cache_misses"],
                     "eval_sets_from_cache": last["cache_hits"], "encode_calls": last["encode_calls"],
                     "plan_estimate_s": plan["total_s"], "plan_over_measured": round(plan["total_s"] / wall, 3)})
    ns = np.array([r["languages"] for r in rows], dtype=float)
    walls = np.array([r["wall_s"] for r in rows])
    per_language, fixed = np.polyfit(ns, walls, 1) if len(ns) > 1 else (float("nan"), float(walls[0]))

    # measured unit costs over every cell of every study (what the plan's defaults stand for)
    cells_all = [c for n in counts for r in measured[n] for c in r["cell_times"]]
    steps = args.steps
    unit = {
        "load_s_per_cell": round(C.median([c["load_s"] for c in cells_all]), 3),
        "train_s_per_step": round(C.median([c["train_s"] / steps for c in cells_all]), 3),
        "eval_s_per_example": round(C.median([c["eval_s"] / c["n"] for c in cells_all if c["n"]]), 4),
        "overhead_s_per_cell": round(C.median([c["wall_s"] - c["load_s"] - c["train_s"] - c["eval_s"] for c in cells_all]), 3),
        "batch_size": 8, "torch_threads": args.threads,
    }
    from xshot.studies import plan as plan_module
    from xshot.training.config import RunConfig

    probe = study_cells(1)[0].config
    load_d, train_d, eval_d = plan_module.default_costs(probe)
    default_unit = {"load_s_per_cell": load_d, "train_s_per_step": round(train_d / plan_module.train_steps(probe), 3),
                    "eval_s_per_example": round(eval_d / max(1, plan_module.eval_examples(probe)), 4),
                    "model_size_factor": round(plan_module.model_size_factor(probe.model), 3)}
    suggested = {
        "DEFAULT_LOAD_S": round(unit["load_s_per_cell"] + unit["overhead_s_per_cell"], 2),
        "finetune Cost.step_s (110M params, batch 16)": round(
            unit["train_s_per_step"] / default_unit["model_size_factor"] /
            (0.5 + 0.5 * 8 / plan_module.DEFAULT_BATCH), 2),
        "finetune Cost.eval_s (110M params)": round(unit["eval_s_per_example"] / default_unit["model_size_factor"], 4),
        "note": "inverts plan.default_costs' scaling (model size factor, batch 8 vs 16) for this machine and "
                "thread count; unit costs of other methods are not measured here",
    }
    ratios = [r["plan_over_measured"] for r in rows]
    once = all(r["model_loads"] == r["cells"] and r["eval_sets_tokenized"] == r["languages"] and
               r["eval_sets_from_cache"] == r["languages"] * (r["cells"] - 1) for r in rows)
    worst = max(ratios, key=lambda x: abs(x - 1.0))
    result = {
        "benchmark": "scaling",
        "study": {"model": "me5-small", "method": "finetune", "seeds": [1, 2], "k": 16, "steps": args.steps,
                  "eval_limit": args.eval_limit, "languages": list(LANGUAGES[: max(counts)])},
        "repeats": args.repeats,
        "rows": rows,
        "fit": {"fixed_s": round(float(fixed), 2), "per_language_s": round(float(per_language), 2),
                "wall_8_over_wall_1": round(float(walls[-1] / walls[0]), 3) if len(walls) > 1 else None},
        "measured_unit_costs": unit,
        "plan_default_unit_costs": default_unit,
        "plan_defaults_that_would_match_this_machine": suggested,
        "targets": [
            C.target("model loaded once per cell and each evaluation set tokenized once per study (1 = yes)",
                     float(once), ">=", 1.0),
            C.target("xshot plan estimate / measured wall time, worst over N (within +-30%)", worst, ">=", 0.7),
            C.target("xshot plan estimate / measured wall time, worst over N (within +-30%)", worst, "<=", 1.3),
        ],
    }
    C.emit(result, args.out, args.threads)


if __name__ == "__main__":
    main()
