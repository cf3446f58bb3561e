"""Findings: Holm, the minimum detectable effect, the comparisons and their sentences, by hand."""

import math

import pandas as pd
import pytest

from xshot.reporting.frame import Column, Group
from xshot.reporting.languages import script_of
from xshot.reporting.sections.findings import (default_pairs, findings, holm, minimum_detectable_effect,
                                               sentence)


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 -> 3 x 0.01 = 0.03, 2 x 0.02 = 0.04, 1 x 0.04 = 0.04 (monotone)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    # sorted 0.01, 0.26, 0.3, 0.9 -> 0.04, 0.78, 0.6 (raised to the running 0.78), 0.9
    assert holm([0.3, 0.01, 0.26, 0.9]) == pytest.approx([0.78, 0.04, 0.78, 0.9])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # 2 x 0.6 = 1.2 is capped at 1
    out = holm([math.nan, 0.02])
    assert math.isnan(out[0]) and out[1] == pytest.approx(0.02)  # NaN is not counted


def test_minimum_detectable_effect_by_hand():
    # n = 12, sd = 3: (t_0.975,11 = 2.2010 + t_0.8,11 = 0.8755) x 3 / sqrt(12) = 2.664
    assert minimum_detectable_effect(3.0, 12) == pytest.approx((2.200985 + 0.875539) * 3 / math.sqrt(12), rel=1e-4)
    assert math.isnan(minimum_detectable_effect(3.0, 1))


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


def test_a_significant_win_is_said_with_its_interval_and_languages():
    base = {"de": [0.40, 0.42, 0.41], "sw": [0.35, 0.36, 0.34], "ur": [0.36, 0.37, 0.35], "zh": [0.39, 0.40, 0.41]}
    better = {lang: [s + 0.05 + 0.005 * i for i, s in enumerate(v)] for lang, v in base.items()}
    g = _group({"prompt": base, "dualcl": better})
    (c,) = findings(g)
    assert (c.a, c.b, c.n, c.languages, c.wins) == ("dualcl", "prompt", 12, 4, 4)
    assert c.delta == pytest.approx(5.5)  # 5 points + 0.5 on average
    assert c.p == pytest.approx(2 / 2**12)  # every pair positive: the exact sign-flip minimum
    assert c.p_holm == c.p  # one comparison
    assert c.by_group["low-resource"] == (pytest.approx(5.5), 6) and c.by_group["Arabic"][1] == 3
    assert sentence(c, g) == ("On NLI (K = 16, gemma3-270m), DualCL leads prompt-based fine-tuning by 5.5 points "
                              f"[{c.ci[0]:+.1f}, {c.ci[1]:+.1f}] (Holm p = 4.9e-04), in 4 of 4 target languages.")


def test_a_non_significant_difference_says_what_the_study_could_have_seen():
    a = {"de": [0.40, 0.45, 0.38], "sw": [0.36, 0.33, 0.37]}
    b = {"de": [0.42, 0.41, 0.40], "sw": [0.34, 0.36, 0.35]}
    g = _group({"finetune": b, "dualcl": a, "prompt": a})
    comps = findings(g)
    assert [(c.a, c.b) for c in comps] == [("dualcl", "prompt"), ("dualcl", "finetune"), ("prompt", "finetune")]
    tied = comps[0]
    assert tied.delta == 0 and tied.p == 1.0
    c = comps[1]
    assert c.p_holm >= c.p and c.p_holm > 0.05
    text = sentence(c, g)
    assert text.startswith("On NLI (K = 16, gemma3-270m), DualCL and fine-tuning do not differ significantly (")
    assert f"this study could detect about {c.mde:.1f} points (80% power, α = 0.05)." in text


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
    assert text[0].startswith("On NLI (K = 16, gemma3-270m), prompt-based fine-tuning and DualCL do not differ")
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
    assert (c.n, c.wins, c.languages) == (6, 2, 2) and c.delta == pytest.approx(4.0)
    assert c.p == pytest.approx(2 / 2**6)  # all six pairs positive
    ctx = ReportContext(pd.DataFrame(), pd.DataFrame(), [full, restricted, other_model], {},
                        comparisons=[("entlm-restricted", "entlm-full")])
    text = [blk.text for blk in section(ctx).blocks if hasattr(blk, "text")]
    assert text[0].startswith("On NLI (K = 16, gemma3-270m), entlm-restricted leads entlm-full by 4.0 points")
    assert sum(t.startswith("On NLI") for t in text) == 1  # no method comparison was asked for
