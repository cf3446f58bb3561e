"""Every method × task × backbone kind builds, trains a step and predicts, on tiny offline models."""

import pytest
import torch

from tests.unit.methods.conftest import NER, NLI, TYPES
from xshot.backbone import count_parameters, load_backbone
from xshot.errors import XshotError
from xshot.methods import get_method, method_names
from xshot.training.evaluate import predict

BACKBONES = ["tiny_encoder", "tiny_encoder_no_head", "tiny_decoder"]


def build(request, backbone_fixture, method, task, **options):
    """As a run builds a model: the method's task and backbone checks first."""
    path = request.getfixturevalue(backbone_fixture)
    spec = get_method(method)
    config = spec.config_class.resolve(options)
    config.check_task(task)
    backbone = load_backbone(path, want_lm_head=config.uses_lm_head, check=config.check_backbone)
    model = spec.build(backbone, task, TYPES if task == "ner" else (), config, max_length=64, source_language="en")
    model.observe_shots(NLI if task == "nli" else NER, "en", 1)
    model.set_language("en")
    return model


#: the combinations a method refuses up front, with the reason it gives
REFUSED = {
    ("zero-shot", "tiny_encoder_no_head"): "needs a pretrained LM head",
    ("icl", "tiny_encoder_no_head"): "needs a decoder",
    ("icl", "tiny_encoder"): "needs a decoder",
    ("icl", "ner"): "supports NLI only",
}


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("task", ["nli", "ner"])
@pytest.mark.parametrize("method", method_names())
def test_method_trains_and_predicts(request, backbone, task, method):
    torch.manual_seed(0)
    refused = REFUSED.get((method, task)) or REFUSED.get((method, backbone))
    if refused:
        with pytest.raises(XshotError, match=refused):
            build(request, backbone, method, task)
        return
    model = build(request, backbone, method, task)
    examples = NLI if task == "nli" else NER
    features = model.encode(examples)
    if not get_method(method).config_class().trains:
        assert count_parameters(model)["trainable"] == 0
        preds = predict(model, features, device=torch.device("cpu"))
        assert [len(p) for p in preds] == [len(f.positions) for f in features]
        return
    batch = model.collate(features)
    loss = model.loss(batch)
    assert torch.isfinite(loss)
    loss.backward()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable, "nothing to train"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters() if p.requires_grad)
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)
    preds = predict(model, features, device=torch.device("cpu"))
    assert [len(p) for p in preds] == [len(f.positions) for f in features]
    assert all(0 <= c < len(model.labels.classes) for p in preds for c in p)
    counts = count_parameters(model)
    if method in ("soft-prompt", "prefix", "lora", "ia3"):
        assert counts["trainable"] < counts["total"] / 2


def test_the_notes_say_which_scoring_a_verbalizer_uses(request):
    bare = build(request, "tiny_encoder_no_head", "prompt", "nli")
    assert bare.scorer.mode == "tied-input-embeddings" and any("no pretrained LM head" in n for n in bare.notes)
    headed = build(request, "tiny_encoder", "prompt", "nli")
    assert headed.scorer.mode == "mlm-head" and headed.notes == [
        "label words scored by the pretrained MLM head (its transform, decoder and bias)"]
    assert build(request, "tiny_decoder", "prompt", "nli").scorer.mode == "lm-head-rows"
    frozen = build(request, "tiny_encoder_no_head", "soft-prompt", "ner")
    assert any("head=linear suits backbones without an LM head" in n for n in frozen.notes)
    assert not any("head=linear" in n for n in build(request, "tiny_encoder", "soft-prompt", "ner").notes)


def test_unknown_option_and_method_are_clear_errors():
    with pytest.raises(XshotError, match="unknown option"):
        get_method("dualcl").config_class.resolve({"alpah": 0.5})
    with pytest.raises(XshotError, match="unknown method 'pet'"):
        get_method("pet")
    with pytest.raises(XshotError, match="head must be one of"):
        get_method("lora").config_class.resolve({"head": "mlp"})


def test_dualcl_similarity_defaults_to_cosine_on_decoders_only(request):
    dec = build(request, "tiny_decoder", "dualcl", "nli")
    enc = build(request, "tiny_encoder", "dualcl", "nli")
    assert dec.cosine and not enc.cosine
    with torch.no_grad():
        logits = dec(dec.collate(dec.encode(NLI)))
    assert logits.abs().max().item() <= 1 / dec.config.temperature + 1e-4
    forced = build(request, "tiny_encoder", "dualcl", "nli", similarity="cosine")
    assert forced.cosine
