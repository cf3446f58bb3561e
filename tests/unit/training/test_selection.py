"""Choosing on the shots only: stratified folds, cross-validation, and the in-run hyper-parameter search."""

import json

import pytest
import torch

from tests.unit.methods.conftest import NLI
from tests.unit.methods.test_lm_bff_entlm import SHOTS, make
from xshot.data.examples import NERExample, NLIExample
from xshot.errors import XshotError
from xshot.training.config import RunConfig
from xshot.training.selection import CrossValidation, candidate_configs, search_space, stratified_folds

CPU = torch.device("cpu")


def test_cross_validation_trains_and_scores_on_the_shots_only(tiny_encoder, monkeypatch):
    model = make(tiny_encoder)
    seen = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda examples: seen.append(list(examples)) or encode(examples))
    config = model.config
    cv = CrossValidation(model, list(SHOTS), config, CPU, None, seed=3, max_steps=1)
    from xshot.methods.base import Candidate

    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    scores = cv([Candidate("a", lambda m: None), Candidate("b", lambda m: None)], 3)
    assert [s.name for s in scores] == ["a", "b"] and all(len(s.fold_scores) == 3 for s in scores)
    assert scores[0].fold_scores == scores[1].fold_scores  # same start, same seed: same result
    assert all(ex in SHOTS for batch in seen for ex in batch)
    after = dict(model.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in before)  # the weights are put back


def test_a_candidate_whose_training_diverges_scores_0_on_that_fold_and_loses(tiny_encoder):
    from xshot.methods.base import Candidate
    from xshot.results import best_candidate

    model = make(tiny_encoder)
    cv = CrossValidation(model, list(SHOTS), model.config, CPU, None, seed=3, max_steps=1)
    real_loss = model.loss

    def diverge(m):  # candidate "nan": its loss is NaN on every fold
        m.loss = lambda batch: real_loss(batch) * float("nan")

    def heal(m):
        m.loss = real_loss

    scores = cv([Candidate("nan", diverge), Candidate("fine", heal)], 3)
    assert scores[0].fold_scores == [0.0, 0.0, 0.0] and scores[0].diverged == 3
    assert scores[1].diverged == 0 and len(scores[1].fold_scores) == 3
    assert scores[1].mean > 0 and best_candidate(scores) == 1


def test_stratified_folds_are_disjoint_seeded_and_balanced():
    examples = [NLIExample(str(i), "h", lab) for i, lab in enumerate(["entailment"] * 6 + ["neutral"] * 6
                                                                       + ["contradiction"] * 6)]
    folds = stratified_folds(examples, 3, seed=1)
    assert sorted(i for f in folds for i in f) == list(range(18))
    assert all(sorted(examples[i].label for i in f).count("neutral") == 2 for f in folds)
    assert folds == stratified_folds(examples, 3, seed=1) and folds != stratified_folds(examples, 3, seed=2)
    ner = [NERExample(("a",), ("B-PER",)), NERExample(("b",), ("B-LOC",)), NERExample(("c",), ("B-PER",)),
           NERExample(("d",), ("B-LOC",)), NERExample(("e",), ("O",)), NERExample(("f",), ("O",))]
    folds = stratified_folds(ner, 2, seed=0)
    for f in folds:  # each fold gets one PER, one LOC and one sentence without entities
        assert sorted(ner[i].tags[0] for i in f) == ["B-LOC", "B-PER", "O"]


def test_search_space_is_every_combination_in_the_listed_order():
    assert search_space({"learning_rate": [1e-5, 3e-5], "max_steps": [5, 10]}) == [
        {"learning_rate": 1e-5, "max_steps": 5}, {"learning_rate": 1e-5, "max_steps": 10},
        {"learning_rate": 3e-5, "max_steps": 5}, {"learning_rate": 3e-5, "max_steps": 10}]


def test_candidate_configs_apply_each_point_and_check_it(tiny_encoder):
    from xshot.training.prepare import method_config

    config = RunConfig(task="nli", model=tiny_encoder, method="lora", train="jsonl:x", max_steps=7,
                       search={"learning_rate": [1e-4, 1e-3], "warmup_ratio": [0.0]}, selection="cv")
    points = candidate_configs(config, method_config(config))
    assert [(c.learning_rate, c.warmup_ratio, c.max_steps) for _, c in points] == [(1e-4, 0.0, 7), (1e-3, 0.0, 7)]
    bad = config.model_copy(update={"search": {"weight_decay": [-1.0]}})
    with pytest.raises(XshotError, match="weight_decay must be at least 0"):
        candidate_configs(bad, method_config(config))
    with pytest.raises(ValueError, match="needs selection"):
        RunConfig(task="nli", model="m", method="lora", train="jsonl:x", search={"learning_rate": [1e-4]})
    with pytest.raises(ValueError, match="non-empty list"):
        RunConfig(task="nli", model="m", method="lora", train="jsonl:x", search={"learning_rate": []}, selection="cv")


