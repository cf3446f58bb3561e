"""The two kinds of labelled example xshot knows, and the dataset that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

Task = Literal["nli", "ner"]

NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")


@dataclass(frozen=True)
class NLIExample:
    premise: str
    hypothesis: str
    label: str | None  # one of NLI_LABELS; None for unlabelled input (prediction)

    def to_json(self) -> dict:
        return {"premise": self.premise, "hypothesis": self.hypothesis, "label": self.label}


@dataclass(frozen=True)
class NERExample:
    tokens: tuple[str, ...]
    tags: tuple[str, ...] | None  # IOB2 tags, one per token; None for unlabelled input

    def to_json(self) -> dict:
        return {"tokens": list(self.tokens), "tags": list(self.tags) if self.tags is not None else None}


Example = Union[NLIExample, NERExample]


@dataclass
class Dataset:
    """A list of examples of one task, with where it came from.

    ``labels`` are the class names for NLI and the entity types (without B-/I-) for NER.
    """

    task: Task
    examples: list[Example]
    name: str
    language: str | None = None
    labels: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self):
        return iter(self.examples)
