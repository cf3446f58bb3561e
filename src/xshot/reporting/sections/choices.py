"""What methods chose from their shots (searched label words, selected hyper-parameters), cell by cell, and
how much the selection score moves across the candidates of a search space (the sensitivity figure)."""

from __future__ import annotations

import json

import pandas as pd

from xshot.reporting import figures as figs
from xshot.reporting.document import TableCell, Figure, Paragraph, Section, Table
from xshot.reporting.format import short_model
from xshot.reporting.sections import ReportContext


def _chosen(value: dict) -> str:
    return "; ".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in value.items())


def choices_table(done: pd.DataFrame) -> Table | Paragraph:
    if "choices" not in done or done.empty:
        return Paragraph("No method chose anything from its shots.")
    rows = []
    cells = done.drop_duplicates("cell").sort_values(["task", "model", "method", "setting", "seed"], na_position="last")
    for r in cells.itertuples(index=False):
        raw = r.choices if isinstance(r.choices, str) and r.choices.strip() else "[]"
        for choice in json.loads(raw):
            reranked = ", ".join(f"{c['name']} {sum(c['fold_scores']) / len(c['fold_scores']):.3f}"
                                 + (f" (diverged on {c['diverged']} of {len(c['fold_scores'])})" if c.get("diverged") else "")
                                 for c in choice.get("candidates", []) if c.get("fold_scores"))
            seed = "" if pd.isna(r.seed) else f"{r.seed:g}"
            rows.append([TableCell(short_model(r.model)), TableCell(r.method), TableCell(str(getattr(r, "setting", "") or "")),
                         TableCell(seed), TableCell(choice["what"]), TableCell(_chosen(choice["chosen"])),
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
            raw = r.choices if isinstance(r.choices, str) and r.choices.strip() else "[]"
            for choice in json.loads(raw):
                if choice["what"] != "hyperparameters":
                    continue
                for c in choice.get("candidates", []):
                    if c.get("fold_scores"):
                        mean = sum(c["fold_scores"]) / len(c["fold_scores"])
                        scores.setdefault(r.method, {}).setdefault(c["name"], []).append(100 * mean)
        if scores:
            fig = figs.sensitivity(scores, ctx.colors, f"Selection score per candidate · {g.title()}",
                                   f"{g.metric} ×100 (held-out folds of the shots)")
            out.append(Figure(g.slug("sensitivity"), figs.png(fig), "Each point is one seed's mean over the held-out folds of its shots; the "
                              "line joins the means. A flat line: the choice matters little."))
    return out


def section(ctx: ReportContext) -> Section:
    return Section("Choices made from the shots", [choices_table(ctx.done), *sensitivity_figures(ctx)],
                   anchor="choices")