@pytest.mark.parametrize("method, option", [("lora", "rank"), ("dualcl", "alpha"), ("dualcl", "temperature"),
                                            ("finetune", "dropout"), ("prompt", "template")])
def test_an_option_fixed_when_the_model_is_built_cannot_be_searched(method, option):
    """A candidate trains the model built with the run's options: searching one that shapes the model was a
    silent no-op (identical fold scores, a "chosen" value never used), so it is refused before any work."""
    with pytest.raises(ValueError, match=f"search: {option} is fixed when the model is built"):
        RunConfig(task="nli", model="m", method=method, train="jsonl:x", search={option: [1, 2]}, selection="cv")


def _write(path, examples):
    path.write_text("".join(json.dumps(ex.to_json()) + "\n" for ex in examples), encoding="utf-8")
    return f"jsonl:{path}"


@pytest.mark.parametrize("selection", ["cv", "dev-k"])
def test_selection_never_reads_the_test_data(tiny_encoder, tmp_path, selection):
    from xshot.training.run import run

    pool = [NLIExample(f"{p} {c}", f"{h} {c}", lab) for c in "abcdefgh" for p, h, lab in (
        ("a man is playing a guitar", "a man plays music", "entailment"),
        ("the cat sleeps", "the dog barks", "neutral"),
        ("it is raining", "the sun is shining", "contradiction"))]
    train = _write(tmp_path / "train.jsonl", pool)
    flipped = {"entailment": "contradiction", "contradiction": "neutral", "neutral": "entailment"}
    clean = _write(tmp_path / "test.jsonl", NLI)
    poisoned = _write(tmp_path / "poisoned.jsonl", [NLIExample(e.premise, e.hypothesis, flipped[e.label]) for e in NLI])
    results = []
    for test in (clean, poisoned):
        config = RunConfig(task="nli", model=tiny_encoder, method="finetune", train=train, k=4, seed=3,
                           eval=[test], max_steps=2, batch_size=4, bootstrap=0, max_length=64,
                           search={"learning_rate": [1e-5, 1e-2], "max_steps": [1, 3]}, selection=selection,
                           selection_folds=2)
        results.append(run(config))
    first, second = results
    assert first.choices == second.choices  # same choice and same fold scores, whatever the test labels
    (chosen,) = first.choices
    assert chosen.what == "hyperparameters" and len(chosen.candidates) == 4
    assert all(len(c.fold_scores) == (2 if selection == "cv" else 1) for c in chosen.candidates)
    best = max(chosen.candidates, key=lambda c: c.mean)
    assert best.mean == max(c.mean for c in chosen.candidates)
    assert first.method_config["learning_rate"] == chosen.chosen["learning_rate"]
    assert first.training[0].steps == chosen.chosen["max_steps"]
    assert first.time.choose_s > 0
    scores = [r.evaluations[next(iter(r.evaluations))].scores["accuracy"] for r in results]
    assert scores[0] + scores[1] <= 1.0 + 1e-9  # the poisoned labels do change the test score, only it


def test_the_dev_k_sample_is_disjoint_from_the_shots(tmp_path):
    from xshot.training.prepare import Runtime, dev_sample, training_data

    pool = [NLIExample(f"premise {i}", "h", lab) for i in range(30) for lab in ("entailment", "neutral", "contradiction")]
    train = _write(tmp_path / "train.jsonl", pool)
    config = RunConfig(task="nli", model="m", method="finetune", train=train, k=5, seed=2,
                       search={"learning_rate": [1e-5]}, selection="dev-k")
    rt = Runtime(CPU, None, None, False)
    shots = training_data(config, train, 5, rt)
    dev = dev_sample(config, shots, rt)
    assert len(dev) == 15 and not {json.dumps(e.to_json()) for e in dev} & {json.dumps(e.to_json()) for e in shots.examples}
    assert dev == dev_sample(config, shots, rt)


def test_training_flops_by_hand_and_the_budget_in_steps(tiny_encoder):
    from xshot.training.trainer import flops_per_token, steps_for_budget, train

    from xshot.methods import get_method

    model = make(tiny_encoder, method="finetune")
    config = get_method("finetune").config_class()
    body = model.body
    embedding = body.get_input_embeddings().weight
    n = sum(p.numel() for p in body.parameters() if p is not embedding)
    trainable = sum(p.numel() for p in body.parameters() if p is not embedding and p.requires_grad)
    assert trainable == n  # only the word embeddings are frozen
    assert flops_per_token(model) == pytest.approx(6 * n)  # 2N forward + 2N activations + 2N weights
    for p in body.parameters():
        p.requires_grad_(False)
    assert flops_per_token(model) == pytest.approx(4 * n)  # a frozen body: no weight gradients
    for p in body.parameters():
        p.requires_grad_(True)
    embedding.requires_grad_(False)
    features = model.encode(SHOTS)
    mean = sum(len(f.input_ids) for f in features) / len(features)
    per_step = 6 * n * mean * config.batch_size
    assert steps_for_budget(model, features, config, 10 * per_step) == 10
    result = train(model, features, config, seed=1, device=CPU, max_steps=2, progress=False)
    assert result.tokens > 0 and result.flops == pytest.approx(result.tokens * 6 * n)


