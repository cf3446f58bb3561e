"""What methods chose from their shots (searched label words, selected hyper-parameters), cell by cell, and
how much the selection score moves across the candidates of a search space (the sensitivity figure)."""

from __future__ import annotations

import json

import pandas as pd

from xshot.reporting import figures as figs
from xshot.reporting.document import TableCell, Figure, Paragraph, Section, Table
from xshot.reporting.format import short_model
from xshot.reporting.sections import ReportContext
from xshot.results import CandidateScore, ShotChoice


def _chosen(value: dict) -> str:
    return "; ".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in value.items())


def _choices(raw: object) -> list[ShotChoice]:
    """A cell's recorded choices (the store's JSON column), typed."""
    return [ShotChoice.model_validate(c) for c in json.loads(raw if isinstance(raw, str) and raw.strip() else "[]")]


def _candidate(c: CandidateScore) -> str:
    """A candidate's mean held-out score, with the folds it diverged on or after which it was dropped."""
    notes = ([f"diverged on {c.diverged} of {len(c.fold_scores)}"] if c.diverged else []) + \
        ([f"dropped after fold {c.dropped_after}"] if c.dropped_after is not None else [])
    return f"{c.name} {c.mean:.3f}" + (f" ({'; '.join(notes)})" if notes else "")


def choices_table(done: pd.DataFrame) -> Table | Paragraph:
    if "choices" not in done or done.empty:
        return Paragraph("No method chose anything from its shots.")
    rows = []
    cells = done.drop_duplicates("cell").sort_values(["task", "model", "method", "setting", "seed"], na_position="last")
    for r in cells.itertuples(index=False):
        for choice in _choices(r.choices):
            reranked = ", ".join(_candidate(c) for c in choice.candidates if c.fold_scores)
            seed = "" if pd.isna(r.seed) else f"{r.seed:g}"
            rows.append([TableCell(short_model(r.model)), TableCell(r.method), TableCell(str(getattr(r, "setting", "") or "")),
                         TableCell(seed), TableCell(choice.what), TableCell(_chosen(choice.chosen)),
                         TableCell(reranked or "—")])
    if not rows:
        return Paragraph("No method chose anything from its shots.")
    return Table(columns=["model", "method", "setting", "seed", "what", "chosen", "cross-validated candidates (mean)"],
                 rows=rows, caption="Choices made on the training shots only (the procedure is in each cell's notes)",
                 css_class="choices")


def sensitivity_figures(ctx: ReportContext) -> list[Figure]:
    """One figure per main table whose methods searched hyper-parameters: cross-validated score per candidate."""
    out = []
    for g in ctx.groups:
        if "choices" not in g.rows:
            continue
        scores: dict[str, dict[str, list[float]]] = {}
        for r in g.rows.drop_duplicates("cell").itertuples(index=False):
            for choice in _choices(r.choices):
                if choice.what != "hyperparameters":
                    continue
                for c in choice.candidates:
                    if c.fold_scores:
                        scores.setdefault(r.method, {}).setdefault(c.name, []).append(100 * c.mean)
        if scores:
            fig = figs.sensitivity(scores, ctx.colors, f"Selection score per candidate · {g.title()}",
                                   f"{g.metric} ×100 (held-out folds of the shots)")
            out.append(Figure(g.slug("sensitivity"), figs.png(fig), "Each point is one seed's mean over the held-out folds of its shots; the "
                              "line joins the means. A flat line: the choice matters little."))
    return out


def section(ctx: ReportContext) -> Section:
    return Section("Choices made from the shots", [choices_table(ctx.done), *sensitivity_figures(ctx)],
                   anchor="choices")
