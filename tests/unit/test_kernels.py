"""Packed linear layers for CPU bf16 inference (``xshot.kernels``) compute what ``nn.Linear`` computes."""

import copy
import pickle

import pytest
import torch
from torch import nn

from xshot.kernels import PackedLinear, can_pack, pack_linear_weights


needs_onednn = pytest.mark.skipif(not can_pack(), reason="oneDNN cannot pack bf16 weights on this CPU (needs "
                                  "AVX512 BW/VL/DQ or AVX-NE-CONVERT)")


def test_packing_is_offered_exactly_where_onednn_can_reorder_a_bf16_weight():
    try:
        torch.ops.mkldnn._reorder_linear_weight(torch.ones(4, 4, dtype=torch.bfloat16), None)
        works = True
    except RuntimeError:  # an AVX2-only CPU: "bf16 path needs the cpu support avx_ne_convert or avx512bw, ..."
        works = False
    assert can_pack() is works


def test_bf16_inference_without_packing_casts_and_keeps_the_plain_layers(request, monkeypatch):
    """Where oneDNN cannot pack (e.g. AMD Zen 3), bf16 evaluation still runs, on the plain ``nn.Linear``s."""
    from tests.unit.methods.conftest import NLI
    from tests.unit.methods.test_methods_tiny import build
    from xshot import kernels
    from xshot.training.evaluate import predict_proba, to_inference_precision

    monkeypatch.setattr(kernels, "can_pack", lambda: False)
    model = build(request, "tiny_encoder", "finetune", "nli")
    features = model.encode(NLI)
    cpu = torch.device("cpu")
    plain = predict_proba(copy.deepcopy(model).to(torch.bfloat16), features, device=cpu, dtype=torch.bfloat16)
    to_inference_precision(model, torch.bfloat16)
    assert not any(isinstance(m, PackedLinear) for m in model.modules())
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    assert predict_proba(model, features, device=cpu, dtype=torch.bfloat16).classes == plain.classes


@needs_onednn
def test_packed_linears_give_the_same_bf16_outputs_and_keep_the_state_dict():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(24, 40), nn.GELU(), nn.Linear(40, 8, bias=False)).to(torch.bfloat16)
    x = torch.randn(3, 5, 24, dtype=torch.bfloat16)
    with torch.inference_mode():
        before = model(x)
    state = model.state_dict()
    assert pack_linear_weights(model) == 2
    assert all(isinstance(model[i], PackedLinear) for i in (0, 2))
    assert model.state_dict().keys() == state.keys()
    assert all(model.state_dict()[k] is state[k] or torch.equal(model.state_dict()[k], state[k]) for k in state)
    with torch.inference_mode():
        assert torch.equal(model(x), before)
        assert torch.equal(copy.deepcopy(model)(x), before)
        assert torch.equal(pickle.loads(pickle.dumps(model))(x), before)


@needs_onednn
def test_packed_linears_fall_back_to_the_plain_product_for_autograd_and_fp32():
    torch.manual_seed(0)
    linear = nn.Linear(16, 4).to(torch.bfloat16)
    packed = PackedLinear(linear)
    x = torch.randn(2, 16, dtype=torch.bfloat16)
    y = packed(x)  # autograd records: the shared weight gets its gradient
    y.float().sum().backward()
    assert linear.weight.grad is not None and linear.weight.grad.abs().sum() > 0
    fp32 = nn.Linear(16, 4)
    assert pack_linear_weights(nn.Sequential(fp32)) == 0  # only bf16 weights are packed


@needs_onednn
@pytest.mark.parametrize("method", ["finetune", "lora", "prompt"])
def test_bf16_inference_packs_the_body_and_predicts_as_before(request, method):
    from tests.unit.methods.conftest import NLI
    from tests.unit.methods.test_methods_tiny import build
    from xshot.training.evaluate import predict_proba, to_inference_precision

    model = build(request, "tiny_encoder", method, "nli")
    features = model.encode(NLI)
    cpu = torch.device("cpu")
    plain = predict_proba(copy.deepcopy(model).to(torch.bfloat16), features, device=cpu, dtype=torch.bfloat16)
    to_inference_precision(model, torch.bfloat16)
    assert any(isinstance(m, PackedLinear) for m in model.body.modules())
    packed = predict_proba(model, features, device=cpu, dtype=torch.bfloat16)
    assert packed.classes == plain.classes and packed.probabilities == plain.probabilities


def _attention(model) -> str:
    return model.body.config._attn_implementation


def _record_training_attention(model, monkeypatch) -> list[str]:
    """The attention implementation of each training step, appended as its loss is computed."""
    seen: list[str] = []
    loss = model.loss
    monkeypatch.setattr(model, "loss", lambda batch: (seen.append(_attention(model)), loss(batch))[1])
    return seen


