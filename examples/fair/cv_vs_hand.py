"""Learning rates chosen by cross-validation on the shots against the same cells at hand-picked rates.

    python examples/fair/cv_vs_hand.py CV.csv HAND.csv

Both files are ``xshot results`` exports of studies with the same cells except for how each cell's learning
rate was set (here examples/fair/xnli-k16-gemma-cv.yaml and xnli-k16-gemma-hand.yaml). Each method's two
arms are compared as the report compares two settings (``reporting.sections.findings``): the mean over seeds
of each seed's difference averaged over the target languages, with a 95% t-interval over seeds, an exact
sign-flip test over the seeds, Holm across the methods, and the learning rates cross-validation chose.
Prints a Markdown table.
"""

from __future__ import annotations

import json
import sys

import pandas as pd

from xshot.reporting.format import fmt_p
from xshot.reporting.frame import group_results, prepare
from xshot.reporting.languages import high_resource_set
from xshot.statistics import smallest_sign_flip_p
from xshot.reporting.sections.findings import adjust, compare, setting_arms


def chosen_rates(df: pd.DataFrame, method: str) -> str:
    cells = df[(df["method"] == method) & (df["status"] == "done")].drop_duplicates("cell").sort_values("seed")
    rates = []
    for text in cells["choices"]:
        chosen = [c["chosen"] for c in json.loads(text or "[]") if c.get("what") == "hyperparameters"]
        rates.append(f"{chosen[0]['learning_rate']:g}" if chosen else "?")
    return ", ".join(rates)


def main(cv_path: str, hand_path: str) -> str:
    cv, hand = pd.read_csv(cv_path), pd.read_csv(hand_path)
    merged = pd.concat([cv.assign(setting="cv"), hand.assign(setting="hand-picked")], ignore_index=True)
    d = prepare(merged)
    done = d[(d["status"] == "done") & d["score"].notna() & (d["eval_set"] != "")]
    arms = setting_arms(group_results(done, high_resource_set()), "cv", "hand-picked")
    rows = []
    for g in arms:
        method = g.methods[0].split("(")[-1].rstrip(")")
        c = compare(g, *g.methods)
        if c is not None:
            rows.append((method, c))
    adjust([c for _, c in rows])
    hand_rates = hand.drop_duplicates("method").set_index("method")["config"].map(
        lambda text: format(json.loads(text).get("learning_rate") or float("nan"), "g"))
    lines = ["| method | hand-picked lr | CV-chosen lr (seeds 1, 2, 3) | Δ CV − hand | 95% CI | Holm p | CV ahead (langs) |",
             "|---|---|---|---:|---:|---:|---:|"]
    for method, c in rows:
        lines.append(f"| {method} | {hand_rates.get(method, '?')} | {chosen_rates(cv, method)} | {c.delta:+.1f} | "
                     f"[{c.ci.low:+.1f}, {c.ci.high:+.1f}] | {fmt_p(c.p_holm)} | {c.wins}/{c.languages} |")
    lines.append("")
    n = rows[0][1].n if rows else 0
    lines.append(f"Δ: accuracy ×100, mean over the {n} seeds of each seed's difference averaged over the target "
                 f"languages; p: exact sign-flip test over the {n} paired seeds, Holm-corrected across the methods "
                 f"(with {n} seeds no p can be below {smallest_sign_flip_p(n):g}).")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(main(sys.argv[1], sys.argv[2]))
