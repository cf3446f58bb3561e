"""``build_report``: the study report (report.md, report.html, figures/*.png, results.csv).

Input: the results DataFrame of ``xshot.studies.store.ResultsStore.to_dataframe()`` (or the CSV
``xshot results`` exports), one row per (cell, evaluation set). See docs/interfaces.md and the
module docstrings of :mod:`xshot.reporting` for what each section computes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xshot.errors import XshotError
from xshot.io import atomic_open
from xshot.methods import BASELINE_METHOD, method_names
from xshot.reporting import figures as figs
from xshot.reporting.document import Cell, Document, Figure, Paragraph, Section, Table, to_html, to_markdown
from xshot.reporting.languages import high_resource_set, to_iso639_3
from xshot.reporting.stats import Correlation, spearman, summarize

REQUIRED_COLUMNS = (
    "cell",
    "status",
    "task",
    "model",
    "method",
    "source_language",
    "k",
    "seed",
    "eval_set",
    "language",
    "score",
)
OPTIONAL_COLUMNS = (
    "study", "error", "train", "primary_metric", "ci_low", "ci_high", "train_s", "eval_s",
    "peak_memory_mb", "trainable_params", "total_params", "fertility", "setting", "target_train", "target_k",
)  # fmt: skip
ALPHA = 0.05
DAGGER = "†"
DASH = "–"
PREDICTORS = ("syntactic", "genetic", "geographic", "phonological", "fertility")


# --------------------------------------------------------------------------- input


def load_results(path: str | Path) -> pd.DataFrame:
    """The results of a store (``ResultsStore(path).to_dataframe()``) or of an exported ``.csv``."""
    path = Path(path)
    if not path.exists():
        raise XshotError("results store not found", path=path)
    if path.is_file() and path.suffix.lower() == ".csv":
        try:
            return pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise XshotError(
                f"cannot read results CSV: {str(err).splitlines()[0] if str(err) else type(err).__name__}", path=path
            ) from None
    from xshot.studies.store import ResultsStore

    with ResultsStore(path, create=False) as store:
        return store.to_dataframe()


def load_study(study: Any) -> tuple[str | None, Any]:
    """(study name, validated Study or None) from a study file, a Study, a mapping or a name."""
    if study is None:
        return None, None
    if isinstance(study, Mapping):
        return (str(study["name"]) if study.get("name") is not None else None), None
    if hasattr(study, "name") and hasattr(study, "settings"):  # an xshot.studies.spec.Study
        return str(study.name), study
    path = Path(study)
    if isinstance(study, Path) or path.suffix.lower() in (".yaml", ".yml") or path.exists():
        from xshot.studies.spec import load_study as load_study_file

        spec = load_study_file(path)
        return str(spec.name), spec
    return str(study), None


def _plan_note(spec: Any, d: pd.DataFrame) -> Paragraph | None:
    """How much of the study's grid the results cover (None when the grid cannot be expanded)."""
    try:
        from xshot.studies.grid import expand

        planned = {c.key for c in expand(spec)}
    except (XshotError, ImportError, ValueError):
        return None
    status = d.groupby("cell")["status"].agg(lambda s: "done" if (s == "done").all() else "failed")
    done = int(sum(status.get(k) == "done" for k in planned))
    failed = int(sum(status.get(k) == "failed" for k in planned))
    pending = len(planned) - done - failed
    extra = len(set(status.index) - planned)
    text = f"Study plan: {len(planned)} cell(s); {done} done, {failed} failed, {pending} not in the results yet."
    if extra:
        text += f" {extra} cell(s) in the results are not in the current plan (an edited study, or --model)."
    return Paragraph(text, note=pending > 0 or extra > 0)


