"""The fully resolved configuration of one training run (one cell of a study)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from xshot.methods import method_names


class RunConfig(BaseModel):
    """Everything that determines a run's result. Its hash keys the results store."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    task: Literal["nli", "ner"]
    model: str = Field(description="Hugging Face model id or local directory")
    method: str = Field(description=f"name of a registered method: {', '.join(method_names())}")
    train: str = Field(description="dataset spec of the training data")
    train_split: str = "train"
    k: int | None = Field(default=None, description="shots per class (NLI) or mentions per type (NER); None = all")
    seed: int = 1
    eval: list[str] = Field(default_factory=list, description="dataset specs to evaluate on")
    eval_split: str = "test"
    eval_limit: int | None = None
    max_steps: int | None = None
    epochs: float | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    max_length: int = 256
    options: dict[str, Any] = Field(default_factory=dict, description="method-specific overrides")
    label_policy: Literal["shared", "source"] = "shared"
    label_map: dict[str, str] = Field(default_factory=dict)
    target_train: str | None = Field(default=None, description="optional target-language shots after source training")
    target_k: int | None = None
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    trust_remote_code: bool = False
    bootstrap: int = 1000

    def key(self) -> str:
        """A stable hash of the resolved configuration (ignores nothing that changes results)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def resources(self) -> list[str]:
        """Everything the run loads that, if unavailable, fails every run that needs it."""
        train = [s for s in (self.train, self.target_train) if s]
        return [f"model:{self.model}", *[data_resource(s, self.train_split) for s in train],
                *[data_resource(s, self.eval_split) for s in self.eval]]


def data_resource(spec: str, split: str) -> str:
    """The name under which a study remembers that a dataset cannot be loaded."""
    return f"data:{spec}@{split}"
