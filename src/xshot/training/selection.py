"""Choosing among candidates with the training shots only: stratified folds and cross-validation.

A few-shot run has no honest dev set beyond its shots ("true few-shot", Perez et al. 2021), so a choice
a method makes (LM-BFF's label words, later hyper-parameters) is scored by K-fold cross-validation on
the shots: each candidate is trained from the same initial weights on K-1 folds and scored on the
held-out fold. Evaluation data is never passed in, so it cannot influence a choice. The loaded model
and its encoded shots are reused: only the trainable weights are copied aside and put back.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import torch

from xshot.data.examples import NERExample, NLIExample
from xshot.errors import Diverged
from xshot.methods.base import Candidate, MethodConfig, XshotModel
from xshot.results import CandidateScore, ShotChoice, best_candidate
from xshot.training.evaluate import predict
from xshot.training.trainer import train

if TYPE_CHECKING:  # pragma: no cover
    from xshot.training.config import RunConfig


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

    def __call__(self, candidates: list[Candidate], n_folds: int, halving: bool = False) -> list[CandidateScore]:
        """Each candidate trained on K-1 folds of the shots and scored on the held-out fold, K times; with
        ``halving``, the survivors of each fold only (see :func:`halving_survivors`)."""
        folds = stratified_folds(self.examples, n_folds, self.seed)
        splits = [([ex for i, ex in enumerate(self.examples) if i not in set(held)], [self.examples[i] for i in held])
                  for held in folds]
        return self._score(candidates, splits, halving)

    def holdout(self, candidates: list[Candidate], dev: list) -> list[CandidateScore]:
        """Each candidate trained on all the shots and scored on a disjoint sample (LM-BFF's dev set of K)."""
        return self._score(candidates, [(list(self.examples), list(dev))])

    def _score(self, candidates: list[Candidate], splits: list[tuple[list, list]],
               halving: bool = False) -> list[CandidateScore]:
        snapshot = WeightSnapshot(self.model)
        results = [CandidateScore(name=c.name) for c in candidates]
        alive = list(range(len(candidates)))
        for done, (fit, test) in enumerate(splits, start=1):
            for i in alive:
                score = self._fold_score(candidates[i], fit, test, snapshot)
                results[i].fold_scores.append(0.0 if score is None else score)
                results[i].diverged += score is None
            if halving:
                keep = halving_survivors([results[i] for i in alive])
                for j, i in enumerate(alive):
                    if j not in keep:
                        results[i].dropped_after = done
                alive = [alive[j] for j in keep]
                if len(alive) == 1:
                    break
        snapshot.restore()
        self.model.train(False)
        return results

    def _fold_score(self, candidate: Candidate, fit: list, test: list, snapshot: WeightSnapshot) -> float | None:
        """The candidate trained from the snapshot on ``fit``, its primary metric on ``test``; None if it diverged
        (the worst score on this fold: chosen only if every candidate diverges)."""
        from xshot.metrics import ner_scores, nli_scores, primary_metric

        snapshot.restore()
        own = candidate.apply(self.model)  # a config of its own brings its own step count
        try:
            train(self.model, self.model.encode(fit), own or self.config, seed=self.seed, device=self.device,
                  dtype=self.dtype, max_steps=None if own else self.max_steps,
                  epochs=None if own else self.epochs, progress=False)
            features = self.model.encode(test)
            predicted = predict(self.model, features, device=self.device, dtype=self.dtype)
        except Diverged:
            return None
        labels = self.model.labels
        if labels.task == "nli":
            got = nli_scores([ex.label for ex in test], [labels.classes[c[0]] for c in predicted])
        else:
            pred = [labels.decode_ner(c, f.n_words) for c, f in zip(predicted, features)]
            got = ner_scores([list(ex.tags) for ex in test], pred)
        return float(got[primary_metric(labels.task)])


def halving_survivors(scores: list[CandidateScore]) -> list[int]:
    """Successive halving (Jamieson & Talwalkar 2016) over folds: the better half (rounded up) of candidates
    that have run the same folds, by mean score, ties to the first listed; returned in list order."""
    ranked = sorted(range(len(scores)), key=lambda i: (-round(scores[i].mean or 0.0, 9), i))
    return sorted(ranked[: math.ceil(len(scores) / 2)])


def halving_runs(n_candidates: int, n_folds: int) -> int:
    """Fold trainings successive halving runs: every survivor on each fold until one is left."""
    runs, alive = 0, n_candidates
    for _ in range(n_folds):
        runs += alive
        alive = math.ceil(alive / 2)
        if alive == 1:
            break
    return runs


# -- hyper-parameter search --------------------------------------------------------------------------
RUN_LEVEL = ("learning_rate", "batch_size")  # RunConfig fields that override the method config


def search_space(search: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the searched values, in the order the study lists them."""
    names = list(search)
    return [dict(zip(names, values)) for values in itertools.product(*(search[n] for n in names))]


def candidate_name(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def candidate_configs(config: "RunConfig", base: MethodConfig) -> list[tuple[dict[str, Any], MethodConfig]]:
    """Each point of the run's search space as the method config it trains with (max_steps included);
    an unknown or invalid value fails here, before anything is trained."""
    from xshot.training.prepare import method_config

    out = []
    default_steps = config.max_steps if config.max_steps is not None else base.max_steps
    for values in search_space(config.search):
        run_level = {k: v for k, v in values.items() if k in RUN_LEVEL}
        options = {k: v for k, v in values.items() if k not in RUN_LEVEL and k != "max_steps"}
        variant = config.model_copy(update={**run_level, "options": {**config.options, **options}})
        mcfg = method_config(variant)
        out.append((values, dataclasses.replace(mcfg, max_steps=int(values.get("max_steps", default_steps)))))
    return out


def select_hyperparameters(config: "RunConfig", model: XshotModel, cv: CrossValidation,
                           dev: list | None) -> tuple[MethodConfig, ShotChoice]:
    """The best point of the search space by ``config.selection``, and the record of how it was chosen.
    Only the shots (and for dev-k the disjoint dev sample) are read; ties go to the first listed."""
    points = candidate_configs(config, cv.config)
    candidates = [Candidate(candidate_name(v), apply=lambda _m, c=c: c) for v, c in points]
    if config.selection == "cv":
        scores = cv(candidates, config.selection_folds, halving=config.selection_halving)
        how = f"{config.selection_folds}-fold cross-validation on the {len(cv.examples)} shots (stratified, seeded)"
        if config.selection_halving:
            how += "; successive halving: the worse half of the candidates dropped after each fold"
    else:
        scores = cv.holdout(candidates, dev or [])
        how = f"trained on the {len(cv.examples)} shots, scored on a disjoint sample of {len(dev or [])} (dev-k)"
    best = best_candidate(scores)
    values, mcfg = points[best]
    return mcfg, ShotChoice(what="hyperparameters", chosen=values, how=how, candidates=scores)
