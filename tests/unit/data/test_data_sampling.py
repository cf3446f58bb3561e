from __future__ import annotations

import random
from collections import Counter

import pytest

from xshot.data.examples import NLI_LABELS, Dataset, NERExample, NLIExample
from xshot.data.sampling import sample_few_shot, subsample
from xshot.data.tags import count_mentions, entity_types
from xshot.errors import XshotError


def nli_dataset(per_label: dict[str, int]) -> Dataset:
    examples = [NLIExample(f"p{label}{i}", f"h{i}", label) for label, n in per_label.items() for i in range(n)]
    random.Random(0).shuffle(examples)
    return Dataset("nli", examples, "toy-nli", "en", NLI_LABELS)


def ner_dataset(n: int = 300, seed: int = 0) -> Dataset:
    """Sentences with 0-3 mentions of PER/ORG/LOC (common) and DATE (rare)."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        tags: list[str] = []
        for _ in range(rng.randint(0, 3)):
            kind = rng.choices(["PER", "ORG", "LOC", "DATE"], weights=[5, 3, 3, 1])[0]
            tags += ["O", f"B-{kind}"] + [f"I-{kind}"] * rng.randint(0, 2)
        tags.append("O")
        examples.append(NERExample(tuple(f"w{i}_{j}" for j in range(len(tags))), tuple(tags)))
    return Dataset("ner", examples, "toy-ner", "yor", entity_types(ex.tags for ex in examples))


# --- NLI: exactly K per class ---------------------------------------------------------------


def test_nli_exactly_k_per_class() -> None:
    shots = sample_few_shot(nli_dataset({"entailment": 30, "neutral": 20, "contradiction": 25}), k=8, seed=3)
    assert Counter(ex.label for ex in shots) == {"entailment": 8, "neutral": 8, "contradiction": 8}
    assert shots.meta["label_counts"] == {"entailment": 8, "neutral": 8, "contradiction": 8}
    assert (shots.meta["k"], shots.meta["seed"], shots.name, shots.language) == (8, 3, "toy-nli", "en")


def test_nli_deterministic_and_seed_sensitive() -> None:
    data = nli_dataset({"entailment": 30, "neutral": 30, "contradiction": 30})
    a, b = sample_few_shot(data, 4, 1), sample_few_shot(data, 4, 1)
    assert a.examples == b.examples
    assert sample_few_shot(data, 4, 2).examples != a.examples


def test_nli_keeps_dataset_order() -> None:
    data = nli_dataset({"entailment": 10, "neutral": 10, "contradiction": 10})
    shots = sample_few_shot(data, 3, 0)
    positions = [data.examples.index(ex) for ex in shots]
    assert positions == sorted(positions)


def test_nli_ignores_global_random_state() -> None:
    data = nli_dataset({"entailment": 10, "neutral": 10, "contradiction": 10})
    random.seed(1)
    a = sample_few_shot(data, 2, 5)
    random.seed(2)
    assert sample_few_shot(data, 2, 5).examples == a.examples


def test_nli_k_too_large_is_an_error() -> None:
    with pytest.raises(XshotError, match=r"toy-nli: only 5 neutral examples, fewer than k=6"):
        sample_few_shot(nli_dataset({"entailment": 9, "neutral": 5, "contradiction": 9}), 6, 0)


@pytest.mark.parametrize("k", [0, -1])
def test_k_must_be_positive(k: int) -> None:
    with pytest.raises(XshotError, match="k must be at least 1"):
        sample_few_shot(nli_dataset({"entailment": 3, "neutral": 3, "contradiction": 3}), k, 0)


def test_unlabelled_examples_cannot_be_sampled() -> None:
    data = Dataset("nli", [NLIExample("a", "b", None)] * 3, "raw", labels=NLI_LABELS)
    with pytest.raises(XshotError, match="unlabelled"):
        sample_few_shot(data, 1, 0)


# --- NER: greedy sampling (Yang & Katiyar 2020) ----------------------------------------------


def _counts(dataset: Dataset) -> Counter[str]:
    return count_mentions(ex.tags for ex in dataset)


@pytest.mark.parametrize("seed", range(20))
def test_ner_greedy_coverage_and_minimality(seed: int) -> None:
    data = ner_dataset()
    k = 5
    shots = sample_few_shot(data, k, seed)
    counts = _counts(shots)
    assert all(counts[t] >= k for t in data.labels)
    assert shots.meta["mention_counts"] == {t: counts[t] for t in data.labels}
    for ex in shots:  # minimal: every sentence is needed by some type
        alone = count_mentions([ex.tags])
        assert any(counts[t] - n < k for t, n in alone.items())


def test_ner_only_sentences_with_entities() -> None:
    shots = sample_few_shot(ner_dataset(), 3, 0)
    assert all(any(tag != "O" for tag in ex.tags) for ex in shots)


def test_ner_deterministic_and_seed_sensitive() -> None:
    data = ner_dataset()
    assert sample_few_shot(data, 5, 7).examples == sample_few_shot(data, 5, 7).examples
    assert sample_few_shot(data, 5, 7).examples != sample_few_shot(data, 5, 8).examples


def _seed_visiting(n: int, order: list[int]) -> int:
    """A seed whose shuffle visits sentences ``order`` in that relative order (the sampler's own shuffle)."""
    for seed in range(1000):
        visit = list(range(n))
        random.Random(seed).shuffle(visit)
        if [i for i in visit if i in order] == order:
            return seed
    raise AssertionError("no such seed")


def test_ner_adds_only_sentences_that_help_an_underfilled_type() -> None:
    one_per, three_per, loc = (
        NERExample(("a",), ("B-PER",)),
        NERExample(("b", "c", "d"), ("B-PER",) * 3),
        NERExample(("e",), ("B-LOC",)),
    )
    data = Dataset("ner", [one_per, three_per, loc], "d", labels=("LOC", "PER"))
    # PER is full after one_per, so three_per is skipped (adding it would have made one_per the redundant one)
    shots = sample_few_shot(data, 1, _seed_visiting(3, [0, 1, 2]))
    assert shots.examples == [one_per, loc]


def test_ner_removal_pass_drops_redundant_sentences() -> None:
    per, loc, both = (
        NERExample(("x",), ("B-PER",)),
        NERExample(("y",), ("B-LOC",)),
        NERExample(("a", "b"), ("B-PER", "B-LOC")),
    )
    data = Dataset("ner", [per, loc, both], "d", labels=("LOC", "PER"))
    # per is added, then both (LOC still short); per is now redundant and removed
    shots = sample_few_shot(data, 1, _seed_visiting(3, [0, 2, 1]))
    assert shots.examples == [both]
    assert shots.meta["mention_counts"] == {"LOC": 1, "PER": 1}


def test_ner_k_too_large_is_an_error() -> None:
    data = ner_dataset()
    total = _counts(data)
    k = total["DATE"] + 1
    with pytest.raises(XshotError, match=rf"toy-ner: only {total['DATE']} DATE mentions in all, fewer than k={k}"):
        sample_few_shot(data, k, 0)


# --- evaluation subsets ----------------------------------------------------------------------


def test_subsample_stratified_by_label() -> None:
    data = nli_dataset({"entailment": 60, "neutral": 30, "contradiction": 10})
    sub = subsample(data, 10, 0)
    assert Counter(ex.label for ex in sub) == {"entailment": 6, "neutral": 3, "contradiction": 1}


def test_subsample_rounds_to_exactly_n() -> None:
    data = nli_dataset({"entailment": 10, "neutral": 10, "contradiction": 10})
    for n in (1, 2, 7, 29):
        assert len(subsample(data, n, 0)) == n


def test_subsample_deterministic_ordered_and_seeded() -> None:
    data = nli_dataset({"entailment": 40, "neutral": 40, "contradiction": 40})
    a = subsample(data, 30, 4)
    assert a.examples == subsample(data, 30, 4).examples
    assert a.examples != subsample(data, 30, 5).examples
    positions = [data.examples.index(ex) for ex in a]
    assert positions == sorted(positions)


def test_subsample_ner_and_everything() -> None:
    data = ner_dataset(50)
    assert len(subsample(data, 20, 0)) == 20
    assert subsample(data, 50, 0).examples == data.examples
    assert subsample(data, 500, 0).examples == data.examples


def test_subsample_needs_positive_n() -> None:
    with pytest.raises(XshotError):
        subsample(ner_dataset(5), 0, 0)
