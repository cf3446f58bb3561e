"""Findings: the study's named comparisons, tested over seeds and said in words, first in the report.

For each main table (task × model × setting × K) and each named comparison (the study file's
``comparisons``; by default DualCL against every method of the prompting family, and every method against
the baseline; a comparison of two settings, e.g. two variants of one method, pairs each method the settings
share, per model and K, in a table of its own) the evidence is the **per-seed difference** A − B, each seed's
mean over the target languages both methods have (:mod:`xshot.statistics`: one seed's languages share one
trained model and are not independent replicates). The report gives its mean, a t-interval over seeds, a
two-level bootstrap interval (seeds, then test items), an exact sign-flip test over seeds (Welch's t-test
where the two methods share no seed), Holm-adjusted across **every** comparison of the report (the family);
whether the sign holds with any one seed left out; the smallest Holm p the design can reach and, where that
is not below α, the seeds it would need; the minimum detectable effect at the family's level from the
seed-level spread; the per-language seed means (how many languages each side leads on, descriptive) and the
difference by low/high-resource target and by script (descriptive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from xshot.data.spec import builtin
from xshot.methods import BASELINE_METHOD, METHODS, display_name
from xshot.reporting.document import TableCell, Paragraph, Section, Table
from xshot.reporting.format import fmt_p, short_model
from xshot.reporting.frame import Column, Group
from xshot.reporting.languages import script_of
from xshot.reporting.sections import ReportContext, finish
from xshot.statistics import (ALPHA, POWER, Interval, SeedTest, holm, minimum_detectable_effect, seeds_to_reach,
                              sign_flip_test, sign_is_stable, t_interval, two_level_bootstrap, welch_test)


@dataclass
class Comparison:
    a: str
    b: str
    test: SeedTest  # over the per-seed mean differences, in points (×100)
    ci: Interval  # t-interval over seeds
    ci_items: Interval  # two-level bootstrap: seeds, then test items
    languages: int  # target languages both methods have
    wins: int  # of those, where A's seed mean is above B's
    per_seed: dict[float, float] = field(default_factory=dict)  # seed -> mean difference over the languages
    dropped_seeds: int = 0  # seeds left out because a language is missing for one of the methods
    stable: bool = False  # the sign of the mean holds with any one seed left out
    by_group: dict[str, tuple[float, int]] = field(default_factory=dict)  # "low-resource", "Latin", ... -> (mean, langs)
    p_holm: float = math.nan
    family: int = 0  # comparisons in the Holm family
    mde: float = math.nan  # at the family's Bonferroni level α / m, 80% power
    seeds_for_significance: int = 0  # paired seeds the family's level needs before any p can be below it

    @property
    def delta(self) -> float:
        return self.test.delta

    @property
    def n(self) -> int:
        return self.test.n

    @property
    def p(self) -> float:
        return self.test.p

    @property
    def smallest_p_holm(self) -> float:
        """The smallest Holm-adjusted p this design could give this comparison (as the family's smallest p)."""
        return min(1.0, self.family * self.test.smallest_p) if self.test.paired else math.nan

    @property
    def can_reach(self) -> bool:
        return not self.test.paired or self.smallest_p_holm < ALPHA


def default_pairs(methods: list[str]) -> list[tuple[str, str]]:
    """DualCL against each method of the prompting family present, then each other method against the
    baseline (families and names from the method registrations)."""
    contrastive = [m for m in methods if m in METHODS and METHODS.get(m).family == "contrastive"]
    prompting = [m for m in methods if m in METHODS and METHODS.get(m).prompting]
    pairs = [(c, p) for c in contrastive for p in prompting]
    if BASELINE_METHOD in methods:
        pairs += [(m, BASELINE_METHOD) for m in methods if m != BASELINE_METHOD]
    return pairs


# --------------------------------------------------------------------------- computing


def _complete(g: Group, method: str, cols: list[Column]) -> set[float]:
    """The seeds of ``method`` with a score on every column of ``cols``."""
    seeds = [set(g.seed_scores(method, c)) for c in cols]
    return set.intersection(*seeds) if seeds else set()


def _item_se(g: Group, a: str, b: str, col: Column, seeds: list[float]) -> float:
    """The item-level standard error of A − B on one language, in points: both methods' recorded errors,
    taken as independent (conservative), averaged in variance over the seeds."""
    var = [g.seed_item_se(m, col).get(s, math.nan) ** 2 for m in (a, b) for s in seeds]
    return 100 * math.sqrt(2 * float(np.mean(var))) if var and all(map(math.isfinite, var)) else math.nan


def _parallel(cols: list[Column]) -> bool:
    """Whether the columns are test sets translated from the same items (XNLI, AmericasNLI)."""
    sets = [builtin(c.key[1]) for c in cols]
    return bool(sets) and all(s is not None and s.parallel for s in sets) and len({s.name for s in sets}) == 1


def _by_group(cols: list[Column], per_lang: list[float]) -> dict[str, tuple[float, int]]:
    labels = [("low-resource" if c.low_resource else "high-resource", script_of(c.iso)) for c in cols]
    out = {}
    for key in sorted({k for ks in labels for k in ks}):
        part = [x for x, ks in zip(per_lang, labels) if key in ks]
        out[key] = (float(np.mean(part)), len(part))
    return out


def compare(g: Group, a: str, b: str) -> Comparison | None:
    cols = [c for c in g.targets if g.seed_scores(a, c) and g.seed_scores(b, c)]
    if not cols:
        return None
    seeds_a, seeds_b = _complete(g, a, cols), _complete(g, b, cols)
    shared = sorted(seeds_a & seeds_b)
    if not shared:
        return _unpaired(g, a, b, cols, sorted(seeds_a), sorted(seeds_b))
    diffs = np.array([[100 * (g.seed_scores(a, c)[s] - g.seed_scores(b, c)[s]) for c in cols] for s in shared])
    per_seed = diffs.mean(axis=1)
    item_se = np.array([_item_se(g, a, b, c, shared) for c in cols])
    per_lang = diffs.mean(axis=0)
    all_seeds = {s for m in (a, b) for c in cols for s in g.seed_scores(m, c)}
    return Comparison(
        a, b, sign_flip_test(per_seed), t_interval(per_seed), two_level_bootstrap(diffs, item_se, _parallel(cols)),
        len(cols), int(np.sum(per_lang > 1e-9)), dict(zip(shared, map(float, per_seed))),
        dropped_seeds=len(all_seeds) - len(shared), stable=sign_is_stable(per_seed),
        by_group=_by_group(cols, list(per_lang)))


def _unpaired(g: Group, a: str, b: str, cols: list[Column], seeds_a: list[float], seeds_b: list[float]) -> Comparison:
    """Two methods that share no seed: their seed means (over the languages) compared unpaired."""
    def means(method: str, seeds: list[float]) -> list[float]:
        return [100 * float(np.mean([g.seed_scores(method, c)[s] for c in cols])) for s in seeds]

    test = welch_test(means(a, seeds_a), means(b, seeds_b))
    none = Interval(math.nan, math.nan, 0.95, "no paired seeds")
    per_lang = [100 * (np.mean(list(g.seed_scores(a, c).values())) - np.mean(list(g.seed_scores(b, c).values())))
                for c in cols]
    return Comparison(a, b, test, none, none, len(cols), int(np.sum(np.array(per_lang) > 1e-9)),
                      by_group=_by_group(cols, per_lang))


def adjust(family: list[Comparison]) -> None:
    """Holm across the whole family; each comparison's power at the family's Bonferroni level α / m."""
    m = len(family)
    for c, adjusted in zip(family, holm([c.test.p for c in family])):
        c.p_holm, c.family = adjusted, m
        c.mde = minimum_detectable_effect(c.test.sd, c.test.n, ALPHA / m, POWER) if c.test.paired else math.nan
        c.seeds_for_significance = seeds_to_reach(ALPHA / m)


def comparisons(g: Group, pairs: list[tuple[str, str]] | None = None) -> list[Comparison]:
    """The group's comparisons (not yet adjusted: :func:`adjust` takes the whole family)."""
    wanted = [p for p in (pairs if pairs is not None else default_pairs(g.methods))
              if p[0] in g.methods and p[1] in g.methods]
    return [c for c in (compare(g, a, b) for a, b in wanted) if c is not None]


def findings(g: Group, pairs: list[tuple[str, str]] | None = None) -> list[Comparison]:
    """One group's comparisons as their own family (a report adjusts across all its groups)."""
    out = comparisons(g, pairs)
    adjust(out)
    return out


def setting_arms(groups: list[Group], a: str, b: str) -> list[Group]:
    """Two settings side by side: for each model, K (target K, precision) that both have, and each method the
    two share, one group whose two "methods" are the settings ``a`` and ``b`` (that method's scores in each),
    so that :func:`compare` pairs them by seed as it pairs methods."""
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
                        merged.item_se[(name, col.key)] = g.seed_item_se(method, col)
                out.append(merged)
    return out


def study_findings(ctx: ReportContext) -> list[tuple[Group, list[Comparison]]]:
    """Every table of findings of the report, adjusted together as one Holm family."""
    settings = {g.setting for g in ctx.groups}
    named = ctx.comparisons
    method_pairs = None if named is None else [p for p in named if not set(p) <= settings]
    tables = [(g, comparisons(g, method_pairs)) for g in ctx.groups]
    # two settings compared: per model and K, the arms of every such comparison form one more table
    arms: dict[tuple, tuple[Group, list[tuple[str, str]]]] = {}
    for a, b in [p for p in named or [] if set(p) <= settings]:
        for merged in setting_arms(ctx.groups, a, b):
            k = (merged.task, merged.model, merged.k_label, merged.target_k, merged.precision)
            first, pairs = arms.setdefault(k, (merged, []))
            if merged is not first:  # one table per key: its arms and scores collect every comparison
                first.methods += [m for m in merged.methods if m not in first.methods]
                first.scores.update(merged.scores)
                first.item_se.update(merged.item_se)
                first.columns += [c for c in merged.columns if c.key not in {x.key for x in first.columns}]
            pairs.append(tuple(merged.methods))
    tables += [(g, comparisons(g, pairs)) for g, pairs in arms.values()]
    tables = [(g, comps) for g, comps in tables if comps]
    adjust([c for _, comps in tables for c in comps])
    return tables


# --------------------------------------------------------------------------- rendering


def _interval(i: Interval) -> str:
    return f"[{i.low:+.1f}, {i.high:+.1f}]" if i.finite else "–"


def sentence(c: Comparison, g: Group) -> str:
    """One sentence a paper could quote, whatever the evidence."""
    where = f"On {g.task.upper()} (K = {g.k_label}, {short_model(g.model)}{', ' + g.setting if g.setting else ''})"
    a, b = display_name(c.a), display_name(c.b)
    if math.isnan(c.test.p):
        return (f"{where}, {a} − {b} = {c.delta:+.1f} points over {c.n} seed(s) ({c.test.how}): too few seeds "
                "to test.")
    evidence = f"{c.delta:+.1f} points, 95% CI {_interval(c.ci)} over seeds, {_interval(c.ci_items)} with test-item noise"
    if not c.test.paired:
        evidence = f"{c.delta:+.1f} points; {c.test.how}: the seeds are not paired"
    if not c.can_reach:
        return (f"{where}, {a} − {b} = {evidence} ({c.n} seeds): this design cannot reach significance — with "
                f"{c.n} paired seeds and {c.family} comparison(s) in the family the smallest Holm p it can give is "
                f"{fmt_p(c.smallest_p_holm)}; it needs at least {c.seeds_for_significance} seeds.")
    if c.p_holm < ALPHA:
        verb = "leads" if c.delta > 0 else "trails"
        stable = ("the sign holds with any one seed left out" if c.stable
                  else "the sign does not hold with every seed left out")
        return (f"{where}, {a} {verb} {b} by {abs(c.delta):.1f} points ({evidence}; Holm p = {fmt_p(c.p_holm)}, "
                f"{c.test.how}; {stable}).")
    detect = (f"; with this seed-level spread the design detects about {c.mde:.1f} points (80% power at the "
              f"family's level)" if math.isfinite(c.mde) else "")
    return (f"{where}, {a} and {b} do not differ significantly ({evidence}; Holm p = {fmt_p(c.p_holm)}, "
            f"{c.test.how}){detect}.")


def findings_table(g: Group, comps: list[Comparison]) -> Table:
    splits = sorted({k for c in comps for k in c.by_group})
    rows = []
    for c in comps:
        rows.append([TableCell(f"{c.a} − {c.b}"), TableCell(f"{c.delta:+.1f}"), TableCell(_interval(c.ci)),
                     TableCell(_interval(c.ci_items)), TableCell(fmt_p(c.test.p)),
                     TableCell(fmt_p(c.p_holm), bold=c.p_holm < ALPHA), TableCell(fmt_p(c.smallest_p_holm)),
                     TableCell(str(c.n) + ("" if c.test.paired else " (unpaired)")),
                     TableCell("yes" if c.stable else "no"), TableCell(f"{c.wins}/{c.languages}"),
                     *[TableCell(f"{c.by_group[k][0]:+.1f}" if k in c.by_group else "–") for k in splits],
                     TableCell("none" if c.mde == math.inf else f"{c.mde:.1f}" if math.isfinite(c.mde) else "–")])
    return Table(columns=["comparison", "Δ points", "95% CI (seeds)", "95% CI (seeds + items)", "p", "Holm p",
                          "smallest Holm p", "seeds", "sign stable", "A ahead (langs)", *[f"Δ {k}" for k in splits],
                          "MDE"],
                 rows=rows, caption=g.title(), numeric=[False] + [True] * (11 + len(splits)), css_class="findings")


def family_note(tables: list[tuple[Group, list[Comparison]]]) -> Paragraph:
    members = [f"{c.a} − {c.b} ({g.title()})" for g, comps in tables for c in comps]
    m = len(members)
    return Paragraph(
        f"The Holm family: the {m} comparison(s) of this section — {'; '.join(members)}. Δ: the mean over seeds of "
        "each seed's A − B averaged over the target languages both methods have, ×100 (a seed is one draw of the "
        "shots, the initial weights and the data order; its languages share one trained model, so they are not "
        "independent replicates). 95% CI (seeds): t-interval over the seeds. 95% CI (seeds + items): two-level "
        "parametric bootstrap, the seed level from the t distribution of the per-seed mean, then each language's test items (from each evaluation's recorded bootstrap "
        "interval, the two methods' item noise taken as independent, and fully correlated across languages for "
        "translated test sets such as XNLI; conservative). p: exact two-sided sign-flip test over the paired seeds "
        "(Welch's t-test where the two methods share no seed); Holm p: adjusted across the whole family; smallest "
        "Holm p: the smallest this design could give whatever the scores (2 / 2^seeds × the family's size). Sign "
        "stable: the sign of Δ holds with any one seed left out. A ahead: target languages where A's seed mean is "
        "above B's (descriptive, not a test). Δ by low-/high-resource target and script: descriptive. MDE: the "
        f"smallest difference the design detects with 80% power at the family's level α / m = {ALPHA}/{m}, from the "
        "spread of the per-seed differences ('none': the design cannot reach that level).", note=True)


def section(ctx: ReportContext) -> Section:
    tables = study_findings(ctx)
    blocks = []
    for g, comps in tables:
        blocks += [Paragraph(sentence(c, g)) for c in comps]
        blocks.append(findings_table(g, comps))
    if tables:
        blocks.append(family_note(tables))
    else:
        blocks.append(Paragraph(
            "No named comparison applies: the study's `comparisons` (or, by default, DualCL against a prompting "
            "method, or another method against fine-tuning) need both methods in the same table.", note=True))
    return finish(Section("Findings", blocks, anchor="findings"), ctx)
