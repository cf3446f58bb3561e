"""DualCL for sentence pairs and, as an extension, for token classification, and its two baselines.

Input: ``[CLS] l_1 ... l_C [SEP] text``. The feature z is the first token's state (NLI) or each word's
first sub-token state (NER); the classifier theta_c is the state of label c's name in the same input
(mean over its sub-tokens, since multilingual vocabularies split many label names). Logits are z . theta_c.

On decoders the label names come first and z is the last token (NLI) or each word's first
sub-token (NER). Causal attention means the label states cannot see the text: theta is the same for
every input, so DualCL on a decoder degrades to a label-name-initialised classifier with contrastive
regularisation.

``loss: ce | scl`` are the baselines of the paper as its reference code (hiyouga/Dual-Contrastive-Learning)
runs them: no label names, a linear head on the first token, cross-entropy alone or with the supervised
contrastive term of Gunel et al. (2021) on the features, weighted by alpha at temperature tau (the reference
uses the same alpha and tau as for DualCL). Its linear head has dropout 0.5; xshot's keeps the ``dropout``
option (0.1). On NER every loss tags IO by default (one class per entity type: the dual loss needs one label
name per class), so that ``loss`` changes the loss only; ``ner_tags: bio`` gives the baselines BIO tags, as
``finetune`` has. ``label_positions: shared`` reproduces the reference's position ids (the first token and
every label at 0, the text from 1).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from xshot.backbone import Backbone
from xshot.errors import XshotError
from xshot.methods.base import LabelSpace, XshotModel
from xshot.methods.dualcl.config import DualCLConfig
from xshot.methods.dualcl.loss import dual_contrastive_loss, supervised_contrast
from xshot.methods.finetune.model import FinetuneModel
from xshot.methods.inputs import InputFormat
from xshot.methods.prompts import label_names


class DualCLModel(XshotModel):
    def __init__(self, backbone: Backbone, labels: LabelSpace, config: DualCLConfig, max_length: int):
        names = label_names(labels.task, config.prompts_file)
        missing = [c for c in labels.classes if c not in names]
        if missing:
            raise XshotError(f"DualCL needs a label name for {', '.join(missing)}; add it under label_names")
        fmt = InputFormat(backbone, "label-prefix", max_length, label_names=[names[c] for c in labels.classes])
        super().__init__(backbone, labels, fmt)
        self.require_cross_encoding(config, "DualCL reads the label names and the text in one input")
        self.config = config
        self.cosine = config.similarity == "cosine" or (config.similarity == "auto" and backbone.kind == "decoder")
        if self.cosine:
            self.notes.append(f"DualCL logits are cosine similarities / {config.temperature} (decoder hidden states)")
        spans = fmt.label_spans
        width = max(len(s) for s in spans)
        index = torch.zeros((len(spans), width), dtype=torch.long)
        weight = torch.zeros((len(spans), width))
        for c, span in enumerate(spans):
            index[c, : len(span)] = torch.tensor(span)
            weight[c, : len(span)] = 1.0 / len(span)
        self.register_buffer("span_index", index, persistent=False)
        self.register_buffer("span_weight", weight, persistent=False)

    def label_states(self, hidden: torch.Tensor) -> torch.Tensor:
        """theta [B, C, D]: the mean hidden state over each label name's sub-tokens."""
        b, c, w = hidden.size(0), *self.span_index.shape
        states = self.at(hidden, self.span_index.reshape(1, -1).expand(b, -1)).view(b, c, w, -1)
        return (states * self.span_weight[None, :, :, None]).sum(2)

    def features(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self._z_theta(self.hidden_states(batch), batch)

    def _z_theta(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        z, theta = self.at(hidden, batch["positions"]), self.label_states(hidden)
        if self.cosine:  # the contrastive terms normalise again, so only the classifier logits change
            z = F.normalize(z.float(), dim=-1) / self.config.temperature
            theta = F.normalize(theta.float(), dim=-1)
        return z, theta

    def score(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        z, theta = self._z_theta(hidden, batch)
        return torch.einsum("bpd,bcd->bpc", z, theta)

    def hidden_states(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.config.label_positions == "sequential":
            return super().hidden_states(batch)
        out = self.body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        position_ids=self.shared_positions(batch["input_ids"]))
        return out.last_hidden_state

    def shared_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The reference's ids: the tokenizer's prefix and every label token at the first position, then 1, 2, ..."""
        start = int(self.span_index.max()) + 1  # the first token after the label names
        steps = torch.arange(input_ids.size(1), device=input_ids.device)
        positions = (steps - start + 1).clamp(min=0) + _position_offset(self.body.config)
        return positions.expand_as(input_ids)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        z, theta = self.features(batch)  # [B, P, D], [B, C, D]
        labels = batch["labels"]
        valid = labels != -100
        contrast = subsample_o(labels, valid, self.config)[valid] if self.labels.task == "ner" else None
        rows = valid.nonzero(as_tuple=True)[0]
        return dual_contrastive_loss(z[valid], theta[rows], labels[valid], self.config.alpha,
                                     self.config.temperature, contrast)


def _position_offset(config) -> int:
    """RoBERTa-style embeddings number positions from padding_idx + 1; explicit ids must too."""
    return config.pad_token_id + 1 if config.model_type in ("roberta", "xlm-roberta", "camembert") else 0


def subsample_o(labels: torch.Tensor, keep: torch.Tensor, config: DualCLConfig) -> torch.Tensor:
    """Keep every entity word and a random share of O words, so O does not swamp the contrast."""
    is_o = keep & (labels == 0)
    n_entity = int((keep & (labels > 0)).sum())
    budget = max(config.min_o, int(config.o_ratio * n_entity))
    o_index = is_o.flatten().nonzero(as_tuple=True)[0]
    if len(o_index) <= budget:
        return keep
    drop = o_index[torch.randperm(len(o_index), device=labels.device)[budget:]]
    keep = keep.clone().flatten()
    keep[drop] = False
    return keep.view_as(labels)


class ContrastiveBaselineModel(FinetuneModel):
    """DualCL's baselines as its reference code runs them: a linear head on the first token (decoders: the
    last; NER: each word) trained with cross-entropy (``ce``) or with (1 - alpha) CE + alpha x the supervised
    contrastive loss of the L2-normalised features at temperature tau (``scl``, Gunel et al. 2021)."""

    def __init__(self, backbone: Backbone, labels: LabelSpace, config: DualCLConfig, max_length: int):
        if config.loss == "scl" and config.pair_encoding != "cross":
            raise XshotError("dualcl loss 'scl' contrasts the joint pair encoding; use pair_encoding cross")
        super().__init__(backbone, labels, config, max_length)
        self.config = config

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.config.loss == "ce":
            return super().loss(batch)
        z = self.at(self.hidden_states(batch), batch["positions"])
        labels = batch["labels"]
        valid = labels != -100
        logits = self.head(z)
        ce = F.cross_entropy(logits[valid].float(), labels[valid])
        keep = subsample_o(labels, valid, self.config) if self.labels.task == "ner" else valid
        z_n = F.normalize(z[keep].float(), dim=-1)
        scl = supervised_contrast(z_n, z_n, labels[keep], self.config.temperature)
        return (1 - self.config.alpha) * ce + self.config.alpha * scl


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: DualCLConfig,
          *, max_length: int, source_language: str | None = None) -> XshotModel:
    labels = LabelSpace.for_task(task, entity_types, config.ner_tags)  # one scheme for every loss
    if config.loss != "dual":
        return ContrastiveBaselineModel(backbone, labels, config, max_length)
    return DualCLModel(backbone, labels, config, max_length)
