"""Packed linear layers for CPU bf16 inference (``xshot.kernels``) compute what ``nn.Linear`` computes."""

import copy
import pickle

import pytest
import torch
from torch import nn

from xshot.kernels import PackedLinear, can_pack, pack_linear_weights


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
