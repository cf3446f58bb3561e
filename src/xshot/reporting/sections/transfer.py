"""Transfer analysis: why transfer works better for some languages (URIEL distances, fertility)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xshot.methods import BASELINE_METHOD
from xshot.reporting import figures as figs
from xshot.reporting.document import TableCell, Figure, Paragraph, Section, Table
from xshot.reporting.format import fmt_rho, num, pct
from xshot.reporting.frame import Group
from xshot.reporting.sections import ReportContext, finish
from xshot.statistics import Correlation, spearman

PREDICTORS = ("syntactic", "genetic", "geographic", "phonological", "fertility")


@dataclass
class TransferResult:
    gaps: dict[str, dict[str, float]]  # method -> column header -> gap (source - target, 0..1 scale)
    gains: dict[str, dict[str, float]]  # method -> column header -> score(method) - score(baseline)
    predictors: dict[str, dict[str, float]]  # column header -> predictor -> value
    reference: dict[str, str]  # method -> how the source score was obtained
    correlations: dict[tuple[str, str, str], Correlation]  # (quantity, method, predictor)
    notes: list[str]


def transfer_analysis(g: Group, done: pd.DataFrame, distance_fn=None) -> TransferResult:
    """Gap to the source language per target language, and its Spearman correlation with URIEL
    distances from the source and with the tokenizer's fertility, per method.

    ``distance_fn(source, [targets]) -> {target: {kind: distance}}`` defaults to URIEL's.
    """
    if distance_fn is None:
        from xshot.reporting.uriel import distances as distance_fn
    notes: list[str] = []
    ref, how = _source_references(g, done)
    if any(v.startswith("proxy") for v in how.values()):
        notes.append(
            f"No source-language ({g.source}) evaluation for some methods in this setting; their gap is measured "
            "to a proxy (see the reference column). A per-method constant reference shifts the gaps but leaves "
            "the Spearman correlations unchanged."
        )
    gaps = {m: {c.header: ref[m] - s.mean for c in g.targets if (s := g.summary(m, c)).n and m in ref}
            for m in g.methods}
    baseline = BASELINE_METHOD if BASELINE_METHOD in g.methods else None
    gains = {m: _differences(g, m, baseline) for m in g.methods if m != baseline} if baseline else {}
    predictors, unknown = _predictors(g, distance_fn)
    if unknown:
        notes.append(f"Not in URIEL (no distances): {', '.join(unknown)}.")
    correlations: dict[tuple[str, str, str], Correlation] = {}
    headers = [c.header for c in g.targets]
    for quantity, table in (("gap", gaps), (f"gain over {baseline}", gains)):
        for m, vals in table.items():
            y = [vals.get(h, math.nan) for h in headers]
            for p in PREDICTORS:
                correlations[(quantity, m, p)] = spearman([predictors[h][p] for h in headers], y)
    return TransferResult(gaps, gains, predictors, how, correlations, notes)


def _source_references(g: Group, done: pd.DataFrame) -> tuple[dict[str, float], dict[str, str]]:
    """Per method, the source-language score the gaps are measured from, and how it was obtained: this group's
    own source-language evaluation, else the same setting's at the nearest K, else the best target (a proxy)."""
    ref: dict[str, float] = {}
    how: dict[str, str] = {}
    for m in g.methods:
        if g.source_column is not None and g.seed_scores(m, g.source_column):
            ref[m], how[m] = g.summary(m, g.source_column).mean, "source-language evaluation"
            continue
        other = done[g.same_setting(done) & (done["method"] == m) & (done["lang_iso"] == done["src_iso"])]
        if len(other):
            ks = other["k_num"].fillna(np.inf)
            target_k = g.k_num if not math.isnan(g.k_num) else np.inf
            sel = other[ks == ks.iloc[int(np.argmin(np.abs(ks.to_numpy() - target_k)))]]
            ref[m] = float(sel.groupby("seed")["score"].mean().mean())
            how[m] = f"proxy: source-language evaluation at K = {sel['k_label'].iloc[0]}"
            continue
        means = [t for c in g.targets if not math.isnan(t := g.summary(m, c).mean)]
        if means:
            ref[m], how[m] = max(means), "proxy: best target language (no source-language evaluation)"
    return ref, how


