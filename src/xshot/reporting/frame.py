"""The report's input: a results frame (a store or an exported CSV), checked and prepared, and its groups.

A :class:`Group` is one main table: the results of one (task, model, setting, training set, K, target K),
with per-(method, evaluation set) scores by seed. Every section reads groups, so they are built once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xshot.errors import XshotError
from xshot.methods import method_names
from xshot.metrics import PRIMARY_METRIC
from xshot.reporting.document import Paragraph
from xshot.reporting.format import short_model, slug
from xshot.reporting.languages import to_iso639_3
from xshot.statistics import summarize
from xshot.studies.store import NUMERIC_COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from xshot.results import normalize_precision

#: the standard normal quantile of a 95% interval (an evaluation's item-level standard error from its interval)
Z_95 = 1.959963984540054


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


def study_of(study: Any) -> tuple[str | None, Any]:
    """(study name, validated Study or None) from a study file, a Study, a mapping or a name."""
    if study is None:
        return None, None
    if isinstance(study, Mapping):
        return (str(study["name"]) if study.get("name") is not None else None), None
    if hasattr(study, "name") and hasattr(study, "settings"):  # an xshot.studies.spec.Study
        return str(study.name), study
    path = Path(study)
    if isinstance(study, Path) or path.suffix.lower() in (".yaml", ".yml") or path.exists():
        from xshot.studies.spec import load_study

        spec = load_study(path)
        return str(spec.name), spec
    return str(study), None


@dataclass(frozen=True)
class Coverage:
    """How much of a study's grid the results hold."""

    cells: int
    done: int
    failed: int
    extra: int  # cells in the results that the current grid does not have (an edited study, or --model)

    @property
    def pending(self) -> int:
        return self.cells - self.done - self.failed


def planned_keys(spec: Any) -> dict[str, list[str]] | None:
    """Each cell of the study's grid -> the keys its results may be stored under (None when the grid cannot be
    expanded). A cell with precision: auto is stored under the precision it ran at (stores written before xshot
    resolved it: under "auto")."""
    try:
        from xshot.studies.grid import expand

        cells = expand(spec, resolve_precision=False)
    except (XshotError, ImportError, ValueError):
        return None
    return {c.key: c.stored_keys() for c in cells}


def coverage(spec: Any, d: pd.DataFrame) -> Coverage | None:
    """The study grid's cells found done / failed in ``d`` (None when the grid cannot be expanded)."""
    keys = planned_keys(spec)
    if keys is None:
        return None
    status = d.groupby("cell")["status"].agg(lambda s: "done" if (s == "done").all() else "failed")
    found = {k: next((status[x] for x in variants if x in status.index), None) for k, variants in keys.items()}
    planned = {x for variants in keys.values() for x in variants}
    return Coverage(len(keys), sum(v == "done" for v in found.values()), sum(v == "failed" for v in found.values()),
                    len(set(status.index) - planned))


def plan_note(spec: Any, d: pd.DataFrame) -> Paragraph | None:
    """How much of the study's grid the results cover (None when the grid cannot be expanded)."""
    c = coverage(spec, d)
    if c is None:
        return None
    text = f"Study plan: {c.cells} cell(s); {c.done} done, {c.failed} failed, {c.pending} not in the results yet."
    if c.extra:
        text += f" {c.extra} cell(s) in the results are not in the current plan (an edited study, or --model)."
    return Paragraph(text, note=c.pending > 0 or c.extra > 0)


