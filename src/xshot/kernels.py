"""Two kernel choices for bf16 on CPUs with matrix units, each measured on this project's 2-core AMX machine.

- **Attention in training**: torch's bf16 flash-attention backward on CPU is about 3x slower than its
  fp32 one (gemma3-270m ``prompt`` step, profiled: 1.43 s against 0.44 s over three steps, the largest
  single cost after the matrix products). The attention function xshot registers with transformers
  (``xshot_sdpa``) is transformers' own SDPA function, with query, key and value upcast to fp32 while
  autograd records on a CPU in reduced precision, and its output cast back: the same result to fp32
  precision (more exact, not less), and a training step about 12% faster there. Everywhere else
  (inference, fp32, accelerators) it is transformers' SDPA unchanged.
- **Linear layers in bf16 inference**: ``F.linear`` on bf16 CPU tensors goes through a general matrix
  product; oneDNN's inner product on a weight reordered once into its blocked layout is 1.2-1.4x faster
  on the body's shapes (2048 tokens x 384-2048 features; identical outputs). :func:`pack_linear_weights`
  swaps a model's ``nn.Linear`` layers for :class:`PackedLinear`, which shares their parameters (the
  state dict is unchanged) and uses the packed copy only for CPU bf16 forward passes without autograd.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION = "xshot_sdpa"


def _fp32_training_sdpa(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if query.device.type == "cpu" and query.dtype != torch.float32 and torch.is_grad_enabled():
        with torch.autocast("cpu", enabled=False):
            out, weights = sdpa_attention_forward(module, query.float(), key.float(), value.float(),
                                                  attention_mask, **kwargs)
        return out.to(query.dtype), weights
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


@functools.cache
def register_attention() -> str:
    """Register :data:`ATTENTION` with transformers (once per process) and return its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION, _fp32_training_sdpa)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)
    return ATTENTION


def use_xshot_attention(body: nn.Module) -> None:
    """Switch a body that runs transformers' SDPA attention to :data:`ATTENTION` (others keep theirs).

    The implementation name lives only in the loaded config object; saved checkpoints do not record it.
    """
    config = getattr(body, "config", None)
    if getattr(config, "_attn_implementation", None) == "sdpa" and hasattr(body, "set_attn_implementation"):
        body.set_attn_implementation(register_attention())


class PackedLinear(nn.Linear):
    """An ``nn.Linear`` that also holds its bf16 weight in oneDNN's blocked layout, for CPU inference.

    The packed copy is made once, from the weight as it is then; the layer is meant for a model whose
    weights no longer change (xshot packs after training and saving). Anything else (autograd, fp32 or
    accelerator tensors) takes the plain ``F.linear`` path on the shared parameters.
    """

    def __init__(self, linear: nn.Linear):
        nn.Module.__init__(self)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias
        self._packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != self._packed.dtype or x.device.type != "cpu" or torch.is_grad_enabled():
            return F.linear(x, self.weight, self.bias)
        bias = None if self.bias is None else self.bias.detach()
        y = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, self.in_features), self._packed, bias, "none", [], "")
        return y.view(*x.shape[:-1], self.out_features)

    def __getstate__(self) -> dict:  # an opaque oneDNN tensor cannot be copied or pickled: repack instead
        return {**self.__dict__, "_packed": None}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._packed = torch.ops.mkldnn._reorder_linear_weight(self.weight.detach(), None)


def can_pack() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def pack_linear_weights(module: nn.Module) -> int:
    """Replace every bf16 CPU ``nn.Linear`` under ``module`` by a :class:`PackedLinear`; how many."""
    if not can_pack():
        return 0
    count = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear and child.weight.dtype == torch.bfloat16 and child.weight.device.type == "cpu":
                setattr(parent, name, PackedLinear(child))
                count += 1
    return count