def _differences(g: Group, method: str, baseline: str) -> dict[str, float]:
    """Per target language, the method's mean score minus the baseline's."""
    return {c.header: a.mean - b.mean for c in g.targets
            if (a := g.summary(method, c)).n and (b := g.summary(baseline, c)).n}


def _predictors(g: Group, distance_fn) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Per target column, URIEL distances from the source and this model's tokenizer fertility; and the
    languages URIEL does not know."""
    langs = list(dict.fromkeys(c.language for c in g.targets))
    dist = distance_fn(g.source, langs) if langs else {}
    unknown = sorted({lang for lang in langs
                      if lang not in dist or all(math.isnan(v) for v in dist[lang].values())})
    fert = g.rows.groupby(["language", "eval_set"])["fertility"].median()
    predictors: dict[str, dict[str, float]] = {}
    for c in g.targets:
        row = {k: float(dist.get(c.language, {}).get(k, math.nan)) for k in PREDICTORS if k != "fertility"}
        row["fertility"] = float(fert.get(c.key, math.nan))
        predictors[c.header] = row
    return predictors, unknown


REGRESSORS = ("syntactic", "fertility", "log10 CC-100 tokens")


@dataclass
class Regression:
    n: int
    coefficients: dict[str, tuple[float, float, float]]  # name -> (estimate, 95% low, 95% high), points per unit
    r2: float
    dropped: list[str]  # target languages without every predictor


def gap_regression(g: Group, tr: TransferResult) -> Regression | None:
    """OLS of the mean transfer gap (over methods, ×100) of each target language on the syntactic URIEL
    distance, the tokenizer's fertility and log10(1 + CC-100 tokens in millions), with t-intervals. Needs
    at least two more languages than coefficients; None otherwise."""
    from scipy import stats

    from xshot.reporting.languages import cc100_tokens

    rows, ys, dropped = [], [], []
    for c in g.targets:
        gaps = [tr.gaps[m][c.header] for m in g.methods if c.header in tr.gaps[m]]
        x = [tr.predictors[c.header]["syntactic"], tr.predictors[c.header]["fertility"],
             math.log10(1 + cc100_tokens(c.iso))]
        if not gaps or any(math.isnan(v) for v in x):
            dropped.append(c.header)
            continue
        rows.append([1.0, *x])
        ys.append(100 * float(np.mean(gaps)))
    X, y = np.asarray(rows), np.asarray(ys)
    k = len(REGRESSORS) + 1
    if len(y) < k + 2 or np.linalg.matrix_rank(X) < k:
        return None
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    dof = len(y) - k
    sigma2 = float(resid @ resid) / dof
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(X.T @ X)))
    t = float(stats.t.ppf(0.975, dof))
    total = float(((y - y.mean()) ** 2).sum())
    coefficients = {name: (float(b), float(b - t * e), float(b + t * e))
                    for name, b, e in zip(("intercept", *REGRESSORS), beta, se)}
    return Regression(len(y), coefficients, 1 - float(resid @ resid) / total if total else math.nan, dropped)


def regression_block(g: Group, tr: TransferResult) -> Table | Paragraph:
    reg = gap_regression(g, tr)
    if reg is None:
        return Paragraph(f"{g.title()}: too few target languages with every predictor for a regression of the gap "
                         f"on {', '.join(REGRESSORS)} (needs {len(REGRESSORS) + 3}).", note=True)
    rows = [[TableCell(name), TableCell(f"{b:+.2f}"), TableCell(f"[{lo:+.2f}, {hi:+.2f}]")]
            for name, (b, lo, hi) in reg.coefficients.items()]
    return Table(columns=["predictor", "coefficient (points)", "95% CI"], rows=rows,
                 caption=f"Regression of the transfer gap on distance, fertility and pretraining data, {g.title()}",
                 notes=[f"OLS over {reg.n} target languages of the gap averaged over methods (×100); R² = {reg.r2:.2f}. "
                        "CC-100 token counts are XLM-R's pretraining data (Conneau et al. 2020, Table 6; "
                        "resources/cc100.csv), a proxy for other backbones."
                        + (f" Left out (a predictor missing): {', '.join(reg.dropped)}." if reg.dropped else "")],
                 numeric=[False, True, True])


def transfer_blocks(g: Group, done: pd.DataFrame, colors: dict[str, str], distance_fn=None) -> list:
    targets = g.targets
    if not targets:
        return [Paragraph(f"{g.title()}: no target languages.", note=True)]
    tr = transfer_analysis(g, done, distance_fn)
    blocks: list = []
    cols = ["target", "low-resource"] + [f"{p} dist." if p != "fertility" else "fertility" for p in PREDICTORS]
    cols += [f"gap {m}" for m in g.methods]
    rows = []
    for c in targets:
        pr = tr.predictors[c.header]
        row = [TableCell(c.header), TableCell("yes" if c.low_resource else "no")]
        row += [TableCell(num(pr[p], 3 if p != "fertility" else 2)) for p in PREDICTORS]
        row += [TableCell(pct(tr.gaps[m].get(c.header, math.nan))) for m in g.methods]
        rows.append(row)
    ref_note = "; ".join(f"{m}: {tr.reference.get(m, 'none')}" for m in g.methods)
    blocks.append(
        Table(
            columns=cols,
            rows=rows,
            caption=f"Transfer gap by target language, {g.title()}: "
            f"gap = source score − target score ({g.metric} ×100)",
            notes=[
                f"Source reference per method: {ref_note}.",
                "Distances from the source language (URIEL via lang2vec, 0 = identical, 1 = maximally distant); "
                "fertility: subwords per word of the model's tokenizer on the evaluation set.",
            ]
            + tr.notes,  # fmt: skip
            numeric=[False, False] + [True] * (len(cols) - 2),
        )
    )
    crow = []
    quantities = ["gap"] + ([f"gain over {BASELINE_METHOD}"] if tr.gains else [])
    for q in quantities:
        for m in g.methods:
            if (q, m, PREDICTORS[0]) not in tr.correlations:
                continue
            crow.append([TableCell(q), TableCell(m)] + [TableCell(fmt_rho(tr.correlations[(q, m, p)])) for p in PREDICTORS])
    blocks.append(
        Table(
            columns=["quantity", "method"] + [f"ρ {p}" for p in PREDICTORS],
            rows=crow,
            caption=f"Spearman correlations over target languages, {g.title()}",
            notes=[
                "ρ > 0 for the gap: transfer degrades with distance (or fertility). "
                f"ρ for the gain over {BASELINE_METHOD}: does the method help more on distant languages "
                "(Park et al., 2023)? "
                "p: exact two-sided permutation p-value (up to 8 languages). "
                "n/a (n<3): fewer than 3 languages with values; n/a (constant): a variable does not vary."
            ],  # fmt: skip
            numeric=[False, False] + [True] * len(PREDICTORS),
        )
    )
    blocks.append(regression_block(g, tr))
    panels = []
    for p in PREDICTORS:
        pts = []
        for m in g.methods:
            for c in targets:
                pts.append((m, c.header, tr.predictors[c.header][p], 100 * tr.gaps[m].get(c.header, math.nan)))
        panels.append((f"{p} distance" if p != "fertility" else "fertility (subwords/word)", pts))
    png = figs.transfer_scatter(panels, colors, f"Transfer gap vs distance: {g.title()}", f"gap ({g.metric} ×100)")
    blocks.append(
        Figure(
            g.slug("transfer"),
            png,
            f"Transfer gap (source − target) against URIEL distances from {g.source} "
            f"and tokenizer fertility, {g.title()}.",
        )
    )
    return blocks


def section(ctx: ReportContext) -> Section:
    out = Section("Transfer analysis", anchor="transfer")
    out.blocks.append(
        Paragraph(
            "Why does transfer work better for some languages? For each target language, the gap to the source "
            "language is set against the URIEL distance from the source (syntactic and phonological: cosine "
            "distance of the kNN-filled feature vectors; genetic: share of Glottolog family nodes not shared; "
            "geographic: great-circle distance / half the "
            "earth's circumference) and against the tokenizer's fertility, with Spearman's ρ per method."
        )
    )
    for g in ctx.groups:
        out.blocks += transfer_blocks(g, ctx.done, ctx.colors, ctx.distance_fn)
    return finish(out, ctx)
