"""The statistics of a study, with the seed as the unit of every test and interval.

What a study randomises is the seed: it draws the shots, the initial weights of the new parameters and the
data order. One trained model (one seed) produces the scores of every target language, and XNLI's test items
are the same sentences translated, so the languages of one seed are not independent replicates; neither are
the test items of one language, which every seed shares. A comparison of two methods is therefore read from
its **per-seed differences** (for a study's overall finding: each seed's mean over the target languages):

- :func:`sign_flip_test`: the two-sided sign-flip permutation test of their mean (every one of the ``2**n``
  sign vectors while ``n <= 16`` seeds, so exact; ``scipy.stats.permutation_test``); its smallest attainable
  p is ``2 / 2**n`` (0.25 with 3 seeds, 0.0625 with 5). Seeds that only one method has are not paired:
  :func:`welch_test` then compares the two methods' seed means, and says so.
- :func:`t_interval`: the t-interval of the mean per-seed difference (what the seeds vary).
- :func:`two_level_bootstrap`: an interval that also holds the test-sampling noise: the seed level is drawn
  from the t distribution of the per-seed mean (a resample of 3 to 5 seeds is far too narrow), then each
  language's test items. Results record one bootstrap interval per evaluation (items resampled),
  not per-item predictions, so the item level is drawn from the normal distribution with that interval's
  standard error, shared by every seed of a replicate (they were scored on the same items); the two
  methods' item noise is taken as independent (their positive correlation on shared items would narrow
  it: conservative), and across languages as independent unless the test sets are translations of one
  another (XNLI, AmericasNLI), where it is fully correlated (conservative).
- :func:`holm`: Holm's step-down adjustment across a family of comparisons.
- :func:`minimum_detectable_effect`, :func:`seeds_needed`, :func:`seeds_to_reach`, :func:`sd_upper_bound`: what a design can
  detect, from the seed-level spread, at the family's Bonferroni level ``α / m`` (Holm's first step).

``benchmarks/inference_simulation.py`` checks these by simulation (false-positive rate under a null with
seed and item effects, power at the promised effect); its table is in ``benchmarks/results/``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
POWER = 0.8
#: seeds up to which the sign-flip test enumerates every sign vector (2**16 = 65,536 of them)
EXACT_SIGN_FLIP_MAX_SEEDS = 16
#: random sign vectors beyond that
SIGN_FLIP_RESAMPLES = 100_000
EXACT_SPEARMAN_MAX_N = 8  # exact permutation p-value for Spearman's rho up to this many pairs


def _finite(values: Sequence[float]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)


# --------------------------------------------------------------------------- one method's seeds


@dataclass(frozen=True)
class SeedSummary:
    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1); NaN for one seed
    ci_low: float  # 95% t-interval of the mean; NaN for one seed
    ci_high: float


def summarize(values: Sequence[float], confidence: float = 0.95) -> SeedSummary:
    """Mean, sample std and t-interval of per-seed scores (NaNs dropped)."""
    x = _finite(values)
    n = len(x)
    if n == 0:
        return SeedSummary(0, math.nan, math.nan, math.nan, math.nan)
    if n == 1:
        return SeedSummary(1, float(x[0]), math.nan, math.nan, math.nan)
    ci = t_interval(x, confidence)
    return SeedSummary(n, float(x.mean()), float(x.std(ddof=1)), ci.low, ci.high)


# --------------------------------------------------------------------------- two methods over seeds


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float  # e.g. 0.95
    how: str  # what was resampled or assumed, in words

    @property
    def finite(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)


@dataclass(frozen=True)
class SeedTest:
    """A two-sided test that the mean difference of A − B over seeds is 0."""

    n: int  # paired seeds (unpaired: both methods' seeds together)
    delta: float  # mean difference
    sd: float  # sample sd of the per-seed differences (unpaired: pooled); NaN below 2 seeds
    p: float  # NaN when it cannot be tested (fewer than 2 seeds)
    smallest_p: float  # the smallest p this design can reach whatever the data
    paired: bool
    how: str  # the test, in words


def t_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Student-t interval of the mean of per-seed values (NaN below 2 seeds)."""
    x = _finite(values)
    n = len(x)
    if n < 2:
        return Interval(math.nan, math.nan, level, "t over seeds (fewer than 2)")
    from scipy import stats

    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
    mean = float(x.mean())
    return Interval(mean - half, mean + half, level, f"t over {n} seeds")


