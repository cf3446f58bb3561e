"""``xshot report STORE --out DIR [--study STUDY.yaml]``: the study report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def report(
    store: Path = typer.Argument(..., help="Results store, or a .csv exported by `xshot results`."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for report.md, report.html, figures/, results.csv."),
    study: Optional[Path] = typer.Option(
        None, "--study", help="Study YAML: report only its results, and how much of its grid they cover."
    ),
    high_resource: Optional[str] = typer.Option(
        None, "--high-resource", help="Comma-separated high-resource language codes (default: the built-in list)."
    ),
) -> None:
    """Write the study report: main tables, learning curves, low-resource bars, transfer analysis, cost, failures."""
    from xshot.reporting import build_report, load_results

    df = load_results(store)
    high = [c.strip() for c in high_resource.split(",") if c.strip()] if high_resource is not None else None
    html = build_report(df, out, study=study, high_resource=high)
    typer.echo(f"wrote {html.parent / 'report.md'} and {html}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
