"""``build_report``: the study report (report.md, report.html, tables.tex, figures/*.png, results.csv, summary.csv,
answer.md).

Input: the results DataFrame of ``xshot.studies.store.ResultsStore.to_dataframe()`` (or the CSV
``xshot results`` exports), one row per (cell, evaluation set), prepared and grouped by
:mod:`xshot.reporting.frame`. The sections are the registered modules of :mod:`xshot.reporting.sections`,
in their order; the intro says what the results cover.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from xshot.errors import XshotError
from xshot.io import atomic_open
from xshot.reporting import figures as figs
from xshot.reporting import code_versions, preregistration, protocol
from xshot.reporting.answer import answer
from xshot.reporting.document import Document, Paragraph, to_html, to_latex, to_markdown

from xshot.reporting.frame import group_results, method_order, plan_note, planned_keys, prepare, study_of
from xshot.reporting.languages import high_resource_set
from xshot.reporting.sections import SECTIONS, ReportContext
from xshot.reporting.sections.main import summarize_group, summary_rows

def build_report(
    df: pd.DataFrame,
    out_dir: str | Path,
    study: Any = None,
    *,
    high_resource: Iterable[str] | None = None,
    title: str | None = None,
    distance_fn=None,
) -> Path:
    """Write report.md, report.html (self-contained), figures/*.png, results.csv and summary.csv
    to ``out_dir``; return the path of report.html.

    ``study``: a study YAML file (validated with ``xshot.studies.spec.load_study``), a loaded
    Study, a mapping with ``name``, or a study name. Rows are restricted to that study, and for a
    study file the report says how much of its grid the results cover.
    ``high_resource``: ISO codes of the high-resource languages (default
    :data:`xshot.reporting.languages.HIGH_RESOURCE_LANGUAGES`); every other language is
    low-resource. ``distance_fn(source, targets) -> {target: {kind: d}}`` replaces the URIEL
    distances (tests).
    """
    study_name, spec = study_of(study)
    d = _study_rows(prepare(df), study_name if "study" in df.columns else None, spec)
    high = high_resource_set(high_resource)
    done_mask = (d["status"] == "done") & d["score"].notna() & (d["eval_set"] != "")
    done, failed = d[done_mask], d[d["status"] != "done"]
    groups = group_results(done, high)
    registration = preregistration.check(spec, d)
    doc = Document(title=title or (f"Study report: {study_name}" if study_name else "xshot study report"))
    doc.intro = _intro(d, done, failed, high, spec, registration, int(((d["status"] == "done") & ~done_mask).sum()))
    comparisons = [tuple(c) for c in spec.comparisons] if spec is not None and spec.comparisons else None
    ctx = ReportContext(done, failed, groups, figs.method_colors(method_order(done["method"])), distance_fn,
                        comparisons=comparisons)
    doc.sections = [SECTIONS.get(name)(ctx) for name in SECTIONS]
    results = df[df["cell"].isin(set(d["cell"]))] if study_name is not None and "study" in df.columns else df
    summary = [row for g in groups for row in summary_rows(summarize_group(g))]  # the main tables' numbers
    html = _write(doc, Path(out_dir), results, summary)
    with atomic_open(Path(out_dir) / "answer.md") as f:
        f.write(answer(ctx, f"What {study_name or 'the study'} found", registration))
    (Path(out_dir) / "answer.md").chmod(0o644)
    return html


def _study_rows(d: pd.DataFrame, study_name: str | None, spec: Any = None) -> pd.DataFrame:
    """The prepared rows of one study (all of them without a name), and the cells of its plan that another study
    recorded (reused: the same key is the same configuration; ``xshot run --reuse``); none is an error naming
    the studies there."""
    if study_name is None:
        return d
    known = sorted(str(s) for s in d["study"].dropna().unique())
    keys = planned_keys(spec) if spec is not None else None
    planned = {k for variants in (keys or {}).values() for k in variants}
    d = d[(d["study"].astype(str) == study_name) | d["cell"].isin(planned)]
    if d.empty:
        raise XshotError(f"no results for study {study_name!r} (studies in the results: {', '.join(known) or 'none'})")
    return d


def _intro(d: pd.DataFrame, done: pd.DataFrame, failed: pd.DataFrame, high: set[str], spec: Any,
           registration: Any, n_incomplete: int) -> list[Paragraph]:
    """What the results cover, the registration, the plan's coverage, and what was left out."""
    studies = sorted(str(s) for s in d["study"].dropna().unique())
    out = [Paragraph(f"{d['cell'].nunique()} cell(s): {done['cell'].nunique()} completed, {failed['cell'].nunique()} "
                     f"failed" + (f", in study {', '.join(studies)}" if studies else "")
                     + f". Tasks: {', '.join(sorted(done['task'].unique())) or 'none'}; "
                     + f"methods: {', '.join(method_order(done['method'])) or 'none'}."),
           Paragraph("Low-resource languages: every language outside the high-resource list ("
                     + ", ".join(sorted(high)) + "). Scores are the primary metric (accuracy for NLI, F1 for NER) ×100.")]
    out += preregistration.paragraphs(spec, registration)
    plan = plan_note(spec, d) if spec is not None else None
    if plan is not None:
        out.append(plan)
    out += protocol.paragraphs(done)
    out += code_versions.paragraphs(done)
    precisions = sorted(p for p in done["precision_label"].unique() if p)
    if precisions:
        out.append(Paragraph(
            f"These results mix precisions ({', '.join(precisions)}): results at different precisions are different "
            "results, so each has its own tables; compare methods within one precision.", note=True))
    if n_incomplete:
        out.append(Paragraph(f"{n_incomplete} completed row(s) without a score or evaluation set were ignored.",
                             note=True))
    if done.empty:
        out.append(Paragraph("No completed cells: there is nothing to tabulate yet.", note=True))
    return out


def _write(doc: Document, out: Path, results: pd.DataFrame, summary_rows: list[dict[str, Any]]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    fig_dir = out / "figures"
    written = set()
    names: dict[str, int] = {}
    for fig in doc.figures():
        base = fig.filename
        names[base] = names.get(base, 0) + 1
        if names[base] > 1:  # two settings that slug alike
            fig.filename = base[: -len(".png")] + f"-{names[base]}.png"
        with atomic_open(out / fig.filename, "wb") as f:
            f.write(fig.png)
        written.add((out / fig.filename).resolve())
    if fig_dir.is_dir():  # drop figures of an earlier report in the same directory
        for stale in fig_dir.glob("*.png"):
            if stale.resolve() not in written:
                stale.unlink()
    with atomic_open(out / "report.md") as f:
        f.write(to_markdown(doc))
    with atomic_open(out / "report.html") as f:
        f.write(to_html(doc))
    with atomic_open(out / "tables.tex") as f:  # the main and findings tables for a paper
        f.write(to_latex(doc))
    with atomic_open(out / "results.csv") as f:
        results.to_csv(f, index=False)
    with atomic_open(out / "summary.csv") as f:
        pd.DataFrame(summary_rows).to_csv(f, index=False)
    # atomic_open's temporary files are private (0600); a report is meant to be shared.
    for path in [*written, *(out / n for n in ("report.md", "report.html", "tables.tex", "results.csv", "summary.csv"))]:
        Path(path).chmod(0o644)
    return out / "report.html"
