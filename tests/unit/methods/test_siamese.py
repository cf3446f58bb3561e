"""Siamese pair encoding: the packed-pair split, the equivalence with encoding each side alone, the errors."""

import pytest
import torch

from tests.unit.methods.conftest import NLI, TYPES
from xshot.backbone import load_backbone
from xshot.errors import XshotError
from xshot.methods import get_method
from xshot.methods.siamese import mean_pool, pair_features, split_pairs
from xshot.training.evaluate import predict


def build(path, method="finetune", task="nli", **options):
    spec = get_method(method)
    config = spec.config_class.resolve({"pair_encoding": "siamese", **options})
    backbone = load_backbone(path, want_lm_head=config.uses_lm_head)
    return spec.build(backbone, task, TYPES if task == "ner" else (), config, max_length=64, source_language="en")


def test_split_pairs_by_hand():
    ids = torch.tensor([[1, 2, 3, 4, 5, 0], [6, 7, 8, 9, 10, 11]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])
    out, out_mask = split_pairs(ids, mask, torch.tensor([2, 4]), pad_id=0)
    assert out.tolist() == [[1, 2, 0, 0], [6, 7, 8, 9], [3, 4, 5, 0], [10, 11, 0, 0]]
    assert out_mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]]


def test_mean_pool_ignores_padding_and_features_by_hand():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]
    u, v = torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0, 1.0]])
    assert pair_features(u, v).tolist() == [[1.0, -2.0, 3.0, 1.0, 2.0, 3.0, 3.0, -2.0]]


@pytest.mark.parametrize("backbone", ["tiny_encoder", "tiny_decoder"])
def test_logits_equal_each_sentence_encoded_alone(request, backbone):
    torch.manual_seed(0)
    model = build(request.getfixturevalue(backbone)).eval()
    tok = model.backbone.tokenizer
    features = model.encode(NLI)
    assert [f.positions[0] for f in features] == [len(tok(ex.premise)["input_ids"]) for ex in NLI]
    with torch.no_grad():
        logits = model(model.collate(features))
        for ex, row in zip(NLI, logits):
            pooled = [model.body(**tok(text, return_tensors="pt")).last_hidden_state.mean(1)
                      for text in (ex.premise, ex.hypothesis)]
            assert torch.allclose(row, model.head(pair_features(*pooled))[0], atol=1e-5)


@pytest.mark.parametrize("method", ["finetune", "lora", "soft-prompt"])
def test_siamese_trains_and_predicts(tiny_encoder, method):
    torch.manual_seed(0)
    model = build(tiny_encoder, method, **({} if method == "finetune" else {"head": "linear"}))
    assert model.head.linear.in_features == 4 * model.backbone.hidden_size
    features = model.encode(NLI)
    loss = model.loss(model.collate(features))
    loss.backward()
    assert torch.isfinite(loss) and model.head.linear.weight.grad.abs().sum() > 0
    assert all(len(p) == 1 and 0 <= p[0] < 3 for p in predict(model, features, device=torch.device("cpu")))


@pytest.mark.parametrize("method, options, message", [
    ("prompt", {}, "needs a linear head: a verbalizer"),
    ("dualcl", {}, "needs a linear head: DualCL"),
    ("lora", {"head": "verbalizer"}, "needs a linear head"),
])
def test_methods_without_a_linear_head_refuse_siamese(tiny_encoder, method, options, message):
    with pytest.raises(XshotError, match=message):
        build(tiny_encoder, method, **options)


def test_siamese_is_for_pairs_and_a_known_value(tiny_encoder):
    with pytest.raises(XshotError, match="not ner"):
        build(tiny_encoder, task="ner")
    with pytest.raises(XshotError, match="pair_encoding must be one of cross, siamese"):
        get_method("finetune").config_class.resolve({"pair_encoding": "bi"})
