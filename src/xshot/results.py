"""The typed result of one run: what ``metrics.json`` holds, read and written in one place.

The run builds a :class:`RunResult`; the executor validates what a runner returns against it (a
runner in another process returns its JSON form); the store, the CLI, tracking, export and the report
read its fields. Method-specific facts about an evaluation (``demonstrations_dropped``, ...) are kept
as extra fields of :class:`Evaluation`.
"""

from __future__ import annotations

import dataclasses

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field, field_validator

from xshot.errors import XshotError
from xshot.io import write_json
from xshot.metrics import primary_metric


def normalize_precision(value: Any) -> str | None:
    """bf16 / fp16 / fp32 (results before 0.1 wrote the torch dtype, e.g. ``torch.bfloat16``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("", "None"):
        return None
    text = str(value).removeprefix("torch.")
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(text, text)


class Evaluation(BaseModel):
    """One evaluation set's scores, 95% bootstrap intervals and what was noted while scoring it."""

    model_config = ConfigDict(extra="allow")

    spec: str
    language: str | None = None
    n: int | None = None
    scores: dict[str, Any] = Field(description="metric → value; NER also has a nested per_type mapping")
    ci: dict[str, tuple[float, float]] = Field(default_factory=dict)
    fertility: float | None = Field(default=None, description="subword tokens per word of the evaluation text")
    eval_s: float | None = None
    notes: list[str] = Field(default_factory=list)

    @field_validator("scores", mode="before")
    @classmethod
    def _plain_numbers(cls, value: Any) -> Any:
        return _plain(value)

    def score(self, metric: str) -> float | None:
        value = self.scores.get(metric)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def flat_scores(self) -> dict[str, float]:
        """The numeric scores (nested per-type tables left out)."""
        return {k: v for k in self.scores if (v := self.score(k)) is not None}

    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _plain(value: Any) -> Any:
    """numpy scalars (seqeval supports, metric sums) as Python numbers, so a result serialises as JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") and not isinstance(value, (int, float, str)) else value


class TrainingStage(BaseModel):
    """One optimisation stage (source shots, then optionally target shots) and its loss per step."""

    data: str
    examples: int
    steps: int
    loss: list[float] = Field(default_factory=list)


class Timing(BaseModel):
    load_s: float | None = None
    choose_s: float | None = Field(default=None, description="choosing from the shots (label search, its folds)")
    train_s: float | None = None
    eval_s: float | None = None


class Compute(BaseModel):
    """Training compute: tokens the body processed and the estimated FLOPs (6N per token when every body
    weight trains, about 4N on a frozen body; ``xshot.training.trainer.flops_per_token``)."""

    train_tokens: int | None = None
    train_flops: float | None = None


class Parameters(BaseModel):
    trainable: int | None = None
    total: int | None = None


class CandidateScore(BaseModel):
    """One candidate of a choice made on the shots, with its score on each held-out fold."""

    name: str
    fold_scores: list[float] = Field(default_factory=list)
    diverged: int = Field(0, description="folds on which its training diverged (scored 0 there)")
    dropped_after: int | None = Field(None, description="successive halving: the number of folds after which it "
                                                        "was dropped (it cannot be chosen); None: it ran to the end")

    @computed_field
    @property
    def mean(self) -> float | None:
        return sum(self.fold_scores) / len(self.fold_scores) if self.fold_scores else None


def best_candidate(scores: list[CandidateScore]) -> int:
    """The index of the best mean score among the candidates not dropped (successive halving); ties go to the
    first listed. Means equal to 1e-9 are ties: the
    mean of [0.25, 1/3] and of [5/24, 0.375] are both 7/24 but differ in their last bit, which must not
    decide a choice."""
    def key(i: int) -> tuple[bool, float, int]:
        mean = scores[i].mean
        return (scores[i].dropped_after is None, round(mean, 9) if mean is not None else -math.inf, -i)

    return max(range(len(scores)), key=key)


class ShotChoice(BaseModel):
    """A choice a method made from the training shots alone (e.g. LM-BFF's label words), and how."""

    what: str = Field(description="what was chosen, e.g. label_words")
    chosen: dict[str, Any] = Field(description="the choice, e.g. class -> label words")
    how: str = Field(description="the procedure, in words")
    candidates: list[CandidateScore] = Field(default_factory=list, description="cross-validated candidates")


class RunResult(BaseModel):
    """Everything a run reports (see ``docs/interfaces.md``)."""

    model_config = ConfigDict(protected_namespaces=())

    key: str
    config: dict[str, Any] = Field(description="the RunConfig, as JSON")
    method_config: dict[str, Any] = Field(default_factory=dict, description="resolved method hyper-parameters")
    task: str
    source_language: str | None = None
    train_examples: int | None = None
    train_counts: dict[str, int] | None = None
    training: list[TrainingStage] = Field(default_factory=list)
    evaluations: dict[str, Evaluation] = Field(default_factory=dict)
    params: Parameters = Field(default_factory=Parameters)
    time: Timing = Field(default_factory=Timing)
    compute: Compute = Field(default_factory=Compute)
    peak_memory_mb: float | None = None
    model_source: str | None = Field(default=None, description="what the model name (an alias) resolved to")
    device: str | None = None
    precision: str | None = Field(default=None, description="bf16, fp16 or fp32: the autocast the run used")
    threads: int | None = Field(default=None, description="intra-op CPU threads")
    processor: str | None = Field(default=None, description="the CPU or GPU it ran on (hardware.processor_name)")
    notes: list[str] = Field(default_factory=list)
    choices: list[ShotChoice] = Field(default_factory=list, description="what the method chose from the shots")
    versions: dict[str, str] = Field(default_factory=dict)

    @computed_field  # written to metrics.json for readers outside xshot; derived from the task here
    @property
    def primary_metric(self) -> str:
        return primary_metric(self.task)

    def primary_scores(self) -> dict[str, float | None]:
        """Evaluation set → its primary score."""
        return {name: ev.score(self.primary_metric) for name, ev in self.evaluations.items()}

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def parse(cls, data: Any, source: str = "runner") -> "RunResult":
        """Validate a result (a dict from JSON or another process); one line on what is wrong."""
        if isinstance(data, cls):
            return data
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k != "primary_metric"}  # derived, not stored
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "result"
            raise XshotError(f"{source} returned an invalid run result: {where}: {first['msg']}") from None

    @classmethod
    def load(cls, path: str | Path) -> "RunResult":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise XshotError(f"cannot read run result: {err.strerror}", path) from None
        except json.JSONDecodeError as err:
            raise XshotError(f"not JSON: {err.msg}", path, err.lineno) from None
        return cls.parse(data, str(path))


@dataclasses.dataclass(frozen=True)
class CellOutcome:
    """What running one cell of a study gave: its result, or why it failed; from the executors to the store,
    the progress line and the callbacks (pickled across Ray's process boundary as it is)."""

    result: RunResult | None
    wall_s: float | None = None
    error: str | None = None  # one line
    traceback: str | None = None
    unavailable: str | None = None  # a model or dataset every cell needing it lacks (found by this cell)
    versions: dict[str, str] | None = None  # of the process that failed (a done result carries its own)

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def status(self) -> str:
        return "done" if self.done else "failed"