def _text(col: pd.Series) -> pd.Series:
    """A column as strings, missing values as ''."""
    return col.astype(object).where(col.notna(), "").astype(str)


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise XshotError(f"expected a pandas DataFrame of results, got {type(df).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise XshotError(f"results lack required column(s): {', '.join(missing)}")
    d = df.copy()
    for c in OPTIONAL_COLUMNS:
        if c not in d.columns:
            d[c] = np.nan
    for c in (
        "score",
        "ci_low",
        "ci_high",
        "train_s",
        "eval_s",
        "peak_memory_mb",
        "trainable_params",
        "total_params",
        "fertility",
    ):
        d[c] = pd.to_numeric(d[c], errors="coerce")
    d["status"] = d["status"].astype(str).str.strip().str.lower()
    for c in ("task", "model", "method", "source_language", "cell", "setting"):
        d[c] = _text(d[c])
    d["train"] = d["train"].where(d["train"].notna() & (d["train"].astype(str) != ""), d["source_language"]).astype(str)
    d["k_num"] = pd.to_numeric(d["k"], errors="coerce").astype("float64")
    d["k_label"] = d["k_num"].map(lambda k: "all" if pd.isna(k) else f"{k:g}")
    d["seed"] = pd.to_numeric(d["seed"], errors="coerce").astype("float64")
    # Settings with target-language shots (target_k) are separate tables from source-only ones.
    tk = pd.to_numeric(d["target_k"], errors="coerce").astype("float64")
    has_target = d["target_train"].notna() & (d["target_train"].astype(str) != "")
    d["target_k_label"] = np.where(has_target, tk.map(lambda k: "all" if pd.isna(k) else f"{k:g}"), "")
    d["language"] = _text(d["language"])
    d["eval_set"] = _text(d["eval_set"])
    d["lang_iso"] = d["language"].map(lambda c: to_iso639_3(c) or c.lower())
    d["src_iso"] = d["source_language"].map(lambda c: to_iso639_3(c) or c.lower())
    d["primary_metric"] = d["primary_metric"].fillna(d["task"].map({"nli": "accuracy", "ner": "f1"})).fillna("score")
    return d


# --------------------------------------------------------------------------- formatting


def _pct(x: float, digits: int = 1) -> str:
    return DASH if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f}"


def _mean_std(mean: float, std: float) -> str:
    if math.isnan(mean):
        return ""
    return f"{_pct(mean)} ± {_pct(std)}"


def _p(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _rho(c: Correlation) -> str:
    if math.isnan(c.rho):
        return f"n/a ({c.reason})" if c.reason else "n/a"
    return f"{c.rho:+.2f} (p={_p(c.p_value)}, n={c.n})"


def _count(x: float) -> str:
    if x is None or math.isnan(x):
        return DASH
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.2f}{suffix}"
    return f"{x:.0f}"


def _num(x: float, digits: int = 1) -> str:
    return DASH if x is None or math.isnan(x) else f"{x:,.{digits}f}"


def _slug(*parts: Any) -> str:
    s = "-".join(str(p) for p in parts if str(p))
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-.")
    return re.sub(r"-{2,}", "-", s)[:120] or "figure"


def _short_model(model: str) -> str:
    model = model.rstrip("/")
    if model.startswith(("/", ".", "~")) or model.count("/") > 1:
        return Path(model).name or model
    return model


def _method_order(methods: Iterable[str]) -> list[str]:
    known = {m: i for i, m in enumerate(method_names())}
    return sorted(set(methods), key=lambda m: (known.get(m, len(known)), m))


# --------------------------------------------------------------------------- groups


@dataclass
class Column:
    key: tuple[str, str]  # (language, eval_set)
    header: str
    language: str
    iso: str
    is_source: bool
    low_resource: bool


@dataclass
class Group:
    """The results of one (task, model, training set, K): one main table."""

    task: str
    model: str
    setting: str
    train: str
    source: str
    k_label: str
    k_num: float
    target_k: str  # "" unless the setting adds target-language shots
    metric: str
    rows: pd.DataFrame
    methods: list[str]
    columns: list[Column]
    scores: dict[tuple[str, tuple[str, str]], dict[float, float]] = field(default_factory=dict)

    @property
    def targets(self) -> list[Column]:
        return [c for c in self.columns if not c.is_source]

    @property
    def source_column(self) -> Column | None:
        return next((c for c in self.columns if c.is_source), None)

    def setting_label(self) -> str:
        """Task · model · [setting ·] training set (source) [· target K]: all but K."""
        parts = [self.task.upper(), _short_model(self.model)] + ([self.setting] if self.setting else [])
        parts.append(f"{self.train} ({self.source})")
        if self.target_k:
            parts.append(f"+ target K = {self.target_k}")
        return " · ".join(parts)

    def title(self) -> str:
        return f"{self.setting_label()} · K = {self.k_label}"

    def slug(self, kind: str, with_k: bool = True) -> str:
        parts = [kind, self.task, _short_model(self.model), self.setting, self.train]
        if self.target_k:
            parts.append("tk" + self.target_k)
        if with_k:
            parts.append("k" + self.k_label)
        return f"figures/{_slug(*parts)}.png"

    def seed_scores(self, method: str, col: Column) -> dict[float, float]:
        return self.scores.get((method, col.key), {})

    def summary(self, method: str, col: Column):
        return summarize(list(self.seed_scores(method, col).values()))

    def seed_average(self, method: str, cols: list[Column]) -> tuple[dict[float, float], bool]:
        """Per-seed mean over ``cols``; the flag says some (seed, column) was missing."""
        per_seed: dict[float, list[float]] = {}
        for col in cols:
            for seed, s in self.seed_scores(method, col).items():
                per_seed.setdefault(seed, []).append(s)
        partial = any(len(v) < len(cols) for v in per_seed.values()) or not per_seed
        return {seed: float(np.mean(v)) for seed, v in per_seed.items()}, partial


