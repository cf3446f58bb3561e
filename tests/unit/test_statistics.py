"""Seed summaries and Spearman's rho against hand-computed values."""

import math

import numpy as np
import pytest

from xshot.statistics import spearman, summarize


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


# --------------------------------------------------------------------------- the seed-level test


from xshot.statistics import (holm, minimum_detectable_effect, seeds_needed, seeds_to_reach,  # noqa: E402
                              sign_flip_test, sign_is_stable, smallest_sign_flip_p, t_interval, two_level_bootstrap,
                              welch_test)


def test_sign_flip_exact_values_by_hand():
    t = sign_flip_test([1, 1, 1])
    assert (t.n, t.delta, t.p, t.smallest_p, t.paired) == (3, 1.0, 0.25, 0.25, True)
    assert t.how == "exact sign-flip over 3 paired seeds"
    # d = [3, 1, 1]: signed sums 5,3,3,1,-1,-3,-3,-5 -> |s| >= 5 twice of 8
    assert sign_flip_test([3, 1, 1]).p == 0.25
    # d = [1, -1, 0.5]: every signed sum has |s| >= 0.5
    assert sign_flip_test([1, -1, 0.5]).p == 1.0
    assert sign_flip_test([1, 2, 3, 4]).p == 2 / 16
    # d = [4, 1, 1, 1]: sum 7; only the all-equal sign vectors reach |s| >= 7 -> 2/16
    assert sign_flip_test([4, 1, 1, 1]).p == 2 / 16
    # d = [5, -1, 2, 2, 1]: sum 9; |s| >= 9 for the observed signs, with the -1 flipped (11) and with the -1 and
    # the 1 flipped (9), and for their negations -> 6/32
    assert sign_flip_test([5, -1, 2, 2, 1]).p == pytest.approx(6 / 32)


def test_sign_flip_zero_mean_and_float_noise_give_one():
    assert sign_flip_test([0.0, 0.0, 0.0]).p == 1.0
    assert sign_flip_test([0.1 - 0.0, 0.2 - 0.0, 0.0 - 0.3]).p == 1.0  # sums to ~5e-17
    assert sign_flip_test([0.0641, 0.0277, 0.0051, 0.0026]).p == 2 / 16  # never below the minimum


def test_sign_flip_too_few_and_many_seeds():
    one = sign_flip_test([2.0])
    assert math.isnan(one.p) and one.smallest_p == 1.0 and one.how == "too few seeds to test"
    many = sign_flip_test([0.5 + 0.01 * i for i in range(20)])
    assert "random sign vectors" in many.how and many.p == pytest.approx(2 / 100_001) == many.smallest_p
    assert sign_flip_test([(-1) ** i * (1 + i % 3) + 0.1 for i in range(20)], seed=1).p > 0.05


def test_smallest_p_and_seeds_to_reach():
    assert [smallest_sign_flip_p(n) for n in (1, 2, 3, 5, 6)] == [1.0, 0.5, 0.25, 0.0625, 0.03125]
    assert seeds_to_reach(0.05) == 6  # 2/2**6 = 0.031 < 0.05, 2/2**5 = 0.0625 is not
    assert seeds_to_reach(0.05 / 10) == 9  # 2/2**9 = 0.0039 < 0.005 <= 2/2**8


def test_t_interval_by_hand():
    i = t_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.3027
    assert (i.low, i.high) == pytest.approx((2 - 4.302653 / math.sqrt(3), 2 + 4.302653 / math.sqrt(3)))
    assert not t_interval([1.0]).finite


def test_welch_unpaired():
    t = welch_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0])
    assert not t.paired and t.delta == pytest.approx(-3.5) and "unpaired" in t.how
    from scipy import stats

    assert t.p == pytest.approx(stats.ttest_ind([1, 2, 3], [4, 5, 6, 7], equal_var=False).pvalue)


def test_two_level_bootstrap_without_item_noise_is_the_t_interval():
    d = np.array([[1.0, 3.0], [2.0, 4.0], [3.0, 5.0]])  # seed means 2, 3, 4: sd 1
    i = two_level_bootstrap(d, np.array([0.0, 0.0]), n_resamples=200_000)
    t = t_interval([2.0, 3.0, 4.0])
    assert (i.low, i.high) == pytest.approx((t.low, t.high), abs=0.05)
    wide = two_level_bootstrap(d, np.array([2.0, 2.0]), n_resamples=200_000)
    corr = two_level_bootstrap(d, np.array([2.0, 2.0]), correlated=True, n_resamples=200_000)
    assert wide.low < i.low and wide.high > i.high
    # fully correlated items: the item part has sd 2 instead of 2/sqrt(2)
    assert corr.high - corr.low > wide.high - wide.low
    assert two_level_bootstrap(d, np.array([2.0, 2.0]), seed=3) == two_level_bootstrap(d, np.array([2.0, 2.0]), seed=3)


def test_sign_stability_leave_one_out():
    assert sign_is_stable([1.0, 2.0, 3.0])
    assert not sign_is_stable([5.0, -1.0, -1.0])  # without the 5 the mean is negative
    assert not sign_is_stable([1.0])


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 -> 3 x 0.01 = 0.03, 2 x 0.02 = 0.04, 1 x 0.04 = 0.04 (monotone)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    # sorted 0.01, 0.26, 0.3, 0.9 -> 0.04, 0.78, 0.6 (raised to the running 0.78), 0.9
    assert holm([0.3, 0.01, 0.26, 0.9]) == pytest.approx([0.78, 0.04, 0.78, 0.9])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # 2 x 0.6 = 1.2 is capped at 1
    out = holm([math.nan, 0.02])
    assert math.isnan(out[0]) and out[1] == pytest.approx(0.02)  # NaN is not counted


def test_minimum_detectable_effect_and_seeds_needed_by_hand():
    # n = 12, sd = 3: (t_0.975,11 = 2.2010 + t_0.8,11 = 0.8755) x 3 / sqrt(12) = 2.664
    assert minimum_detectable_effect(3.0, 12) == pytest.approx((2.200985 + 0.875539) * 3 / math.sqrt(12), rel=1e-4)
    assert math.isnan(minimum_detectable_effect(3.0, 1))
    assert minimum_detectable_effect(3.0, 5) == math.inf  # 5 seeds cannot reach 0.05
    # sd 3, effect 3: n = 10 gives (2.2622 + 0.8834) x 3 / sqrt(10) = 2.984 <= 3, n = 9 gives 3.195 > 3
    assert seeds_needed(3.0, 3.0) == 10
    assert seeds_needed(0.1, 3.0) == 6  # the sign-flip floor, not the t-test's 3
    assert seeds_needed(float("nan"), 3.0) is None and seeds_needed(3.0, 0.0) is None
