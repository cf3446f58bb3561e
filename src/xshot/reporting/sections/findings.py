"""Findings: the study's named comparisons, tested and said in words, first in the report.

For each main table (task × model × setting × K) and each named comparison (the study file's
``comparisons``; by default DualCL against every prompting method, and every method against ``finetune``;
a comparison of two settings, e.g. two variants of one method, pairs each method the settings share, per
model and K, in a table of its own): the mean difference over the (target
language, seed) pairs both methods have, with a 95% t-interval; a paired sign-flip permutation test over
those pairs, Holm-corrected across the table's comparisons; the number of target languages each side
wins on its seed mean; the difference split by low- vs high-resource targets and by script; and the
minimum detectable effect of the design, (t_{1-α/2} + t_{power}) · s_d / √n at α = 0.05 and 80%
power, from the observed spread s_d of the paired differences (which holds both the seed and the
test-sampling noise of the study). Pairs of one seed share a trained model, so they are not
independent draws; the interval and the test treat them as such, which the report says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from xshot.reporting.document import Cell, Paragraph, Section, Table
from xshot.reporting.format import fmt_p, short_model
from xshot.reporting.frame import Group
from xshot.reporting.languages import script_of
from xshot.reporting.sections import ReportContext, finish

ALPHA = 0.05
POWER = 0.8
#: the prompting side of the founding question: prompt-based fine-tuning, decoder prompting, PEFT
PROMPTING = ("prompt", "zero-shot", "icl", "soft-prompt", "prefix", "lora", "ia3")
NAMES = {"dualcl": "DualCL", "prompt": "prompt-based fine-tuning", "finetune": "fine-tuning",
         "zero-shot": "zero-shot prompting", "icl": "in-context learning", "soft-prompt": "soft-prompt tuning",
         "prefix": "prefix tuning", "lora": "LoRA", "ia3": "(IA)³"}


@dataclass
class Comparison:
    a: str
    b: str
    n: int  # (language, seed) pairs
    delta: float  # mean of a - b, in points (×100)
    ci: tuple[float, float]
    p: float
    languages: int
    wins: int  # target languages where a's seed mean is above b's
    by_group: dict[str, tuple[float, int]] = field(default_factory=dict)  # "low-resource", "Latin", ... -> (mean, n)
    mde: float = math.nan
    p_holm: float = math.nan


def default_pairs(methods: list[str]) -> list[tuple[str, str]]:
    """DualCL vs each prompting method present, then each other method vs fine-tuning."""
    pairs = [("dualcl", m) for m in methods if m in PROMPTING] if "dualcl" in methods else []
    if "finetune" in methods:
        pairs += [(m, "finetune") for m in methods if m != "finetune"]
    return pairs


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (monotone, at most 1); NaNs stay NaN and are not counted."""
    valid = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    out = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(valid)):
        running = max(running, min(1.0, (len(valid) - rank) * p))
        out[i] = running
    return out


def minimum_detectable_effect(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest mean paired difference a two-sided paired t-test of ``n`` pairs with spread ``sd`` detects
    with probability ``power`` at level ``alpha`` (the normal approximation with t quantiles)."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    from scipy import stats

    return float((stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)) * sd / math.sqrt(n))


def compare(g: Group, a: str, b: str) -> Comparison | None:
    from scipy import stats

    from xshot.metrics import seed_paired_test

    diffs: list[float] = []
    labels: list[list[str]] = []
    languages = wins = 0
    for col in g.targets:
        sa, sb = g.seed_scores(a, col), g.seed_scores(b, col)
        seeds = sorted(set(sa) & set(sb))
        if not seeds:
            continue
        languages += 1
        wins += float(np.mean([sa[s] for s in seeds])) > float(np.mean([sb[s] for s in seeds]))
        for s in seeds:
            diffs.append(100 * (sa[s] - sb[s]))
            labels.append(["low-resource" if col.low_resource else "high-resource", script_of(col.iso)])
    if not diffs:
        return None
    d = np.asarray(diffs)
    n, mean = len(d), float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) * sd / math.sqrt(n) if n > 1 else math.nan
    p = float(seed_paired_test(d, np.zeros(n))["p_value"]) if n > 1 else math.nan
    by_group: dict[str, tuple[float, int]] = {}
    for key in sorted({k for ks in labels for k in ks}):
        part = [x for x, ks in zip(diffs, labels) if key in ks]
        by_group[key] = (float(np.mean(part)), len(part))
    return Comparison(a, b, n, mean, (mean - half, mean + half), p, languages, wins, by_group,
                      minimum_detectable_effect(sd, n))


def sentence(c: Comparison, g: Group) -> str:
    """One sentence a paper could quote, significant or not."""
    where = f"On {g.task.upper()} (K = {g.k_label}, {short_model(g.model)}{', ' + g.setting if g.setting else ''})"
    a, b = NAMES.get(c.a, c.a), NAMES.get(c.b, c.b)
    interval = f"[{c.ci[0]:+.1f}, {c.ci[1]:+.1f}]"
    if math.isnan(c.p_holm):
        return (f"{where}, {a} and {b} differ by {c.delta:+.1f} points over {c.n} (language, seed) pair(s): "
                "too few to test.")
    if c.p_holm < ALPHA:
        verb = "leads" if c.delta > 0 else "trails"
        return (f"{where}, {a} {verb} {b} by {abs(c.delta):.1f} points {interval} (Holm p = {fmt_p(c.p_holm)}), "
                f"in {c.wins if c.delta > 0 else c.languages - c.wins} of {c.languages} target languages.")
    detect = f"; this study could detect about {c.mde:.1f} points (80% power, α = 0.05)" if math.isfinite(c.mde) else ""
    return (f"{where}, {a} and {b} do not differ significantly ({c.delta:+.1f} points {interval}, Holm p = "
            f"{fmt_p(c.p_holm)}; {a} ahead in {c.wins} of {c.languages} target languages){detect}.")


