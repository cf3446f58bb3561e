"""A closing-note table from exported results: one row per method variant, per model.

    xshot results STORE --format csv --out results.csv
    python examples/table.py results.csv

One row per method variant (setting × method) and model: the primary metric ×100 per target language as
mean ± sd over seeds, the average over languages with a 95% interval, per-set bootstrap intervals above
chance (NLI), and the cost of one cell (choosing on the shots included in train s). The interval of the
average is a t-interval over seeds (seed variance dominates few-shot results); with one seed it is the
test-sampling interval from the per-set bootstrap intervals. Used for results/decoders/table.md and the
tables of results/faithful/.
"""

from __future__ import annotations

import math
import sys

import pandas as pd
from scipy import stats

from xshot.methods import method_names
from xshot.reporting.format import short_model

CHANCE = {"nli": 1 / 3}


def variant(row: pd.Series) -> str:
    """A method, or the setting that varies it (settings named after their method say what they vary)."""
    method, setting = row["method"], row["setting"]
    if setting in ("en-fewshot", method):
        return method
    return setting if setting.startswith(method) else f"{method} ({setting})"


def table(path: str) -> str:
    df = pd.read_csv(path)
    df = df[df["status"] == "done"].copy()
    if "setting" not in df:  # results exported before studies recorded their settings
        df["setting"] = "en-fewshot"
    df["variant"] = df.apply(variant, axis=1)
    rank = {m: i for i, m in enumerate(method_names())}  # the registry's display order
    df["rank"] = df["method"].map(rank)
    out = []
    for model, by_model in df.groupby("model", sort=False):
        langs = sorted(by_model["language"].unique())
        chance = CHANCE.get(str(by_model["task"].iloc[0]))
        out += [f"**{short_model(model)}** ({by_model['primary_metric'].iloc[0]} ×100)", "",
                "| method | " + " | ".join(langs) + " | avg [95% CI] | CIs > chance | train s | eval s | trainable |",
                "|---" * (len(langs) + 6) + "|"]
        order = list(dict.fromkeys(by_model.sort_values(["rank", "setting"])["variant"]))
        for name in order:
            g = by_model[by_model["variant"] == name]
            seeds = sorted(g["seed"].unique())
            cells = []
            for lang in langs:
                s = g[g.language == lang].score
                cells.append("–" if s.empty else f"{100 * s.mean():.1f} ± {100 * s.std(ddof=1):.1f}" if len(s) > 1
                             else f"{100 * s.mean():.1f}")
            per_seed = g.groupby("seed")["score"].mean()
            mean = per_seed.mean()
            if len(seeds) > 1:
                half = stats.t.ppf(0.975, len(seeds) - 1) * per_seed.std(ddof=1) / math.sqrt(len(seeds))
            else:  # test sampling only: the per-set bootstrap intervals as normal standard errors
                se = ((g["ci_high"] - g["ci_low"]) / 3.92)
                half = 1.96 * math.sqrt((se ** 2).sum()) / len(g)
            above = f"{int((g['ci_low'] > chance).sum())}/{len(g)}" if chance is not None else "–"
            per_cell = g.drop_duplicates("cell")
            train_s = per_cell.train_s.fillna(0) + (per_cell.choose_s.fillna(0) if "choose_s" in per_cell else 0)
            # a cell's evaluation time; older exports have only each set's own
            eval_s = per_cell.cell_eval_s.mean() if "cell_eval_s" in g else g.groupby("cell").eval_s.sum().mean()
            out.append(
                f"| {name} | " + " | ".join(cells)
                + f" | {100 * mean:.1f} [{100 * (mean - half):.1f}, {100 * (mean + half):.1f}] | {above} "
                f"| {train_s.mean():.0f} | {eval_s:.0f} | {int(per_cell.trainable_params.iloc[0]):,} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(table(sys.argv[1]), end="")
