"""The report's matplotlib figures, drawn without pyplot (no global backend state) to PNG bytes."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
_PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


def method_colors(methods: Sequence[str]) -> dict[str, str]:
    """A fixed colour per method, in the order given (the report's method order)."""
    return {m: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(methods)}


def png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def learning_curve(
    series: Mapping[str, Sequence[tuple[float, float, float, float]]],
    colors: Mapping[str, str],
    title: str,
    ylabel: str,
) -> bytes:
    """Score vs K per method: ``series[method] = [(k, mean, ci_low, ci_high), ...]`` (NaN CI: none)."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ks: set[float] = set()
    for method, points in series.items():
        points = sorted(points)
        x = [p[0] for p in points]
        ks.update(x)
        y = [p[1] for p in points]
        lo = [p[2] for p in points]
        hi = [p[3] for p in points]
        color = colors.get(method)
        ax.plot(x, y, marker="o", label=method, color=color)
        if any(not math.isnan(v) for v in lo):
            ax.fill_between(x, lo, hi, alpha=0.18, color=color, linewidth=0)
    if ks and max(ks) / max(min(ks), 1e-9) >= 4:
        ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(ks))
    ax.set_xticklabels([f"{k:g}" for k in sorted(ks)])
    ax.set_xlabel("K (shots)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return png(fig)


def language_bars(
    languages: Sequence[str],
    means: Mapping[str, Mapping[str, float]],
    errors: Mapping[str, Mapping[str, float]],
    colors: Mapping[str, str],
    title: str,
    ylabel: str,
) -> Figure:
    """Grouped bars: one group per language, one bar per method (``means[method][language]``)."""
    methods = list(means)
    bar_width = 0.8 / max(1, len(methods))  # a group spans 0.8 of the unit between languages
    fig_width = 1.5 + len(languages) * (0.3 + 0.16 * max(1, len(methods)))
    fig = Figure(figsize=(min(14.0, max(6.4, fig_width)), 4.2), layout="constrained")
    ax = fig.add_subplot()
    for i, method in enumerate(methods):
        xs = [j + (i - (len(methods) - 1) / 2) * bar_width for j in range(len(languages))]
        ys = [means[method].get(lang, math.nan) for lang in languages]
        es = [errors[method].get(lang, math.nan) for lang in languages]
        es = [0.0 if math.isnan(e) else e for e in es]
        ax.bar(xs, ys, width=bar_width, yerr=es, capsize=3, label=method, color=colors.get(method))
    ax.set_xticks(range(len(languages)))
    ax.set_xticklabels(languages, rotation=45 if len(languages) > 12 else 0)
    ax.set_xlabel("target language")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def transfer_scatter(
    panels: Sequence[tuple[str, Sequence[tuple[str, str, float, float]]]],
    colors: Mapping[str, str],
    title: str,
    ylabel: str,
) -> bytes:
    """One panel per predictor: ``(xlabel, [(method, language, x, y), ...])``, points labelled."""
    fig = Figure(figsize=(3.2 * len(panels), 3.6))  # fixed margins: constrained layout costs seconds here
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.16, top=0.80, wspace=0.28)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (xlabel, points) in zip(axes, panels):
        points = [p for p in points if not (math.isnan(p[2]) or math.isnan(p[3]))]
        by_method: dict[str, list[tuple[float, float]]] = {}
        top: dict[str, tuple[float, float]] = {}  # one label per language, at its highest point
        for method, lang, x, y in points:
            by_method.setdefault(method, []).append((x, y))
            if lang not in top or y > top[lang][1]:
                top[lang] = (x, y)
        for lang, (x, y) in top.items():
            ax.annotate(lang, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        for method, xy in by_method.items():
            ax.scatter([p[0] for p in xy], [p[1] for p in xy], color=colors.get(method), s=22, label=method)
        if not points:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="#777")
        ax.margins(x=0.15, y=0.1)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:  # one legend above the panels, clear of the points
        fig.legend(
            handles,
            labels,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.93),
            ncol=len(handles),
            fontsize=8,
            frameon=False,
        )
    fig.suptitle(title, fontsize=10, y=0.99)
    return png(fig)


def sensitivity(scores: Mapping[str, Mapping[str, Sequence[float]]], colors: Mapping[str, str], title: str,
                ylabel: str) -> Figure:
    """Each method's selection score across its candidates (``scores[method][candidate]``: one value per
    seed), as points per seed and a line through the means: how much the answer depends on the choice."""
    methods = list(scores)
    fig = Figure(figsize=(6.4 + 1.6 * max(0, len(methods) - 1), 3.8), layout="constrained")
    axes = fig.subplots(1, max(1, len(methods)), squeeze=False)[0]
    for ax, method in zip(axes, methods):
        names = list(scores[method])
        means = []
        for j, name in enumerate(names):
            values = [v for v in scores[method][name] if not math.isnan(v)]
            ax.scatter([j] * len(values), values, s=14, alpha=0.6, color=colors.get(method))
            means.append(sum(values) / len(values) if values else math.nan)
        ax.plot(range(len(names)), means, marker="o", color=colors.get(method), label=method)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
        ax.set_title(method, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(ylabel)
    fig.suptitle(title, fontsize=10)
    return fig


def compute_scatter(points: Sequence[tuple[str, float, float, float, float]], colors: Mapping[str, str],
                    title: str, xlabel: str, ylabel: str) -> Figure:
    """Score against training compute, one point per method: ``(method, compute, mean, low, high)``."""
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for method, x, y, lo, hi in points:
        err = [[y - lo if math.isfinite(lo) else 0.0], [hi - y if math.isfinite(hi) else 0.0]]
        ax.errorbar([x], [y], yerr=err, fmt="o", capsize=3, color=colors.get(method), label=method)
        ax.annotate(method, (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    if points and min(p[1] for p in points) > 0:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return fig
