"""Linear head on the first token (encoders), the last token (decoders) or each word's first sub-token.

With ``pair_encoding: siamese`` (NLI) the head reads ``[u, v, |u - v|, u * v]`` of the separately
encoded, mean-pooled premise and hypothesis instead (see ``methods.siamese``).
"""

from __future__ import annotations

import torch

from xshot.backbone import Backbone
from xshot.errors import XshotError
from xshot.methods.base import LabelSpace, XshotModel
from xshot.methods.finetune.config import FinetuneConfig
from xshot.methods.heads import LinearHead
from xshot.methods.inputs import InputFormat
from xshot.methods.siamese import mean_pool, pair_features, split_pairs


class FinetuneModel(XshotModel):
    def __init__(self, backbone: Backbone, labels: LabelSpace, config: FinetuneConfig, max_length: int):
        siamese = config.pair_encoding == "siamese"
        if siamese and labels.task != "nli":
            raise XshotError("pair_encoding 'siamese' is for sentence pairs (nli), not ner")
        super().__init__(backbone, labels, InputFormat(backbone, "siamese" if siamese else "plain", max_length))
        width = 4 * backbone.hidden_size if siamese else backbone.hidden_size
        self.head = LinearHead(width, len(labels.classes), config.dropout)

    def head_parameters(self):
        return list(self.head.parameters())

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.input_format.style != "siamese":
            return super().forward(batch)
        ids, mask = split_pairs(batch["input_ids"], batch["attention_mask"], batch["positions"][:, 0],
                                self.backbone.tokenizer.pad_token_id)
        premise, hypothesis = mean_pool(self.hidden_states({"input_ids": ids, "attention_mask": mask}), mask).chunk(2)
        return self.head(pair_features(premise, hypothesis))

    def score(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.at(hidden, batch["positions"]))


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: FinetuneConfig,
          *, max_length: int, source_language: str | None = None) -> FinetuneModel:
    return FinetuneModel(backbone, LabelSpace.for_task(task, entity_types, "bio"), config, max_length)
