"""DualCL for sentence pairs and, as an extension, for token classification.

Input: ``[CLS] l_1 ... l_C [SEP] text``. The feature z is the first token's state (NLI) or each word's
first sub-token state (NER); the classifier theta_c is the state of label c's name in the same input
(mean over its sub-tokens, since multilingual vocabularies split many label names). Logits are z . theta_c.

On decoders the label names come first and z is the last token (NLI) or each word's first
sub-token (NER). Causal attention means the label states cannot see the text: theta is the same for
every input, so DualCL on a decoder degrades to a label-name-initialised classifier with contrastive
regularisation.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from xshot.backbone import Backbone
from xshot.errors import XshotError
from xshot.methods.base import LabelSpace, XshotModel
from xshot.methods.dualcl.config import DualCLConfig
from xshot.methods.dualcl.loss import dual_contrastive_loss
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

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        z, theta = self.features(batch)  # [B, P, D], [B, C, D]
        labels = batch["labels"]
        valid = labels != -100
        contrast = self._subsample_o(labels, valid)[valid] if self.labels.task == "ner" else None
        rows = valid.nonzero(as_tuple=True)[0]
        return dual_contrastive_loss(z[valid], theta[rows], labels[valid], self.config.alpha,
                                     self.config.temperature, contrast)

    def _subsample_o(self, labels: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Keep every entity word and a random share of O words, so O does not swamp the contrast."""
        is_o = keep & (labels == 0)
        n_entity = int((keep & (labels > 0)).sum())
        budget = max(self.config.min_o, int(self.config.o_ratio * n_entity))
        o_index = is_o.flatten().nonzero(as_tuple=True)[0]
        if len(o_index) <= budget:
            return keep
        drop = o_index[torch.randperm(len(o_index), device=labels.device)[budget:]]
        keep = keep.clone().flatten()
        keep[drop] = False
        return keep.view_as(labels)


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: DualCLConfig,
          *, max_length: int, source_language: str | None = None) -> DualCLModel:
    return DualCLModel(backbone, LabelSpace.for_task(task, entity_types, "io"), config, max_length)
