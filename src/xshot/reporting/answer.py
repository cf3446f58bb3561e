"""The study's answer in a few lines (``answer.md`` beside the report), for a README or a paper's abstract: the
registration verdict, then each finding's sentence, then what the design could not detect and how the cells
recorded that a method ran short of its protocol (in-context demonstrations dropped). Generated from
the findings (:func:`xshot.reporting.sections.findings.study_findings`), so it never says more than they do."""

from __future__ import annotations

import math

from xshot.reporting import protocol
from xshot.reporting.preregistration import PreregistrationCheck
from xshot.reporting.sections import ReportContext
from xshot.reporting.sections.findings import sentence, study_findings
from xshot.statistics import ALPHA


def answer(ctx: ReportContext, title: str, registration: PreregistrationCheck | None) -> str:
    tables = study_findings(ctx)
    comparisons = [(g, c) for g, comps in tables for c in comps]
    lines = [f"## {title}", ""]
    if registration is None:
        lines += ["Not pre-registered: exploratory.", ""]
    elif registration.is_preregistered_analysis:
        lines += [f"The pre-registered analysis (study file SHA-256 {registration.registered_sha256[:12]}).", ""]
    else:
        lines += ["Deviations from the registration: " + "; ".join(registration.deviations) + ".", ""]
    if not comparisons:
        return "\n".join(lines + ["No comparison could be made: the named methods never share a table.", ""])
    lines += [f"- {sentence(c, g)}" for g, c in comparisons]
    significant = sum(c.test.paired and c.p_holm < ALPHA for _, c in comparisons)
    blind = [f"{c.a} − {c.b} ({g.task.upper()}, {c.mde:.1f} points)" for g, c in comparisons
             if c.test.paired and math.isfinite(c.mde) and not c.p_holm < ALPHA]
    lines += ["", f"{significant} of {len(comparisons)} comparison(s) significant after Holm's adjustment at "
              f"α = {ALPHA}."]
    if blind:
        lines.append("Effects smaller than these could have gone undetected (80% power at the family's level): "
                     + "; ".join(blind) + ".")
    dropped = protocol.dropped_demonstrations(ctx.done)
    if dropped:
        lines.append("As the cells recorded: " + "; ".join(d.sentence() for d in dropped) + ".")
    return "\n".join(lines) + "\n"
