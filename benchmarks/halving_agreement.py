"""Would successive halving (``selection_halving: true``) have chosen what full cross-validation chose?

Reads the choices committed studies recorded (every candidate's score on every fold) and replays successive
halving on them with ``xshot.training.selection.halving_survivors``: the candidates that run each fold, the
survivors after it, the choice at the end. No model runs, so the replay is exact for the recorded folds (the
fold trainings are seeded and start from the same weights whichever candidates run beside them). Prints JSON:
per study, the cells, how many choose the same, the fold trainings saved, and every disagreement with the
full-grid choice's and the halving choice's mean fold scores.

    python benchmarks/halving_agreement.py results/fair/results/*.csv results/headline/pilot.csv [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from xshot.results import CandidateScore, best_candidate
from xshot.training.selection import halving_survivors


def replay(candidates: list[CandidateScore]) -> tuple[int, int]:
    """(the candidate successive halving chooses, the fold trainings it runs) from full-grid fold scores."""
    folds = len(candidates[0].fold_scores)
    alive, runs = list(range(len(candidates))), 0
    for done in range(1, folds + 1):
        runs += len(alive)
        seen = [CandidateScore(name=candidates[i].name, fold_scores=candidates[i].fold_scores[:done]) for i in alive]
        alive = [alive[j] for j in halving_survivors(seen)]
        if len(alive) == 1:
            break
    partial = [CandidateScore(name=candidates[i].name, fold_scores=candidates[i].fold_scores[:done]) for i in alive]
    return alive[best_candidate(partial)], runs


def study(path: Path) -> dict:
    done = pd.read_csv(path)
    done = done[done["status"] == "done"].drop_duplicates("cell")
    cells, same, runs_full, runs_halving, differ = 0, 0, 0, 0, []
    for _, row in done.iterrows():
        for choice in json.loads(row["choices"]) if isinstance(row.get("choices"), str) else []:
            candidates = [CandidateScore.model_validate(c) for c in choice["candidates"]]
            if choice["what"] != "hyperparameters" or len(candidates) < 2 or len(candidates[0].fold_scores) < 2:
                continue
            full = best_candidate(candidates)
            halving, runs = replay(candidates)
            cells += 1
            same += full == halving
            runs_full += len(candidates) * len(candidates[0].fold_scores)
            runs_halving += runs
            if full != halving:
                differ.append({"method": row["method"], "seed": int(row["seed"]),
                               "full_grid": candidates[full].name, "halving": candidates[halving].name,
                               "mean_fold_scores": {c.name: round(c.mean, 4) for c in candidates}})
    return {"study": str(path), "cells": cells, "same_choice": same, "fold_trainings_full": runs_full,
            "fold_trainings_halving": runs_halving, "differ": differ}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="exported results CSVs with a choices column")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    studies = [study(p) for p in args.results]
    total = {k: sum(s[k] for s in studies) for k in ("cells", "same_choice", "fold_trainings_full",
                                                     "fold_trainings_halving")}
    text = json.dumps({"benchmark": "halving_agreement", "total": total, "studies": studies}, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
