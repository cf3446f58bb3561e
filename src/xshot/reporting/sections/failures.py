"""Failed cells: what failed and the last line of its error."""

from __future__ import annotations

import pandas as pd

from xshot.reporting.document import TableCell, Paragraph, Section, Table
from xshot.reporting.format import short_model
from xshot.reporting.sections import ReportContext

def failures_table(failed: pd.DataFrame) -> Table | Paragraph:
    if failed.empty:
        return Paragraph("No failed cells.")
    per_cell = failed.drop_duplicates("cell")
    rows = []
    for r in per_cell.sort_values(["task", "model", "method", "k_num", "seed"], na_position="last").itertuples(
        index=False
    ):
        err = "" if pd.isna(r.error) else str(r.error).strip()
        err = err.splitlines()[-1] if err.count("\n") > 5 else err  # a traceback: keep the last line
        if len(err) > 500:
            err = err[:500] + "…"
        seed = "" if pd.isna(r.seed) else f"{r.seed:g}"
        rows.append(
            [
                TableCell(r.cell),
                TableCell(r.task.upper()),
                TableCell(short_model(r.model)),
                TableCell(r.method),
                TableCell(r.train),
                TableCell(r.k_label),
                TableCell(seed),
                TableCell(err),
            ]
        )
    return Table(
        columns=["cell", "task", "model", "method", "train", "K", "seed", "error"],
        rows=rows,
        caption=f"Failed cells ({len(rows)})",
        css_class="failures",
    )


def section(ctx: ReportContext) -> Section:
    return Section("Failed cells", [failures_table(ctx.failed)], anchor="failed")
