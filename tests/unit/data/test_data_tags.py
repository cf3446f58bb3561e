from __future__ import annotations

import pytest

from xshot.data.tags import check_tag, count_mentions, detect_scheme, entity_types, to_iob2
from xshot.errors import XshotError


@pytest.mark.parametrize("tag", ["O", "B-PER", "I-LOC", "B-DATE", "I-MISC", "B-Person_2"])
def test_valid_tags_pass(tag: str) -> None:
    check_tag(tag)


@pytest.mark.parametrize("tag", ["B_PER", "X-LOC", "per", "o", "b-per", "B-", "E-PER", "S-LOC", "B-PER ", "", "I-1X"])
def test_invalid_tags_name_file_and_line(tag: str) -> None:
    with pytest.raises(XshotError) as err:
        check_tag(tag, "f.txt", 7)
    assert str(err.value).startswith("f.txt:7: bad NER tag")
    assert repr(tag) in str(err.value)


@pytest.mark.parametrize(
    ("tags", "scheme"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], "IOB2"),
        (["B-PER", "B-PER", "I-PER"], "IOB2"),
        (["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "IOB1"),
        (["O", "I-PER", "B-PER"], "IOB1"),
        (["I-PER", "I-PER", "O", "I-LOC"], "IO"),
        (["O", "O"], "IO"),
    ],
)
def test_detect_scheme(tags: list[str], scheme: str) -> None:
    assert detect_scheme([tags]) == scheme


def test_scheme_is_decided_over_the_whole_file() -> None:
    assert detect_scheme([["B-PER", "O"], ["O", "I-LOC"]]) == "IOB1"


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        # IOB2 is unchanged
        (("B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"), ("B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC")),
        # IOB1: I-X after O starts an entity; B-X separates adjacent entities of one type
        (("I-PER", "I-PER", "B-PER", "O", "I-LOC"), ("B-PER", "I-PER", "B-PER", "O", "B-LOC")),
        # a type change inside a run starts a new entity
        (("I-PER", "I-LOC", "I-LOC"), ("B-PER", "B-LOC", "I-LOC")),
        # IO
        (("O", "I-DATE", "I-DATE", "O", "I-ORG"), ("O", "B-DATE", "I-DATE", "O", "B-ORG")),
        ((), ()),
    ],
)
def test_to_iob2(tags: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert to_iob2(tags) == expected


def test_mentions_and_types() -> None:
    sequences = [("B-PER", "I-PER", "B-PER", "O"), ("B-LOC", "O", "B-DATE", "I-DATE")]
    assert count_mentions(sequences) == {"PER": 2, "LOC": 1, "DATE": 1}
    assert entity_types(sequences) == ("DATE", "LOC", "PER")
