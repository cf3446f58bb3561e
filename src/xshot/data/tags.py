"""NER tag validation and conversion to IOB2, the one scheme the rest of xshot sees.

Corpora come in IOB1 (CoNLL-2003 style: ``B-`` only between adjacent entities of one type),
IOB2 (every entity starts with ``B-``) and IO (no ``B-`` at all). All three convert to IOB2
with the same rule: an ``I-X`` that does not continue an ``X`` entity starts one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from xshot.errors import XshotError

_TYPE = r"[A-Za-z][A-Za-z0-9_]*"
_TAG = re.compile(rf"O|[BI]-{_TYPE}")


def is_entity_type(name: str) -> bool:
    return re.fullmatch(_TYPE, name) is not None


def check_tag(tag: str, path: str | Path | None = None, line: int | None = None) -> None:
    """Reject anything that is not ``O``, ``B-TYPE`` or ``I-TYPE`` (``B_PER``, ``X-LOC``, ``per`` ...)."""
    if not _TAG.fullmatch(tag):
        raise XshotError(f"bad NER tag {tag!r} (expected O, B-TYPE or I-TYPE)", path, line)


def entity_type(tag: str) -> str | None:
    return None if tag == "O" else tag[2:]


def _opens_with_i(tag: str, previous: str) -> bool:
    """Whether ``tag`` is an ``I-X`` that does not continue an ``X`` entity (``O``'s type is '')."""
    return tag[0] == "I" and previous[2:] != tag[2:]


def detect_scheme(sequences: Iterable[Sequence[str]]) -> str:
    """``IO`` without any ``B-``; ``IOB2`` if no entity begins with ``I-``; else ``IOB1``."""
    has_b = opens_with_i = False
    for tags in sequences:
        previous = "O"
        for tag in tags:
            has_b = has_b or tag[0] == "B"
            opens_with_i = opens_with_i or _opens_with_i(tag, previous)
            previous = tag
    if not has_b:
        return "IO"
    return "IOB1" if opens_with_i else "IOB2"


def to_iob2(tags: Sequence[str]) -> tuple[str, ...]:
    """Convert one sentence of valid IOB1/IOB2/IO tags to IOB2 (a no-op on IOB2)."""
    out = list(tags)
    previous = "O"
    for i, tag in enumerate(tags):
        if _opens_with_i(tag, previous):
            out[i] = "B" + tag[1:]
        previous = tag
    return tuple(out)


def count_mentions(sequences: Iterable[Sequence[str]]) -> Counter[str]:
    """Entity mentions per type in IOB2 sequences (one ``B-`` per mention)."""
    return Counter(tag[2:] for tags in sequences for tag in tags if tag.startswith("B-"))


def entity_types(sequences: Iterable[Sequence[str]]) -> tuple[str, ...]:
    return tuple(sorted({t for tags in sequences for tag in tags if (t := entity_type(tag))}))
