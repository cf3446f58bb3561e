"""Seed summaries and Spearman's rho against hand-computed values."""

import math

import pytest

from xshot.reporting.stats import spearman, summarize


def test_summarize_mean_std_and_t_interval():
    s = summarize([0.58, 0.62])
    assert s.n == 2
    assert s.mean == pytest.approx(0.60)
    assert s.std == pytest.approx(0.02 * math.sqrt(2))  # sample std (ddof=1)
    half = 12.706204736 * s.std / math.sqrt(2)  # t(0.975, 1 df)
    assert (s.ci_low, s.ci_high) == pytest.approx((0.60 - half, 0.60 + half))


def test_summarize_one_seed_has_no_spread_and_nans_are_dropped():
    s = summarize([0.5, float("nan")])
    assert s.n == 1 and s.mean == 0.5
    assert math.isnan(s.std) and math.isnan(s.ci_low)
    assert summarize([]).n == 0


def test_spearman_hand_computed_values():
    # ranks (1,2,3) vs (3,1,2): sum d^2 = 4+1+1 = 6, rho = 1 - 6*6/(3*8) = -0.5;
    # every permutation of 3 has |rho| >= 0.5, so the exact p is 1.
    c = spearman([1, 2, 3], [3, 1, 2])
    assert c.rho == pytest.approx(-0.5)
    assert c.p_value == pytest.approx(1.0)
    # (1..5) vs (2,1,4,3,5): sum d^2 = 4, rho = 1 - 24/120 = 0.8; 8 of the 120 permutations have
    # sum d^2 <= 4 and 8 have rho <= -0.8, so p = 16/120.
    c = spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert c.rho == pytest.approx(0.8)
    assert c.p_value == pytest.approx(16 / 120)
    # perfect order with 4 points: identity and reverse out of 24 permutations.
    c = spearman([0.1, 0.5, 0.3, 0.9], [1, 3, 2, 4])
    assert c.rho == pytest.approx(1.0) and c.p_value == pytest.approx(2 / 24)


def test_spearman_not_available_for_few_or_constant_values():
    c = spearman([1, 2, float("nan")], [3, 4, 5])
    assert math.isnan(c.rho) and c.n == 2 and c.reason == "n<3"
    c = spearman([1, 1, 1], [3, 4, 5])
    assert math.isnan(c.rho) and c.reason == "constant"


def test_language_bars_do_not_overlap():
    from xshot.reporting.figures import language_bars

    langs = ["hau", "swa", "yor", "ibo", "zul", "kin"]
    methods = ["finetune", "prompt", "soft-prompt", "lora", "dualcl"]
    means = {m: {lang: 0.3 + 0.01 * i for i, lang in enumerate(langs)} for m in methods}
    errors = {m: {lang: 0.02 for lang in langs} for m in methods}
    fig = language_bars(langs, means, errors, {}, "t", "F1")
    bars = sorted((p.get_x(), p.get_x() + p.get_width()) for p in fig.axes[0].patches)
    assert len(bars) == len(langs) * len(methods)
    for (_, right), (left, _) in zip(bars, bars[1:]):
        assert right <= left + 1e-9  # each bar ends before the next begins
    assert all(abs(b - a - 0.8 / len(methods)) < 1e-9 for a, b in bars)
