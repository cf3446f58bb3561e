"""The two CPU bf16 kernel choices (``xshot.kernels``) compute what the kernels they replace compute."""

import copy
import pickle

import pytest
import torch
from torch import nn

from xshot.backbone import load_backbone
from xshot.kernels import ATTENTION, PackedLinear, can_pack, pack_linear_weights


def padded_batch(vocab: int):
    torch.manual_seed(1)
    ids = torch.randint(6, vocab, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    return ids, mask


@pytest.mark.parametrize("fixture", ["tiny_encoder", "tiny_decoder"])
def test_loaded_backbones_run_xshot_attention_with_the_same_outputs_as_sdpa(fixture, request):
    backbone = load_backbone(request.getfixturevalue(fixture), want_lm_head=False)
    body = backbone.body.eval()
    assert body.config._attn_implementation == ATTENTION
    ids, mask = padded_batch(body.config.vocab_size)
    ours = body(input_ids=ids, attention_mask=mask).last_hidden_state
    body.set_attn_implementation("sdpa")
    theirs = body(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("fixture", ["tiny_encoder", "tiny_decoder"])
def test_bf16_training_attention_runs_in_fp32_and_matches_an_fp32_reference(fixture, request):
    """Under CPU bf16 autocast with autograd, attention is computed in fp32 (its output is fp32
    attention rounded once, which torch's bf16 kernel is not on these inputs) and its gradient flows
    back in bf16."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from xshot.kernels import _fp32_training_sdpa

    body = load_backbone(request.getfixturevalue(fixture), want_lm_head=False).body
    module = next(m for m in body.modules() if hasattr(m, "num_key_value_groups") or hasattr(m, "is_causal"))
    torch.manual_seed(2)
    q, k, v = (torch.randn(2, 2, 7, 16, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = _fp32_training_sdpa(module, q, k, v, None, scaling=0.25)
    assert out.dtype == torch.bfloat16
    ref, _ = sdpa_attention_forward(module, q.float(), k.float(), v.float(), None, scaling=0.25)
    assert torch.equal(out, ref.to(torch.bfloat16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16_kernel, _ = sdpa_attention_forward(module, q, k, v, None, scaling=0.25)
    assert not torch.equal(bf16_kernel, out)  # so the comparison above can tell the two apart
    out.float().sum().backward()
    assert q.grad is not None and q.grad.dtype == torch.bfloat16 and torch.isfinite(q.grad.float()).all()
    with torch.no_grad():  # inference keeps torch's own bf16 kernel
        fast, _ = _fp32_training_sdpa(module, q, k, v, None, scaling=0.25)
        plain, _ = sdpa_attention_forward(module, q, k, v, None, scaling=0.25)
    assert torch.equal(fast, plain)


def test_the_attention_choice_is_not_written_into_saved_checkpoints(tiny_decoder, tmp_path):
    body = load_backbone(tiny_decoder, want_lm_head=False).body
    body.save_pretrained(tmp_path)
    assert ATTENTION not in (tmp_path / "config.json").read_text()


needs_onednn = pytest.mark.skipif(not can_pack(), reason="this torch build has no oneDNN inner product")


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
