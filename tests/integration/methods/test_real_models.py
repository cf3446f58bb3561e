"""Every method × task × backbone end to end on the real data and the real offline models.

A few optimisation steps and small evaluation limits keep this inside CI's budget; what is checked
is that the whole path (spec → shots → model → training → evaluation → metrics.json → reload) works
on real multilingual checkpoints and data, not the scores themselves.
"""

import json

import pytest
import torch

from tests.conftest import offline_model, shared_data_root
from xshot.data import load
from xshot.data.sampling import subsample
from xshot.errors import XshotError
from xshot.methods import get_method, method_names
from xshot.training.checkpoint import load_model
from xshot.training.config import RunConfig
from xshot.backbone import select_precision
from xshot.training.evaluate import to_inference_precision
from xshot.training.prepare import Runtime
from xshot.training.run import EVAL_SUBSET_SEED, evaluate_dataset, run

pytestmark = pytest.mark.integration
#: what a method refuses up front, by (method, task) or (method, backbone)
REFUSED = {("zero-shot", "me5-small"): "needs a pretrained LM head", ("icl", "me5-small"): "needs a decoder",
           ("icl", "ner"): "NLI only"}

TASKS = {
    "nli": dict(train="xnli:en:dev", k=2, eval=["xnli:sw:test", "xnli:zh:test"], eval_limit=12),
    "ner": dict(train="wikiann:en", k=1, eval=["masakhaner2:yor"], eval_limit=8),
}


@pytest.mark.parametrize("backbone", ["me5-small", "gemma3-270m"])
@pytest.mark.parametrize("task", ["nli", "ner"])
@pytest.mark.parametrize("method", method_names())
def test_method_end_to_end(backbone, task, method, tmp_path):
    root = shared_data_root()
    config = RunConfig(task=task, model=offline_model(backbone), method=method, seed=1, max_steps=2, batch_size=4,
                       max_length=128, bootstrap=50, **TASKS[task])
    refused = REFUSED.get((method, task)) or REFUSED.get((method, backbone))
    if refused:  # before any weight loads
        with pytest.raises(XshotError, match=refused):
            run(config, tmp_path, data_root=str(root))
        assert not (tmp_path / "metrics.json").exists()
        return
    metrics = run(config, tmp_path, data_root=str(root))
    assert json.loads((tmp_path / "metrics.json").read_text())["key"] == config.key()
    assert set(metrics.evaluations) == set(config.eval)
    for spec, ev in metrics.evaluations.items():
        assert ev.n == config.eval_limit
        primary = metrics.primary_metric
        lo, hi = ev.ci[primary]
        assert 0.0 <= lo <= ev.score(primary) <= hi <= 1.0
        if spec.startswith("xnli:zh"):  # written without spaces: no words to count subwords per
            assert ev.fertility is None
        else:
            assert ev.fertility > 1.0
        lines = (tmp_path / "predictions" / f"{spec.replace(':', '_')}.jsonl").read_text().splitlines()
        assert len(lines) == config.eval_limit
    if get_method(method).config_class.trains:
        assert 0 < metrics.params.trainable <= metrics.params.total
        assert metrics.time.train_s > 0
    else:
        assert metrics.params.trainable == 0 and metrics.training == []
    assert metrics.peak_memory_mb > 0
    if task == "ner":
        assert any("evaluating on" in note for ev in metrics.evaluations.values() for note in ev.notes)
    if backbone == "me5-small" and method in ("prompt", "soft-prompt"):
        assert any("no pretrained LM head" in n for n in metrics.notes)
    if backbone == "gemma3-270m":
        assert not any("no pretrained LM head" in n for n in metrics.notes)


def test_reloaded_model_predicts_the_same(tmp_path):
    root = shared_data_root()
    config = RunConfig(task="ner", model=offline_model("me5-small"), method="lora", seed=2, max_steps=2, batch_size=4,
                       train="wikiann:en", k=1, eval=["wikiann:de"], eval_limit=10, bootstrap=0)
    first = run(config, tmp_path, data_root=str(root))
    model, cfg = load_model(tmp_path / "model")
    assert cfg == config
    assert reevaluate(model, "wikiann:de", 10) == first.evaluations["wikiann:de"].scores


def reevaluate(model, spec: str, limit: int) -> dict:
    """A reloaded model's scores on the run's evaluation subset."""
    root = str(shared_data_root())
    data = subsample(load(spec, "test", root), limit, EVAL_SUBSET_SEED)
    dtype = select_precision(torch.device("cpu"), "auto")  # as the run evaluated
    scores, _ = evaluate_dataset(to_inference_precision(model, dtype), data, Runtime(torch.device("cpu"), dtype, root,
                                                                                      False), bootstrap=0)
    return scores.scores


