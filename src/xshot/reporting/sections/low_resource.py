"""Low-resource languages: per group, a bar per method and low-resource target language."""

from __future__ import annotations

from xshot.reporting import figures as figs
from xshot.reporting.document import Figure, Paragraph, Section
from xshot.reporting.frame import Group
from xshot.reporting.sections import ReportContext, finish

def language_bars(g: Group, colors: dict[str, str]) -> list:
    low = [c for c in g.targets if c.low_resource]
    if not low:
        return [Paragraph(f"{g.title()}: no low-resource target languages.", note=True)]
    means = {m: {} for m in g.methods}
    errs = {m: {} for m in g.methods}
    for m in g.methods:
        for c in low:
            s = g.summary(m, c)
            if s.n:
                means[m][c.header] = 100 * s.mean
                errs[m][c.header] = 100 * s.std
    png = figs.png(figs.language_bars(
        [c.header for c in low], means, errs, colors, f"Low-resource languages: {g.title()}", f"{g.metric} ×100"
    ))
    caption = f"Low-resource target languages, {g.title()}: mean {g.metric} over seeds; error bars: ± 1 std over seeds."
    return [Figure(g.slug("bars"), png, caption)]


def section(ctx: ReportContext) -> Section:
    blocks = [b for g in ctx.groups for b in language_bars(g, ctx.colors)]
    return finish(Section("Low-resource languages", blocks, anchor="low-resource"), ctx)
