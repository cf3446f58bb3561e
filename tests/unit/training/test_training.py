"""The trainer is deterministic per seed and learns; checkpoints round-trip through safetensors only."""

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.unit.methods.conftest import NLI, NER, TYPES
from xshot.backbone import load_backbone
from xshot.methods import get_method
from xshot.training.checkpoint import WEIGHTS, load_model, save_model
from xshot.training.config import RunConfig
from xshot.training.evaluate import length_buckets, padding_fraction, predict
from xshot.training.trainer import train

CPU = torch.device("cpu")


def make(path, method="finetune", task="nli", **options):
    spec = get_method(method)
    config = spec.config_class.resolve(options)
    model = spec.build(load_backbone(path, want_lm_head=config.uses_lm_head), task, TYPES if task == "ner" else (),
                       config, max_length=64, source_language="en")
    return model, config


def test_same_seed_same_losses_and_learning(tiny_encoder):
    losses = []
    for seed in (3, 3, 4):
        torch.manual_seed(123)  # model initialisation is not what this test varies
        model, config = make(tiny_encoder, learning_rate=1e-2, batch_size=6, max_steps=40, warmup_ratio=0.0,
                             dropout=0.0, freeze_embeddings=False)
        losses.append(train(model, model.encode(NLI), config, seed=seed, device=CPU, progress=False).losses)
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]
    assert sum(losses[0][-5:]) / 5 < sum(losses[0][:5]) / 5  # it learns the six examples


