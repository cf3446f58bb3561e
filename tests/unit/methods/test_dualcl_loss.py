"""DualCL's loss against values computed by hand on a tiny batch."""

import math

import pytest
import torch

from xshot.methods.dualcl import dual_contrastive_loss, supervised_contrast


def _hand_supcon(anchors, targets, labels, tau):
    """Direct transcription of the formula with Python loops."""
    n, total, counted = len(labels), 0.0, 0
    for i in range(n):
        positives = [p for p in range(n) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        denom = sum(math.exp(float(anchors[i] @ targets[j]) / tau) for j in range(n) if j != i)
        total += -sum(math.log(math.exp(float(anchors[i] @ targets[p]) / tau) / denom) for p in positives) / len(positives)
        counted += 1
    return total / counted


def test_supervised_contrast_matches_hand_computation():
    a = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]]), dim=-1)
    t = torch.nn.functional.normalize(torch.tensor([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0], [0.8, -0.6]]), dim=-1)
    labels = torch.tensor([0, 0, 1, 1])
    got = supervised_contrast(a, t, labels, tau=0.5)
    assert got.item() == pytest.approx(_hand_supcon(a, t, labels.tolist(), 0.5), rel=1e-5)


def test_exact_value_on_a_two_sample_batch():
    # two samples with the same label: each anchor's only other sample is its positive -> loss 0
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert supervised_contrast(a, a, torch.tensor([3, 3]), 0.1).item() == pytest.approx(0.0, abs=1e-6)
    # three samples, anchor 0 with positive 1 and negative 2: -log(e^{s01}/(e^{s01}+e^{s02}))
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    t = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    tau = 0.1
    anchor0 = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + math.exp(0)))
    anchor1 = -math.log(math.exp(0) / (math.exp(0) + math.exp(1 / tau)))
    assert supervised_contrast(a, t, labels, tau).item() == pytest.approx((anchor0 + anchor1) / 2, rel=1e-5)


def test_singleton_classes_are_left_out_and_all_singletons_give_zero():
    a = torch.nn.functional.normalize(torch.randn(3, 4, generator=torch.Generator().manual_seed(0)), dim=-1)
    assert supervised_contrast(a, a, torch.tensor([0, 1, 2]), 0.1).item() == 0.0
    labels = torch.tensor([0, 0, 1])
    assert supervised_contrast(a, a, labels, 0.1).item() == pytest.approx(_hand_supcon(a, a, labels.tolist(), 0.1), rel=1e-5)


def test_dual_loss_combines_ce_and_both_terms():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(4, 3, generator=g)
    theta = torch.randn(4, 2, 3, generator=g)
    labels = torch.tensor([0, 1, 0, 1])
    alpha, tau = 0.3, 0.2
    logits = torch.einsum("nd,ncd->nc", z, theta)
    ce = torch.nn.functional.cross_entropy(logits, labels).item()
    true = theta[torch.arange(4), labels]
    zn, tn = torch.nn.functional.normalize(z, dim=-1), torch.nn.functional.normalize(true, dim=-1)
    expected = (1 - alpha) * ce + alpha / 2 * (_hand_supcon(tn, zn, labels.tolist(), tau) + _hand_supcon(zn, tn, labels.tolist(), tau))
    assert dual_contrastive_loss(z, theta, labels, alpha, tau).item() == pytest.approx(expected, rel=1e-5)
    # alpha = 0 is plain cross-entropy over z . theta
    assert dual_contrastive_loss(z, theta, labels, 0.0, tau).item() == pytest.approx(ce, rel=1e-6)


def test_contrast_mask_restricts_only_the_contrastive_terms():
    g = torch.Generator().manual_seed(2)
    z, theta = torch.randn(5, 4, generator=g), torch.randn(5, 3, 4, generator=g)
    labels = torch.tensor([0, 0, 1, 1, 2])
    mask = torch.tensor([True, True, True, True, False])
    full = dual_contrastive_loss(z, theta, labels, 0.0, 0.1, mask)
    assert full.item() == pytest.approx(dual_contrastive_loss(z, theta, labels, 0.0, 0.1).item())
    masked = dual_contrastive_loss(z, theta, labels, 1.0, 0.1, mask)
    assert masked.item() == pytest.approx(dual_contrastive_loss(z[:4], theta[:4], labels[:4], 1.0, 0.1).item(), rel=1e-6)


# -- the paper's baselines and the reference's position ids -------------------------------------------
def _model(path, **options):
    from xshot.backbone import load_backbone
    from xshot.methods import get_method

    spec = get_method("dualcl")
    config = spec.config_class.resolve(options)
    torch.manual_seed(0)
    return spec.build(load_backbone(path, want_lm_head=False), "nli", (), config, max_length=64).eval()


