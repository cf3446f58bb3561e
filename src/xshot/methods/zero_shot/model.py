"""Zero-shot scoring with the pretrained LM head, optionally contextually calibrated.

The scores are the ``prompt`` method's (label words at the answer slot for NLI, EntLM's label words
against the token itself for NER) with every weight frozen. Calibration (NLI) turns the class scores
into label-word probabilities renormalised over the classes, p = softmax(s), and divides them by
p_cf, their mean over the content-free inputs encoded exactly like a test input (same template, same
demonstrations for in-context learning): logits = log p - log p_cf. p_cf is computed once per
evaluation language (the label words may change with it) on the evaluation's device and precision.
"""

from __future__ import annotations

import torch

from xshot.backbone import Backbone
from xshot.data.examples import NLIExample
from xshot.methods.base import LabelSpace
from xshot.methods.prompt.model import PromptModel
from xshot.methods.zero_shot.config import ZeroShotConfig


class ZeroShotModel(PromptModel):
    def __init__(self, backbone: Backbone, labels: LabelSpace, config: ZeroShotConfig, max_length: int,
                 source_language: str | None = None):
        super().__init__(backbone, labels, config, max_length, source_language)
        for p in self.parameters():
            p.requires_grad_(False)
        self.calibrated = config.calibrate
        self._content_free_logp: torch.Tensor | None = None
        if self.calibrated:
            self.notes.append("contextual calibration (Zhao et al. 2021): label probabilities divided by their mean "
                              f"over the content-free inputs {config.content_free!r}")

    def set_language(self, language: str | None) -> None:
        super().set_language(language)
        self._content_free_logp = None

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        scores = super().forward(batch)
        if not self.calibrated:
            return scores
        if self._content_free_logp is None:
            self._content_free_logp = self.content_free_log_probs(batch["input_ids"].device)
        return torch.log_softmax(scores.float(), dim=-1) - self._content_free_logp

    def content_free_log_probs(self, device: torch.device) -> torch.Tensor:
        """log p_cf [C]: the mean class distribution of the content-free inputs."""
        examples = [NLIExample(premise=text, hypothesis=text, label=None) for text in self.config.content_free]
        features = self.encode(examples)
        batch = {k: v.to(device) for k, v in self.collate(features).items()}
        probs = torch.softmax(super().forward(batch).float(), dim=-1)
        return probs.mean(0).log()

    def evaluation_notes(self) -> list[str]:
        """The prompt's notes (its label words), then the content-free probabilities when calibrated."""
        if self._content_free_logp is None:
            return super().evaluation_notes()
        p = self._content_free_logp.exp().tolist()
        return [*super().evaluation_notes(), "content-free label probabilities: "
                + ", ".join(f"{c} {v:.3f}" for c, v in zip(self.labels.classes, p))]


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: ZeroShotConfig,
          *, max_length: int, source_language: str | None = None) -> ZeroShotModel:
    return ZeroShotModel(backbone, LabelSpace.for_task(task, entity_types, "io"), config, max_length, source_language)