def _groups(done: pd.DataFrame, high: frozenset[str]) -> list[Group]:
    out = []
    keys = ["task", "model", "setting", "train", "source_language", "k_label", "target_k_label"]
    for (task, model, setting, train, source, k_label, target_k), rows in done.groupby(keys, sort=False, dropna=False):
        methods = _method_order(rows["method"])
        pairs = rows[["language", "eval_set", "lang_iso", "src_iso"]].drop_duplicates(["language", "eval_set"])
        per_lang = pairs.groupby("language")["eval_set"].nunique()
        cols = []
        for r in pairs.itertuples(index=False):
            header = r.language if per_lang[r.language] == 1 else f"{r.language} ({r.eval_set.split(':')[0]})"
            cols.append(
                Column(
                    (r.language, r.eval_set),
                    header,
                    r.language,
                    r.lang_iso,
                    r.lang_iso == r.src_iso,
                    r.lang_iso not in high,
                )
            )
        cols.sort(key=lambda c: (not c.is_source, c.header))
        g = Group(
            task=task, model=model, setting=setting, train=train, source=source, k_label=k_label,
            k_num=float(rows["k_num"].iloc[0]), target_k=target_k, metric=str(rows["primary_metric"].iloc[0]),
            rows=rows, methods=methods, columns=cols,
        )  # fmt: skip
        per_seed = rows.groupby(["method", "language", "eval_set", "seed"], dropna=False)["score"].mean()
        for (method, lang, es, seed), s in per_seed.items():
            g.scores.setdefault((method, (lang, es)), {})[seed] = float(s)
        out.append(g)
    out.sort(key=lambda g: (g.task, g.model, g.setting, g.train, g.target_k,
                            math.isnan(g.k_num), g.k_num if not math.isnan(g.k_num) else 0))  # fmt: skip
    return out


# --------------------------------------------------------------------------- main table


@dataclass(frozen=True)
class PairedResult:
    n: int
    delta: float
    p_value: float


def _paired_test(a: list[float], b: list[float]) -> PairedResult:
    """Sign-flip permutation test over paired seeds (``xshot.metrics.seed_paired_test``)."""
    from xshot.metrics import seed_paired_test

    res = seed_paired_test(a, b)
    return PairedResult(int(res["n"]), float(res["delta"]), float(res["p_value"]))


def _compare_leaders(col_scores: dict[str, dict[float, float]], means: dict[str, float]):
    """(leaders, runner-up, PairedResult | None) for one column of a main table."""
    ranked = sorted((m for m in means if not math.isnan(means[m])), key=lambda m: -means[m])
    if not ranked:
        return [], None, None
    best = means[ranked[0]]
    leaders = [m for m in ranked if abs(means[m] - best) <= 1e-12]
    rest = [m for m in ranked if m not in leaders]
    if len(leaders) > 1 or not rest:
        return leaders, None, None
    runner = rest[0]
    a, b = col_scores[leaders[0]], col_scores[runner]
    seeds = sorted(set(a) & set(b))
    if not seeds:  # nothing to pair: the lead cannot be tested
        return leaders, runner, PairedResult(0, math.nan, math.nan)
    return leaders, runner, _paired_test([a[s] for s in seeds], [b[s] for s in seeds])


