from __future__ import annotations

from pathlib import Path

import pytest

from xshot.data import load
from xshot.data.examples import Dataset, NERExample, NLIExample
from xshot.data.stats import compute_stats, fertility, word_fertility, words


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


@pytest.mark.parametrize("language", ["zh", "ja-JP", "th", "zho"])
def test_no_fertility_for_raw_text_written_without_spaces(language) -> None:
    data = Dataset("nli", [NLIExample("我们 去 了", "他们 走 了", "neutral")], "d", language=language)
    assert word_fertility(CharTokenizer(), data) is None
    assert compute_stats(data, CharTokenizer())["fertility"] is None


def test_fertility_where_words_are_known() -> None:
    spaced = Dataset("nli", [NLIExample("ab c", "d", "neutral")], "d", language="de")
    assert word_fertility(CharTokenizer(), spaced) == (2 + 1 + 1) / 3
    # NER tokens are the dataset's own segmentation, even in Chinese (WikiANN zh: characters)
    ner = Dataset("ner", [NERExample(("北", "京"), ("B-LOC", "I-LOC"))], "d", language="zh", labels=("LOC",))
    assert word_fertility(CharTokenizer(), ner) == 1.0
