"""Evaluation metrics and bootstrap confidence intervals of one evaluation.

Everything here is built on *per-example count vectors*: for NER, each sentence
contributes true positives, predicted entities and gold entities per entity type
(numpy arrays of shape ``[n_sentences, n_types]``); for NLI, each example contributes
one-hot true-positive / predicted / gold vectors over the label set.  All metrics are
functions of the *sums* of these vectors, so a bootstrap resample or a permutation is
a matrix product (``multiplicities @ counts``) rather than a fresh pass over the data:
there are no per-resample seqeval calls.

NER scores are identical to seqeval's default (conlleval-compatible) mode.  Entities
are extracted with :func:`seqeval.metrics.sequence_labeling.get_entities` one sentence
at a time; seqeval itself flattens the corpus with an ``'O'`` between sentences, which
closes every open chunk, so summing per-sentence counts gives exactly seqeval's corpus
counts (verified by ``tests/unit/test_metrics.py``).  Invalid *sequences* (``I-`` without
``B-``, ``B-PER I-LOC``, trailing ``I-``) are therefore handled exactly as seqeval
handles them.  Malformed *tags* (anything seqeval would warn about: not ``O`` and not
``B``/``I``/``E``/``S`` optionally followed by ``-TYPE``) raise :class:`XshotError`; for
those seqeval's corpus result can depend on sentence order, so no per-sentence
decomposition could match it.

NLI macro-F1 is averaged over the labels that occur in the *gold* data, i.e. it equals
``sklearn.metrics.f1_score(gold, pred, labels=sorted(set(gold)), average="macro")``
(zero_division=0).  A predicted label that never occurs in the gold data counts as a
wrong prediction but does not add a class of its own to the average.  In a bootstrap
resample, the average is over the gold labels present in that resample (i.e. the
resample is scored exactly as :func:`nli_scores` would score it).

The bootstrap resamples one evaluation's test items (seeded with ``numpy.random.default_rng(seed)``).
Comparisons of methods are made over seeds, the unit a study randomises: :mod:`xshot.statistics`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from seqeval.metrics.sequence_labeling import get_entities

from xshot.errors import XshotError

__all__ = [
    "NERCounts",
    "NLICounts",
    "ner_counts",
    "nli_counts",
    "ner_scores",
    "nli_scores",
    "resample_indices",
    "bootstrap_distribution",
    "bootstrap_ci",
    "METRICS",
    "PRIMARY_METRIC",
]

METRICS: dict[str, tuple[str, ...]] = {
    "nli": ("accuracy", "macro_f1"),
    "ner": ("precision", "recall", "f1"),
}
PRIMARY_METRIC: dict[str, str] = {"nli": "accuracy", "ner": "f1"}


def primary_metric(task: str) -> str:
    """The metric a task's tables, tests and summaries use (the one definition of it)."""
    _check_task(task)
    return PRIMARY_METRIC[task]

# Upper bound on the number of elements of one [resamples, examples] block.
_BLOCK_ELEMENTS = 2_000_000


# --------------------------------------------------------------------------- counts

_BARE_TAGS = frozenset({"O", "B", "I", "E", "S"})
_PREFIXES = ("B-", "I-", "E-", "S-")


def _check_tag(tag: Any, side: str, sent: int, tok: int) -> None:
    if not isinstance(tag, str) or not (tag in _BARE_TAGS or tag.startswith(_PREFIXES)):
        raise XshotError(
            f"{side} sentence {sent}, token {tok}: {tag!r} is not an IOB2 tag "
            "(expected 'O' or 'B-TYPE' / 'I-TYPE')"
        )


@dataclass(frozen=True)
class _CountTable:
    """Per-example counts ``tp``, ``pred``, ``gold`` of shape ``[n, n_classes]``; scores are column sums."""

    tp: np.ndarray
    pred: np.ndarray
    gold: np.ndarray

    def __len__(self) -> int:
        return int(self.tp.shape[0])

    def matrix(self) -> np.ndarray:
        """``[n, 3 * n_classes]`` float matrix ``[tp | pred | gold]`` (the layout the metrics expect)."""
        return np.concatenate([self.tp, self.pred, self.gold], axis=1).astype(np.float64)


@dataclass(frozen=True)
class NERCounts(_CountTable):
    """Per-sentence entity counts: ``tp``, ``pred``, ``gold`` have shape ``[n_sentences, n_types]``.

    ``types`` is sorted (seqeval's order) and is the union of gold and predicted types.
    """

    types: tuple[str, ...]

    def scores(self) -> dict[str, Any]:
        """Corpus scores (same dictionary as :func:`ner_scores`)."""
        tp, pred, gold = self.tp.sum(0), self.pred.sum(0), self.gold.sum(0)
        p, r, f = _prf(tp, pred, gold)
        mp, mr, mf = _prf(tp.sum(), pred.sum(), gold.sum())
        per_type = {
            t: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(gold[i]),
            }
            for i, t in enumerate(self.types)
        }
        return {"precision": float(mp), "recall": float(mr), "f1": float(mf), "per_type": per_type}


