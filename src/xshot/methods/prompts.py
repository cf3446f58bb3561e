"""Templates and verbalizers, loaded from data (``resources/prompts.yaml``) rather than code."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from xshot.errors import XshotError


@lru_cache(maxsize=8)
def load_prompts(path: str | None = None) -> dict:
    text = Path(path).read_text(encoding="utf-8") if path else (
        resources.files("xshot.resources").joinpath("prompts.yaml").read_text(encoding="utf-8"))
    return yaml.safe_load(text)


@dataclass(frozen=True)
class Verbalizer:
    """Maps each class to a natural-language word (possibly several sub-tokens)."""

    words: dict[str, str]

    def for_classes(self, classes: tuple[str, ...]) -> list[str]:
        missing = [c for c in classes if c not in self.words]
        if missing:
            raise XshotError(f"verbalizer has no label word for {', '.join(missing)}; set option label_words")
        return [self.words[c] for c in classes]


def verbalizer(task: str, language: str | None = None, override: dict[str, str] | None = None,
               prompts_file: str | None = None) -> Verbalizer:
    """Label words for a language; English (the first table entry) where a language has none."""
    table = load_prompts(prompts_file)[task]["label_words"]
    default = next(iter(table.values()))
    words = dict(table.get(language or "", default))
    for cls, word in default.items():
        words.setdefault(cls, word)
    words.update(override or {})
    return Verbalizer(words)


def label_names(task: str, prompts_file: str | None = None) -> dict[str, str]:
    return dict(load_prompts(prompts_file)[task]["label_names"])


#: a decoder template slot for the label word inside the sentence (each class's sentence is scored whole)
LABEL_SLOT = "{label}"


@dataclass(frozen=True)
class NamedTemplate:
    """A template with its own words per language (``resources/prompts.yaml`` ``named_templates``)."""

    name: str
    text: str
    source: str
    languages: dict[str, dict[str, str]]

    def words(self, language: str | None) -> dict[str, str]:
        """The slots and label words of ``language`` (English, the first, where it has none)."""
        return dict(self.languages.get(language or "", next(iter(self.languages.values()))))


def named_template(name: str | None, prompts_file: str | None = None) -> NamedTemplate | None:
    """The named template ``name`` (e.g. ``xglm``), None when ``name`` is a template's text or None."""
    entry = load_prompts(prompts_file)["nli"].get("named_templates", {}).get(name or "")
    return NamedTemplate(name, entry["template"], entry["source"], entry["languages"]) if entry else None


def template(kind: str, override: str | None = None, prompts_file: str | None = None) -> str:
    """The NLI template for a backbone kind: ``override`` (a template's text or a named template) or the default."""
    named = named_template(override, prompts_file)
    text = named.text if named else override or load_prompts(prompts_file)["nli"]["templates"][kind]
    for slot in ("{premise}", "{hypothesis}"):
        if slot not in text:
            raise XshotError(f"template {text!r} lacks the {slot} slot")
    if kind == "encoder" and "{mask}" not in text:
        raise XshotError(f"encoder template {text!r} lacks the {{mask}} answer slot")
    if kind == "decoder" and "{mask}" in text:
        raise XshotError(f"decoder template {text!r} has a {{mask}} slot: a decoder answers with the token after "
                         "the template (remove {mask}; it would become the tokenizer's literal mask token)")
    if kind == "encoder" and LABEL_SLOT in text:
        raise XshotError(f"encoder template {text!r} has a {LABEL_SLOT} slot: whole-sentence scoring is for "
                         "decoders; encoders answer at {mask}")
    return text
