"""Main results: method × target language per group, with the best mean marked and its lead tested."""

from __future__ import annotations

import math
from typing import Any

from xshot.reporting.document import Cell, Section, Table
from xshot.reporting.format import DAGGER, DASH, fmt_p, mean_std, short_model
from xshot.reporting.frame import Column, Group
from xshot.reporting.sections import ReportContext, finish
from xshot.statistics import ALPHA, seeds_to_reach, sign_flip_test, smallest_sign_flip_p, summarize


def _compare_leaders(col_scores: dict[str, dict[float, float]], means: dict[str, float]):
    """(leaders, runner-up, SeedTest | None) for one column of a main table: the leader's lead tested over the
    seeds both have (the per-seed differences, :func:`xshot.statistics.sign_flip_test`)."""
    ranked = sorted((m for m in means if not math.isnan(means[m])), key=lambda m: -means[m])
    if not ranked:
        return [], None, None
    best = means[ranked[0]]
    leaders = [m for m in ranked if abs(means[m] - best) <= 1e-12]
    rest = [m for m in ranked if m not in leaders]
    if len(leaders) > 1 or not rest:
        return leaders, None, None
    runner = rest[0]
    a, b = col_scores[leaders[0]], col_scores[runner]
    seeds = sorted(set(a) & set(b))
    return leaders, runner, sign_flip_test([a[s] - b[s] for s in seeds])


def main_table(g: Group) -> tuple[Table, list[dict[str, Any]]]:
    """Method × target language (mean ± std over seeds, ×100) with an average over the targets."""
    columns: list[tuple[str, Column | None]] = [(c.header + (" (source)" if c.is_source else ""), c) for c in g.columns]
    columns.append(("avg (targets)", None))
    targets = g.targets
    cells: dict[tuple[str, int], dict[float, float]] = {}
    partial_methods = set()
    for m in g.methods:
        for j, (_, col) in enumerate(columns):
            if col is not None:
                cells[(m, j)] = g.seed_scores(m, col)
            else:
                avg, partial = g.seed_average(m, targets)
                cells[(m, j)] = avg
                if partial and avg:
                    partial_methods.add(m)
    rows = {m: [Cell(m)] for m in g.methods}
    notes: list[str] = []
    summary_rows: list[dict[str, Any]] = []
    seeds_all = sorted({s for v in cells.values() for s in v})
    n_marks = 0
    underpowered: list[int] = []  # seed counts too small for any p < ALPHA
    single_seed = True
    for j, (header, col) in enumerate(columns):
        stats_ = {m: summarize(list(cells[(m, j)].values())) for m in g.methods}
        means = {m: s.mean for m, s in stats_.items()}
        leaders, runner, test = _compare_leaders({m: cells[(m, j)] for m in g.methods}, means)
        for m in g.methods:
            s = stats_[m]
            if s.n > 1:
                single_seed = False
            text = mean_std(s.mean, s.std) if s.n else DASH
            if col is None and m in partial_methods and s.n:
                text += " *"
            rows[m].append(Cell(text, bold=m in leaders and len(means) > 1))
            summary_rows.append(
                {
                    "task": g.task, "model": g.model, "setting": g.setting, "train": g.train,
                    "source_language": g.source, "k": g.k_label, "target_k": g.target_k, "precision": g.precision or None, "method": m, "column": header,
                    "language": col.language if col else "avg", "eval_set": col.key[1] if col else "",
                    "n_seeds": s.n, "mean": s.mean, "std": s.std, "ci95_low": s.ci_low, "ci95_high": s.ci_high,
                }
            )  # fmt: skip
        if test is not None and not (test.p < ALPHA):
            n_marks += 1
            mark = f"{DAGGER}{n_marks}"
            rows[leaders[0]][j + 1].mark = mark
            if test.n == 0:
                notes.append(f"{mark} {header}: {leaders[0]} vs {runner}, no seeds in common (untested)")
                continue
            if test.smallest_p >= ALPHA:
                underpowered.append(test.n)
            notes.append(
                f"{mark} {header}: {leaders[0]} vs {runner}, "
                f"Δ = {100 * test.delta:+.1f}, p = {fmt_p(test.p)}, n = {test.n}"
            )
    setting = f"setting {g.setting}, " if g.setting else ""
    target = f", then K = {g.target_k} target-language shots" if g.target_k else ""
    caption = (
        f"{g.task.upper()}, model {short_model(g.model)}, {setting}trained on {g.train} (source language {g.source}), "
        f"K = {g.k_label}{target}{f', {g.precision}' if g.precision else ''}: {g.metric} ×100, mean ± std over seeds ({len(seeds_all)} seed(s): "
        f"{', '.join(f'{s:g}' for s in seeds_all)})"
    )
    table_notes = [f"Bold: best mean per column. {DAGGER}: the lead over the runner-up is not significant "
                   f"(two-sided exact sign-flip test on the per-seed differences, the seeds both have, p ≥ {ALPHA}, "
                   "this column alone); a bold value without the mark leads at that level, unadjusted for the "
                   "table's other columns. The study's claims are the findings' tests, Holm-adjusted across "
                   "their family."]  # fmt: skip
    if single_seed:
        table_notes.append(
            f"One seed per cell: no standard deviation ({DASH}); with a single pair of seeds the sign-flip test "
            f"cannot reject (p = 1), so every lead is marked {DAGGER}."
        )
    elif underpowered:
        n_pairs = max(underpowered)
        table_notes.append(
            f"With {n_pairs} paired seed(s) the smallest attainable p is {fmt_p(smallest_sign_flip_p(n_pairs))}: "
            f"no lead can reach p < {ALPHA} with fewer than {seeds_to_reach(ALPHA)} seeds."
        )
    if partial_methods:
        table_notes.append(
            "* average over the target languages and seeds this method has results for (some are missing)."
        )
    if g.source_column is None:
        table_notes.append(f"The study does not evaluate on the source language ({g.source}).")
    if notes:
        table_notes.append("Not significant (Δ in points, n paired seeds): " + "; ".join(notes) + ".")
    table = Table(
        columns=["method"] + [h for h, _ in columns],
        rows=[rows[m] for m in g.methods],
        caption=caption,
        notes=table_notes,
        numeric=[False] + [True] * len(columns),
        css_class="main",
    )
    return table, summary_rows


def section(ctx: ReportContext) -> Section:
    out = Section("Main results", anchor="main")
    for g in ctx.groups:
        table, rows = main_table(g)
        out.blocks.append(table)
        ctx.summary_rows += rows
    return finish(out, ctx)