def main_table(g: Group) -> tuple[Table, list[dict[str, Any]]]:
    """Method × target language (mean ± std over seeds, ×100) with an average over the targets."""
    columns: list[tuple[str, Column | None]] = [(c.header + (" (source)" if c.is_source else ""), c) for c in g.columns]
    columns.append(("avg (targets)", None))
    targets = g.targets
    cells: dict[tuple[str, int], dict[float, float]] = {}
    partial_methods = set()
    for m in g.methods:
        for j, (_, col) in enumerate(columns):
            if col is not None:
                cells[(m, j)] = g.seed_scores(m, col)
            else:
                avg, partial = g.seed_average(m, targets)
                cells[(m, j)] = avg
                if partial and avg:
                    partial_methods.add(m)
    rows = {m: [Cell(m)] for m in g.methods}
    notes: list[str] = []
    summary_rows: list[dict[str, Any]] = []
    seeds_all = sorted({s for v in cells.values() for s in v})
    n_marks = 0
    underpowered: list[int] = []  # seed counts too small for any p < ALPHA
    single_seed = True
    for j, (header, col) in enumerate(columns):
        stats_ = {m: summarize(list(cells[(m, j)].values())) for m in g.methods}
        means = {m: s.mean for m, s in stats_.items()}
        leaders, runner, test = _compare_leaders({m: cells[(m, j)] for m in g.methods}, means)
        for m in g.methods:
            s = stats_[m]
            if s.n > 1:
                single_seed = False
            text = _mean_std(s.mean, s.std) if s.n else DASH
            if col is None and m in partial_methods and s.n:
                text += " *"
            rows[m].append(Cell(text, bold=m in leaders and len(means) > 1))
            summary_rows.append(
                {
                    "task": g.task, "model": g.model, "setting": g.setting, "train": g.train,
                    "source_language": g.source, "k": g.k_label, "target_k": g.target_k, "method": m, "column": header,
                    "language": col.language if col else "avg", "eval_set": col.key[1] if col else "",
                    "n_seeds": s.n, "mean": s.mean, "std": s.std, "ci95_low": s.ci_low, "ci95_high": s.ci_high,
                }
            )  # fmt: skip
        if test is not None and not (test.p_value < ALPHA):
            n_marks += 1
            mark = f"{DAGGER}{n_marks}"
            rows[leaders[0]][j + 1].mark = mark
            if test.n == 0:
                notes.append(f"{mark} {header}: {leaders[0]} vs {runner}, no seeds in common (untested)")
                continue
            if 2.0 / 2**test.n >= ALPHA:
                underpowered.append(test.n)
            notes.append(
                f"{mark} {header}: {leaders[0]} vs {runner}, "
                f"Δ = {100 * test.delta:+.1f}, p = {_p(test.p_value)}, n = {test.n}"
            )
    setting = f"setting {g.setting}, " if g.setting else ""
    target = f", then K = {g.target_k} target-language shots" if g.target_k else ""
    caption = (
        f"{g.task.upper()}, model {_short_model(g.model)}, {setting}trained on {g.train} (source language {g.source}), "
        f"K = {g.k_label}{target}: {g.metric} ×100, mean ± std over seeds ({len(seeds_all)} seed(s): "
        f"{', '.join(f'{s:g}' for s in seeds_all)})"
    )
    table_notes = [f"Bold: best mean per column. {DAGGER}: the lead over the runner-up is not significant "
                   f"(two-sided sign-flip permutation test on the paired per-seed scores, p ≥ {ALPHA}); "
                   "a bold value without the mark leads significantly."]  # fmt: skip
    if single_seed:
        table_notes.append(
            f"One seed per cell: no standard deviation ({DASH}); with a single pair of seeds the sign-flip test "
            f"cannot reject (p = 1), so every lead is marked {DAGGER}."
        )
    elif underpowered:
        n_pairs = max(underpowered)
        table_notes.append(
            f"With {n_pairs} paired seed(s) the smallest attainable p is {_p(2 / 2**n_pairs)}: "
            f"no lead can reach p < {ALPHA} with fewer than 6 seeds."
        )
    if partial_methods:
        table_notes.append(
            "* average over the target languages and seeds this method has results for (some are missing)."
        )
    if g.source_column is None:
        table_notes.append(f"The study does not evaluate on the source language ({g.source}).")
    if notes:
        table_notes.append("Not significant (Δ in points, n paired seeds): " + "; ".join(notes) + ".")
    table = Table(
        columns=["method"] + [h for h, _ in columns],
        rows=[rows[m] for m in g.methods],
        caption=caption,
        notes=table_notes,
        numeric=[False] + [True] * len(columns),
    )
    return table, summary_rows


# --------------------------------------------------------------------------- learning curves & bars


def _learning_curves(done: pd.DataFrame, groups: list[Group], colors: dict[str, str]) -> list:
    blocks: list = []
    by_setting: dict[str, list[Group]] = {}
    for g in groups:
        by_setting.setdefault(g.setting_label(), []).append(g)
    for label, gs in by_setting.items():
        numeric = [g for g in gs if not math.isnan(g.k_num)]
        if len(numeric) < 2:
            ks = ", ".join(g.k_label for g in numeric) or "none"
            rest = " (runs with all training data, K = all, are not on a curve)" if len(numeric) < len(gs) else ""
            blocks.append(Paragraph(f"{label}: only one K (K = {ks}){rest}, so there is no learning curve.", note=True))
            continue
        series: dict[str, list[tuple[float, float, float, float]]] = {}
        for g in numeric:
            for m in g.methods:
                avg, _ = g.seed_average(m, g.targets)
                if avg:
                    s = summarize(list(avg.values()))
                    series.setdefault(m, []).append((g.k_num, 100 * s.mean, 100 * s.ci_low, 100 * s.ci_high))
        if not series:
            blocks.append(Paragraph(f"{label}: no target-language results to draw a learning curve.", note=True))
            continue
        series = {m: series[m] for m in _method_order(series)}
        metric = numeric[0].metric
        png = figs.learning_curve(series, colors, f"{label}: mean over target languages", f"{metric} ×100")
        caption = (f"Learning curve, {label}: {metric} averaged over the target languages, vs K; "
                   "shaded: 95% t-interval over seeds (none with one seed).")  # fmt: skip
        blocks.append(Figure(gs[0].slug("curve", with_k=False), png, caption))
        skipped = [g.k_label for g in gs if math.isnan(g.k_num)]
        if skipped:
            blocks.append(
                Paragraph(f"{label}: runs with all training data (K = all) are left out of the curve.", note=True)
            )
    return blocks