def smallest_sign_flip_p(n: int) -> float:
    """The smallest two-sided p of the sign-flip test over ``n`` seeds (every difference of one sign)."""
    if n < 1:
        return math.nan
    if n <= EXACT_SIGN_FLIP_MAX_SEEDS:
        return min(1.0, 2.0 / 2**n)
    return 2.0 / (SIGN_FLIP_RESAMPLES + 1)  # scipy: twice the one-sided (1 + count) / (resamples + 1)


def sign_flip_test(differences: Sequence[float], seed: int = 0) -> SeedTest:
    """Two-sided sign-flip permutation test of the mean of paired per-seed differences."""
    d = _finite(differences)
    n = len(d)
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    if n < 2:
        return SeedTest(n, float(d.mean()) if n else math.nan, sd, math.nan, smallest_sign_flip_p(n), True,
                        "too few seeds to test")
    from scipy import stats

    exact = n <= EXACT_SIGN_FLIP_MAX_SEEDS
    if abs(d.mean()) <= 1e-12 * max(1.0, float(np.abs(d).max())):  # a zero mean, up to rounding: p = 1
        p = 1.0
    else:
        res = stats.permutation_test((d,), _mean, permutation_type="samples", vectorized=True,
                                     n_resamples=np.inf if exact else SIGN_FLIP_RESAMPLES,
                                     alternative="two-sided", rng=np.random.default_rng(seed))
        p = float(min(1.0, res.pvalue))
    how = (f"exact sign-flip over {n} paired seeds" if exact
           else f"sign-flip over {n} paired seeds ({SIGN_FLIP_RESAMPLES:,} random sign vectors)")
    return SeedTest(n, float(d.mean()), sd, p, smallest_sign_flip_p(n), True, how)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def welch_test(a: Sequence[float], b: Sequence[float]) -> SeedTest:
    """Welch's t-test of two methods' per-seed scores that share no seed (unpaired)."""
    xa, xb = _finite(a), _finite(b)
    delta = float(xa.mean() - xb.mean()) if len(xa) and len(xb) else math.nan
    if len(xa) < 2 or len(xb) < 2:
        return SeedTest(len(xa) + len(xb), delta, math.nan, math.nan, math.nan, False,
                        "too few unpaired seeds to test")
    from scipy import stats

    p = float(stats.ttest_ind(xa, xb, equal_var=False).pvalue)
    pooled = math.sqrt((xa.var(ddof=1) + xb.var(ddof=1)) / 2)
    return SeedTest(len(xa) + len(xb), delta, pooled, p if math.isfinite(p) else 1.0, 0.0, False,
                    f"Welch t-test, {len(xa)} and {len(xb)} unpaired seeds")


def two_level_bootstrap(differences: np.ndarray, item_se: np.ndarray, correlated: bool = False,
                        level: float = 0.95, n_resamples: int = 50_000, seed: int = 0) -> Interval:
    """Percentile interval of the mean difference over seeds × languages, drawing the seed level, then the
    test items.

    ``differences``: per-seed (rows) per-language (columns) differences A − B. ``item_se``: per language,
    the standard error that resampling that language's test items gives the difference (NaN or 0: none).
    Each replicate draws the seed level from the t distribution of the per-seed means (mean + sd/√n · T,
    n − 1 degrees of freedom: resampling 3 to 5 seeds with replacement gives intervals far narrower than
    their t-interval) and one item-level deviation per language, shared by all seeds (they were scored on the
    same items); ``correlated``: the languages' deviations are one draw (test sets that are translations of
    one another). Without item noise the interval is the t-interval over seeds.
    """
    d = np.asarray(differences, dtype=float)
    n_seeds, n_langs = d.shape
    se = np.nan_to_num(np.asarray(item_se, dtype=float).reshape(n_langs))
    if n_seeds < 2:
        return Interval(math.nan, math.nan, level, "seeds and test items (fewer than 2 seeds)")
    rng = np.random.default_rng(seed)
    per_seed = d.mean(axis=1)
    seed_part = per_seed.mean() + per_seed.std(ddof=1) / math.sqrt(n_seeds) * rng.standard_t(n_seeds - 1, n_resamples)
    z = rng.standard_normal((n_resamples, 1 if correlated else n_langs))
    item_part = (z * se).mean(axis=1)
    lo, hi = np.quantile(seed_part + item_part, [0.5 - level / 2, 0.5 + level / 2])
    items = ("fully correlated across languages" if correlated else "independent across languages")
    return Interval(float(lo), float(hi), level,
                    f"{n_seeds} seeds (t), then test items ({items})")