def test_training_attention_is_eager_on_cpu_within_the_budget_and_restored_after(request):
    from tests.unit.methods.test_methods_tiny import build
    from xshot.kernels import EAGER_ATTENTION_BYTES, attention_dropout, eager_attention_bytes, training_attention

    model = build(request, "tiny_encoder", "finetune", "nli")
    assert _attention(model) == "sdpa"
    with training_attention(model, torch.device("cpu"), torch.bfloat16, 8, 32) as used:
        assert used == "eager" == _attention(model)
    assert _attention(model) == "sdpa"
    cfg = model.body.config
    # 10 bytes per score, per head and layer, as the budget's docstring counts
    assert eager_attention_bytes(model.body, 8, 32) == 10 * 8 * cfg.num_attention_heads * 32 * 32 * cfg.num_hidden_layers
    too_many = EAGER_ATTENTION_BYTES // eager_attention_bytes(model.body, 1, 32) + 1
    with training_attention(model, torch.device("cpu"), torch.bfloat16, too_many, 32) as used:
        assert used == "sdpa" == _attention(model)
    with training_attention(model, torch.device("cuda"), torch.bfloat16, 8, 32) as used:  # accelerators keep theirs
        assert used == "sdpa"
    # fp32: eagerly only where attention weights are dropped (eager attention's dropout is cpu_dropout)
    assert attention_dropout(model.body) == cfg.attention_probs_dropout_prob == 0.1
    with training_attention(model, torch.device("cpu"), None, 8, 32) as used:
        assert used == "eager"
    cfg.attention_probs_dropout_prob = 0.0
    try:
        with training_attention(model, torch.device("cpu"), None, 8, 32) as used:
            assert used == "sdpa"
    finally:
        cfg.attention_probs_dropout_prob = 0.1
    with pytest.raises(RuntimeError), training_attention(model, torch.device("cpu"), torch.bfloat16, 8, 32):
        raise RuntimeError("a failed step")
    assert _attention(model) == "sdpa"


@pytest.mark.parametrize("backbone", ["tiny_encoder", "tiny_decoder"])
def test_eager_attention_gives_the_loss_and_gradients_of_sdpa(request, backbone):
    from tests.unit.methods.conftest import NLI
    from tests.unit.methods.test_methods_tiny import build

    torch.manual_seed(0)
    model = build(request, backbone, "finetune", "nli")
    model.eval()  # no dropout: the two kernels then compute the same function
    batch = model.collate(model.encode(NLI))
    results = {}
    for implementation in ("sdpa", "eager"):
        model.body.set_attn_implementation(implementation)
        model.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        results[implementation] = (loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None])
    (loss_a, grads_a), (loss_b, grads_b) = results.values()
    assert torch.allclose(loss_a, loss_b, atol=1e-6)
    assert len(grads_a) == len(grads_b) > 0
    assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(grads_a, grads_b))


def test_cpu_training_uses_eager_attention_and_evaluates_with_the_models_own(request, monkeypatch):
    from tests.unit.methods.conftest import NLI
    from tests.unit.methods.test_methods_tiny import build
    from xshot.methods import get_method
    from xshot.training.trainer import train

    model = build(request, "tiny_encoder", "finetune", "nli")
    seen = _record_training_attention(model, monkeypatch)
    config = get_method("finetune").config_class.resolve({"batch_size": 2})
    cpu = torch.device("cpu")
    train(model, model.encode(NLI), config, seed=1, device=cpu, dtype=torch.bfloat16, max_steps=2, progress=False)
    assert seen == ["eager", "eager"]
    assert _attention(model) == "sdpa"
    train(model, model.encode(NLI), config, seed=1, device=cpu, max_steps=1, progress=False)
    assert seen[2:] == ["eager"]  # fp32: BERT drops attention weights (cpu_dropout is faster than sdpa's)
    assert _attention(model) == "sdpa"
    decoder = build(request, "tiny_decoder", "finetune", "nli")  # Llama: no attention dropout, fp32 keeps sdpa
    seen_decoder = _record_training_attention(decoder, monkeypatch)
    train(decoder, decoder.encode(NLI), config, seed=1, device=cpu, max_steps=1, progress=False)
    assert seen_decoder == ["sdpa"]


