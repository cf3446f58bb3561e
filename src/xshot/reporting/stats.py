"""Small statistics for the report: seed summaries and Spearman's rho (exact p for few languages).

The paired test over seeds is :func:`xshot.metrics.seed_paired_test`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EXACT_SPEARMAN_MAX_N = 8  # exact permutation p-value for Spearman's rho up to this many pairs


@dataclass(frozen=True)
class SeedSummary:
    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1); NaN for one seed
    ci_low: float  # 95% t-interval of the mean; NaN for one seed
    ci_high: float


def summarize(values: Sequence[float], confidence: float = 0.95) -> SeedSummary:
    """Mean, sample std and t-interval of per-seed scores (NaNs dropped)."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = len(x)
    if n == 0:
        return SeedSummary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n == 1:
        return SeedSummary(1, mean, math.nan, math.nan, math.nan)
    from scipy import stats

    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return SeedSummary(n, mean, std, mean - half, mean + half)


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
