"""Verbalizer scoring: the LM head's scores of label words at the answer slot.

NLI (LM-BFF): the cloze template's ``<mask>`` (encoders) or the end of the prompt (decoders). Multi-token
label words score the **mean** of their sub-token log-probabilities: on encoders at the single mask (see
``heads.mean_word_scores``), on decoders autoregressively, each sub-token conditioned on the ones before.
Optionally with LM-BFF's demonstrations (``demonstrations.py``) and label words searched on the shots
(``label_search.py``).

NER (EntLM, Ma et al. 2022, template-free), ``ner_objective``:

- ``full`` (the paper's, default): one virtual label token per entity type, its output embedding and
  bias initialised to the mean of its label words' (their first sub-tokens'); training is the LM loss over
  the whole vocabulary plus the virtual tokens at every token of the sentence, the target being the
  type's virtual token for tokens of entity words and the token itself for the others (as the reference
  code ``train_transformer.py``); a word is tagged with a type iff a virtual token is the argmax at its
  first sub-token, O otherwise. The class scores xshot returns are [best real-vocabulary logit, virtual
  logits], whose argmax is exactly that rule (their softmax is a two-level summary, not the full one).
  The virtual tokens train even when the word embeddings are frozen (they are new, as in the paper).
- ``restricted``: at each word's first sub-token, entity classes score their label word and O the token
  itself, a softmax over these C candidates only.

On decoders the state at position t predicts token t+1. ``full`` therefore reads every class at the
word's first sub-token (the first state that has read the word) and the target of a non-entity token is
the next token (the LM's own objective, which a causal model cannot replace by copying); ``restricted``
scores the token itself from the state before the word (the one that predicts it; a BOS is put first
where the tokenizer adds none) and the label words at the word's first sub-token.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from xshot.backbone import Backbone
from xshot.errors import XshotError
from xshot.methods.base import Candidate, LabelSpace, MethodConfig, Shots, XshotModel
from xshot.methods.heads import VocabScorer, label_word_table, mean_word_scores
from xshot.methods.inputs import Feature, InputFormat, SequenceChoices
from xshot.methods.prompt.config import PromptConfig
from xshot.methods.prompt.demonstrations import Demonstrations, SimilarityEncoder
from xshot.methods.prompt.label_search import (best_assignments, candidate_vocabulary, entity_label_words,
                                               likely_words)
from xshot.methods.prompt.sentences import sentence_log_likelihoods
from xshot.methods.prompts import LABEL_SLOT, Verbalizer, named_template, template, verbalizer
from xshot.results import ShotChoice, best_candidate

SCORING_NOTES = {
    "mlm-head": "label words scored by the pretrained MLM head (its transform, decoder and bias)",
    "lm-head-rows": "label words scored by the pretrained LM head (its rows of the label words)",
    "tied-input-embeddings": "verbalizer scores tied to the input word embeddings: the backbone has no "
                             "pretrained LM head",
}


class PromptModel(XshotModel):
    def __init__(self, backbone: Backbone, labels: LabelSpace, config: PromptConfig, max_length: int,
                 source_language: str | None = None):
        style = "cloze" if labels.task == "nli" else "plain"
        entlm_full = labels.task == "ner" and config.ner_objective == "full"
        if entlm_full and config.verbalizer_language == "target":
            raise XshotError("verbalizer_language=target has no effect with ner_objective=full (the label words "
                             "only initialise the virtual label tokens); use ner_objective=restricted")
        fmt = InputFormat(backbone, style, max_length,
                          template=template(backbone.kind, config.template, config.prompts_file)
                          if labels.task == "nli" else None,
                          context_start=labels.task == "ner" and backbone.kind == "decoder",
                          token_targets=entlm_full)
        super().__init__(backbone, labels, fmt)
        self.entlm_full = entlm_full
        self.require_cross_encoding(config, "a verbalizer scores the answer slot of one joint prompt")
        self.config = config
        self.scorer = VocabScorer(backbone)
        self.source_language = source_language
        self.searched: dict[str, str | list[str]] | None = None  # label words chosen on the shots
        self.notes.append(SCORING_NOTES[self.scorer.mode])
        self.demos: Demonstrations | None = None
        if config.lm_bff_demonstrations:
            separator = backbone.tokenizer("\n\n", add_special_tokens=False)["input_ids"]
            self.demos = Demonstrations(fmt, config.demonstrations, config.demo_sets, config.demo_filter_rate, 0,
                                        separator)
        self.named = named_template(config.template, config.prompts_file)
        self.whole_sentence = labels.task == "nli" and LABEL_SLOT in (fmt.template or "")
        if self.whole_sentence and (self.demos is not None or config.searches_label_words):
            raise XshotError("a {label} template (whole-sentence scoring) cannot be combined with LM-BFF "
                             "demonstrations or label_words=search (both score the answer slot at the end); "
                             "in-context demonstrations of whole sentences are the icl method")
        if self.whole_sentence:
            self.notes.append("whole-sentence scoring (XGLM, as lm-evaluation-harness): each class's sentence, the "
                              f"template {fmt.template!r} filled with its label word, scored by the "
                              f"{config.sequence_score} of its tokens' log-probabilities after the part all classes share"
                              + (f"; template {self.named.name}: {self.named.source}" if self.named else "")
                              + ("; trained by cross-entropy over these class scores" if config.trains else ""))
        self.set_language(source_language)
        if self.entlm_full:
            n, width = len(self._scored_classes), self.scorer.output_rows(torch.tensor([0]))[0].size(-1)
            self.virtual = nn.Parameter(torch.zeros(n, width))
            self.virtual_bias = nn.Parameter(torch.zeros(n))
            self._init_virtual()
            self.notes.append("EntLM full-vocabulary objective: one virtual label token per type, started at "
                              "the mean of its label words")

    def head_parameters(self):
        extra = [self.virtual, self.virtual_bias] if self.entlm_full else []
        return ([self.scorer.bias] if self.scorer.bias is not None else []) + extra

    @property
    def _scored_classes(self) -> tuple[str, ...]:
        """Classes scored by a label word (EntLM's O is scored by the token itself)."""
        return self.labels.classes if self.labels.task == "nli" else self.labels.classes[1:]

    def set_language(self, language: str | None) -> None:
        lang = language if self.config.verbalizer_language == "target" else self.source_language
        if self.searched is not None:
            self.label_words = [self.searched[c] for c in self._scored_classes]
        elif self.named is not None:  # a named template brings its own words per language
            named = {**self.named.words(lang), **(self.config.word_overrides or {})}
            self.label_words = Verbalizer(named).for_classes(self._scored_classes)
        else:
            words = verbalizer(self.labels.task, lang, self.config.word_overrides, self.config.prompts_file)
            self.label_words = words.for_classes(self._scored_classes)
        if self.whole_sentence:
            slots = {k: v for k, v in self.named.words(lang).items() if k not in self.labels.classes} if self.named \
                else {}
            self.input_format.sequence = SequenceChoices(tuple(self.label_words), tuple(sorted(slots.items())))
        ids, mask = label_word_table(self.backbone, self.label_words)
        device = next(self.body.parameters()).device
        self.register_buffer("word_ids", ids.to(device), persistent=False)
        self.register_buffer("word_mask", mask.to(device), persistent=False)
        self.autoregressive = self.backbone.kind == "decoder" and self.labels.task == "nli" and bool(
            (self.word_mask.sum(-1) > 1).any())
        if self.demos is not None:
            self.demos.dropped = self.demos.assembled = 0

    @torch.no_grad()
    def _init_virtual(self) -> None:
        """Each virtual label token starts at the mean output embedding and bias of its label words."""
        rows, biases = [], []
        for c in range(self.word_ids.size(0)):
            r, b = self.scorer.output_rows(self.word_ids[c][self.word_mask[c]])
            rows.append(r.mean(0))
            biases.append(b.mean())
        self.virtual.copy_(torch.stack(rows))
        self.virtual_bias.copy_(torch.stack(biases))

    # -- choices made on the shots ---------------------------------------------------------------
    def choose_from_shots(self, shots: Shots) -> list[ShotChoice]:
        choices = []
        if self.config.searches_label_words and self.searched is None:  # the first stage's shots decide
            search = self._search_nli if self.labels.task == "nli" else self._search_entities
            choices.append(search(shots))
        self.observe_shots(shots.examples, shots.language, shots.seed)  # the latest stage's shots are the pool
        return choices

    def observe_shots(self, examples: list, language: str | None, seed: int) -> None:
        if self.demos is None:
            return
        if self.config.demonstrations == "similar" and self.demos.encoder is None:
            self.demos.encoder = SimilarityEncoder(self.config.demo_encoder or self.backbone.name)
        self.demos.seed = seed
        self.demos.set_pool(examples, self.labels.classes, dict(zip(self.labels.classes, self.label_words)),
                            self.input_format.encode_nli(examples, self.labels.classes))

    def restore_choices(self, choices: list[ShotChoice]) -> None:
        for choice in choices:
            if choice.what == "label_words":
                self.searched = dict(choice.chosen)
                self.set_language(self.source_language)

    def _use_words(self, words: dict[str, str | list[str]]) -> MethodConfig | None:
        self.searched = dict(words)
        self.set_language(self.source_language)
        if self.entlm_full:
            self._init_virtual()
        steps = self.config.search_steps
        return dataclasses.replace(self.config, max_steps=steps) if steps is not None else None

    def _search_nli(self, shots: Shots) -> ShotChoice:
        cfg, classes = self.config, self.labels.classes
        vocab_ids, vocab_words = candidate_vocabulary(self.backbone)
        word_of = dict(zip(vocab_ids.tolist(), vocab_words))
        log_probs = self._answer_log_probs(self.input_format.encode_nli(shots.examples, classes))
        labels = [classes.index(ex.label) for ex in shots.examples]
        # a few more than k per class, so that k remain once words that do not tokenize back are dropped
        ranked = likely_words(log_probs, labels, len(classes), vocab_ids, 3 * cfg.search_words)
        candidates = [[i for i in ids if self.backbone.word_ids([word_of[i]], first=False)[0] == [i]][: cfg.search_words]
                      for ids in ranked]
        best = best_assignments(log_probs, labels, candidates, cfg.search_candidates)
        if not best:
            raise XshotError("label search found no assignment of distinct words to the classes")
        options = [{c: word_of[i] for c, i in zip(classes, combo)} for combo, _ in best]
        scored = []
        if len(options) > 1:
            scored = shots.cross_validate([Candidate(name="/".join(o.values()), apply=partial(PromptModel._use_words, words=o))
                                           for o in options], cfg.search_folds)
            pick = best_candidate(scored)
        else:
            pick = 0
        self._use_words(options[pick])
        zero_shot = ", ".join(f"{'/'.join(o.values())} {acc:.3f}" for o, (_, acc) in zip(options, best))
        how = (f"LM-BFF search: top {cfg.search_words} words per class by zero-shot likelihood on the "
               f"{len(labels)} shots; assignments by zero-shot accuracy ({zero_shot}); "
               + (f"re-ranked by {cfg.search_folds}-fold cross-validation on the shots" if scored else "no re-ranking"))
        return ShotChoice(what="label_words", chosen=options[pick], how=how, candidates=scored)

    def _search_entities(self, shots: Shots) -> ShotChoice:
        cfg = self.config
        corpus = cfg.label_word_corpus
        source = shots.load_examples(corpus) if corpus else shots.examples
        found = entity_label_words(source, self._scored_classes, cfg.entity_words, cfg.entity_ratio)
        names = verbalizer("ner", self.source_language, cfg.word_overrides, cfg.prompts_file)
        words = {t: found[t] or names.words[t] for t in self._scored_classes}
        self._use_words(words)
        empty = [t for t in self._scored_classes if not found[t]]
        how = (f"EntLM data-driven words: the {cfg.entity_words} most frequent words of each type in "
               f"{corpus or f'the {len(source)} shot sentences'} with more than {cfg.entity_ratio:.0%} of their "
               "occurrences of that type" + (f"; class name kept for {', '.join(empty)}" if empty else ""))
        return ShotChoice(what="label_words", chosen=words, how=how)

    @torch.no_grad()
    def _answer_log_probs(self, features: list[Feature]) -> torch.Tensor:
        """[N, V] zero-shot log-probabilities of the whole vocabulary at each input's answer slot (fp32)."""
        was_training = self.training
        self.eval()
        device = next(self.body.parameters()).device
        out = []
        for i in range(0, len(features), 16):
            batch = {k: v.to(device) for k, v in super().collate(features[i: i + 16]).items()}
            h = self.at(self.hidden_states(batch), batch["positions"][:, :1])[:, 0]
            out.append(torch.log_softmax(self.scorer.full_vocabulary(h), dim=-1).cpu())
        self.train(was_training)
        return torch.cat(out)

    # -- batches and scores ------------------------------------------------------------------------
    def train(self, mode: bool = True):
        super().train(mode)
        if getattr(self, "demos", None) is not None:
            self.demos.training = mode
        return self

    @property
    def rows_per_input(self) -> int:
        """Rows the body runs per encoded input (LM-BFF's demonstration sets at test time)."""
        return self.demos.sets if self.demos is not None and self.demos.pool is not None and not self.training else 1

    def collate(self, features: list[Feature]) -> dict[str, torch.Tensor]:
        if self.demos is None or self.demos.pool is None:
            return super().collate(features)
        rows, sets = self.demos.rows(features)
        batch = super().collate(rows)
        if sets > 1:
            batch["demo_sets"] = torch.tensor(sets)
        return batch

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.input_format.sequence is not None:
            return sentence_log_likelihoods(self, batch, len(self.label_words), self.config.sequence_score)
        scores = self._continuation_scores(batch) if self.autoregressive else super().forward(batch)
        if "demo_sets" in batch:  # average the class log-probabilities over each input's sets
            sets = int(batch["demo_sets"])
            scores = torch.log_softmax(scores.float(), dim=-1).view(-1, sets, scores.size(-1)).mean(1)
        return scores

    def score(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.at(hidden, batch["positions"])  # [B, P, D]
        if self.entlm_full:
            return self._entlm_scores(h, batch["position_mask"])
        words = mean_word_scores(self.scorer(h, self.word_ids.reshape(-1)), self.word_mask)
        if self.labels.task == "nli":
            return words
        own = batch["input_ids"].gather(1, batch["positions"]).unsqueeze(-1)  # [B, P, 1]
        if self.backbone.kind == "decoder":  # the state at t predicts token t+1: read the one before the word
            h = self.at(hidden, (batch["positions"] - 1).clamp(min=0))
        return torch.cat([self.scorer(h, own), words], dim=-1)

    def _entlm_scores(self, h: torch.Tensor, mask: torch.Tensor, chunk: int = 128) -> torch.Tensor:
        """[B, P, D], [B, P] real positions → [B, P, 1 + E]: the best real-vocabulary logit (O), then each
        virtual token's logit; zeros at padding positions (a batch's shorter sentences), which are not scored."""
        out = []
        for part in h[mask].split(chunk):  # the largest real-vocabulary logit of a few positions at a time
            features, best = self.scorer.max_logit(part)  # capping is monotone: the max of the capped logits
            virtual = F.linear(features, self.virtual.float()) + self.virtual_bias.float()
            out.append(self.scorer.cap(torch.cat([best[:, None], virtual], dim=-1)))
        scores = h.new_zeros(*h.shape[:2], 1 + self.virtual.size(0), dtype=torch.float32)
        if out:
            scores[mask] = torch.cat(out)
        return scores

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if not self.entlm_full:
            return super().loss(batch)
        targets = self.entlm_targets(batch)
        keep = targets != -100
        h = self.hidden_states(batch)[keep]  # [N, D]
        features, logits = self.scorer.project(h, exact=False)
        virtual = F.linear(features, self.virtual.to(features.dtype)) + self.virtual_bias.to(features.dtype)
        logits = self.scorer.cap(torch.cat([logits, virtual], dim=-1).float())
        return F.cross_entropy(logits, targets[keep])

    def entlm_targets(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """[B, L] vocabulary targets of EntLM's loss: V + type index - 1 (virtual) for tokens of entity words,
        else the token itself (encoders) or the next token (decoders); -100 where nothing is predicted."""
        classes, ids = batch["token_labels"], batch["input_ids"]
        vocab = self.scorer.vocabulary_size
        if self.backbone.kind == "decoder":
            own = torch.full_like(ids, -100)
            real_next = batch["attention_mask"][:, 1:].bool()
            own[:, :-1] = torch.where(real_next, ids[:, 1:], torch.full_like(ids[:, 1:], -100))
        else:
            own = ids
        targets = torch.where(classes > 0, vocab + classes - 1, own)
        return torch.where(classes == -100, torch.full_like(targets, -100), targets)

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

    def evaluation_notes(self) -> list[str]:
        notes = ["label words: " + "; ".join(f"{c} {', '.join(w) if isinstance(w, list) else w}"
                                             for c, w in zip(self._scored_classes, self.label_words))]
        if self.demos is not None and self.demos.pool is not None:
            d = self.demos
            notes.append(f"LM-BFF demonstrations ({d.mode}): {d.sets} sets per input from {len(d.pool.demos)} shots; "
                         f"{d.dropped} of {d.assembled} assembled inputs dropped demonstrations to fit max_length "
                         f"{self.input_format.max_length}")
        return notes


def build(backbone: Backbone, task: str, entity_types: tuple[str, ...], config: PromptConfig,
          *, max_length: int, source_language: str | None = None) -> PromptModel:
    labels = LabelSpace.for_task(task, entity_types, "io")
    return PromptModel(backbone, labels, config, max_length, source_language)
