"""How the report writes numbers, p-values, correlations and names (one place for every table)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from xshot.statistics import Correlation

DAGGER = "†"
DASH = "–"


def pct(x: float, digits: int = 1) -> str:
    return DASH if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f}"


def mean_std(mean: float, std: float) -> str:
    if math.isnan(mean):
        return ""
    return f"{pct(mean)} ± {pct(std)}"


def fmt_p(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def fmt_rho(c: Correlation) -> str:
    if math.isnan(c.rho):
        return f"n/a ({c.reason})" if c.reason else "n/a"
    return f"{c.rho:+.2f} (p={fmt_p(c.p_value)}, n={c.n})"


def count(x: float) -> str:
    if x is None or math.isnan(x):
        return DASH
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.2f}{suffix}"
    return f"{x:.0f}"


def num(x: float, digits: int = 1) -> str:
    return DASH if x is None or math.isnan(x) else f"{x:,.{digits}f}"


def slug(*parts: Any) -> str:
    s = "-".join(str(p) for p in parts if str(p))
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-.")
    return re.sub(r"-{2,}", "-", s)[:120] or "figure"


def short_model(model: str) -> str:
    model = model.rstrip("/")
    if model.startswith(("/", ".", "~")) or model.count("/") > 1:
        return Path(model).name or model
    return model