@pytest.mark.parametrize("backbone", ["me5-small", "gemma3-270m"])
def test_siamese_nli_end_to_end_and_reloaded(backbone, tmp_path):
    options = {"pair_encoding": "siamese", "head": "linear"}
    config = RunConfig(task="nli", model=offline_model(backbone), method="lora", options=options, seed=1,
                       max_steps=2, batch_size=4, max_length=128, bootstrap=0, **TASKS["nli"])
    first = run(config, tmp_path, data_root=str(shared_data_root()))
    assert first.method_config["pair_encoding"] == "siamese"
    model, cfg = load_model(tmp_path / "model")
    assert model.input_format.style == "siamese" and cfg == config
    assert reevaluate(model, "xnli:sw:test", 12) == first.evaluations["xnli:sw:test"].scores


def test_exported_finetune_gives_the_same_logits_in_transformers(tmp_path):
    from transformers import AutoModelForSequenceClassification

    from xshot.export import export

    config = RunConfig(task="nli", model=offline_model("me5-small"), method="finetune", seed=1, max_steps=2,
                       batch_size=4, max_length=128, bootstrap=0, **TASKS["nli"])
    run(config, tmp_path / "run", data_root=str(shared_data_root()))
    export(tmp_path / "run", tmp_path / "hf")
    exported = AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf").eval()
    model, _ = load_model(tmp_path / "run")
    data = subsample(load("xnli:sw:test", "test", str(shared_data_root())), 8, EVAL_SUBSET_SEED)
    batch = model.collate(model.encode(data.examples))
    with torch.no_grad():
        ours = model(batch)
        theirs = exported(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.allclose(ours, theirs, atol=1e-4)
    assert "xnli:sw:test" in (tmp_path / "hf" / "README.md").read_text()


@pytest.mark.parametrize("backbone", ["me5-small", "gemma3-270m"])
@pytest.mark.parametrize("options", [{"demonstrations": "random", "demo_sets": 2},
                                     {"demonstrations": "similar", "demo_sets": 2},
                                     {"label_words": "search", "search_words": 5, "search_candidates": 2,
                                      "search_steps": 1}], ids=["demos-random", "demos-similar", "label-search"])
def test_lm_bff_prompting_end_to_end(backbone, options, tmp_path):
    """LM-BFF's demonstrations and label search on the real data and both real backbones, then reloaded."""
    config = RunConfig(task="nli", model=offline_model(backbone), method="prompt", seed=1, max_steps=2, batch_size=4,
                       max_length=256, bootstrap=20, options=options, **{**TASKS["nli"], "eval_limit": 6})
    metrics = run(config, tmp_path, data_root=str(shared_data_root()))
    for ev in metrics.evaluations.values():
        assert ev.n == 6 and any(n.startswith("label words: ") for n in ev.notes)
    if "demonstrations" in options:
        notes = [n for ev in metrics.evaluations.values() for n in ev.notes if n.startswith("LM-BFF demonstrations")]
        assert len(notes) == 2 and f"({options['demonstrations']}): 2 sets per input from 6 shots" in notes[0]
    else:
        (choice,) = metrics.choices
        assert choice.what == "label_words" and set(choice.chosen) == {"entailment", "neutral", "contradiction"}
        assert len(choice.candidates) == 2 and all(len(c.fold_scores) == 2 for c in choice.candidates)
        assert metrics.time.choose_s > 0
    model, _ = load_model(tmp_path, str(shared_data_root()))  # the searched words and the demonstration pool
    words = [n for n in next(iter(metrics.evaluations.values())).notes if n.startswith("label words: ")][0]
    assert model.label_words == [w.split(" ", 1)[1] for w in words.removeprefix("label words: ").split("; ")]


def test_entlm_searched_words_end_to_end_on_a_real_lm_head(tmp_path):
    config = RunConfig(task="ner", model=offline_model("gemma3-270m"), method="prompt", seed=1, max_steps=2,
                       batch_size=4, max_length=128, bootstrap=20, options={"label_words": "search"}, **TASKS["ner"])
    metrics = run(config, tmp_path, data_root=str(shared_data_root()))
    (choice,) = metrics.choices
    assert choice.what == "label_words" and set(choice.chosen) == {"PER", "ORG", "LOC"}
    assert any("EntLM full-vocabulary objective" in n for n in metrics.notes)
    assert metrics.training[0].loss and all(x == x for x in metrics.training[0].loss)
