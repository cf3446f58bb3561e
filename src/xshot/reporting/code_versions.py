"""Which code ran the cells, for the report's intro: the xshot commit and dependency lock each cell recorded
(:func:`xshot.provenance.versions`). xshot's speed work changes rounding and random draws between commits (each
such change says so in docs/performance.md), so the methods compared within a setting should have run under one
version; the report names the settings whose cells did not."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from xshot.reporting.document import Paragraph

#: a cell that recorded no commit: xshot before it recorded one, or a copy outside a git checkout
UNRECORDED = "an unrecorded commit"


@dataclass(frozen=True)
class CodeVersion:
    """One xshot commit and dependency lock, and how many cells ran under it."""

    commit: str | None
    lock: str | None
    cells: int

    @property
    def label(self) -> str:
        return version_label(self.commit, self.lock)


@dataclass(frozen=True)
class MixedSetting:
    """A setting whose cells ran under more than one code version: each version's methods."""

    setting: str
    methods: dict[str, tuple[str, ...]]  # version label -> the methods whose cells ran under it

    def sentence(self) -> str:
        return f"{self.setting} (" + "; ".join(f"{', '.join(m)} at {v}" for v, m in self.methods.items()) + ")"


def version_label(commit: str | None, lock: str | None) -> str:
    return (commit or UNRECORDED) + (f", lock {lock}" if lock else "")


def _recorded(raw: object) -> tuple[str | None, str | None]:
    try:
        v = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        v = {}
    return (v.get("xshot_commit"), v.get("lock")) if isinstance(v, dict) else (None, None)


def code_versions(done: pd.DataFrame) -> tuple[list[CodeVersion], list[MixedSetting]]:
    """The code versions of the completed cells (most cells first) and the settings that mix them."""
    cells = done.drop_duplicates("cell")
    recorded = [_recorded(r) for r in cells.get("versions", pd.Series([None] * len(cells), index=cells.index))]
    versions = [CodeVersion(c, lock, n) for (c, lock), n in Counter(recorded).most_common()]
    labels = pd.Series([version_label(*key) for key in recorded], index=cells.index)
    mixed = []
    for setting, group in cells.assign(_version=labels).groupby("setting", sort=True):
        if group["_version"].nunique() > 1:
            mixed.append(MixedSetting(str(setting), {v: tuple(sorted(g["method"].unique()))
                                                     for v, g in group.groupby("_version", sort=True)}))
    return versions, mixed


def paragraphs(done: pd.DataFrame) -> list[Paragraph]:
    """One sentence when every cell ran under one version; a note naming each version and any setting whose
    comparisons cross versions otherwise."""
    versions, mixed = code_versions(done)
    if not versions:
        return []
    if len(versions) == 1:
        v = versions[0]
        if v.commit is None:
            return [Paragraph("The cells did not record the xshot commit that ran them (versions before it was "
                              f"recorded, or a copy outside a git checkout){f'; dependency lock {v.lock}' if v.lock else ''}.")]
        return [Paragraph(f"Every cell ran with xshot at commit {v.label}.")]
    text = (f"The cells ran under {len(versions)} code versions: "
            + "; ".join(f"{v.label}: {v.cells} cell(s)" for v in versions) + ".")
    if mixed:
        text += (" Within " + "; ".join(m.sentence() for m in mixed) + ", methods were compared across versions, so "
                 "those comparisons differ in code as well as in method (a commit's speed work can change rounding "
                 "and random draws: docs/performance.md).")
    return [Paragraph(text, note=True)]