def test_scl_baseline_is_ce_plus_supervised_contrast_by_hand(tiny_encoder):
    import math

    from tests.unit.methods.conftest import NLI

    model = _model(tiny_encoder, loss="scl", alpha=0.3, temperature=0.5)
    batch = model.collate(model.encode(NLI))
    with torch.no_grad():
        loss = model.loss(batch).item()
        z = model.at(model.hidden_states(batch), batch["positions"])[:, 0]
        logits = model.head(z)
    labels = batch["labels"][:, 0].tolist()
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor(labels)).item()
    zs = [[x / math.sqrt(sum(v * v for v in row)) for x in row] for row in z.tolist()]
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))  # noqa: E731
    terms = []
    for i in range(len(zs)):
        positives = [j for j in range(len(zs)) if j != i and labels[j] == labels[i]]
        denominator = sum(math.exp(dot(zs[i], zs[j]) / 0.5) for j in range(len(zs)) if j != i)
        terms.append(-sum(math.log(math.exp(dot(zs[i], zs[p]) / 0.5) / denominator) for p in positives) / len(positives))
    assert loss == pytest.approx(0.7 * ce + 0.3 * sum(terms) / len(terms), rel=1e-4)
    assert model.input_format.style == "plain" and not model.input_format.label_names  # no label names


def test_ce_baseline_is_cross_entropy_of_the_linear_head(tiny_encoder):
    from tests.unit.methods.conftest import NLI

    model = _model(tiny_encoder, loss="ce")
    batch = model.collate(model.encode(NLI))
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model(batch), batch["labels"][:, 0])
        assert model.loss(batch).item() == pytest.approx(expected.item(), rel=1e-6)


def test_shared_label_positions_follow_the_reference(tiny_encoder):
    from tests.unit.methods.conftest import NLI

    shared = _model(tiny_encoder, label_positions="shared")
    sequential = _model(tiny_encoder)
    batch = shared.collate(shared.encode(NLI[:2]))
    last_label = int(shared.span_index.max())
    positions = shared.shared_positions(batch["input_ids"])[0].tolist()
    assert positions[: last_label + 1] == [0] * (last_label + 1)  # [CLS] and every label token
    assert positions[last_label + 1: last_label + 4] == [1, 2, 3]
    with torch.no_grad():
        h = shared.hidden_states(batch)
        reference = shared.body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                position_ids=torch.tensor([positions] * 2)).last_hidden_state
        assert torch.allclose(h, reference, atol=1e-6)
        assert not torch.allclose(h, sequential.hidden_states(batch), atol=1e-3)


def test_roberta_style_position_ids_start_after_padding():
    from types import SimpleNamespace

    from xshot.methods.dualcl.model import _position_offset

    assert _position_offset(SimpleNamespace(model_type="xlm-roberta", pad_token_id=1)) == 2
    assert _position_offset(SimpleNamespace(model_type="bert", pad_token_id=0)) == 0


@pytest.mark.parametrize("options", [{"loss": "scl"}, {"loss": "ce"}, {"label_positions": "shared"}])
def test_variants_train_on_ner_and_decoders(request, options):
    from tests.unit.methods.conftest import NER, TYPES
    from xshot.backbone import load_backbone
    from xshot.methods import get_method

    for fixture in ("tiny_encoder", "tiny_decoder"):
        spec = get_method("dualcl")
        config = spec.config_class.resolve(options)
        model = spec.build(load_backbone(request.getfixturevalue(fixture), want_lm_head=False), "ner", TYPES, config,
                           max_length=64)
        loss = model.loss(model.collate(model.encode(NER)))
        loss.backward()
        assert torch.isfinite(loss) and any(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("loss", ["dual", "ce", "scl"])
def test_every_loss_tags_ner_with_one_scheme(tiny_encoder, loss):
    """loss=dual tagged IO and ce/scl BIO, so comparing the losses compared tag schemes too."""
    from xshot.backbone import load_backbone
    from xshot.methods import get_method

    spec = get_method("dualcl")
    model = spec.build(load_backbone(tiny_encoder, want_lm_head=False), "ner", ("PER", "LOC"),
                       spec.config_class.resolve({"loss": loss}), max_length=64)
    assert model.labels.scheme == "io" and model.labels.classes == ("O", "PER", "LOC")
    if loss != "dual":
        bio = spec.build(load_backbone(tiny_encoder, want_lm_head=False), "ner", ("PER", "LOC"),
                         spec.config_class.resolve({"loss": loss, "ner_tags": "bio"}), max_length=64)
        assert bio.labels.classes == ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


def test_the_dual_loss_refuses_bio_tags():
    from xshot.errors import XshotError
    from xshot.methods import get_method

    with pytest.raises(XshotError, match="option ner_tags bio is for loss ce or scl"):
        get_method("dualcl").config_class.resolve({"ner_tags": "bio"})