def test_training_frees_its_gradients(tiny_encoder):
    """Evaluation follows training in the same process: the last step's gradients (4 bytes per trainable
    parameter) are released, not kept beside the model."""
    model, config = make(tiny_encoder, batch_size=6, max_steps=2)
    train(model, model.encode(NLI), config, seed=1, device=CPU, progress=False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and all(p.grad is None for p in trainable)


def test_a_diverged_run_is_an_error_not_a_score(tiny_encoder):
    from xshot.errors import XshotError
    from xshot.training.evaluate import predict_proba

    model, config = make(tiny_encoder, learning_rate=1e-2, batch_size=6, max_steps=5)
    real_loss, calls = model.loss, []

    def loss_going_nan(batch):  # the third step's loss overflows
        calls.append(1)
        return real_loss(batch) * (float("nan") if len(calls) == 3 else 1.0)

    model.loss = loss_going_nan
    with pytest.raises(XshotError, match=r"^training diverged: the loss of step 3 is nan \(learning rate 0\.01, "
                                         r"precision fp32\); lower the learning rate$"):
        train(model, model.encode(NLI), config, seed=1, device=CPU, progress=False)
    assert len(calls) == 3  # stopped there, not after five steps of noise
    features = model.encode(NLI)
    assert len(predict_proba(model, features, device=CPU).classes) == len(NLI)  # finite weights still score
    with torch.no_grad():
        next(p for p in model.parameters() if p.dim() == 2).fill_(float("nan"))
    with pytest.raises(XshotError, match=r"^the model's scores are NaN \(precision fp32\): its weights diverged "
                                         r"in training$"):
        predict_proba(model, features, device=CPU)


def test_epochs_and_accumulation_set_the_step_count(tiny_encoder):
    model, config = make(tiny_encoder, batch_size=2, grad_accumulation=2)
    result = train(model, model.encode(NLI), config, seed=1, device=CPU, epochs=2, progress=False)
    assert result.steps == 4  # 6 examples / (2 x 2) -> 2 steps per epoch


def test_length_buckets_cover_everything_within_budget():
    from xshot.methods.inputs import Feature

    import random

    rng = random.Random(0)
    features = [Feature(list(range(rng.randint(5, 80))), [0], [0]) for _ in range(300)]
    batches = length_buckets(features, token_budget=1024, max_batch=64)
    assert sorted(i for b in batches for i in b) == list(range(300))
    assert all(max(len(features[i].input_ids) for i in b) * len(b) <= 1024 for b in batches)
    assert padding_fraction(features, batches) < 0.1
    in_file_order = [list(range(i, min(i + 16, 300))) for i in range(0, 300, 16)]
    assert padding_fraction(features, in_file_order) > 0.3


@pytest.mark.parametrize("method,task", [("finetune", "ner"), ("soft-prompt", "nli"), ("lora", "ner"), ("dualcl", "nli")])
def test_checkpoint_roundtrip(tiny_encoder, tmp_path, method, task):
    torch.manual_seed(0)
    model, config = make(tiny_encoder, method, task)
    examples = NLI if task == "nli" else NER
    train(model, model.encode(examples), config, seed=1, device=CPU, max_steps=2, progress=False)
    run_config = RunConfig(task=task, model=tiny_encoder, method=method, train="jsonl:unused", max_length=64)
    save_model(model, tmp_path / "model", run_config, config, TYPES if task == "ner" else (), "en")
    saved = load_file(tmp_path / "model" / WEIGHTS)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(saved) == trainable
    if method in ("soft-prompt", "lora"):  # only the adapter and the scorer's small parameters
        assert sum(t.numel() for t in saved.values()) < sum(p.numel() for p in model.parameters()) / 2
    assert json.loads((tmp_path / "model" / "xshot.json").read_text())["run_config"]["method"] == method
    reloaded, cfg = load_model(tmp_path)
    assert cfg.method == method
    features = model.encode(examples)
    assert predict(model, features, device=CPU) == predict(reloaded, features, device=CPU)
    for name, tensor in saved.items():
        assert torch.equal(dict(reloaded.named_parameters())[name].detach(), tensor)


def test_run_is_reproducible_and_reports_its_own_peak(tiny_encoder, tmp_path):
    from xshot.training.run import peak_memory_mb, run

    data = tmp_path / "nli.jsonl"
    data.write_text("".join(json.dumps(ex.to_json()) + "\n" for ex in NLI), encoding="utf-8")
    config = RunConfig(task="nli", model=tiny_encoder, method="finetune", train=f"jsonl:{data}", seed=5,
                       eval=[f"jsonl:{data}"], max_steps=3, batch_size=2, bootstrap=20)
    first = run(config)
    import mmap

    ballast = mmap.mmap(-1, 1200 * 2**20)  # ~1.2 GiB touched between the runs, then unmapped
    for offset in range(0, len(ballast), 4096):  # (mmap, so malloc settings cannot keep it resident)
        ballast[offset] = 1
    ballast.close()
    peak_with_ballast = peak_memory_mb(torch.device("cpu"))
    second = run(config)
    for spec, evaluation in first.evaluations.items():
        assert evaluation.scores == second.evaluations[spec].scores
        assert evaluation.ci == second.evaluations[spec].ci
    assert [len(stage.loss) for stage in first.training] == [3]  # the loss curve, one value per step
    assert first.training == second.training and first.training[0].examples == len(NLI)
    assert second.peak_memory_mb < peak_with_ballast - 800  # the ballast is not this run's peak


@pytest.mark.parametrize("method,backbone", [("lora", "tiny_encoder"), ("soft-prompt", "tiny_decoder"),
                                             ("prefix", "tiny_decoder"), ("ia3", "tiny_encoder")])
def test_peft_adapter_directory_loads_with_peft_alone(request, tmp_path, method, backbone):
    from peft import PeftModel
    from transformers import AutoModel

    from xshot.training.checkpoint import PEFT_DIR

    path = request.getfixturevalue(backbone)
    torch.manual_seed(0)
    model, config = make(path, method, "nli")
    train(model, model.encode(NLI), config, seed=1, device=CPU, max_steps=3, progress=False)
    run_config = RunConfig(task="nli", model=path, method=method, train="jsonl:unused", max_length=64)
    save_model(model, tmp_path / "model", run_config, config, (), "en")
    base = AutoModel.from_pretrained(path)
    if hasattr(base, "base_model") and base.base_model is not base:
        base = base.base_model
    loaded = PeftModel.from_pretrained(base, tmp_path / "model" / PEFT_DIR).eval()
    batch = model.collate(model.encode(NLI))
    with torch.no_grad():
        ours = model.hidden_states(batch)
        out = loaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        theirs = out.last_hidden_state[:, model.virtual_tokens:]
        bare = AutoModel.from_pretrained(path)
        plain = bare(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert (ours - plain[:, : ours.size(1)]).abs().max() > 1e-5  # the adapter was trained and is applied


def test_tracking_writes_tensorboard_events_that_read_back(tiny_encoder, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from xshot.training.run import run

    data = tmp_path / "nli.jsonl"
    data.write_text("".join(json.dumps(ex.to_json()) + "\n" for ex in NLI), encoding="utf-8")
    config = RunConfig(task="nli", model=tiny_encoder, method="lora", train=f"jsonl:{data}", seed=5,
                       eval=[f"jsonl:{data}"], max_steps=3, batch_size=2, bootstrap=10)
    metrics = run(config, track=tmp_path / "tb")
    folder = tmp_path / "tb" / f"lora-{config.key()}"
    events = EventAccumulator(str(folder))
    events.Reload()
    losses = [e.value for e in events.Scalars("train/loss")]
    assert losses == pytest.approx(metrics.training[0].loss, abs=1e-5)
    accuracy = events.Scalars(f"eval/jsonl:{data}/accuracy")
    assert accuracy[0].value == pytest.approx(metrics.evaluations[f"jsonl:{data}"].score("accuracy"))
    assert accuracy[0].step == 3
    hparams = EventAccumulator(str(folder))  # the hyper-parameters go to the same run folder
    hparams.Reload()
    assert "_hparams_/session_start_info" in hparams.summary_metadata
    plugin = hparams.summary_metadata["_hparams_/session_start_info"].plugin_data.content
    assert b"lora" in plugin and b"learning_rate" in plugin


@pytest.mark.parametrize("method,backbone", [("lora", "tiny_encoder"), ("ia3", "tiny_encoder"), ("lora", "tiny_decoder")])
def test_adapters_merged_for_inference_predict_what_the_unmerged_model_predicts(request, method, backbone):
    from xshot.training.evaluate import merge_adapters, predict_proba

    torch.manual_seed(0)
    model, config = make(request.getfixturevalue(backbone), method, "nli", learning_rate=1e-2)
    train(model, model.encode(NLI), config, seed=1, device=CPU, max_steps=5, progress=False)
    features = model.encode(NLI)
    before = predict_proba(model, features, device=CPU)
    merge_adapters(model)
    assert not type(model.body).__module__.startswith("peft")  # plain modules: nothing of the adapter left
    assert not any("lora_" in n or "ia3_" in n for n, _ in model.body.named_parameters())
    after = predict_proba(model, features, device=CPU)
    assert after.classes == before.classes
    assert torch.allclose(torch.tensor(after.probabilities), torch.tensor(before.probabilities), atol=1e-5)
    assert any("merged into the base weights" in n for n in model.notes)


def test_soft_prompts_are_not_merged(tiny_decoder):
    from xshot.training.evaluate import merge_adapters

    model, _ = make(tiny_decoder, "soft-prompt", "nli")
    body = model.body
    assert merge_adapters(model).body is body
