"""Learning curves: each method's mean over the target languages against K, per setting."""

from __future__ import annotations

import math

import pandas as pd

from xshot.reporting import figures as figs
from xshot.reporting.document import Figure, Paragraph, Section
from xshot.reporting.frame import Group, method_order
from xshot.reporting.sections import ReportContext, finish
from xshot.statistics import summarize

def learning_curves(done: pd.DataFrame, groups: list[Group], colors: dict[str, str]) -> list:
    blocks: list = []
    by_setting: dict[str, list[Group]] = {}
    for g in groups:
        by_setting.setdefault(g.setting_label(), []).append(g)
    for label, gs in by_setting.items():
        numeric = [g for g in gs if not math.isnan(g.k_num)]
        if len(numeric) < 2:
            ks = ", ".join(g.k_label for g in numeric) or "none"
            rest = " (runs with all training data, K = all, are not on a curve)" if len(numeric) < len(gs) else ""
            blocks.append(Paragraph(f"{label}: only one K (K = {ks}){rest}, so there is no learning curve.", note=True))
            continue
        series: dict[str, list[tuple[float, float, float, float]]] = {}
        for g in numeric:
            for m in g.methods:
                avg, _ = g.seed_average(m, g.targets)
                if avg:
                    s = summarize(list(avg.values()))
                    series.setdefault(m, []).append((g.k_num, 100 * s.mean, 100 * s.ci_low, 100 * s.ci_high))
        if not series:
            blocks.append(Paragraph(f"{label}: no target-language results to draw a learning curve.", note=True))
            continue
        series = {m: series[m] for m in method_order(series)}
        metric = numeric[0].metric
        png = figs.learning_curve(series, colors, f"{label}: mean over target languages", f"{metric} ×100")
        caption = (f"Learning curve, {label}: {metric} averaged over the target languages, vs K; "
                   "shaded: 95% t-interval over seeds (none with one seed).")  # fmt: skip
        blocks.append(Figure(gs[0].slug("curve", with_k=False), png, caption))
        skipped = [g.k_label for g in gs if math.isnan(g.k_num)]
        if skipped:
            blocks.append(
                Paragraph(f"{label}: runs with all training data (K = all) are left out of the curve.", note=True)
            )
    return blocks


def section(ctx: ReportContext) -> Section:
    return finish(Section("Learning curves", learning_curves(ctx.done, ctx.groups, ctx.colors), anchor="curves"), ctx)