def _language_bars(g: Group, colors: dict[str, str]) -> list:
    low = [c for c in g.targets if c.low_resource]
    if not low:
        return [Paragraph(f"{g.title()}: no low-resource target languages.", note=True)]
    means = {m: {} for m in g.methods}
    errs = {m: {} for m in g.methods}
    for m in g.methods:
        for c in low:
            s = g.summary(m, c)
            if s.n:
                means[m][c.header] = 100 * s.mean
                errs[m][c.header] = 100 * s.std
    png = figs.png(figs.language_bars(
        [c.header for c in low], means, errs, colors, f"Low-resource languages: {g.title()}", f"{g.metric} ×100"
    ))
    caption = f"Low-resource target languages, {g.title()}: mean {g.metric} over seeds; error bars: ± 1 std over seeds."
    return [Figure(g.slug("bars"), png, caption)]


# --------------------------------------------------------------------------- transfer analysis


@dataclass
class TransferResult:
    gaps: dict[str, dict[str, float]]  # method -> column header -> gap (source - target, 0..1 scale)
    gains: dict[str, dict[str, float]]  # method -> column header -> score(method) - score(baseline)
    predictors: dict[str, dict[str, float]]  # column header -> predictor -> value
    reference: dict[str, str]  # method -> how the source score was obtained
    correlations: dict[tuple[str, str, str], Correlation]  # (quantity, method, predictor)
    notes: list[str]


def transfer_analysis(g: Group, done: pd.DataFrame, distance_fn=None) -> TransferResult:
    """Gap to the source language per target language, and its Spearman correlation with URIEL
    distances from the source and with the tokenizer's fertility, per method.

    ``distance_fn(source, [targets]) -> {target: {kind: distance}}`` defaults to URIEL's.
    """
    if distance_fn is None:
        from xshot.reporting.uriel import distances as distance_fn
    targets = g.targets
    notes: list[str] = []
    # Source-language reference score per method.
    ref: dict[str, float] = {}
    how: dict[str, str] = {}
    src_col = g.source_column
    for m in g.methods:
        if src_col is not None and g.seed_scores(m, src_col):
            ref[m] = g.summary(m, src_col).mean
            how[m] = "source-language evaluation"
            continue
        other = done[
            (done["task"] == g.task) & (done["model"] == g.model) & (done["train"] == g.train)
            & (done["setting"] == g.setting) & (done["target_k_label"] == g.target_k)
            & (done["method"] == m) & (done["lang_iso"] == done["src_iso"])
        ]  # fmt: skip
        if len(other):
            ks = other["k_num"].fillna(np.inf)
            target_k = g.k_num if not math.isnan(g.k_num) else np.inf
            nearest = ks.iloc[int(np.argmin(np.abs(ks.to_numpy() - target_k)))]
            sel = other[ks == nearest]
            ref[m] = float(sel.groupby("seed")["score"].mean().mean())
            how[m] = f"proxy: source-language evaluation at K = {sel['k_label'].iloc[0]}"
            continue
        tmeans = [g.summary(m, c).mean for c in targets]
        tmeans = [t for t in tmeans if not math.isnan(t)]
        if tmeans:
            ref[m] = max(tmeans)
            how[m] = "proxy: best target language (no source-language evaluation)"
    if any(v.startswith("proxy") for v in how.values()):
        notes.append(
            f"No source-language ({g.source}) evaluation for some methods in this setting; their gap is measured "
            "to a proxy (see the reference column). A per-method constant reference shifts the gaps but leaves "
            "the Spearman correlations unchanged."
        )
    gaps = {m: {} for m in g.methods}
    for m in g.methods:
        for c in targets:
            s = g.summary(m, c)
            if s.n and m in ref:
                gaps[m][c.header] = ref[m] - s.mean
    baseline = BASELINE_METHOD if BASELINE_METHOD in g.methods else None
    gains: dict[str, dict[str, float]] = {}
    if baseline:
        for m in g.methods:
            if m == baseline:
                continue
            gains[m] = {}
            for c in targets:
                a, b = g.summary(m, c), g.summary(baseline, c)
                if a.n and b.n:
                    gains[m][c.header] = a.mean - b.mean
    # Predictors: URIEL distances from the source, and fertility of this model's tokenizer.
    langs = list(dict.fromkeys(c.language for c in targets))
    dist = distance_fn(g.source, langs) if langs else {}
    unknown = sorted(
        {lang for lang in langs if all(math.isnan(v) for v in dist.get(lang, {}).values()) or lang not in dist}
    )
    if unknown:
        notes.append(f"Not in URIEL (no distances): {', '.join(unknown)}.")
    fert = g.rows.groupby(["language", "eval_set"])["fertility"].median()
    predictors: dict[str, dict[str, float]] = {}
    for c in targets:
        row = {k: float(dist.get(c.language, {}).get(k, math.nan)) for k in PREDICTORS if k != "fertility"}
        row["fertility"] = float(fert.get(c.key, math.nan))
        predictors[c.header] = row
    correlations: dict[tuple[str, str, str], Correlation] = {}
    headers = [c.header for c in targets]
    for quantity, table in (("gap", gaps), (f"gain over {baseline}", gains)):
        for m, vals in table.items():
            y = [vals.get(h, math.nan) for h in headers]
            for p in PREDICTORS:
                x = [predictors[h][p] for h in headers]
                correlations[(quantity, m, p)] = spearman(x, y)
    return TransferResult(gaps, gains, predictors, how, correlations, notes)


