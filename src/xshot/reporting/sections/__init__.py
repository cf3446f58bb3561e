"""The report's sections, in order: each module computes its analysis from the prepared results, then
renders it as a :class:`~xshot.reporting.document.Section`.

A new analysis is one module with ``section(ctx) -> Section`` and its name in ``SECTIONS`` below (the order
of the report).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from xshot.registry import Registry
from xshot.reporting.document import Figure, Paragraph, Section, Table
from xshot.reporting.frame import Group


@dataclass
class ReportContext:
    """What every section reads: the prepared rows, their groups (one per main table) and the method colours."""

    done: pd.DataFrame  # completed rows with a score
    failed: pd.DataFrame  # rows of failed cells
    groups: list[Group]
    colors: dict[str, str]
    distance_fn: Callable | None = None  # URIEL distances unless a test replaces them
    comparisons: list[tuple[str, str]] | None = None  # the study's named comparisons (None: the default ones)


def finish(section: Section, ctx: ReportContext) -> Section:
    """A section without a table, a figure or a note says why it is empty."""
    if not any(isinstance(b, (Table, Figure)) or b.note for b in section.blocks):
        section.blocks.append(
            Paragraph("No completed cells to show.", note=True) if ctx.done.empty else Paragraph("Nothing to show.")
        )
    return section


SECTIONS: Registry[Callable[[ReportContext], Section]] = Registry("report section")
SECTIONS.add_modules("xshot.reporting.sections", ("findings", "main", "anchors", "curves", "low_resource", "transfer", "cost",
                                                    "choices", "failures"),
                     "section")
