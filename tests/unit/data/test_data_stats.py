from __future__ import annotations

from pathlib import Path

from xshot.data import load
from xshot.data.examples import Dataset, NERExample
from xshot.data.stats import compute_stats, fertility, words


class CharTokenizer:
    """Stands in for a Hugging Face tokenizer: one subword per character."""

    def __call__(self, texts: list[str], add_special_tokens: bool) -> dict:
        assert add_special_tokens is False
        return {"input_ids": [list(range(len(t))) for t in texts]}


def test_nli_stats(fixture_root: Path) -> None:
    stats = compute_stats(load("xnli:de:test", data_root=fixture_root))
    assert stats == {
        "name": "xnli:de:test",
        "task": "nli",
        "language": "de",
        "examples": 3,
        "tokens": 19,
        "label_counts": {"entailment": 1, "neutral": 1, "contradiction": 1},
    }


def test_ner_stats_count_mentions_not_tags(fixtures: Path) -> None:
    stats = compute_stats(load(f"conll:{fixtures}/conll/iob2.txt"))
    assert stats["examples"] == 3
    assert stats["tokens"] == 19
    assert stats["label_counts"] == {"DATE": 1, "LOC": 2, "ORG": 1, "PER": 2}
    assert stats["tag_scheme"] == "IOB2"
    assert "fertility" not in stats


def test_fertility_is_subwords_per_word() -> None:
    assert fertility(CharTokenizer(), ["ab", "abc", "ab", "x"]) == (2 + 3 + 2 + 1) / 4
    assert fertility(CharTokenizer(), []) == 0.0


def test_stats_with_tokenizer() -> None:
    data = Dataset("ner", [NERExample(("ab", "c"), ("B-PER", "O"))], "d", labels=("PER",))
    assert words(data) == ["ab", "c"]
    assert compute_stats(data, CharTokenizer())["fertility"] == 1.5
