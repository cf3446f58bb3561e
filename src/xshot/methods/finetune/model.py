"""Plain fine-tuning, with the classifier a transformers user would train.

NLI with joint encoding uses the architecture's own sequence-classification head from transformers
(``AutoModelForSequenceClassification``: BERT's pooler and classifier, XLM-R's two-layer head, a
decoder's bias-free score at the last token), around the pretrained body xshot loaded; the trained
model is therefore exactly a transformers model (``xshot export``). NER, siamese NLI and the linear
heads of the parameter-efficient methods use :class:`FinetuneModel`: a linear head on the first token
(encoders), the last token (decoders) or each word's first sub-token. With ``pair_encoding: siamese``
the head reads ``[u, v, |u - v|, u * v]`` of the separately encoded, mean-pooled premise and
hypothesis (see ``methods.siamese``).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

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


class SequenceClassifierModel(XshotModel):
    """NLI, joint encoding: ``classifier`` is a transformers ``*ForSequenceClassification`` whose base model
    is this model's body, so its logits are the model's and it saves as a standard checkpoint."""

    def __init__(self, backbone: Backbone, labels: LabelSpace, config: FinetuneConfig, max_length: int):
        super().__init__(backbone, labels, InputFormat(backbone, "plain", max_length))
        self.classifier = sequence_classifier(backbone, labels.classes, config.dropout)

    def head_parameters(self) -> list[nn.Parameter]:
        body = {id(p) for p in self.body.parameters()}
        return [p for p in self.classifier.parameters() if id(p) not in body]

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.classifier(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def sequence_classifier(backbone: Backbone, classes: tuple[str, ...], dropout: float) -> nn.Module:
    """The architecture's sequence classifier around ``backbone.body``; its head initialised as transformers does."""
    from transformers import AutoModelForSequenceClassification

    config = copy.deepcopy(backbone.body.config)
    config.num_labels = len(classes)
    config.id2label = dict(enumerate(classes))
    config.label2id = {c: i for i, c in enumerate(classes)}
    config.classifier_dropout = dropout
    if config.pad_token_id is None:  # decoders pool at the last token that is not padding
        config.pad_token_id = backbone.tokenizer.pad_token_id
    with torch.device("meta"):  # no second copy of the body's weights
        model = AutoModelForSequenceClassification.from_config(config)
    setattr(model, model.base_model_prefix, backbone.body)
    device = next(backbone.body.parameters()).device
    for name, module in model.named_children():
        if name != model.base_model_prefix:
            module.to_empty(device=device)
            for sub in module.modules():
                model._init_weights(sub)
    return model


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: FinetuneConfig,
          *, max_length: int, source_language: str | None = None) -> XshotModel:
    labels = LabelSpace.for_task(task, entity_types, "bio")
    if task == "nli" and config.pair_encoding == "cross":
        return SequenceClassifierModel(backbone, labels, config, max_length)
    return FinetuneModel(backbone, labels, config, max_length)
