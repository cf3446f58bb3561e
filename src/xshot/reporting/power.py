"""Power planning before a study runs: how many seeds detect an effect of ``D`` points, from pilot results.

The pilot's comparisons are the ones the report would test (:func:`~xshot.reporting.sections.findings.
study_findings`: the study's ``comparisons`` or the default ones), in one Holm family. For each, the spread
of its per-seed differences (each seed's mean over the target languages) gives the seeds that a two-sided
test at the family's Bonferroni level ``α / m`` needs to detect a difference of ``D`` points with 80% power
(:func:`xshot.statistics.seeds_needed`), never fewer than the sign-flip test needs to reach that level at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from xshot.errors import XshotError
from xshot.reporting.frame import group_results, load_results, prepare
from xshot.reporting.languages import high_resource_set
from xshot.reporting.sections import ReportContext
from xshot.reporting.sections.findings import study_findings
from xshot.statistics import (ALPHA, POWER, minimum_detectable_effect, sd_upper_bound, seeds_needed,
                              seeds_to_reach)


@dataclass(frozen=True)
class ComparisonPower:
    comparison: str  # "dualcl − prompt"
    table: str  # the group's title
    pilot_seeds: int
    sd: float  # of the pilot's per-seed differences, points
    delta: float  # the pilot's mean difference, points (not a target: the effect asked for is)
    seeds: int | None  # needed for ``effect`` at the family's level; None: beyond reach
    sd_upper: float  # the one-sided 80% upper confidence bound of sd (a spread read from few seeds is uncertain)
    seeds_upper: int | None  # needed if the spread is that bound
    detectable: float  # with the study's own seeds: the effect detected with 80% power at the family's level


@dataclass(frozen=True)
class PowerPlan:
    effect: float  # points
    alpha: float
    power: float
    family: int
    comparisons: list[ComparisonPower]

    @property
    def seeds(self) -> int | None:
        """Seeds for every comparison of the family (the most any needs); None if one is beyond reach."""
        needed = [c.seeds for c in self.comparisons]
        return None if any(n is None for n in needed) else max(needed, default=None)

    @property
    def seeds_upper(self) -> int | None:
        """As :attr:`seeds`, with every spread at its 80% upper confidence bound."""
        needed = [c.seeds_upper for c in self.comparisons]
        return None if any(n is None for n in needed) else max(needed, default=None)

    @property
    def floor(self) -> int:
        """Seeds below which no comparison of the family can be significant, whatever the data."""
        return seeds_to_reach(self.alpha / self.family)


def power_plan(pilot: str | Path, effect: float, comparisons: list[tuple[str, str]] | None = None,
               methods: list[str] | None = None, family: int | None = None, study_seeds: int = 0) -> PowerPlan:
    """The seeds to detect ``effect`` points, from the pilot results (a store or an exported CSV);
    ``methods``: keep only these (the study's); ``family``: the study's Holm family size when the pilot holds
    fewer of its tables (default: the pilot's own); ``study_seeds``: the seeds the study has (for the effect
    each comparison can detect with them); fails with one line when the pilot cannot tell."""
    if not effect > 0:
        raise XshotError(f"--detect must be a positive number of points, got {effect:g}")
    df = load_results(pilot)
    d = prepare(df)
    done = d[(d["status"] == "done") & d["score"].notna() & (d["eval_set"] != "")]
    if methods:
        done = done[done["method"].isin(methods)]
    ctx = ReportContext(done, done.iloc[0:0], group_results(done, high_resource_set()), {}, comparisons=comparisons)
    tables = study_findings(ctx)
    family = family or sum(len(comps) for _, comps in tables)
    level = ALPHA / max(family, 1)
    rows = [ComparisonPower(f"{c.a} − {c.b}", g.title(), c.n, c.test.sd, c.delta,
                            seeds_needed(c.test.sd, effect, level, POWER), upper := sd_upper_bound(c.test.sd, c.n),
                            seeds_needed(upper, effect, level, POWER),
                            minimum_detectable_effect(c.test.sd, study_seeds, level, POWER))
            for g, comps in tables for c in comps if c.test.paired and math.isfinite(c.test.sd)]
    if not rows:
        raise XshotError("the pilot results have no comparison with 2 or more paired seeds to read a seed-level "
                         "spread from (the study's comparisons need both methods, on the same seeds)", path=pilot)
    return PowerPlan(effect, ALPHA, POWER, family, rows)