def _text(col: pd.Series) -> pd.Series:
    """A column as strings, missing values as ''."""
    return col.astype(object).where(col.notna(), "").astype(str)


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise XshotError(f"expected a pandas DataFrame of results, got {type(df).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise XshotError(f"results lack required column(s): {', '.join(missing)}")
    d = df.copy()
    for c in OPTIONAL_COLUMNS:
        if c not in d.columns:
            d[c] = np.nan
    for c in NUMERIC_COLUMNS:
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
    # results at different precisions are different results: their own tables, once a study mixes them
    d["precision"] = d["precision"].map(normalize_precision)
    mixed = d.loc[d["status"] == "done", "precision"].nunique(dropna=False) > 1
    d["precision_label"] = d["precision"].fillna("unknown precision") if mixed else ""
    d["primary_metric"] = d["primary_metric"].fillna(d["task"].map(PRIMARY_METRIC)).fillna("score")
    return d


def method_order(methods: Iterable[str]) -> list[str]:
    known = {m: i for i, m in enumerate(method_names())}
    return sorted(set(methods), key=lambda m: (known.get(m, len(known)), m))


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
    precision: str  # "" unless the results mix precisions
    metric: str
    rows: pd.DataFrame
    methods: list[str]
    columns: list[Column]
    scores: dict[tuple[str, tuple[str, str]], dict[float, float]] = field(default_factory=dict)
    #: the standard error of each score from resampling its test items (its recorded 95% bootstrap interval)
    item_se: dict[tuple[str, tuple[str, str]], dict[float, float]] = field(default_factory=dict)

    @property
    def targets(self) -> list[Column]:
        return [c for c in self.columns if not c.is_source]

    @property
    def source_column(self) -> Column | None:
        return next((c for c in self.columns if c.is_source), None)

    def setting_label(self) -> str:
        """Task · model · [setting ·] training set (source) [· target K]: all but K."""
        parts = [self.task.upper(), short_model(self.model)] + ([self.setting] if self.setting else [])
        parts.append(f"{self.train} ({self.source})")
        if self.target_k:
            parts.append(f"+ target K = {self.target_k}")
        if self.precision:
            parts.append(self.precision)
        return " · ".join(parts)

    def title(self) -> str:
        return f"{self.setting_label()} · K = {self.k_label}"

    def slug(self, kind: str, with_k: bool = True) -> str:
        parts = [kind, self.task, short_model(self.model), self.setting, self.train]
        if self.target_k:
            parts.append("tk" + self.target_k)
        if self.precision:
            parts.append(self.precision)
        if with_k:
            parts.append("k" + self.k_label)
        return f"figures/{slug(*parts)}.png"

    def same_setting(self, d: pd.DataFrame) -> pd.Series:
        """The rows of ``d`` from this group's setting at any K (its key but K: task, model, setting, training
        set, target K, precision): where a source-language score at another K may be found."""
        return ((d["task"] == self.task) & (d["model"] == self.model) & (d["setting"] == self.setting)
                & (d["train"] == self.train) & (d["target_k_label"] == self.target_k)
                & (d["precision_label"] == self.precision))

    def seed_scores(self, method: str, col: Column) -> dict[float, float]:
        return self.scores.get((method, col.key), {})

    def seed_item_se(self, method: str, col: Column) -> dict[float, float]:
        return self.item_se.get((method, col.key), {})

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


def group_results(done: pd.DataFrame, high: frozenset[str]) -> list[Group]:
    out = []
    keys = ["task", "model", "setting", "train", "source_language", "k_label", "target_k_label", "precision_label"]
    for (task, model, setting, train, source, k_label, target_k, precision), rows in done.groupby(
            keys, sort=False, dropna=False):
        methods = method_order(rows["method"])
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
            k_num=float(rows["k_num"].iloc[0]), target_k=target_k, precision=precision, metric=str(rows["primary_metric"].iloc[0]),
            rows=rows, methods=methods, columns=cols,
        )  # fmt: skip
        item_se = (rows["ci_high"] - rows["ci_low"]) / (2 * Z_95)
        per_seed = rows.assign(item_se=item_se).groupby(["method", "language", "eval_set", "seed"], dropna=False)
        for (method, lang, es, seed), r in per_seed[["score", "item_se"]].mean().iterrows():
            g.scores.setdefault((method, (lang, es)), {})[seed] = float(r["score"])
            if math.isfinite(r["item_se"]):
                g.item_se.setdefault((method, (lang, es)), {})[seed] = float(r["item_se"])
        out.append(g)
    out.sort(key=lambda g: (g.task, g.model, g.setting, g.train, g.target_k, g.precision,
                            math.isnan(g.k_num), g.k_num if not math.isnan(g.k_num) else 0))  # fmt: skip
    return out