def _transfer_blocks(g: Group, done: pd.DataFrame, colors: dict[str, str], distance_fn=None) -> list:
    targets = g.targets
    if not targets:
        return [Paragraph(f"{g.title()}: no target languages.", note=True)]
    tr = transfer_analysis(g, done, distance_fn)
    blocks: list = []
    cols = ["target", "low-resource"] + [f"{p} dist." if p != "fertility" else "fertility" for p in PREDICTORS]
    cols += [f"gap {m}" for m in g.methods]
    rows = []
    for c in targets:
        pr = tr.predictors[c.header]
        row = [Cell(c.header), Cell("yes" if c.low_resource else "no")]
        row += [Cell(_num(pr[p], 3 if p != "fertility" else 2)) for p in PREDICTORS]
        row += [Cell(_pct(tr.gaps[m].get(c.header, math.nan))) for m in g.methods]
        rows.append(row)
    ref_note = "; ".join(f"{m}: {tr.reference.get(m, 'none')}" for m in g.methods)
    blocks.append(
        Table(
            columns=cols,
            rows=rows,
            caption=f"Transfer gap by target language, {g.title()}: "
            f"gap = source score − target score ({g.metric} ×100)",
            notes=[
                f"Source reference per method: {ref_note}.",
                "Distances from the source language (URIEL via lang2vec, 0 = identical, 1 = maximally distant); "
                "fertility: subwords per word of the model's tokenizer on the evaluation set.",
            ]
            + tr.notes,  # fmt: skip
            numeric=[False, False] + [True] * (len(cols) - 2),
        )
    )
    crow = []
    quantities = ["gap"] + ([f"gain over {BASELINE_METHOD}"] if tr.gains else [])
    for q in quantities:
        for m in g.methods:
            if (q, m, PREDICTORS[0]) not in tr.correlations:
                continue
            crow.append([Cell(q), Cell(m)] + [Cell(_rho(tr.correlations[(q, m, p)])) for p in PREDICTORS])
    blocks.append(
        Table(
            columns=["quantity", "method"] + [f"ρ {p}" for p in PREDICTORS],
            rows=crow,
            caption=f"Spearman correlations over target languages, {g.title()}",
            notes=[
                "ρ > 0 for the gap: transfer degrades with distance (or fertility). "
                f"ρ for the gain over {BASELINE_METHOD}: does the method help more on distant languages "
                "(Park et al., 2023)? "
                "p: exact two-sided permutation p-value (up to 8 languages). "
                "n/a (n<3): fewer than 3 languages with values; n/a (constant): a variable does not vary."
            ],  # fmt: skip
            numeric=[False, False] + [True] * len(PREDICTORS),
        )
    )
    panels = []
    for p in PREDICTORS:
        pts = []
        for m in g.methods:
            for c in targets:
                pts.append((m, c.header, tr.predictors[c.header][p], 100 * tr.gaps[m].get(c.header, math.nan)))
        panels.append((f"{p} distance" if p != "fertility" else "fertility (subwords/word)", pts))
    png = figs.transfer_scatter(panels, colors, f"Transfer gap vs distance: {g.title()}", f"gap ({g.metric} ×100)")
    blocks.append(
        Figure(
            g.slug("transfer"),
            png,
            f"Transfer gap (source − target) against URIEL distances from {g.source} "
            f"and tokenizer fertility, {g.title()}.",
        )
    )
    return blocks


