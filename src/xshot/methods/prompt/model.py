"""Verbalizer scoring: the LM head's scores of label words at the answer slot.

NLI: the cloze template's ``<mask>`` (encoders) or the end of the prompt (decoders). Multi-token label
words score the **mean** of their sub-token log-probabilities: on encoders at the single mask (see
``heads.mean_word_scores``), on decoders autoregressively, each sub-token conditioned on the ones before.

NER (EntLM, Ma et al. 2022, template-free): at each word's first sub-token, entity classes score their
label word and O scores the token itself. Decoding takes the best of these C scores, a restriction of
EntLM's full-vocabulary argmax to the candidates that map to a tag (so it never needs the full head).
On decoders the state at position t predicts token t+1, so the token itself is scored from the state
before the word (the one that predicts it; a BOS is put first where the tokenizer adds none), while the
label words are scored at the word's first sub-token, the first state that has read the word (from the
state before it the model could only guess whether an entity comes next).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from xshot.backbone import Backbone
from xshot.methods.base import LabelSpace, XshotModel
from xshot.methods.heads import VocabScorer, label_word_table, mean_word_scores
from xshot.methods.inputs import InputFormat
from xshot.methods.prompt.config import PromptConfig
from xshot.methods.prompts import template, verbalizer


class PromptModel(XshotModel):
    def __init__(self, backbone: Backbone, labels: LabelSpace, config: PromptConfig, max_length: int,
                 source_language: str | None = None):
        style = "cloze" if labels.task == "nli" else "plain"
        fmt = InputFormat(backbone, style, max_length,
                          template=template(backbone.kind, config.template, config.prompts_file)
                          if labels.task == "nli" else None,
                          context_start=labels.task == "ner" and backbone.kind == "decoder")
        super().__init__(backbone, labels, fmt)
        self.require_cross_encoding(config, "a verbalizer scores the answer slot of one joint prompt")
        self.config = config
        self.scorer = VocabScorer(backbone)
        self.source_language = source_language
        if self.scorer.mode == "tied-input-embeddings":
            self.notes.append("verbalizer scores tied to the input word embeddings: the backbone has no pretrained LM head")
        self.set_language(source_language)

    def head_parameters(self):
        return [self.scorer.bias] if self.scorer.bias is not None else []

    @property
    def _scored_classes(self) -> tuple[str, ...]:
        """Classes scored by a label word (EntLM's O is scored by the token itself)."""
        return self.labels.classes if self.labels.task == "nli" else self.labels.classes[1:]

    def set_language(self, language: str | None) -> None:
        lang = language if self.config.verbalizer_language == "target" else self.source_language
        words = verbalizer(self.labels.task, lang, self.config.label_words, self.config.prompts_file)
        ids, mask = label_word_table(self.backbone, words.for_classes(self._scored_classes))
        self.label_words = words.for_classes(self._scored_classes)
        device = next(self.body.parameters()).device
        self.register_buffer("word_ids", ids.to(device), persistent=False)
        self.register_buffer("word_mask", mask.to(device), persistent=False)
        self.autoregressive = self.backbone.kind == "decoder" and self.labels.task == "nli" and bool(
            (self.word_mask.sum(-1) > 1).any())

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.autoregressive:
            return self._continuation_scores(batch)
        return super().forward(batch)

    def score(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.at(hidden, batch["positions"])  # [B, P, D]
        words = mean_word_scores(self.scorer(h, self.word_ids.reshape(-1)), self.word_mask)
        if self.labels.task == "nli":
            return words
        own = batch["input_ids"].gather(1, batch["positions"]).unsqueeze(-1)  # [B, P, 1]
        if self.backbone.kind == "decoder":  # the state at t predicts token t+1: read the one before the word
            h = self.at(hidden, (batch["positions"] - 1).clamp(min=0))
        return torch.cat([self.scorer(h, own), words], dim=-1)

    def _continuation_scores(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Decoder, multi-token words: append each word after the prompt and average its log-probs."""
        ids = batch["input_ids"]
        answer = batch["positions"][:, 0]  # last prompt token
        n_classes, width = self.word_ids.shape
        rows, masks, read, target = [], [], [], []
        for i in range(ids.size(0)):
            end = int(answer[i]) + 1
            for c in range(n_classes):
                word = self.word_ids[c][self.word_mask[c]]
                rows.append(torch.cat([ids[i, :end], word]))
                read.append(torch.arange(end - 1, end - 1 + width, device=ids.device).clamp(max=end - 2 + len(word)))
                target.append(F.pad(word, (0, width - len(word))))
                masks.append(self.word_mask[c])
        length = max(len(r) for r in rows)
        pad = self.backbone.tokenizer.pad_token_id
        expanded = {
            "input_ids": torch.stack([F.pad(r, (0, length - len(r)), value=pad) for r in rows]),
            "attention_mask": torch.stack([F.pad(torch.ones_like(r), (0, length - len(r))) for r in rows]),
        }
        hidden = self.hidden_states(expanded)
        h = self.at(hidden, torch.stack(read))  # [B*C, W, D]
        logprobs = torch.log_softmax(self.scorer.full_vocabulary(h).float(), dim=-1)
        token_lp = logprobs.gather(-1, torch.stack(target).unsqueeze(-1)).squeeze(-1)
        m = torch.stack(masks).float()
        scores = (token_lp * m).sum(-1) / m.sum(-1)
        return scores.view(ids.size(0), n_classes)


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: PromptConfig,
          *, max_length: int, source_language: str | None = None) -> PromptModel:
    labels = LabelSpace.for_task(task, entity_types, "io")
    return PromptModel(backbone, labels, config, max_length, source_language)