def test_cpu_dropout_by_hand():
    """The mask is 15 random bits per element against round(p * 2**15), the kept values scaled by
    2**15 / (2**15 - dropped): drawn from torch's seeded generator, so a seed gives the same mask."""
    from xshot.kernels import cpu_dropout

    x = torch.tensor([[1.0, -2.0, 3.0, 4.0], [0.5, 6.0, -7.0, 8.0]], requires_grad=True)
    torch.manual_seed(3)
    words = torch.empty(2, dtype=torch.int64).random_()  # 63 random bits each, four 16-bit lanes
    bits = words.view(torch.int16).reshape(2, 4) & 0x7FFF
    dropped = round(0.3 * 2**15)  # 9830
    keep = bits >= dropped
    torch.manual_seed(3)
    y = cpu_dropout(x, 0.3)
    assert torch.equal(y, torch.where(keep, x * (32768 / (32768 - 9830)), 0.0))
    y.backward(torch.full_like(x, 2.0))
    assert torch.equal(x.grad, torch.where(keep, 2.0 * 32768 / (32768 - 9830), 0.0))
    torch.manual_seed(3)
    assert torch.equal(cpu_dropout(x, 0.3), y)
    assert 0 <= int(bits.min()) and int(bits.max()) < 2**15
    big, threads, masks = torch.ones(1024, 1024), torch.get_num_threads(), []
    try:
        for n in (1, 2):  # the same mask on any thread count
            torch.set_num_threads(n)
            torch.manual_seed(3)
            masks.append(cpu_dropout(big, 0.3) == 0)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(*masks)


def test_cpu_dropout_drops_p_and_keeps_the_expectation():
    from xshot.kernels import cpu_dropout

    torch.manual_seed(0)
    x = torch.ones(1_000_000, dtype=torch.bfloat16)
    for p in (0.1, 0.5):
        y = cpu_dropout(x, p)
        assert y.dtype == torch.bfloat16
        assert abs(float((y == 0).float().mean()) - p) < 0.002  # 1e6 draws: sd 0.0005
        kept = y[y != 0]
        assert torch.all(kept == kept[0]) and float(kept[0]) == pytest.approx(1 / (1 - p), rel=4e-3)  # bf16 scale
        lanes = (y == 0).float().view(-1, 4).mean(0)  # the four 16-bit lanes of each 64-bit draw, one by one
        assert torch.all((lanes - p).abs() < 0.004), lanes  # 2.5e5 draws each: sd 0.001
        pairs = ((y == 0).view(-1, 4)[:, :2].all(1)).float().mean()  # two lanes of one draw are independent
        assert abs(float(pairs) - p * p) < 0.004


def test_cpu_dropout_leaves_the_rest_to_torch(monkeypatch):
    from xshot import kernels

    x = torch.randn(3, 5)
    assert torch.equal(kernels.cpu_dropout(x, 0.3, training=False), x)
    assert torch.equal(kernels.cpu_dropout(x, 0.0), x)
    assert torch.equal(kernels.cpu_dropout(x, 1.0), torch.zeros_like(x))
    calls = []
    monkeypatch.setattr(kernels, "_torch_dropout", lambda *a: calls.append(a[1:]) or a[0])
    kernels.cpu_dropout(x, 0.3, True, True)  # in place
    kernels.cpu_dropout(torch.ones(4, dtype=torch.int64), 0.3)
    assert calls == [(0.3, True, True), (0.3, True, False)]


def test_training_dropout_is_for_cpus_and_restores_torchs():
    import torch.nn.functional as F

    from xshot.kernels import cpu_dropout, training_dropout

    original = F.dropout
    with training_dropout(torch.device("cpu")) as used:
        assert used and F.dropout is cpu_dropout
        torch.manual_seed(5)
        module = nn.Dropout(0.2)(torch.ones(64, 64))  # nn.Dropout goes through it
        torch.manual_seed(5)
        assert torch.equal(module, cpu_dropout(torch.ones(64, 64), 0.2))
    assert F.dropout is original
    with training_dropout(torch.device("cuda")) as used:
        assert not used and F.dropout is original
    with pytest.raises(RuntimeError), training_dropout(torch.device("cpu")):
        raise RuntimeError("a failed step")
    assert F.dropout is original


@pytest.mark.parametrize("method", ["finetune", "lora"])
def test_cpu_training_draws_its_dropout_masks_with_cpu_dropout_reproducibly(request, monkeypatch, method):
    """A training run's dropout (the encoder's and LoRA's) is xshot's, and the same seed gives the same losses."""
    from tests.unit.methods.conftest import NLI
    from tests.unit.methods.test_methods_tiny import build
    from xshot import kernels
    from xshot.methods import get_method
    from xshot.training.trainer import train

    calls = []
    real = kernels.cpu_dropout
    monkeypatch.setattr(kernels, "cpu_dropout", lambda x, p=0.5, training=True, inplace=False:
                        (calls.append(p), real(x, p, training, inplace))[1])
    config = get_method(method).config_class.resolve({"batch_size": 2})
    cpu = torch.device("cpu")
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build(request, "tiny_encoder", method, "nli")
        losses.append(train(model, model.encode(NLI), config, seed=1, device=cpu, max_steps=3, progress=False).losses)
    assert losses[0] == losses[1]
    assert calls and all(0 < p < 1 for p in calls)
