"""Dataset statistics: size, label balance, words and subword fertility.

Fertility (subwords per word) is a cheap predictor of how badly a multilingual tokenizer
serves a language, which is why it sits next to the label counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from xshot.data.examples import Dataset, NLIExample
from xshot.data.tags import count_mentions
from xshot.errors import XshotError


def words(dataset: Dataset) -> list[str]:
    """NER tokens, or the whitespace-separated words of premise and hypothesis."""
    out: list[str] = []
    for ex in dataset.examples:
        out += (ex.premise.split() + ex.hypothesis.split()) if isinstance(ex, NLIExample) else list(ex.tokens)
    return out


def load_tokenizer(name_or_path: str) -> Any:
    from xshot.backbone import load_tokenizer as load_shared

    try:
        return load_shared(name_or_path)
    except (OSError, ValueError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise XshotError(f"cannot load tokenizer {name_or_path!r}: {reason}") from err


#: Languages written without spaces between words (ISO 639-1 and -3 codes). Whitespace "words" of raw
#: text in them are phrases or whole clauses (XNLI zh averages ~14 subwords each), not words.
UNSPACED_LANGUAGES = frozenset({"zh", "zho", "cmn", "yue", "ja", "jpn", "th", "tha", "lo", "lao",
                                "km", "khm", "my", "mya", "bo", "bod"})


def word_fertility(tokenizer: Any, dataset: Dataset) -> float | None:
    """Subwords per word, or None where the words are unknown: raw NLI text in a language written
    without spaces (NER tokens are the dataset's own word segmentation, so they always count)."""
    language = (dataset.language or "").lower().replace("_", "-").split("-")[0]
    if dataset.task == "nli" and language in UNSPACED_LANGUAGES:
        return None
    return fertility(tokenizer, words(dataset))


def fertility(tokenizer: Any, word_list: list[str]) -> float:
    """Mean number of subwords per word, each word tokenized on its own (Rust et al., 2021)."""
    counts = Counter(word_list)
    if not counts:
        return 0.0
    unique = list(counts)
    pieces = tokenizer(unique, add_special_tokens=False)["input_ids"]
    return sum(len(ids) * counts[w] for w, ids in zip(unique, pieces, strict=True)) / sum(counts.values())


def compute_stats(dataset: Dataset, tokenizer: Any = None) -> dict[str, Any]:
    """The numbers ``xshot data stats`` shows; ``label_counts`` are entity mentions for NER."""
    if dataset.task == "nli":
        label_counts = Counter(ex.label for ex in dataset.examples)
    else:
        label_counts = count_mentions(ex.tags for ex in dataset.examples if ex.tags is not None)
    word_list = words(dataset)
    stats: dict[str, Any] = {
        "name": dataset.name,
        "task": dataset.task,
        "language": dataset.language,
        "examples": len(dataset),
        "tokens": len(word_list),
        "label_counts": {label: label_counts[label] for label in dataset.labels},
    }
    if "tag_scheme" in dataset.meta:
        stats["tag_scheme"] = dataset.meta["tag_scheme"]
    if tokenizer is not None:
        value = word_fertility(tokenizer, dataset)
        stats["fertility"] = None if value is None else round(value, 4)
    return stats
