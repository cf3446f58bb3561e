"""Parameter-efficient tuning through peft: the body is wrapped, everything else stays as it is.

Soft prompts, prefixes, LoRA and (IA)³ all share this: the scorer of ``prompt`` (verbalizer) or xshot's
linear head (:class:`~xshot.methods.finetune.FinetuneModel`) on a frozen body that peft wraps.

The task scorer (linear head or verbalizer) is the one of the wrapped method; only the peft
parameters and the scorer's own small parameters train. Soft prompts prepend virtual tokens to the
body's input, so its outputs gain that many leading positions; :class:`XshotModel` slices them off
before reading any position (peft's ``PeftModelForTokenClassification`` does not, and its token
logits then no longer line up with the labels).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from xshot.errors import XshotError
from xshot.methods.base import MethodConfig, XshotModel, option
from xshot.methods.prompt.config import PromptConfig

HEADS = ("verbalizer", "linear")


@dataclass
class PeftConfig(PromptConfig):
    """Shared by the peft methods: which scorer sits on the frozen backbone."""

    head: str = option("verbalizer", "scorer on the frozen body: verbalizer (label words) or linear",
                       choices=HEADS)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.head == "linear":  # the prompt options only mean something to the verbalizer head
            for f in dataclasses.fields(PromptConfig):
                if f.name not in _SHARED_FIELDS and getattr(self, f.name) != _default(f):
                    raise XshotError(f"option {f.name} is for head=verbalizer; this run has head=linear")

    @property
    def uses_lm_head(self) -> bool:
        return self.head == "verbalizer"

    def vocabulary_share(self, task: str) -> float:
        """Only the verbalizer head inherits EntLM's whole-vocabulary objective; a linear head scores its classes."""
        return super().vocabulary_share(task) if self.head == "verbalizer" else 0.0

    def cost_factors(self, task: str, steps: int) -> tuple[int, float, float]:
        return super().cost_factors(task, steps) if self.head == "verbalizer" else (0, 1.0, 1.0)


_SHARED_FIELDS = {f.name for f in dataclasses.fields(MethodConfig)}


def _default(f: dataclasses.Field):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def scored_model(backbone, task, entity_types, config: PeftConfig, **kwargs) -> XshotModel:
    """The full-parameter method whose scorer this parameter-efficient method reuses."""
    from xshot.methods import prompt
    from xshot.methods.base import LabelSpace
    from xshot.methods.finetune import FinetuneModel

    if config.head == "verbalizer":
        model = prompt.build(backbone, task, entity_types, config, **kwargs)
    else:  # xshot's linear head reads the (peft-wrapped) body's states
        model = FinetuneModel(backbone, LabelSpace.for_task(task, entity_types, "bio"), config, kwargs["max_length"])
    if config.head == "verbalizer" and model.scorer.mode == "tied-input-embeddings":
        # measured on me5-small, NER K=10, 60 steps: F1 1-2 with this scorer, 10-16 with head=linear
        model.notes.append("the frozen body was never trained to predict words, so tied-embedding verbalizer "
                           "scores can barely adapt; head=linear suits backbones without an LM head")
    return model


def wrap(model: XshotModel, peft_config) -> XshotModel:
    from peft import PeftType, get_peft_model

    for p in model.parameters():
        p.requires_grad_(False)
    model.body = get_peft_model(model.body, peft_config)
    for p in model.head_parameters():
        p.requires_grad_(True)
    if peft_config.peft_type in (PeftType.PROMPT_TUNING, PeftType.P_TUNING):
        model.virtual_tokens = peft_config.num_virtual_tokens  # prefix tuning adds keys/values, not positions
    return model
