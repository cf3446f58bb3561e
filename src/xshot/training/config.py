"""The fully resolved configuration of one training run (one cell of a study)."""

from __future__ import annotations

import math

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xshot.hardware import DEVICES, device_name_error
from xshot.methods import method_names
from xshot.methods.base import unsearchable_error


class RunConfig(BaseModel):
    """Everything that determines a run's result. Its hash keys the results store."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    task: Literal["nli", "ner"]
    model: str = Field(description="Hugging Face model id or local directory")
    method: str = Field(description=f"name of a registered method: {', '.join(method_names())}")
    train: str = Field(description="dataset spec of the training data")
    train_split: str = "train"
    k: int | None = Field(default=None, ge=1, description="shots per class (NLI) or mentions per type (NER); None = all")
    seed: int = 1
    eval: list[str] = Field(default_factory=list, description="dataset specs to evaluate on")
    eval_split: str = "test"
    eval_limit: int | None = Field(default=None, ge=1, description="examples per evaluation set (a seeded subset)")
    max_steps: int | None = Field(default=None, ge=0)
    epochs: float | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, ge=1)
    learning_rate: float | None = None
    max_length: int = Field(256, ge=8, description="tokens per input, special tokens included")
    options: dict[str, Any] = Field(default_factory=dict, description="method-specific overrides")
    label_policy: Literal["shared", "source"] = "shared"
    label_map: dict[str, str] = Field(default_factory=dict)
    target_train: str | None = Field(default=None, description="optional target-language shots after source training")
    target_k: int | None = Field(default=None, ge=1)
    device: str = Field("auto", description=f"where the run computes: {DEVICES}")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    trust_remote_code: bool = False
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples of each score's interval (0: none)")
    # model selection inside the run, on the shots only (see ``xshot.training.selection``)
    search: dict[str, list[Any]] = Field(default_factory=dict, description="values to try per hyper-parameter: "
                                         "learning_rate, max_steps, batch_size or any method option")
    selection: Literal["none", "cv", "dev-k"] = Field("none", description="how the search is decided without test "
                                                      "data: K-fold cross-validation on the shots (cv) or a second, "
                                                      "disjoint K-shot sample of the training data (dev-k)")
    selection_folds: int = Field(4, ge=2, description="folds of selection: cv")
    selection_halving: bool = Field(False, description="selection: cv by successive halving: after each fold the "
                                    "worse half of the candidates is dropped (2 candidates: one fold decides)")
    budget: dict[str, float] = Field(default_factory=dict, description="matched training budgets: {steps: N} "
                                     "(every method N steps) or {train_flops: F} (each method the steps that cost "
                                     "about F FLOPs at the shots' mean length)")

    def datasets(self) -> list[tuple[str, str]]:
        """(spec, split) of every dataset the run reads: its shots, target shots and evaluation sets."""
        shots = [self.train] + ([self.target_train] if self.target_train else [])
        return [(spec, self.train_split) for spec in shots] + [(spec, self.eval_split) for spec in self.eval]

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if error := device_name_error(value):
            raise ValueError(error)
        return value

    @model_validator(mode="after")
    def _selection(self) -> "RunConfig":
        if self.search and self.selection == "none":
            raise ValueError("search needs selection: cv or dev-k (a search space without a way to choose)")
        if self.selection != "none" and not self.search:
            raise ValueError(f"selection: {self.selection} needs a search space (search: {{learning_rate: [...]}})")
        for name, values in self.search.items():
            if error := unsearchable_error(name):
                raise ValueError(error)
            if not isinstance(values, list) or not values:
                raise ValueError(f"search: {name} needs a non-empty list of values")
        if self.search and self.epochs is not None:
            raise ValueError("search with epochs: give max_steps instead (candidates are compared at fixed steps)")
        if self.budget:
            if len(self.budget) != 1 or next(iter(self.budget)) not in ("steps", "train_flops"):
                raise ValueError("budget takes one of steps or train_flops, e.g. {train_flops: 1.0e15}")
            if next(iter(self.budget.values())) <= 0:
                raise ValueError("budget must be positive")
            if "steps" in self.budget:
                if self.max_steps is not None and self.max_steps != int(self.budget["steps"]):
                    raise ValueError("budget: {steps} and max_steps disagree; give one")
                self.max_steps = int(self.budget["steps"])
            elif self.search and "max_steps" in self.search:
                raise ValueError("budget: {train_flops} fixes the steps; do not search max_steps")
        if self.selection_halving and self.selection != "cv":
            raise ValueError("selection_halving is for selection: cv (it drops candidates between folds)")
        if self.selection == "dev-k" and self.k is None:
            raise ValueError("selection: dev-k needs k (a second K-shot sample)")
        return self

    def key(self) -> str:
        """A stable hash of the resolved configuration (ignores nothing that changes results).

        Fields added after the first release enter the hash only when set, so existing stores keep their keys.
        """
        data = self.model_dump(mode="json")
        for name in LATER_FIELDS:
            if data[name] == type(self).model_fields[name].get_default(call_default_factory=True):
                del data[name]
        payload = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def resources(self) -> list[str]:
        """Everything the run loads that, if unavailable, fails every run that needs it."""
        train = [s for s in (self.train, self.target_train) if s]
        return [f"model:{self.model}", *[data_resource(s, self.train_split) for s in train],
                *[data_resource(s, self.eval_split) for s in self.eval]]


LATER_FIELDS = ("search", "selection", "selection_folds", "selection_halving", "budget")


def data_resource(spec: str, split: str) -> str:
    """The name under which a study remembers that a dataset cannot be loaded."""
    return f"data:{spec}@{split}"


def resolve_steps(max_steps: int | None, epochs: float | None, default_steps: int, examples: int, batch_size: int,
                  grad_accumulation: int = 1) -> int:
    """The optimisation steps of one training: ``max_steps`` when given, else ``epochs`` over ``examples`` in
    batches of ``batch_size`` x ``grad_accumulation``, else the method's own ``default_steps``. The one rule the
    trainer, selection on the shots and ``xshot plan`` follow."""
    if max_steps is not None:
        return max_steps
    if epochs is not None:
        return max(1, math.ceil(epochs * math.ceil(examples / batch_size / grad_accumulation)))
    return default_steps