def ner_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> NERCounts:
    """Per-sentence true-positive / predicted / gold entity counts per type.

    Entities are seqeval's (default mode); sums over sentences equal seqeval's corpus counts.
    """
    if len(gold) != len(pred):
        raise XshotError(f"NER evaluation: {len(gold)} gold sentences but {len(pred)} predicted")
    if len(gold) == 0:
        raise XshotError("NER evaluation: no sentences")
    type_index: dict[str, int] = {}
    cells: dict[str, list[tuple[int, str]]] = {"tp": [], "pred": [], "gold": []}
    for i, (g, p) in enumerate(zip(gold, pred)):
        if isinstance(g, str) or isinstance(p, str):
            raise XshotError(f"NER evaluation: sentence {i} is a string, expected a list of tags")
        g, p = list(g), list(p)
        if len(g) != len(p):
            raise XshotError(
                f"NER evaluation: sentence {i} has {len(g)} gold tags but {len(p)} predicted"
            )
        for j, tag in enumerate(g):
            _check_tag(tag, "gold", i, j)
        for j, tag in enumerate(p):
            _check_tag(tag, "predicted", i, j)
        g_ents = set(get_entities(g))
        p_ents = set(get_entities(p))
        for key, ents in (("gold", g_ents), ("pred", p_ents), ("tp", g_ents & p_ents)):
            for t, _, _ in ents:
                type_index.setdefault(t, len(type_index))
                cells[key].append((i, t))
    types = tuple(sorted(type_index))
    col = {t: k for k, t in enumerate(types)}
    n, n_types = len(gold), len(types)
    arrays = {}
    for key, items in cells.items():
        flat = np.fromiter(
            (i * n_types + col[t] for i, t in items), dtype=np.int64, count=len(items)
        )
        arrays[key] = np.bincount(flat, minlength=n * n_types).reshape(n, n_types).astype(np.int64)
    return NERCounts(types=types, tp=arrays["tp"], pred=arrays["pred"], gold=arrays["gold"])


@dataclass(frozen=True)
class NLICounts(_CountTable):
    """Per-example one-hot ``tp``, ``pred``, ``gold`` of shape ``[n_examples, n_labels]``.

    ``labels`` is the union of gold and predicted labels; only gold labels enter macro-F1.
    """

    labels: tuple[Any, ...]

    def scores(self) -> dict[str, float]:
        values = _nli_metrics(self.matrix().sum(0), len(self.labels))
        return {m: float(values[m]) for m in METRICS["nli"]}


def _sort_labels(labels: set) -> list:
    try:
        return sorted(labels)
    except TypeError:  # mixed types: any deterministic order will do
        return sorted(labels, key=repr)


def nli_counts(gold: Sequence[Any], pred: Sequence[Any]) -> NLICounts:
    """Per-example one-hot counts for classification metrics."""
    gold, pred = list(gold), list(pred)
    if len(gold) != len(pred):
        raise XshotError(f"NLI evaluation: {len(gold)} gold labels but {len(pred)} predicted")
    if len(gold) == 0:
        raise XshotError("NLI evaluation: no examples")
    labels = _sort_labels(set(gold) | set(pred))
    index = {label: k for k, label in enumerate(labels)}
    gi = np.fromiter((index[x] for x in gold), dtype=np.int64, count=len(gold))
    pi = np.fromiter((index[x] for x in pred), dtype=np.int64, count=len(pred))
    eye = np.eye(len(labels), dtype=np.int64)
    g, p = eye[gi], eye[pi]
    return NLICounts(labels=tuple(labels), tp=g * (gi == pi)[:, None], pred=p, gold=g)


# --------------------------------------------------------------------------- metrics on sums


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def _prf(tp, pred, gold) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 exactly as seqeval computes them (0 on zero division)."""
    p = _div(tp, pred)
    r = _div(tp, gold)
    denom = p + r
    f = _div(2.0 * p * r, denom)
    return p, r, f


def _ner_metrics(sums: np.ndarray, n_types: int) -> dict[str, np.ndarray]:
    """Micro P/R/F1 from summed ``[..., 3 * n_types]`` counts."""
    tp = sums[..., :n_types].sum(-1)
    pred = sums[..., n_types : 2 * n_types].sum(-1)
    gold = sums[..., 2 * n_types :].sum(-1)
    p, r, f = _prf(tp, pred, gold)
    return {"precision": p, "recall": r, "f1": f}


def _nli_metrics(sums: np.ndarray, n_labels: int) -> dict[str, np.ndarray]:
    """Accuracy and macro-F1 (over labels with gold support) from summed counts."""
    tp = sums[..., :n_labels]
    pred = sums[..., n_labels : 2 * n_labels]
    gold = sums[..., 2 * n_labels :]
    accuracy = _div(tp.sum(-1), gold.sum(-1))
    f1 = _div(2.0 * tp, pred + gold)  # = 2PR / (P + R), and 0 when tp == 0
    present = gold > 0
    macro_f1 = _div((f1 * present).sum(-1), present.sum(-1))
    return {"accuracy": accuracy, "macro_f1": macro_f1}


def ner_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Micro precision/recall/F1 and per-type scores, identical to seqeval's default mode.

    Returns ``{"precision", "recall", "f1", "per_type": {T: {precision, recall, f1, support}}}``.
    """
    return ner_counts(gold, pred).scores()


