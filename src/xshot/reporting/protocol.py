"""How the prompting methods actually ran, read from the cells' own records, for the report's intro: which NLI
template each used (the number depends on it) and how many in-context demonstrations did not fit ``max_length``
(a cell that drops them is not the in-context learning its name says)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pandas as pd

from xshot.reporting.document import Paragraph
from xshot.reporting.format import short_model

DROPPED = re.compile(r"(\d+) of (\d+) inputs dropped demonstrations to fit max_length (\d+)"
                     r"(?: \(mean shown ([\d.]+) of (\d+)\))?")
KEYS = ["setting", "method", "model"]


@dataclass(frozen=True)
class DroppedDemonstrations:
    """A (setting, method, model)'s evaluations whose inputs lost in-context demonstrations to ``max_length``."""

    setting: str
    method: str
    model: str
    inputs: int  # over every evaluation row of the group
    dropped: int  # inputs that showed fewer demonstrations than drawn
    max_length: int
    mean_shown: float | None  # demonstrations shown per input (recorded since the note says it)
    drawn: int | None

    def sentence(self) -> str:
        shown = (f"; {self.mean_shown:.2f} of its {self.drawn} demonstrations shown per input on average"
                 if self.mean_shown is not None else "")
        return (f"{self.method} ({self.setting}) on {short_model(self.model)}: {self.dropped:,} of {self.inputs:,} test "
                f"inputs dropped demonstrations to fit max_length {self.max_length}{shown}")


@dataclass(frozen=True)
class TemplateUse:
    """The NLI template a prompting method ran with, as its method configuration records it."""

    setting: str
    method: str
    model: str
    template: str | None  # None: xshot's default for the backbone
    verbalizer_language: str | None

    def run(self) -> str:
        return f"{self.method} ({self.setting}) on {short_model(self.model)}"

    def describe(self) -> str:
        if self.template is None:
            what = "xshot's default template (resources/prompts.yaml: on a decoder the label word is the next token " \
                   "after the prompt, on an encoder it fills [MASK])"
        elif self.template == "xglm":
            what = "XGLM's template (the label word inside the sentence, each class's sentence scored whole, as " \
                   "lm-evaluation-harness)"
        else:
            what = f"the template {self.template!r}"
        words = f", {self.verbalizer_language}-language label words" if self.verbalizer_language else ""
        return f"{what}{words}"


def _notes(value) -> list[str]:
    try:
        return [str(n) for n in json.loads(value)] if isinstance(value, str) else []
    except ValueError:
        return []


def dropped_demonstrations(done: pd.DataFrame) -> list[DroppedDemonstrations]:
    """Every group with at least one input that lost demonstrations (one entry per group, summed over rows)."""
    if "notes" not in done.columns:
        return []
    out = []
    for key, rows in done.groupby(KEYS, sort=True):
        matches = [m for notes in rows["notes"] for n in _notes(notes) if (m := DROPPED.search(n))]
        if not matches:
            continue
        noted = sum(int(m.group(2)) for m in matches)  # inputs of the evaluations that dropped some
        inputs = max(noted, int(rows["n"].fillna(0).sum())) if "n" in rows.columns else noted
        mean = drawn = None
        if all(m.group(4) is not None for m in matches):  # the others showed every demonstration
            drawn = int(matches[0].group(5))
            mean = (sum(float(m.group(4)) * int(m.group(2)) for m in matches) + drawn * (inputs - noted)) / inputs
        out.append(DroppedDemonstrations(*map(str, key), inputs=inputs, dropped=sum(int(m.group(1)) for m in matches),
                                         max_length=max(int(m.group(3)) for m in matches), mean_shown=mean,
                                         drawn=drawn))
    return out


def templates(done: pd.DataFrame) -> list[TemplateUse]:
    """The template of every NLI (setting, method, model) whose method configuration has one (prompting)."""
    if "method_config" not in done.columns:
        return []
    out = []
    for key, rows in done[done["task"] == "nli"].groupby(KEYS, sort=True):
        try:
            config = json.loads(rows["method_config"].iloc[0])
        except (TypeError, ValueError):
            continue
        if "template" in config and config.get("head", "verbalizer") == "verbalizer":  # a linear head has none
            out.append(TemplateUse(*map(str, key), template=config["template"],
                                   verbalizer_language=config.get("verbalizer_language")))
    return out


def paragraphs(done: pd.DataFrame) -> list[Paragraph]:
    out = []
    by_template: dict[str, list[str]] = {}
    for use in templates(done):
        by_template.setdefault(use.describe(), []).append(use.run())
    if by_template:
        out.append(Paragraph("Templates (NLI prompting): " + "; ".join(f"{', '.join(runs)}: {what}"
                                                                       for what, runs in by_template.items()) + "."))
    dropped = dropped_demonstrations(done)
    if dropped:
        out.append(Paragraph("In-context demonstrations that did not fit: " + "; ".join(d.sentence() for d in dropped)
                             + ". Those cells showed fewer demonstrations than their method drew: their numbers are "
                               "not those of in-context learning with every demonstration.", note=True))
    return out
