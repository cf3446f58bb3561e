"""Main results: method × target language per group, with the best mean marked and its lead tested."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from xshot.reporting.document import TableCell, Section, Table
from xshot.reporting.format import DAGGER, DASH, fmt_p, mean_std, short_model
from xshot.reporting.frame import Column, Group
from xshot.reporting.sections import ReportContext, finish
from xshot.statistics import (ALPHA, SeedSummary, SeedTest, seeds_to_reach, sign_flip_test, smallest_sign_flip_p,
                              summarize)


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


@dataclass
class MainColumn:
    """One column of a main table, computed: each method's seed summary and the leader's test."""

    header: str
    column: Column | None  # None: the average over the target languages
    summaries: dict[str, SeedSummary]
    leaders: list[str]
    runner: str | None
    test: SeedTest | None


@dataclass
class MainSummary:
    """A group's main table before rendering (also what summary.csv holds)."""

    group: Group
    columns: list[MainColumn]
    partial: set[str]  # methods whose average over the targets misses some (seed, language)
    seeds: list[float]


def summarize_group(g: Group) -> MainSummary:
    """Method × target language (and the average over the targets): seed summaries and the leader's test."""
    columns: list[tuple[str, Column | None]] = [(c.header + (" (source)" if c.is_source else ""), c) for c in g.columns]
    columns.append(("avg (targets)", None))
    partial: set[str] = set()
    out, seeds = [], set()
    for header, col in columns:
        scores = {}
        for m in g.methods:
            if col is not None:
                scores[m] = g.seed_scores(m, col)
            else:
                scores[m], missing = g.seed_average(m, g.targets)
                if missing and scores[m]:
                    partial.add(m)
            seeds |= set(scores[m])
        summaries = {m: summarize(list(v.values())) for m, v in scores.items()}
        leaders, runner, test = _compare_leaders(scores, {m: s.mean for m, s in summaries.items()})
        out.append(MainColumn(header, col, summaries, leaders, runner, test))
    return MainSummary(g, out, partial, sorted(seeds))


def summary_rows(s: MainSummary) -> list[dict[str, Any]]:
    """summary.csv's rows of one group: a row per (method, column)."""
    g = s.group
    return [{"task": g.task, "model": g.model, "setting": g.setting, "train": g.train, "source_language": g.source,
             "k": g.k_label, "target_k": g.target_k, "precision": g.precision or None, "method": m,
             "column": c.header, "language": c.column.language if c.column else "avg",
             "eval_set": c.column.key[1] if c.column else "", "n_seeds": st.n, "mean": st.mean, "std": st.std,
             "ci95_low": st.ci_low, "ci95_high": st.ci_high}
            for c in s.columns for m in g.methods for st in [c.summaries[m]]]


def main_table(s: MainSummary) -> Table:
    """The rendered table: mean ± std over seeds (×100), the best mean bold, a non-significant lead marked."""
    g = s.group
    rows = {m: [TableCell(m)] for m in g.methods}
    notes: list[str] = []
    underpowered: list[int] = []  # seed counts too small for any p < ALPHA
    for c in s.columns:
        for m in g.methods:
            st = c.summaries[m]
            text = (mean_std(st.mean, st.std) + (" *" if c.column is None and m in s.partial else "")) if st.n \
                else DASH
            rows[m].append(TableCell(text, bold=m in c.leaders and len(g.methods) > 1))
        test = c.test
        if test is None or test.p < ALPHA:
            continue
        mark = f"{DAGGER}{len(notes) + 1}"
        rows[c.leaders[0]][-1].mark = mark
        if test.n == 0:
            notes.append(f"{mark} {c.header}: {c.leaders[0]} vs {c.runner}, no seeds in common (untested)")
            continue
        if test.smallest_p >= ALPHA:
            underpowered.append(test.n)
        notes.append(f"{mark} {c.header}: {c.leaders[0]} vs {c.runner}, Δ = {100 * test.delta:+.1f}, "
                     f"p = {fmt_p(test.p)}, n = {test.n}")
    single_seed = all(st.n <= 1 for c in s.columns for st in c.summaries.values())
    return Table(columns=["method"] + [c.header for c in s.columns], rows=[rows[m] for m in g.methods],
                 caption=_caption(s), notes=_notes(s, single_seed, underpowered, notes),
                 numeric=[False] + [True] * len(s.columns), css_class="main")


def _caption(s: MainSummary) -> str:
    g = s.group
    setting = f"setting {g.setting}, " if g.setting else ""
    target = f", then K = {g.target_k} target-language shots" if g.target_k else ""
    return (f"{g.task.upper()}, model {short_model(g.model)}, {setting}trained on {g.train} (source language "
            f"{g.source}), K = {g.k_label}{target}{f', {g.precision}' if g.precision else ''}: {g.metric} ×100, "
            f"mean ± std over seeds ({len(s.seeds)} seed(s): {', '.join(f'{x:g}' for x in s.seeds)})")


def _notes(s: MainSummary, single_seed: bool, underpowered: list[int], marks: list[str]) -> list[str]:
    out = [f"Bold: best mean per column. {DAGGER}: the lead over the runner-up is not significant "
           f"(two-sided exact sign-flip test on the per-seed differences, the seeds both have, p ≥ {ALPHA}, "
           "this column alone); a bold value without the mark leads at that level, unadjusted for the "
           "table's other columns. The study's claims are the findings' tests, Holm-adjusted across "
           "their family."]
    if single_seed:
        out.append(f"One seed per cell: no standard deviation ({DASH}); with a single pair of seeds the sign-flip "
                   f"test cannot reject (p = 1), so every lead is marked {DAGGER}.")
    elif underpowered:
        n_pairs = max(underpowered)
        out.append(f"With {n_pairs} paired seed(s) the smallest attainable p is "
                   f"{fmt_p(smallest_sign_flip_p(n_pairs))}: no lead can reach p < {ALPHA} with fewer than "
                   f"{seeds_to_reach(ALPHA)} seeds.")
    if s.partial:
        out.append("* average over the target languages and seeds this method has results for (some are missing).")
    if s.group.source_column is None:
        out.append(f"The study does not evaluate on the source language ({s.group.source}).")
    if marks:
        out.append("Not significant (Δ in points, n paired seeds): " + "; ".join(marks) + ".")
    return out


def section(ctx: ReportContext) -> Section:
    out = Section("Main results", anchor="main")
    out.blocks += [main_table(summarize_group(g)) for g in ctx.groups]
    return finish(out, ctx)