def sign_is_stable(differences: Sequence[float]) -> bool:
    """Whether the mean difference keeps its (non-zero) sign with any one seed left out."""
    d = _finite(differences)
    if len(d) < 2 or d.mean() == 0:
        return False
    sign = np.sign(d.mean())
    return bool(all(np.sign((d.sum() - x) / (len(d) - 1)) == sign for x in d))


# --------------------------------------------------------------------------- families and power


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (monotone, at most 1); NaNs stay NaN and are not counted."""
    valid = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    out = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(valid)):
        running = max(running, min(1.0, (len(valid) - rank) * p))
        out[i] = running
    return out


def seeds_to_reach(alpha: float) -> int:
    """The fewest paired seeds whose sign-flip test can give p < ``alpha`` at all (2 / 2**n < alpha)."""
    n = 2
    while smallest_sign_flip_p(n) >= alpha:
        n += 1
    return n


def minimum_detectable_effect(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest mean per-seed difference that a two-sided test over ``n`` paired seeds with spread ``sd``
    detects with probability ``power`` at level ``alpha``: (t_{1-α/2} + t_{power}) · sd / √n with n − 1
    degrees of freedom. Infinite where the sign-flip test cannot reach ``alpha`` with ``n`` seeds."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    if smallest_sign_flip_p(n) >= alpha:
        return math.inf
    from scipy import stats

    return float((stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)) * sd / math.sqrt(n))


def seeds_needed(sd: float, effect: float, alpha: float = ALPHA, power: float = POWER,
                 max_seeds: int = 10_000) -> int | None:
    """The fewest paired seeds that detect a mean difference ``effect`` with probability ``power`` at level
    ``alpha`` given a per-seed spread ``sd``; None beyond ``max_seeds`` or without a usable spread."""
    if not (math.isfinite(sd) and math.isfinite(effect)) or effect <= 0:
        return None
    n = seeds_to_reach(alpha)
    while n <= max_seeds:
        if minimum_detectable_effect(sd, n, alpha, power) <= effect:
            return n
        n += 1
    return None


def sd_upper_bound(sd: float, n: int, confidence: float = 0.8) -> float:
    """One-sided upper confidence bound of a standard deviation read from ``n`` values (chi-square)."""
    from scipy import stats

    return float(sd * math.sqrt((n - 1) / stats.chi2.ppf(1 - confidence, n - 1)))


# --------------------------------------------------------------------------- correlation


@dataclass(frozen=True)
class Correlation:
    n: int
    rho: float  # NaN when undefined (n < min_n, or a constant variable)
    p_value: float
    reason: str = ""  # why rho is NaN


def spearman(x: Sequence[float], y: Sequence[float], min_n: int = 3) -> Correlation:
    """Spearman's rank correlation over the pairs where both values are known.

    The two-sided p-value is exact (all n! permutations) for n <= 8, where the usual
    t-approximation is badly off (it gives p = 0 for rho = 1 with 3 languages; the exact value is
    1/3); scipy's approximation beyond.
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = ~(np.isnan(xa) | np.isnan(ya))
    xa, ya = xa[ok], ya[ok]
    n = len(xa)
    if n < min_n:
        return Correlation(n, math.nan, math.nan, f"n<{min_n}")
    if np.all(xa == xa[0]) or np.all(ya == ya[0]):
        return Correlation(n, math.nan, math.nan, "constant")
    from scipy import stats

    res = stats.spearmanr(xa, ya)
    rho, p = float(res.statistic), float(res.pvalue)
    if n <= EXACT_SPEARMAN_MAX_N:
        rx = stats.rankdata(xa)
        ry = stats.rankdata(ya)[np.array(list(itertools.permutations(range(n))))]
        rxc = rx - rx.mean()
        ryc = ry - ry.mean(axis=1, keepdims=True)
        r = (ryc @ rxc) / (np.linalg.norm(rxc) * np.linalg.norm(ryc, axis=1))
        p = float(np.mean(np.abs(r) >= abs(rho) - 1e-12))
    return Correlation(n, rho, p)
