"""Findings: the comparisons over seeds, their family and their sentences, by hand."""

import math

import pandas as pd
import pytest

from xshot.reporting.frame import Column, Group
from xshot.reporting.languages import script_of
from xshot.reporting.sections.findings import default_pairs, findings, sentence


def _group(scores: dict[str, dict[str, list[float]]]) -> Group:
    langs = sorted(next(iter(scores.values())))
    cols = [Column((lang, f"xnli:{lang}:test"), lang, lang, iso, False, low)
            for lang, iso, low in [(lang, {"de": "deu", "sw": "swh", "ur": "urd", "zh": "zho"}[lang],
                                    lang in ("sw", "ur")) for lang in langs]]
    g = Group(task="nli", model="/models/gemma3-270m", setting="", train="xnli:en:dev", source="en", k_label="16",
              k_num=16.0, target_k="", precision="", metric="accuracy", rows=pd.DataFrame(),
              methods=list(scores), columns=cols)
    for method, per_lang in scores.items():
        for col in cols:
            g.scores[(method, col.key)] = {float(i + 1): s for i, s in enumerate(per_lang[col.language])}
    return g


def _seeds(n: int, base: dict[str, list[float]], shift: float) -> tuple[dict, dict]:
    """n seeds of two methods; B = A + shift + a little per-seed noise (never changing the sign)."""
    a = {lang: [v[i % len(v)] + 0.003 * i for i in range(n)] for lang, v in base.items()}
    b = {lang: [x + shift + 0.004 * ((i * 7) % 3) for i, x in enumerate(v)] for lang, v in a.items()}
    return a, b


BASE = {"de": [0.40, 0.42, 0.41], "sw": [0.35, 0.36, 0.34], "ur": [0.36, 0.37, 0.35], "zh": [0.39, 0.40, 0.41]}


def test_the_seed_is_the_unit_three_seeds_cannot_reach_significance():
    """Every (language, seed) pair favours DualCL, but 3 seeds give at best p = 0.25: the sentence says so."""
    base, better = _seeds(3, BASE, 0.05)
    g = _group({"prompt": base, "dualcl": better})
    (c,) = findings(g)
    assert (c.a, c.b, c.n, c.languages, c.wins) == ("dualcl", "prompt", 3, 4, 4)
    per_seed = [100 * (sum(better[lang][i] for lang in BASE) - sum(base[lang][i] for lang in BASE)) / 4 for i in range(3)]
    assert c.delta == pytest.approx(sum(per_seed) / 3)
    assert list(c.per_seed.values()) == pytest.approx(per_seed)
    assert c.p == c.p_holm == 0.25 and c.smallest_p_holm == 0.25 and not c.can_reach
    assert c.mde == math.inf and c.seeds_for_significance == 6 and c.stable
    assert c.by_group["low-resource"][1] == 2 and c.by_group["Arabic"][1] == 1
    text = sentence(c, g)
    assert text.startswith("On NLI (K = 16, gemma3-270m), DualCL − prompt-based fine-tuning = +")
    assert "this design cannot reach significance" in text and "smallest Holm p it can give is 0.250" in text
    assert "needs at least 6 seeds" in text and "leads" not in text


def test_a_significant_win_over_seeds_is_said_with_both_intervals():
    base, better = _seeds(8, BASE, 0.05)
    g = _group({"prompt": base, "dualcl": better})
    (c,) = findings(g)
    assert c.n == 8 and c.p == pytest.approx(2 / 2**8) and c.p_holm == c.p
    assert c.ci.low > 0 and c.ci_items.low > 0 and "test items" in c.ci_items.how
    for key, seeds in g.scores.items():  # each score's item-level standard error: 1 point
        g.item_se[key] = {s: 0.01 for s in seeds}
    (noisy,) = findings(g)
    assert noisy.ci_items.low < c.ci_items.low - 1 and noisy.ci_items.high > c.ci_items.high + 1
    text = sentence(c, g)
    assert text.startswith(f"On NLI (K = 16, gemma3-270m), DualCL leads prompt-based fine-tuning by {c.delta:.1f} points")
    assert "exact sign-flip over 8 paired seeds" in text and "the sign holds with any one seed left out" in text