def test_budget_is_one_of_steps_or_flops():
    base = dict(task="nli", model="m", method="finetune", train="jsonl:x")
    assert RunConfig(**base, budget={"steps": 30}).max_steps == 30
    with pytest.raises(ValueError, match="one of steps or train_flops"):
        RunConfig(**base, budget={"seconds": 3})
    with pytest.raises(ValueError, match="disagree"):
        RunConfig(**base, budget={"steps": 30}, max_steps=10)
    assert RunConfig(**base).key() == RunConfig(**base, budget={}).key()


def test_equal_means_are_ties_whatever_their_last_bit_and_go_to_the_first_listed():
    from xshot.results import CandidateScore, best_candidate

    a = CandidateScore(name="learning_rate=3e-05", fold_scores=[0.25, 1 / 3])  # 7/24, one bit below
    b = CandidateScore(name="learning_rate=0.0001", fold_scores=[5 / 24, 0.375])  # 7/24, one bit above
    assert a.mean != b.mean and abs(a.mean - b.mean) < 1e-15  # what a real cell stored
    assert best_candidate([a, b]) == 0 and best_candidate([b, a]) == 0
    better = CandidateScore(name="x", fold_scores=[0.25, 0.375])
    assert best_candidate([a, b, better]) == 2
    assert best_candidate([CandidateScore(name="empty"), a]) == 1  # a candidate without scores never wins


def test_successive_halving_drops_the_worse_half_after_each_fold(tiny_encoder):
    from xshot.methods.base import Candidate
    from xshot.results import best_candidate
    from xshot.training.selection import halving_runs

    model = make(tiny_encoder)
    cv = CrossValidation(model, list(SHOTS), model.config, CPU, None, seed=3, max_steps=1)
    real_loss, trained = model.loss, []

    def diverge(m):
        trained.append("nan")
        m.loss = lambda batch: real_loss(batch) * float("nan")

    def heal(name):
        return lambda m: trained.append(name) or setattr(m, "loss", real_loss)

    scores = cv([Candidate("nan", diverge), Candidate("a", heal("a")), Candidate("b", heal("b"))], 3, halving=True)
    # fold 1: all three; "nan" (0.0) is dropped, ceil(3/2) = 2 survive; fold 2: those two, one survives; stop
    assert trained == ["nan", "a", "b", "a", "b"] and len(trained) == halving_runs(3, 3) == 5
    assert scores[0].fold_scores == [0.0] and scores[0].dropped_after == 1
    assert [len(s.fold_scores) for s in scores[1:]] == [2, 2]
    assert scores[1].fold_scores == scores[2].fold_scores  # the same training: a tie, kept by the first listed
    assert (scores[1].dropped_after, scores[2].dropped_after) == (None, 2)
    assert best_candidate(scores) == 1


def test_halving_by_hand():
    from xshot.results import CandidateScore, best_candidate
    from xshot.training.selection import halving_runs, halving_survivors

    assert [halving_runs(n, f) for n, f in [(2, 2), (4, 4), (3, 4), (5, 2), (1, 3)]] == [2, 6, 5, 8, 1]
    s = [CandidateScore(name=n, fold_scores=[v]) for n, v in [("a", 0.5), ("b", 0.7), ("c", 0.5), ("d", 0.1)]]
    assert halving_survivors(s) == [0, 1]  # b, then the tie a = c goes to the first listed
    assert halving_survivors(s[:3]) == [0, 1]  # ceil(3 / 2) = 2
    dropped = CandidateScore(name="early", fold_scores=[0.9], dropped_after=1)
    kept = CandidateScore(name="kept", fold_scores=[0.6, 0.4])
    assert best_candidate([dropped, kept]) == 1  # a dropped candidate is never chosen, whatever its mean


def test_selection_halving_needs_cv_and_leaves_existing_keys_alone():
    base = dict(task="nli", model="m", method="finetune", train="xnli:en", k=4, seed=1,
                search={"learning_rate": [1e-5, 1e-4]})
    with pytest.raises(ValueError, match="selection_halving is for selection: cv"):
        RunConfig(**base, selection="dev-k", selection_halving=True)
    assert RunConfig(**base, selection="cv").key() == RunConfig(**base, selection="cv", selection_halving=False).key()
    assert RunConfig(**base, selection="cv").key() != RunConfig(**base, selection="cv", selection_halving=True).key()


def test_the_plan_counts_the_fold_trainings_halving_runs():
    from xshot.studies.plan import selection_steps

    base = dict(task="nli", model="m", method="finetune", train="xnli:en", k=4, seed=1, max_steps=10,
                search={"learning_rate": [1e-5, 1e-4, 1e-3]}, selection="cv", selection_folds=4)
    assert selection_steps(RunConfig(**base)) == 3 * 4 * 10
    assert selection_steps(RunConfig(**base, selection_halving=True)) == (3 + 2) * 10
