"""Cost: trainable parameters, training and evaluation time and peak memory per method."""

from __future__ import annotations

import math

import pandas as pd

from xshot.reporting import figures as figs
from xshot.reporting.document import TableCell, Figure, Paragraph, Section, Table
from xshot.reporting.format import DASH, count, num, short_model
from xshot.reporting.frame import method_order
from xshot.reporting.sections import ReportContext, finish
from xshot.statistics import summarize

def cost_table(done: pd.DataFrame) -> Table:
    """Per (task, model, method): medians over cells of trainable parameters, time and memory."""
    per_cell = done.groupby("cell", sort=False).agg(
        task=("task", "first"), model=("model", "first"), method=("method", "first"),
        trainable=("trainable_params", "median"), total=("total_params", "median"),
        train_s=("train_s", "median"), mem=("peak_memory_mb", "median"),
    )  # fmt: skip
    eval_rows = done.groupby(["task", "model", "method"])["eval_s"].median()
    order = {m: i for i, m in enumerate(method_order(per_cell["method"]))}
    rows = []
    grouped = sorted(
        per_cell.groupby(["task", "model", "method"]), key=lambda kv: (kv[0][0], kv[0][1], order[kv[0][2]])
    )
    for (task, model, method), cells in grouped:
        trainable, total = cells["trainable"].median(), cells["total"].median()
        share = (
            f"{100 * trainable / total:.3g}%" if total and not math.isnan(total) and not math.isnan(trainable) else DASH
        )
        rows.append([
            TableCell(task.upper()), TableCell(short_model(model)), TableCell(method), TableCell(str(len(cells))),
            TableCell(count(trainable)), TableCell(share), TableCell(num(cells["train_s"].median())),
            TableCell(num(float(eval_rows.get((task, model, method), math.nan)))), TableCell(num(cells["mem"].median(), 0)),
        ])  # fmt: skip
    return Table(
        columns=[
            "task",
            "model",
            "method",
            "cells",
            "trainable params",
            "trainable %",
            "train s",
            "eval s (per eval set)",
            "peak memory MB",
        ],
        rows=rows,
        caption="Cost per method: medians over completed cells",
        notes=["Evaluation time is the median over (cell, evaluation set) rows.", *hardware_notes(done)],
        numeric=[False, False, False, True, True, True, True, True, True],
    )


def hardware_notes(done: pd.DataFrame) -> list[str]:
    """Where the timings were measured (processor and threads per cell): times from different machines or
    thread counts are not comparable, so a table that mixes them says so."""
    cells = done.drop_duplicates("cell")
    known = cells[cells["processor"].notna() & (cells["processor"].astype(str) != "")]
    if known.empty:
        return []
    threads = pd.to_numeric(known["threads"], errors="coerce")
    where = known["processor"].astype(str) + threads.map(lambda t: "" if math.isnan(t) else f", {int(t)} threads")
    counts = where.value_counts()
    listed = "; ".join(f"{name} ({n} cell{'s' if n > 1 else ''})" for name, n in counts.items())
    if len(counts) == 1:
        return [f"Timings measured on {listed}."]
    return [f"Timings come from {len(counts)} machines or thread counts, not comparable across them: {listed}."]


def compute_figures(ctx: ReportContext) -> list[Figure]:
    """Per main table: each trained method's target-language score against its training compute (estimated
    FLOPs, else measured training seconds), so "better at equal compute" can be read off."""
    out = []
    for g in ctx.groups:
        cells = g.rows.drop_duplicates("cell")
        flops = "train_flops" in cells and cells["train_flops"].notna().any()
        points = []
        for method in g.methods:
            mine = cells[cells["method"] == method]
            x = mine["train_flops"].median() if flops else (mine["train_s"].fillna(0) + (
                mine["choose_s"].fillna(0) if "choose_s" in mine else 0)).median()
            per_seed, _ = g.seed_average(method, g.targets)
            if not per_seed or not x or math.isnan(x):
                continue  # untrained methods (zero-shot, ICL) have no training compute
            s = summarize(list(per_seed.values()))
            points.append((method, float(x), 100 * s.mean, 100 * s.ci_low, 100 * s.ci_high))
        if len(points) < 2:
            continue
        fig = figs.compute_scatter(points, ctx.colors, f"Score against training compute\n{g.title()}",
                                   "estimated training FLOPs (log)" if flops else "training seconds (log)",
                                   f"{g.metric} ×100 (targets, 95% CI)")
        out.append(Figure(g.slug("compute"), figs.png(fig),
                          "Training compute per method (median over cells; FLOPs estimated as 6N per token for "
                          "full fine-tuning, about 4N on a frozen body, choices on the shots included in seconds)."))
    return out


def section(ctx: ReportContext) -> Section:
    blocks = [cost_table(ctx.done), *compute_figures(ctx)] if not ctx.done.empty else [Paragraph("No completed cells.")]
    return finish(Section("Cost", blocks, anchor="cost"), ctx)