def test_the_family_is_every_comparison_and_the_power_is_stated():
    a = {lang: [x + (0.03 if i % 2 else -0.03) for i, x in enumerate(v)] for lang, v in _seeds(8, BASE, 0)[0].items()}
    b = _seeds(8, BASE, 0)[0]
    g = _group({"finetune": b, "dualcl": a, "prompt": a})
    comps = findings(g)
    assert [(c.a, c.b) for c in comps] == [("dualcl", "prompt"), ("dualcl", "finetune"), ("prompt", "finetune")]
    tied = comps[0]
    assert tied.delta == 0 and tied.p == 1.0
    c = comps[1]
    assert c.family == 3 and c.p_holm >= c.p and c.p_holm > 0.05
    assert c.seeds_for_significance == 7  # 2 / 2**7 < 0.05 / 3 <= 2 / 2**6
    assert math.isfinite(c.mde) and c.mde > 0
    text = sentence(c, g)
    assert text.startswith("On NLI (K = 16, gemma3-270m), DualCL and fine-tuning do not differ significantly (")
    assert f"the design detects about {c.mde:.1f} points (80% power at the family's level)" in text


def test_methods_that_share_no_seed_are_not_paired():
    g = _group({"prompt": {"de": [0.40, 0.42, 0.41]}, "dualcl": {"de": [0.45, 0.47, 0.46]}})
    g.scores[("dualcl", ("de", "xnli:de:test"))] = {10.0: 0.45, 11.0: 0.47, 12.0: 0.46}
    (c,) = findings(g)
    assert not c.test.paired and "Welch" in c.test.how and c.delta == pytest.approx(5.0)
    assert "the seeds are not paired" in sentence(c, g)


def test_default_pairs_and_scripts():
    assert default_pairs(["finetune", "prompt", "lora", "dualcl"]) == [
        ("dualcl", "prompt"), ("dualcl", "lora"), ("prompt", "finetune"), ("lora", "finetune"), ("dualcl", "finetune")]
    assert default_pairs(["prompt", "lora"]) == []
    assert (script_of("ur"), script_of("zh"), script_of("swa"), script_of("am")) == ("Arabic", "Han", "Latin", "Ethiopic")


def test_a_study_names_its_own_comparisons():
    from xshot.reporting.sections import ReportContext
    from xshot.reporting.sections.findings import section

    a = {"de": [0.40, 0.45, 0.38], "sw": [0.36, 0.33, 0.37]}
    b = {"de": [0.42, 0.41, 0.40], "sw": [0.34, 0.36, 0.35]}
    g = _group({"finetune": b, "dualcl": a, "prompt": b})
    ctx = ReportContext(pd.DataFrame(), pd.DataFrame(), [g], {}, comparisons=[("prompt", "dualcl")])
    text = [blk.text for blk in section(ctx).blocks if hasattr(blk, "text")]
    assert text[0].startswith("On NLI (K = 16, gemma3-270m), prompt-based fine-tuning − DualCL = ")
    assert not any("fine-tuning and" in t or "and fine-tuning" in t for t in text[1:])  # only the named one
    assert [(c.a, c.b) for c in findings(g, ctx.comparisons)] == [("prompt", "dualcl")]


def test_two_settings_are_compared_on_the_methods_they_share():
    """Variants run as settings (e.g. EntLM's two objectives) are paired by (target language, seed) like methods."""
    from dataclasses import replace

    from xshot.reporting.sections import ReportContext
    from xshot.reporting.sections.findings import section, setting_arms

    base = {"de": [0.40, 0.42, 0.41], "sw": [0.35, 0.36, 0.34]}
    better = {lang: [s + 0.04 for s in v] for lang, v in base.items()}
    full = replace(_group({"prompt": base}), setting="entlm-full")
    restricted = replace(_group({"prompt": better, "dualcl": base}), setting="entlm-restricted")
    other_model = replace(_group({"prompt": base}), setting="entlm-full", model="/models/me5-small")
    (merged,) = setting_arms([full, restricted, other_model], "entlm-restricted", "entlm-full")
    assert merged.methods == ["entlm-restricted", "entlm-full"] and merged.model == "/models/gemma3-270m"
    (c,) = findings(merged, [("entlm-restricted", "entlm-full")])
    assert (c.n, c.wins, c.languages) == (3, 2, 2) and c.delta == pytest.approx(4.0)
    assert c.p == pytest.approx(0.25)  # three seeds: the exact minimum
    ctx = ReportContext(pd.DataFrame(), pd.DataFrame(), [full, restricted, other_model], {},
                        comparisons=[("entlm-restricted", "entlm-full")])
    text = [blk.text for blk in section(ctx).blocks if hasattr(blk, "text")]
    assert text[0].startswith("On NLI (K = 16, gemma3-270m), entlm-restricted − entlm-full = +4.0 points")
    assert sum(t.startswith("On NLI") for t in text) == 1  # no method comparison was asked for
