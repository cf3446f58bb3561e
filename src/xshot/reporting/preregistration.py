"""Whether a report's analysis is the one its study pre-registered, and every deviation from it.

``xshot run`` records the study file's SHA-256 with each cell (the ``study_sha256`` column). The registration
is the hash recorded with the study's first cell: the analysis is the pre-registered one when the study file
given to the report has that hash, every cell ran under it, the results record the declared primary metrics,
the hyperparameters were chosen as declared, and the grid is complete (the stopping rule). Each check that
fails is a deviation the report lists; nothing here changes what the findings compute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from xshot.reporting.document import Paragraph
from xshot.reporting.frame import coverage
from xshot.statistics import ALPHA


@dataclass(frozen=True)
class PreregistrationCheck:
    """The registration found in the results and what departs from it."""

    question: str
    registered_sha256: str | None  # recorded with the first cell (None: no cell recorded a hash)
    current_sha256: str | None  # of the study file the report was given
    first_cell_at: str | None
    deviations: list[str] = field(default_factory=list)
    reused: dict[str, int] = field(default_factory=dict)  # another study's name -> its cells this plan reuses

    @property
    def is_preregistered_analysis(self) -> bool:
        return self.registered_sha256 is not None and not self.deviations


def _hashes(d: pd.DataFrame) -> pd.Series:
    """Each cell's recorded study hash, ordered by when the cell was recorded ('' where none was)."""
    cells = d.sort_values("created_at", kind="stable").drop_duplicates("cell")
    return cells.set_index("cell")["study_sha256"].astype(object).where(cells["study_sha256"].notna().values, "")


def _metric_deviations(prereg: Any, done: pd.DataFrame) -> list[str]:
    out = []
    for task, metric in prereg.primary_metric.items():
        recorded = sorted({str(m) for m in done.loc[done["task"] == task, "primary_metric"].dropna()} - {metric})
        if recorded:
            out.append(f"{task.upper()} results record primary metric {', '.join(recorded)}, not the declared {metric}")
    return out


def _selection_deviations(prereg: Any, done: pd.DataFrame) -> list[str]:
    if prereg.hyperparameters != "cross-validation":
        return []
    configs = done.drop_duplicates("cell")["config"].dropna()
    unselected = sum(json.loads(c).get("selection", "none") == "none" for c in configs)
    if unselected:
        return [f"{unselected} cell(s) chose no hyperparameters on their shots, though cross-validation was declared"]
    return []


def check(spec: Any, d: pd.DataFrame) -> PreregistrationCheck | None:
    """The pre-registration check of ``d`` (one study's rows) against ``spec`` (None: not pre-registered)."""
    prereg = getattr(spec, "preregistration", None)
    if prereg is None:
        return None
    own = d["study"].isna() | d["study"].astype(str).isin([str(spec.name), ""])  # unnamed rows: this study's
    reused = d[~own].drop_duplicates("cell")["study"].astype(str).value_counts().sort_index().to_dict()
    hashes = _hashes(d[own]) if own.any() else pd.Series(dtype=object)
    registered = hashes.iloc[0] or None if len(hashes) else None
    deviations = []
    if len(hashes) and registered is None:
        deviations.append("the first cell recorded no study-file hash (run before xshot recorded one): the "
                          "registration cannot be verified")
    elif registered is not None and spec.sha256 != registered:
        deviations.append(f"the study file changed after the first cell ran (registered {registered[:12]}, "
                          f"now {str(spec.sha256)[:12]})")
    other = int((hashes != (registered or "")).sum()) if registered is not None else 0
    if other:
        deviations.append(f"{other} cell(s) ran under another version of the study file")
    done = d[d["status"] == "done"]
    deviations += _metric_deviations(prereg, done) + _selection_deviations(prereg, done)
    cov = coverage(spec, d)
    if cov is not None and (cov.pending or cov.failed):
        deviations.append(f"the study is not complete ({cov.done} of {cov.cells} cells done): its declared "
                          f"stopping rule ({prereg.stopping}) is not met, so every finding is interim")
    first = d.loc[own, "created_at"].dropna().min() if own.any() and d.loc[own, "created_at"].notna().any() else None
    return PreregistrationCheck(prereg.question, registered, spec.sha256, first, deviations, reused)


def paragraphs(spec: Any, result: PreregistrationCheck | None) -> list[Paragraph]:
    """The report's statement of the registration (a study without one is said to be exploratory)."""
    if spec is None:
        return []
    if result is None:
        return [Paragraph("This study was not pre-registered (its file has no `preregistration`): its comparisons, "
                          "family and hyperparameters were not declared before it ran; read its findings as "
                          "exploratory.", note=True)]
    prereg = spec.preregistration
    declared = (f"Pre-registered question: {result.question} Primary metrics: "
                + ", ".join(f"{t.upper()} {m}" for t, m in prereg.primary_metric.items())
                + f"; Holm family: the study's {len(spec.comparisons)} comparison(s) at α = {ALPHA}; seeds "
                f"{', '.join(str(s) for s in spec.seeds)}, sized to detect {prereg.detect:g} points with "
                f"{prereg.power:.0%} power; hyperparameters: {prereg.hyperparameters}"
                + (f" ({prereg.hyperparameters_note})" if prereg.hyperparameters_note else "")
                + f"; stopping rule: {prereg.stopping}.")
    out = [Paragraph(declared)]
    if result.reused:
        out.append(Paragraph("Reused, not re-run: " + "; ".join(
            f"{n} cell(s) recorded by study {name}" for name, n in result.reused.items())
            + " (the same cell keys, so the same resolved configuration, seed and precision; they keep the hash "
            "of the study file they ran under, and the registration is read from this study's own cells)."))
    if result.is_preregistered_analysis:
        verdict = (f"This is the pre-registered analysis: the study file (SHA-256 {result.registered_sha256[:12]}) "
                   f"is the one recorded with the first cell ({result.first_cell_at}), and nothing departs from it.")
        return [*out, Paragraph(verdict)]
    verdict = "Deviations from the registration: " + "; ".join(result.deviations) + "."
    return [*out, Paragraph(verdict, note=True)]
