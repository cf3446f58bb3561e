"""The closing-note table of examples/decoders/xnli-k16-gemma.yaml, from its exported results.

    xshot results decoders.sqlite --format csv --out examples/decoders/results.csv
    python examples/decoders/table.py examples/decoders/results.csv

One row per method variant (setting × method): accuracy ×100 per target language as mean ± sd over
seeds, the average over languages with a 95% interval, per-set bootstrap intervals above chance, and
the cost of one cell. The interval of the average is a t-interval over seeds (seed variance dominates
few-shot results); with one seed it is the test-sampling interval from the per-set bootstrap intervals.
"""

from __future__ import annotations

import math
import sys

import pandas as pd
from scipy import stats

from xshot.methods import METHOD_NAMES

CHANCE = 1 / 3


def variant(row: pd.Series) -> str:
    """A method, or the setting that varies it (settings named after their method say what they vary)."""
    method, setting = row["method"], row["setting"]
    if setting in ("en-fewshot", method):
        return method
    return setting if setting.startswith(method) else f"{method} ({setting})"


def table(path: str) -> str:
    df = pd.read_csv(path)
    df = df[df["status"] == "done"].copy()
    df["variant"] = df.apply(variant, axis=1)
    langs = sorted(df["language"].unique())
    lines = ["| method | " + " | ".join(langs) + " | avg [95% CI] | CIs > chance | train s | eval s | trainable |",
             "|---" * (len(langs) + 6) + "|"]
    rank = {m: i for i, m in enumerate(METHOD_NAMES)}  # the registry's display order
    df["rank"] = df["method"].map(rank)
    order = list(dict.fromkeys(df.sort_values(["rank", "setting"])["variant"]))
    for name in order:
        g = df[df["variant"] == name]
        seeds = sorted(g["seed"].unique())
        cells = [f"{100 * g[g.language == lang].score.mean():.1f} ± {100 * g[g.language == lang].score.std(ddof=1):.1f}"
                 if len(seeds) > 1 else f"{100 * g[g.language == lang].score.mean():.1f}" for lang in langs]
        per_seed = g.groupby("seed")["score"].mean()
        mean = per_seed.mean()
        if len(seeds) > 1:
            half = stats.t.ppf(0.975, len(seeds) - 1) * per_seed.std(ddof=1) / math.sqrt(len(seeds))
        else:  # test sampling only: the per-set bootstrap intervals as normal standard errors
            se = ((g["ci_high"] - g["ci_low"]) / 3.92)
            half = 1.96 * math.sqrt((se ** 2).sum()) / len(g)
        above = int((g["ci_low"] > CHANCE).sum())
        per_cell = g.drop_duplicates("cell")
        lines.append(
            f"| {name} | " + " | ".join(cells)
            + f" | {100 * mean:.1f} [{100 * (mean - half):.1f}, {100 * (mean + half):.1f}] | {above}/{len(g)} "
            f"| {per_cell.train_s.mean():.0f} | {per_cell.cell_eval_s.mean():.0f} | {int(per_cell.trainable_params.iloc[0]):,} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sys.argv[1]))