def setting_arms(groups: list[Group], a: str, b: str) -> list[Group]:
    """Two settings side by side: for each model, K (target K, precision) that both have, and each method the
    two share, one group whose two "methods" are the settings ``a`` and ``b`` (that method's scores in each),
    so that :func:`compare` pairs them by (target language, seed) as it pairs methods."""
    def key(g: Group) -> tuple:
        return (g.task, g.model, g.source, g.k_label, g.target_k, g.precision)

    out = []
    for ga in (g for g in groups if g.setting == a):
        for gb in (g for g in groups if g.setting == b and key(g) == key(ga)):
            shared = [m for m in ga.methods if m in gb.methods]
            for method in shared:
                names = [a, b] if len(shared) == 1 else [f"{a} ({method})", f"{b} ({method})"]
                targets_a = {c.key for c in ga.targets}
                merged = Group(task=ga.task, model=ga.model, setting="", train=ga.train, source=ga.source,
                               k_label=ga.k_label, k_num=ga.k_num, target_k=ga.target_k, precision=ga.precision,
                               metric=ga.metric, rows=ga.rows.iloc[0:0], methods=names,
                               columns=[c for c in gb.targets if c.key in targets_a])
                for name, g in zip(names, (ga, gb)):
                    for col in merged.columns:
                        merged.scores[(name, col.key)] = g.seed_scores(method, col)
                out.append(merged)
    return out


def findings(g: Group, pairs: list[tuple[str, str]] | None = None) -> list[Comparison]:
    wanted = [p for p in (pairs if pairs is not None else default_pairs(g.methods))
              if p[0] in g.methods and p[1] in g.methods]
    out = [c for c in (compare(g, a, b) for a, b in wanted) if c is not None]
    for c, adjusted in zip(out, holm([c.p for c in out])):
        c.p_holm = adjusted
    return out


def findings_table(g: Group, comps: list[Comparison]) -> Table:
    splits = sorted({k for c in comps for k in c.by_group})
    rows = []
    for c in comps:
        rows.append([Cell(f"{c.a} − {c.b}"), Cell(f"{c.delta:+.1f}"), Cell(f"[{c.ci[0]:+.1f}, {c.ci[1]:+.1f}]"),
                     Cell(fmt_p(c.p) if math.isfinite(c.p) else "–"),
                     Cell(fmt_p(c.p_holm) if math.isfinite(c.p_holm) else "–", bold=c.p_holm < ALPHA),
                     Cell(f"{c.wins}/{c.languages}"), Cell(str(c.n)),
                     *[Cell(f"{c.by_group[k][0]:+.1f}" if k in c.by_group else "–") for k in splits],
                     Cell(f"{c.mde:.1f}" if math.isfinite(c.mde) else "–")])
    return Table(columns=["comparison", "Δ points", "95% CI", "p", "Holm p", "A wins (langs)", "pairs",
                          *[f"Δ {k}" for k in splits], "MDE"],
                 rows=rows, caption=g.title(), numeric=[False] + [True] * (7 + len(splits)), css_class="findings")


def section(ctx: ReportContext) -> Section:
    settings = {g.setting for g in ctx.groups}
    named = ctx.comparisons
    method_pairs = None if named is None else [p for p in named if not set(p) <= settings]
    tables = [(g, findings(g, method_pairs)) for g in ctx.groups]
    # two settings compared: per model and K, the arms of every such comparison form one more table
    arms: dict[tuple, tuple[Group, list[tuple[str, str]]]] = {}
    for a, b in [p for p in named or [] if set(p) <= settings]:
        for merged in setting_arms(ctx.groups, a, b):
            k = (merged.task, merged.model, merged.k_label, merged.target_k, merged.precision)
            first, pairs = arms.setdefault(k, (merged, []))
            if merged is not first:  # one table per key: its arms and scores collect every comparison
                first.methods += [m for m in merged.methods if m not in first.methods]
                first.scores.update(merged.scores)
                first.columns += [c for c in merged.columns if c.key not in {x.key for x in first.columns}]
            pairs.append(tuple(merged.methods))
    tables += [(g, findings(g, pairs)) for g, pairs in arms.values()]
    blocks = []
    for g, comps in tables:
        if not comps:
            continue
        blocks += [Paragraph(sentence(c, g)) for c in comps]
        blocks.append(findings_table(g, comps))
    if blocks:
        blocks.append(Paragraph(
            "Δ: mean of A − B over the (target language, seed) pairs both have, ×100, with a 95% t-interval; p: "
            "paired sign-flip permutation test over those pairs, Holm-corrected across each table's comparisons; "
            "MDE: the smallest difference this design detects with 80% power at α = 0.05, from the spread of the "
            "paired differences. Pairs of one seed share a trained model, so the interval and the test are "
            "optimistic about their independence.", note=True))
    else:
        blocks.append(Paragraph(
            "No named comparison applies: the study's `comparisons` (or, by default, DualCL against a prompting "
            "method, or another method against fine-tuning) need both methods in the same table.", note=True))
    return finish(Section("Findings", blocks, anchor="findings"), ctx)
