"""Simulated studies: does the findings' seed-level test hold its level, and does the MDE keep its promise?

    python benchmarks/inference_simulation.py [--studies 1000] [--out benchmarks/results/inference_simulation.json]

Each simulated study compares two methods on 4 target languages of 300 test items each, with ``n`` seeds
(3, 5, 10, 20), as a study of XNLI does: the test items are drawn once per study and shared by every seed,
method and language (a translated test set: an item is as hard in every language), each (method, seed) has
its own quality shared by all its languages (one trained model), each (method, seed, language) a little of
its own, and each scored item is a Bernoulli draw. Per study the procedures of
``xshot.reporting.sections.findings`` run on the scores (``xshot.statistics``, the same functions):

- **seed test**: exact sign-flip over the per-seed differences averaged over the languages (α = 0.05);
- **pairs test (old)**: the sign-flip test over the (language, seed) pairs as if independent (what the
  findings did before), to show what it cost;
- **t-interval / two-level bootstrap**: whether the 95% interval holds the true difference.

Scenarios: ``null`` (no method effect, no method × item interaction), ``null+items`` (no effect on the item
population, but each method is better on some items: a fixed test set then favours one of them, which only
the two-level bootstrap's item level accounts for), and ``effect`` (a true difference equal to the MDE the
design promises at 80% power, from the true seed-level spread). Prints and writes one JSON document.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from xshot import statistics
from xshot.statistics import minimum_detectable_effect, sign_flip_test, t_interval, two_level_bootstrap

#: random sign vectors beyond 16 seeds (or pairs): fewer than a report's 100,000, for speed; the Monte-Carlo
#: error of a p near 0.05 is then about 0.002
statistics.SIGN_FLIP_RESAMPLES = 10_000

LANGUAGES, ITEMS = 4, 300
SEED_SD, LANG_SD = 0.025, 0.015  # per (method, seed) and per (method, seed, language) quality, probability scale
ITEM_SD = 0.2  # item difficulty around the base accuracy
INTERACTION_SD = 0.1  # null+items: each method's own easy and hard items
BASE = 0.42
SEEDS = (3, 5, 10, 20)


def simulate(rng: np.random.Generator, n_seeds: int, effect: float, interaction: float) -> tuple[np.ndarray, np.ndarray]:
    """Scores of two methods, shape (2, seeds, languages), and their item-level standard errors, and the
    true difference on the item population is ``effect``."""
    item = rng.normal(0, ITEM_SD, ITEMS)
    own = rng.normal(0, interaction, (2, 1, 1, ITEMS)) if interaction else 0.0
    quality = rng.normal(0, SEED_SD, (2, n_seeds, 1, 1)) + rng.normal(0, LANG_SD, (2, n_seeds, LANGUAGES, 1))
    shift = np.array([effect, 0.0]).reshape(2, 1, 1, 1)
    p = np.clip(BASE + item + own + quality + shift, 0.0, 1.0)
    scores = (rng.random(p.shape) < p).mean(axis=-1)
    se = np.sqrt(scores * (1 - scores) / ITEMS)
    return scores, se


def procedures(scores: np.ndarray, se: np.ndarray, truth: float) -> dict[str, bool]:
    diffs = 100 * (scores[0] - scores[1])  # seeds × languages, points
    per_seed = diffs.mean(axis=1)
    item_se = 100 * np.sqrt((se[0] ** 2 + se[1] ** 2).mean(axis=0))
    t_ci = t_interval(per_seed)
    boot = two_level_bootstrap(diffs, item_se, correlated=True, n_resamples=2000)  # as XNLI: translated items
    return {
        "seed_test_rejects": sign_flip_test(per_seed).p < 0.05,
        "pairs_test_rejects": sign_flip_test(diffs.ravel()).p < 0.05,
        "t_interval_covers": t_ci.low <= 100 * truth <= t_ci.high,
        "bootstrap_covers": boot.low <= 100 * truth <= boot.high,
    }


def seed_sd(rng: np.random.Generator, n: int = 4000) -> float:
    """The true sd of a per-seed difference (over languages and items), by simulation under the null."""
    d = [100 * (s[0] - s[1]).mean() for s, _ in (simulate(rng, 1, 0.0, 0.0) for _ in range(n))]
    return float(np.std(d, ddof=1))


def run(studies: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    sd = seed_sd(rng)
    rows = []
    for n in SEEDS:
        mde = minimum_detectable_effect(sd, n)
        for scenario, effect, interaction in (("null", 0.0, 0.0), ("null+items", 0.0, INTERACTION_SD),
                                              ("effect", mde / 100 if math.isfinite(mde) else None, 0.0)):
            if effect is None:  # the design cannot reach α: no effect to promise
                continue
            started = time.perf_counter()
            out = [procedures(*simulate(rng, n, effect, interaction), truth=effect) for _ in range(studies)]
            rate = {k: float(np.mean([o[k] for o in out])) for k in out[0]}
            mc = {k: math.sqrt(v * (1 - v) / studies) for k, v in rate.items()}
            rows.append({"seeds": n, "scenario": scenario, "true_difference_points": round(100 * effect, 3),
                         "mde_points": None if not math.isfinite(mde) else round(mde, 3),
                         **{k: round(v, 4) for k, v in rate.items()},
                         **{f"{k}_mc_se": round(v, 4) for k, v in mc.items()},
                         "seconds": round(time.perf_counter() - started, 1)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return {"benchmark": "inference_simulation", "studies_per_row": studies, "alpha": 0.05, "power": 0.8,
            "languages": LANGUAGES, "items_per_language": ITEMS, "seed_sd_probability": SEED_SD,
            "language_seed_sd_probability": LANG_SD, "item_sd": ITEM_SD, "interaction_sd": INTERACTION_SD,
            "true_seed_level_sd_points": round(sd, 3), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=1000, help="simulated studies per row")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    result = run(args.studies)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
