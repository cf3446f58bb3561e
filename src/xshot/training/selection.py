"""Choosing among candidates with the training shots only: stratified folds and cross-validation.

A few-shot run has no honest dev set beyond its shots ("true few-shot", Perez et al. 2021), so a choice
a method makes (LM-BFF's label words, later hyper-parameters) is scored by K-fold cross-validation on
the shots: each candidate is trained from the same initial weights on K-1 folds and scored on the
held-out fold. Evaluation data is never passed in, so it cannot influence a choice. The loaded model
and its encoded shots are reused: only the trainable weights are copied aside and put back.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import torch

from xshot.data.examples import NERExample, NLIExample
from xshot.methods.base import Candidate, MethodConfig, XshotModel
from xshot.results import CandidateScore
from xshot.training.evaluate import predict
from xshot.training.trainer import train


def fold_key(example: NLIExample | NERExample, counts: Counter) -> str:
    """What a fold is stratified by: the class (NLI), or the sentence's rarest entity type ("O" for none)."""
    if isinstance(example, NLIExample):
        return str(example.label)
    types = {t[2:] for t in example.tags or () if t != "O"}
    return min(types, key=lambda t: (counts[t], t)) if types else "O"


def stratified_folds(examples: Sequence[NLIExample | NERExample], n_folds: int, seed: int) -> list[list[int]]:
    """``n_folds`` disjoint lists of example indices covering all examples, each with about the same
    share of every stratum; seeded, so the same shots and seed give the same folds."""
    if n_folds < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    if len(examples) < n_folds:
        raise ValueError(f"{len(examples)} shots cannot make {n_folds} folds")
    counts: Counter = Counter(t[2:] for ex in examples if isinstance(ex, NERExample) for t in ex.tags or () if t != "O")
    strata: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        strata.setdefault(fold_key(ex, counts), []).append(i)
    rng = random.Random(seed)
    folds: list[list[int]] = [[] for _ in range(n_folds)]
    turn = 0  # continue the rotation across strata, so fold sizes differ by at most one
    for key in sorted(strata):
        members = strata[key]
        rng.shuffle(members)
        for i in members:
            folds[turn % n_folds].append(i)
            turn += 1
    return [sorted(f) for f in folds]


class WeightSnapshot:
    """The trainable weights of a model, copied aside so every candidate starts from the same point."""

    def __init__(self, model: XshotModel):
        self.model = model
        self.saved = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def restore(self) -> None:
        params = dict(self.model.named_parameters())
        for name, value in self.saved.items():
            params[name].copy_(value)


@dataclass
class CrossValidation:
    """K-fold cross-validation of candidates on the shots of one training stage."""

    model: XshotModel
    examples: list
    config: MethodConfig
    device: torch.device
    dtype: torch.dtype | None
    seed: int
    max_steps: int | None = None
    epochs: float | None = None

    def __call__(self, candidates: list[Candidate], n_folds: int) -> list[CandidateScore]:
        from xshot.metrics import ner_scores, nli_scores, primary_metric

        folds = stratified_folds(self.examples, n_folds, self.seed)
        snapshot = WeightSnapshot(self.model)
        metric = primary_metric(self.model.labels.task)
        results = []
        for candidate in candidates:
            scores = []
            for held in folds:
                held_set = set(held)
                snapshot.restore()
                own = candidate.apply(self.model)  # a config of its own brings its own step count
                fit = [ex for i, ex in enumerate(self.examples) if i not in held_set]
                test = [self.examples[i] for i in held]
                train(self.model, self.model.encode(fit), own or self.config, seed=self.seed, device=self.device,
                      dtype=self.dtype, max_steps=None if own else self.max_steps,
                      epochs=None if own else self.epochs, progress=False)
                features = self.model.encode(test)
                predicted = predict(self.model, features, device=self.device, dtype=self.dtype)
                labels = self.model.labels
                if labels.task == "nli":
                    got = nli_scores([ex.label for ex in test], [labels.classes[c[0]] for c in predicted])
                else:
                    pred = [labels.decode_ner(c, f.n_words) for c, f in zip(predicted, features)]
                    got = ner_scores([list(ex.tags) for ex in test], pred)
                scores.append(float(got[metric]))
            results.append(CandidateScore(name=candidate.name, fold_scores=scores))
        snapshot.restore()
        self.model.train(False)
        return results
