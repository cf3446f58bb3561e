"""Cost: trainable parameters, training and evaluation time and peak memory per method."""

from __future__ import annotations

import math

import pandas as pd

from xshot.reporting.document import Cell, Paragraph, Section, Table
from xshot.reporting.format import DASH, count, num, short_model
from xshot.reporting.frame import method_order
from xshot.reporting.sections import ReportContext, finish

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
            Cell(task.upper()), Cell(short_model(model)), Cell(method), Cell(str(len(cells))),
            Cell(count(trainable)), Cell(share), Cell(num(cells["train_s"].median())),
            Cell(num(float(eval_rows.get((task, model, method), math.nan)))), Cell(num(cells["mem"].median(), 0)),
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
        notes=["Evaluation time is the median over (cell, evaluation set) rows."],
        numeric=[False, False, False, True, True, True, True, True, True],
    )


def section(ctx: ReportContext) -> Section:
    blocks = [cost_table(ctx.done)] if not ctx.done.empty else [Paragraph("No completed cells.")]
    return finish(Section("Cost", blocks, anchor="cost"), ctx)