def nli_scores(gold: Sequence[Any], pred: Sequence[Any]) -> dict[str, float]:
    """``{"accuracy", "macro_f1"}``; macro-F1 over the gold label set (see module docstring)."""
    return nli_counts(gold, pred).scores()


# --------------------------------------------------------------------------- resampling machinery


def _check_task(task: str, metric: str | None = None) -> None:
    if task not in METRICS:
        raise XshotError(f"unknown task {task!r}: expected one of {sorted(METRICS)}")
    if metric is not None and metric not in METRICS[task]:
        raise XshotError(f"unknown {task} metric {metric!r}: expected one of {list(METRICS[task])}")


@dataclass
class _Problem:
    """Per-example ``[n, 3k]`` count matrix ``[tp | pred | gold]`` and its metric function."""

    task: str
    k: int
    matrix: np.ndarray

    @property
    def n(self) -> int:
        return int(self.matrix.shape[0])

    def metrics(self, sums: np.ndarray) -> dict[str, np.ndarray]:
        if self.task == "ner":
            return _ner_metrics(sums, self.k)
        return _nli_metrics(sums, self.k)


def _counts(task: str, gold, pred) -> NERCounts | NLICounts:
    return ner_counts(gold, pred) if task == "ner" else nli_counts(gold, pred)


def _keys(counts: NERCounts | NLICounts) -> tuple:
    return counts.types if isinstance(counts, NERCounts) else counts.labels


def _problem(task: str, gold, pred) -> _Problem:
    _check_task(task)
    counts = _counts(task, gold, pred)
    return _Problem(task, len(_keys(counts)), counts.matrix())


def _block_size(n: int, n_resamples: int) -> int:
    return max(1, min(n_resamples, _BLOCK_ELEMENTS // max(n, 1)))


def _index_blocks(rng: np.random.Generator, n: int, n_resamples: int) -> Iterator[np.ndarray]:
    block = _block_size(n, n_resamples)
    done = 0
    while done < n_resamples:
        size = min(block, n_resamples - done)
        yield rng.integers(0, n, size=(size, n))
        done += size


def _multiplicities(idx: np.ndarray, n: int) -> np.ndarray:
    """``[R, n]`` how often each example occurs in each resample."""
    rows = idx.shape[0]
    flat = (idx + (np.arange(rows, dtype=np.int64) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64)


def _check_resamples(n_resamples: int) -> None:
    if int(n_resamples) < 1:
        raise XshotError(f"n_resamples must be at least 1, got {n_resamples}")


def resample_indices(n: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """The ``[n_resamples, n]`` example indices that the bootstrap functions draw for ``seed``.

    Exposed for testing and for reference implementations; memory is ``8 * n * n_resamples`` bytes.
    """
    _check_resamples(n_resamples)
    rng = np.random.default_rng(seed)
    return np.concatenate(list(_index_blocks(rng, n, n_resamples)), axis=0)


def bootstrap_distribution(
    task: str, gold, pred, n_resamples: int = 1000, seed: int = 0
) -> dict[str, np.ndarray]:
    """Each metric on each of ``n_resamples`` bootstrap resamples (examples drawn with replacement).

    Resample ``r`` uses row ``r`` of :func:`resample_indices` ``(len(gold), n_resamples, seed)``.
    """
    _check_resamples(n_resamples)
    prob = _problem(task, gold, pred)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {m: [] for m in METRICS[task]}
    for idx in _index_blocks(rng, prob.n, n_resamples):
        values = prob.metrics(_multiplicities(idx, prob.n) @ prob.matrix)
        for m in parts:
            parts[m].append(values[m])
    return {m: np.concatenate(v) for m, v in parts.items()}


def _percentile_interval(samples: np.ndarray, alpha: float) -> tuple[float, float]:
    lo, hi = np.quantile(samples, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise XshotError(f"alpha must be in (0, 1), got {alpha}")


def bootstrap_ci(
    task: str, gold, pred, n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap ``(1 - alpha)`` intervals: ``{metric: (low, high)}``.

    NLI: accuracy, macro_f1; NER: precision, recall, f1 (NER resamples whole sentences).
    """
    _check_alpha(alpha)
    dist = bootstrap_distribution(task, gold, pred, n_resamples=n_resamples, seed=seed)
    return {m: _percentile_interval(v, alpha) for m, v in dist.items()}