# --------------------------------------------------------------------------- cost & failures


def cost_table(done: pd.DataFrame) -> Table:
    """Per (task, model, method): medians over cells of trainable parameters, time and memory."""
    per_cell = done.groupby("cell", sort=False).agg(
        task=("task", "first"), model=("model", "first"), method=("method", "first"),
        trainable=("trainable_params", "median"), total=("total_params", "median"),
        train_s=("train_s", "median"), mem=("peak_memory_mb", "median"),
    )  # fmt: skip
    eval_rows = done.groupby(["task", "model", "method"])["eval_s"].median()
    order = {m: i for i, m in enumerate(_method_order(per_cell["method"]))}
    rows = []
    grouped = sorted(
        per_cell.groupby(["task", "model", "method"]), key=lambda kv: (kv[0][0], kv[0][1], order[kv[0][2]])
    )
    for (task, model, method), cells in grouped:
        trainable, total = cells["trainable"].median(), cells["total"].median()
        share = (
            f"{100 * trainable / total:.3g}%" if total and not math.isnan(total) and not math.isnan(trainable) else DASH
        )
        rows.append([
            Cell(task.upper()), Cell(_short_model(model)), Cell(method), Cell(str(len(cells))),
            Cell(_count(trainable)), Cell(share), Cell(_num(cells["train_s"].median())),
            Cell(_num(float(eval_rows.get((task, model, method), math.nan)))), Cell(_num(cells["mem"].median(), 0)),
        ])  # fmt: skip
    return Table(
        columns=[
            "task",
            "model",
            "method",
            "cells",
            "trainable params",
            "trainable %",
            "train s",
            "eval s (per eval set)",
            "peak memory MB",
        ],
        rows=rows,
        caption="Cost per method: medians over completed cells",
        notes=["Evaluation time is the median over (cell, evaluation set) rows."],
        numeric=[False, False, False, True, True, True, True, True, True],
    )


def failures_table(failed: pd.DataFrame) -> Table | Paragraph:
    if failed.empty:
        return Paragraph("No failed cells.")
    per_cell = failed.drop_duplicates("cell")
    rows = []
    for r in per_cell.sort_values(["task", "model", "method", "k_num", "seed"], na_position="last").itertuples(
        index=False
    ):
        err = "" if pd.isna(r.error) else str(r.error).strip()
        err = err.splitlines()[-1] if err.count("\n") > 5 else err  # a traceback: keep the last line
        if len(err) > 500:
            err = err[:500] + "…"
        seed = "" if pd.isna(r.seed) else f"{r.seed:g}"
        rows.append(
            [
                Cell(r.cell),
                Cell(r.task.upper()),
                Cell(_short_model(r.model)),
                Cell(r.method),
                Cell(r.train),
                Cell(r.k_label),
                Cell(seed),
                Cell(err),
            ]
        )
    return Table(
        columns=["cell", "task", "model", "method", "train", "K", "seed", "error"],
        rows=rows,
        caption=f"Failed cells ({len(rows)})",
        css_class="failures",
    )


# --------------------------------------------------------------------------- entry point


