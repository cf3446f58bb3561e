"""How far ``xshot plan``'s default estimate (no calibration from the store) is from measured cells.

Reads finished results stores (any study) and compares, per cell, the measured load, training (with
the choices made on the shots: model selection, label search) and evaluation seconds with what
``studies.plan.default_costs`` predicts for the same configuration; per study the sum over its cells.
It also checks the estimate a resumed study gets (``xshot plan`` on a store that holds some finished
cells calibrates the defaults by them): calibrated on the cells of the study's first seed only, how far
it is from the measured cells of the other seeds.
The estimate is for the threads each row reports it ran with (``xshot plan`` predicts them from the
executor); other processes running beside a study are not modelled: the JSON records the thread counts.

    python benchmarks/plan_check.py STORE.sqlite [STORE.sqlite ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def rows_of(store: Path) -> list[dict]:
    from xshot.studies.store import ResultsStore

    if not store.is_file():
        raise SystemExit(f"plan_check: {store}: no such results store")
    with ResultsStore(store, create=False) as db:
        return db.rows()


def cells_of(rows: list[dict]) -> list[dict]:
    cells: dict[str, dict] = {}
    for row in rows:
        if row.get("status") != "done" or row.get("train_s") is None:
            continue
        c = cells.setdefault(row["cell"], {"study": row["study"], "setting": row.get("setting"),
                                           "config": row["config"], "n": 0, "eval_s": 0.0,
                                           "train_s": row["train_s"] + (row.get("choose_s") or 0.0),
                                           "cell_eval_s": row.get("cell_eval_s"), "load_s": row.get("load_s") or 0.0,
                                           "threads": row.get("threads")})
        c["n"] += row.get("n") or 0
        c["eval_s"] += row.get("eval_s") or 0.0
    return list(cells.values())


def measured_and_estimated(cell: dict):
    """A cell of :func:`cells_of`: its run configuration, its measured evaluation seconds and the default
    (load, train, evaluation) estimate at the threads it ran with, for the examples it evaluated."""
    from xshot.studies.plan import REFERENCE_THREADS, default_costs, eval_examples
    from xshot.training.config import RunConfig

    config = RunConfig.model_validate(json.loads(cell["config"]))
    load, train, evaluation = default_costs(config, cell["threads"] or REFERENCE_THREADS)
    evaluation *= cell["n"] / max(1, eval_examples(config))  # the examples actually evaluated
    measured_eval = cell["cell_eval_s"] if cell["cell_eval_s"] is not None else cell["eval_s"]
    return config, measured_eval, (load, train, evaluation)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stores", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()

    from xshot.studies.plan import calibrate, model_size_factor

    by_method: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    studies: dict[str, dict[str, float]] = defaultdict(lambda: {"measured_s": 0.0, "estimated_s": 0.0, "cells": 0})
    threads: set = set()
    models: set[str] = set()
    resumed: dict[str, dict[str, float]] = defaultdict(lambda: {"measured_s": 0.0, "estimated_s": 0.0, "cells": 0})
    for store in args.stores:
        rows = rows_of(store)
        first_seed = {}  # per study and seed, its rows; the lowest seed's are what a store holds after the first seed
        for row in rows:
            if row.get("config"):
                first_seed.setdefault(row["study"], {}).setdefault(json.loads(row["config"])["seed"], []).append(row)
        lowest = {study: min(by_seed) for study, by_seed in first_seed.items()}
        calibrations = {study: calibrate(first_seed[study][seed]) for study, seed in lowest.items()}
        for cell in cells_of(rows):
            config, measured_eval, (load, train, evaluation) = measured_and_estimated(cell)
            measured = cell["load_s"] + cell["train_s"] + measured_eval
            model = Path(config.model).name or config.model
            by_method[(cell["study"], model, config.method)].append({
                "train": cell["train_s"] / train if train else None,
                "eval": measured_eval / evaluation if evaluation else None,
                "cell": measured / (load + train + evaluation)})
            s = studies[cell["study"]]
            s["measured_s"] += measured
            s["estimated_s"] += load + train + evaluation
            s["cells"] += 1
            if config.seed != lowest[cell["study"]]:
                (r_train, r_eval), _ = calibrations[cell["study"]].ratios(config.method, config.model)
                r = resumed[cell["study"]]
                r["measured_s"] += measured
                r["estimated_s"] += load + train * r_train + evaluation * r_eval
                r["cells"] += 1
            threads.add(cell["threads"])
            models.add(config.model)

    def med(values):
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 2) if values else None

    factors = {Path(m).name or m: round(model_size_factor(m), 3) for m in models}
    methods = [{"study": st, "model": model, "model_size_factor": factors[model], "method": method, "cells": len(r),
                "measured_over_estimate": {k: med([x[k] for x in r]) for k in ("train", "eval", "cell")}}
               for (st, model, method), r in sorted(by_method.items())]
    targets = []
    for totals, what in ((studies, "measured / estimated (whole study)"),
                         (resumed, "later seeds, calibrated on the first")):
        for name, t in sorted(totals.items()):
            t["ratio"] = round(t["measured_s"] / t["estimated_s"], 3) if t["estimated_s"] else None
            t["measured_s"], t["estimated_s"] = round(t["measured_s"], 1), round(t["estimated_s"], 1)
            if t["ratio"] is not None:
                targets.append(C.target(f"{name}: {what}", t["ratio"], ">=", 0.7))
                targets.append(C.target(f"{name}: {what}", t["ratio"], "<=", 1.3))
    result = {"benchmark": "plan_check", "stores": [str(s) for s in args.stores], "row_threads": sorted(
        t for t in threads if t is not None), "studies": dict(studies),
        "resumed_after_first_seed": dict(resumed), "methods": methods, "targets": targets}
    C.emit(result, args.out, threads=max((t for t in threads if t), default=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
