"""Literature anchors: where a table's numbers sit against published few-shot cross-lingual results.

The published results live in ``resources/anchors.yaml`` (data, one entry per paper's setting). A table
is anchored by an entry of the same task, evaluation dataset, source language and K; xshot's number is each
method's mean over seeds of its mean over the table's target languages, beside the paper's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from xshot.data.spec import spec_dataset
from xshot.reporting.document import TableCell, Paragraph, Section, Table
from xshot.reporting.format import short_model
from xshot.reporting.frame import Group
from xshot.reporting.sections import ReportContext


@dataclass(frozen=True)
class Anchor:
    source: str
    task: str
    dataset: str
    source_language: str
    k: int
    model: str
    targets: str
    scores: dict[str, float]
    names: dict[str, str]


@lru_cache(maxsize=1)
def anchors() -> tuple[Anchor, ...]:
    text = resources.files("xshot.resources").joinpath("anchors.yaml").read_text(encoding="utf-8")
    return tuple(Anchor(**entry) for entry in yaml.safe_load(text))


def matching(g: Group) -> list[Anchor]:
    """The anchors of ``g``'s task, evaluation dataset, source language and K that published a method ``g`` ran."""
    datasets = {spec_dataset(c.key[1]) for c in g.targets}
    return [a for a in anchors() if a.task == g.task and a.dataset in datasets and a.source_language == g.source
            and a.k == g.k_num and set(a.scores) & set(g.methods)]


def xshot_mean(g: Group, method: str) -> tuple[float, int]:
    """The method's mean over seeds of its per-seed mean over the target languages, and the seeds behind it."""
    per_seed, _ = g.seed_average(method, g.targets)
    return (float(np.mean(list(per_seed.values()))) * 100 if per_seed else math.nan), len(per_seed)


def anchor_table(g: Group, a: Anchor) -> Table:
    rows = []
    for method in [m for m in g.methods if m in a.scores] + [m for m in a.scores if m not in g.methods]:
        mean, seeds = xshot_mean(g, method) if method in g.methods else (math.nan, 0)
        rows.append([TableCell(method), TableCell(f"{mean:.1f}" if seeds else "not run"), TableCell(str(seeds) if seeds else "—"),
                     TableCell(f"{a.scores[method]:.1f} ({a.names.get(method, method)})" if method in a.scores else "—")])
    languages = ", ".join(c.header for c in g.targets)
    return Table(columns=["method", f"xshot ({short_model(g.model)})", "seeds", f"published ({a.model})"], rows=rows,
                 caption=f"{g.title()} against {a.source}",
                 notes=[f"xshot: the mean over seeds of each seed's mean over {languages}; published: {a.targets}. "
                        f"They differ in backbone ({short_model(g.model)} against {a.model}), in the target languages "
                        "averaged, in the test items (xshot's evaluation limit) and in the training budget and "
                        "hyperparameters, so the comparison places xshot's numbers, it does not rank them."],
                 numeric=[False, True, True, True])


def section(ctx: ReportContext) -> Section:
    blocks: list = [anchor_table(g, a) for g in ctx.groups for a in matching(g)]
    if not blocks:
        blocks.append(Paragraph("No published result in resources/anchors.yaml matches these tables (task, dataset, "
                                "source language and K).", note=True))
    return Section("Literature anchors", blocks, anchor="anchors")
