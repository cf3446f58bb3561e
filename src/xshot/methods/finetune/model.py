"""Linear head on the first token (encoders), the last token (decoders) or each word's first sub-token."""

from __future__ import annotations

import torch

from xshot.backbone import Backbone
from xshot.methods.base import LabelSpace, XshotModel
from xshot.methods.finetune.config import FinetuneConfig
from xshot.methods.heads import LinearHead
from xshot.methods.inputs import InputFormat


class FinetuneModel(XshotModel):
    def __init__(self, backbone: Backbone, labels: LabelSpace, config: FinetuneConfig, max_length: int):
        super().__init__(backbone, labels, InputFormat(backbone, "plain", max_length))
        self.head = LinearHead(backbone.hidden_size, len(labels.classes), config.dropout)

    def head_parameters(self):
        return list(self.head.parameters())

    def score(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.at(hidden, batch["positions"]))


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: FinetuneConfig,
          *, max_length: int, source_language: str | None = None) -> FinetuneModel:
    return FinetuneModel(backbone, LabelSpace.for_task(task, entity_types, "bio"), config, max_length)