def build_report(
    df: pd.DataFrame,
    out_dir: str | Path,
    study: Any = None,
    *,
    high_resource: Iterable[str] | None = None,
    title: str | None = None,
    distance_fn=None,
) -> Path:
    """Write report.md, report.html (self-contained), figures/*.png, results.csv and summary.csv
    to ``out_dir``; return the path of report.html.

    ``study``: a study YAML file (validated with ``xshot.studies.spec.load_study``), a loaded
    Study, a mapping with ``name``, or a study name. Rows are restricted to that study, and for a
    study file the report says how much of its grid the results cover.
    ``high_resource``: ISO codes of the high-resource languages (default
    :data:`xshot.reporting.languages.HIGH_RESOURCE_LANGUAGES`); every other language is
    low-resource. ``distance_fn(source, targets) -> {target: {kind: d}}`` replaces the URIEL
    distances (tests).
    """
    study_name, spec = load_study(study)
    d = _prepare(df)
    filter_study = study_name is not None and "study" in df.columns
    if filter_study:
        known = sorted(str(s) for s in d["study"].dropna().unique())
        d = d[d["study"].astype(str) == study_name]
        if d.empty:
            raise XshotError(
                f"no results for study {study_name!r} (studies in the results: {', '.join(known) or 'none'})"
            )
    high = high_resource_set(high_resource)
    title = title or (f"Study report: {study_name}" if study_name else "xshot study report")

    done_mask = (d["status"] == "done") & d["score"].notna() & (d["eval_set"] != "")
    done = d[done_mask]
    failed = d[d["status"] != "done"]
    n_incomplete = int(((d["status"] == "done") & ~done_mask).sum())

    groups = _groups(done, high)
    colors = figs.method_colors(_method_order(done["method"]))
    doc = Document(title=title)
    studies = sorted(str(s) for s in d["study"].dropna().unique())
    doc.intro.append(
        Paragraph(
            f"{d['cell'].nunique()} cell(s): {done['cell'].nunique()} completed, {failed['cell'].nunique()} failed"
            + (f", in study {', '.join(studies)}" if studies else "")
            + f". Tasks: {', '.join(sorted(done['task'].unique())) or 'none'}; "
            + f"methods: {', '.join(_method_order(done['method'])) or 'none'}."
        )
    )
    doc.intro.append(
        Paragraph(
            "Low-resource languages: every language outside the high-resource list ("
            + ", ".join(sorted(high))
            + "). Scores are the primary metric (accuracy for NLI, F1 for NER) ×100."
        )
    )
    plan = _plan_note(spec, d) if spec is not None else None
    if plan is not None:
        doc.intro.append(plan)
    if n_incomplete:
        doc.intro.append(
            Paragraph(f"{n_incomplete} completed row(s) without a score or evaluation set were ignored.", note=True)
        )
    if done.empty:
        doc.intro.append(Paragraph("No completed cells: there is nothing to tabulate yet.", note=True))

    summary_rows: list[dict[str, Any]] = []
    main = Section("Main results", anchor="main")
    for g in groups:
        table, srows = main_table(g)
        main.blocks.append(table)
        summary_rows += srows
    curves = Section("Learning curves", _learning_curves(done, groups, colors), anchor="curves")
    bars = Section(
        "Low-resource languages", [b for g in groups for b in _language_bars(g, colors)], anchor="low-resource"
    )
    transfer = Section("Transfer analysis", anchor="transfer")
    transfer.blocks.append(
        Paragraph(
            "Why does transfer work better for some languages? For each target language, the gap to the source "
            "language is set against the URIEL distance from the source (syntactic and phonological: cosine "
            "distance of the kNN-filled feature vectors; genetic: share of Glottolog family nodes not shared; "
            "geographic: great-circle distance / half the "
            "earth's circumference) and against the tokenizer's fertility, with Spearman's ρ per method."
        )
    )
    for g in groups:
        transfer.blocks += _transfer_blocks(g, done, colors, distance_fn)
    cost = Section("Cost", [cost_table(done)] if not done.empty else [Paragraph("No completed cells.")], anchor="cost")
    fails = Section("Failed cells", [failures_table(failed)], anchor="failed")
    doc.sections = [main, curves, bars, transfer, cost, fails]
    for section in doc.sections[:-1]:  # the failures section always says something
        if not any(isinstance(b, (Table, Figure)) or b.note for b in section.blocks):
            section.blocks.append(
                Paragraph("No completed cells to show.", note=True) if done.empty else Paragraph("Nothing to show.")
            )
    results = df[df["study"].astype(str) == study_name] if filter_study else df
    return _write(doc, Path(out_dir), results, summary_rows)


def _write(doc: Document, out: Path, results: pd.DataFrame, summary_rows: list[dict[str, Any]]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    fig_dir = out / "figures"
    written = set()
    names: dict[str, int] = {}
    for fig in doc.figures():
        base = fig.filename
        names[base] = names.get(base, 0) + 1
        if names[base] > 1:  # two settings that slug alike
            fig.filename = base[: -len(".png")] + f"-{names[base]}.png"
        with atomic_open(out / fig.filename, "wb") as f:
            f.write(fig.png)
        written.add((out / fig.filename).resolve())
    if fig_dir.is_dir():  # drop figures of an earlier report in the same directory
        for stale in fig_dir.glob("*.png"):
            if stale.resolve() not in written:
                stale.unlink()
    with atomic_open(out / "report.md") as f:
        f.write(to_markdown(doc))
    with atomic_open(out / "report.html") as f:
        f.write(to_html(doc))
    with atomic_open(out / "results.csv") as f:
        results.to_csv(f, index=False)
    with atomic_open(out / "summary.csv") as f:
        pd.DataFrame(summary_rows).to_csv(f, index=False)
    # atomic_open's temporary files are private (0600); a report is meant to be shared.
    for path in [*written, *(out / n for n in ("report.md", "report.html", "results.csv", "summary.csv"))]:
        Path(path).chmod(0o644)
    return out / "report.html"
