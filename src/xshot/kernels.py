"""Kernel choices on CPUs (measured on this project's 2-core AMX machine): packed linear layers in bf16
inference, transformers' eager attention in bf16 training.

``F.linear`` on bf16 CPU tensors goes through a general matrix product; oneDNN's inner product on a weight
reordered once into its blocked layout is 1.2-1.4x faster on the body's shapes (2048 tokens x 384-2048
features; identical outputs); bf16 evaluation end to end is 1.12-1.18x faster on me5-small and unchanged
within noise on gemma3-270m (0.96-1.04x), predictions identical (``benchmarks/precision.py``).
:func:`pack_linear_weights` swaps a model's ``nn.Linear`` layers for :class:`PackedLinear`, which shares
their parameters (the state dict is unchanged) and uses the packed copy only for CPU bf16 forward passes
without autograd.

Training in bf16 on a CPU runs attention through transformers' ``eager`` implementation (two batched
products and an fp32 softmax) instead of ``sdpa``, whose CPU flash kernel has a slow bf16 backward pass and
which falls back to a math kernel that computes bf16 in fp32 whenever attention dropout is on: forward and
backward of one attention layer took 12-13 ms instead of 27 ms (gemma3-270m shapes) and 11 instead of 14 ms
(me5-small, dropout). Attention is a tenth of a step, so whole steps gain little: median 2% (gemma3-270m
``prompt``) and 5% (me5-small ``finetune``) over 6-8 alternating repeats, within this machine's noise. In
fp32 the kernels are on par (steps 0-2% slower eagerly), so fp32 keeps ``sdpa``. Eager attention keeps the
attention probabilities for the backward pass, so it is used only while they fit
:data:`EAGER_ATTENTION_BYTES`; evaluation keeps ``sdpa`` (no measurable difference there).

Tried and not kept: attention on fp32 query/key/value while training under CPU bf16 autocast (torch's bf16
flash-attention backward profiled 3x slower than its fp32 one on gemma3-270m, one thread, a busy machine);
on a quiet machine with two threads the whole step was slower with it, 0.82x (me5-small) and 0.88x
(gemma3-270m): ``benchmarks/results/precision_fp32_attention.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


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


#: the most memory eager attention may keep for the backward pass (scores, fp32 softmax, its bf16 copy and
#: the dropout mask: about 10 bytes per score, every layer); beyond it training keeps the model's own kernel
EAGER_ATTENTION_BYTES = 2**30


def _pretrained(model: nn.Module):
    from transformers import PreTrainedModel

    return next((m for m in model.modules() if isinstance(m, PreTrainedModel)), None)


def eager_attention_bytes(body: nn.Module, rows: int, longest: int) -> int:
    """What eager attention keeps for the backward pass of one batch of ``rows`` inputs of ``longest`` tokens."""
    cfg = body.config.get_text_config() if hasattr(body.config, "get_text_config") else body.config
    heads = getattr(cfg, "num_attention_heads", 1) or 1
    layers = getattr(cfg, "num_hidden_layers", 1) or 1
    return 10 * rows * heads * longest * longest * layers


@contextmanager
def training_attention(model: nn.Module, device: torch.device, dtype: torch.dtype | None, rows: int,
                       longest: int) -> Iterator[str | None]:
    """Run the body's attention eagerly while training on a CPU in bf16 (see the module docstring); yields the
    implementation in use (None for a body that is not a transformers model) and restores the previous one."""
    body = _pretrained(model)
    if body is None:
        yield None
        return
    previous = body.config._attn_implementation
    if not (device.type == "cpu" and dtype == torch.bfloat16 and previous == "sdpa"
            and body._can_set_attn_implementation()
            and eager_attention_bytes(body, rows, longest) <= EAGER_ATTENTION_BYTES):
        yield previous
        return
    body.set_attn_implementation("eager")
    try:
        yield "eager"
    finally:
        body.set_attn_implementation(previous)
