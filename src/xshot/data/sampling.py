"""Seeded few-shot samples and evaluation subsets.

Every function takes its own ``random.Random(seed)``, so a sample depends only on the data,
K and the seed, never on what else ran in the process. Outputs keep the dataset's order.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable

from xshot.data.examples import Dataset, NERExample, NLIExample
from xshot.data.tags import count_mentions
from xshot.errors import XshotError


def _subset(dataset: Dataset, indices: Iterable[int], **meta: object) -> Dataset:
    examples = [dataset.examples[i] for i in sorted(indices)]
    return Dataset(dataset.task, examples, dataset.name, dataset.language, dataset.labels, {**dataset.meta, **meta})


def _require_labels(dataset: Dataset) -> None:
    unlabelled = sum(ex.label is None if isinstance(ex, NLIExample) else ex.tags is None for ex in dataset.examples)
    if unlabelled:
        raise XshotError(f"{dataset.name}: cannot sample from {unlabelled} unlabelled examples")


def _per_class(dataset: Dataset, k: int, rng: random.Random) -> tuple[list[int], dict[str, int]]:
    """Exactly K examples of every class."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(dataset.examples):
        by_label[ex.label].append(i)
    chosen: list[int] = []
    for label in dataset.labels:
        pool = by_label[label]
        if len(pool) < k:
            raise XshotError(f"{dataset.name}: only {len(pool)} {label} examples, fewer than k={k}")
        chosen += rng.sample(pool, k)
    return chosen, {label: k for label in dataset.labels}


def _greedy_mentions(dataset: Dataset, k: int, rng: random.Random) -> tuple[list[int], dict[str, int]]:
    """Greedy sampling of Yang & Katiyar (2020): at least K mentions of every type, no redundant sentence.

    Sentences are visited in seeded random order and kept only if they mention a type that still
    has fewer than K; then every kept sentence whose removal leaves all types at K or more goes.
    """
    mentions: list[Counter[str]] = [count_mentions([ex.tags]) for ex in dataset.examples]
    counts: Counter[str] = Counter()
    chosen: list[int] = []
    order = list(range(len(dataset)))
    rng.shuffle(order)
    for i in order:
        if all(counts[t] >= k for t in dataset.labels):
            break
        if any(counts[t] < k for t in mentions[i]):
            chosen.append(i)
            counts.update(mentions[i])
    short = [f"{counts[t]} {t}" for t in dataset.labels if counts[t] < k]
    if short:
        raise XshotError(f"{dataset.name}: only {', '.join(short)} mentions in all, fewer than k={k}")
    for i in list(chosen):
        if all(counts[t] - n >= k for t, n in mentions[i].items()):
            chosen.remove(i)
            counts.subtract(mentions[i])
    return chosen, {t: counts[t] for t in dataset.labels}


def sample_few_shot(dataset: Dataset, k: int, seed: int) -> Dataset:
    """K examples per class (NLI) or at least K mentions per entity type (NER); too few is an error.

    The counts reached are in ``meta["label_counts"]`` (NLI) or ``meta["mention_counts"]`` (NER).
    """
    if k < 1:
        raise XshotError(f"k must be at least 1, got {k}")
    if not dataset.labels:
        raise XshotError(f"{dataset.name}: no labels to sample from")
    _require_labels(dataset)
    rng = random.Random(seed)
    if dataset.task == "nli":
        chosen, counts = _per_class(dataset, k, rng)
        return _subset(dataset, chosen, k=k, seed=seed, label_counts=counts)
    chosen, counts = _greedy_mentions(dataset, k, rng)
    return _subset(dataset, chosen, k=k, seed=seed, mention_counts=counts)


def _stratum(example: NLIExample | NERExample) -> Hashable:
    return example.label if isinstance(example, NLIExample) else None


def subsample(dataset: Dataset, n: int, seed: int) -> Dataset:
    """A seeded evaluation subset of ``n`` examples, stratified by label for NLI.

    Each label gets its proportional share (largest remainders round), so accuracy on the
    subset is not skewed by an unlucky class balance. ``n >= len(dataset)`` keeps everything.
    """
    if n < 1:
        raise XshotError(f"evaluation limit must be at least 1, got {n}")
    if n >= len(dataset):
        return dataset
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, ex in enumerate(dataset.examples):
        groups[_stratum(ex)].append(i)
    total = len(dataset)
    quotas = {key: n * len(pool) // total for key, pool in groups.items()}
    by_remainder = sorted(groups, key=lambda key: -(n * len(groups[key]) % total))
    for key in by_remainder[: n - sum(quotas.values())]:
        quotas[key] += 1
    rng = random.Random(seed)
    chosen = [i for key, pool in groups.items() for i in rng.sample(pool, quotas[key])]
    return _subset(dataset, chosen, subsample=n, subsample_seed=seed)
