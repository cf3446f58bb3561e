"""Linear layers in bf16 inference on CPUs with matrix units (measured on this project's 2-core AMX machine).

``F.linear`` on bf16 CPU tensors goes through a general matrix product; oneDNN's inner product on a weight
reordered once into its blocked layout is 1.2-1.4x faster on the body's shapes (2048 tokens x 384-2048
features; identical outputs); bf16 evaluation end to end is 1.12-1.14x faster on me5-small and unchanged
within noise on gemma3-270m (0.96-1.04x), predictions identical (two runs of ``benchmarks/precision.py``). :func:`pack_linear_weights` swaps a
model's ``nn.Linear`` layers for :class:`PackedLinear`, which shares their parameters (the state dict is
unchanged) and uses the packed copy only for CPU bf16 forward passes without autograd.

Tried and not kept: attention on fp32 query/key/value while training under CPU bf16 autocast (torch's bf16
flash-attention backward profiled 3x slower than its fp32 one on gemma3-270m, one thread, a busy machine);
on a quiet machine with two threads the whole step was slower with it, 0.82x (me5-small) and 0.88x
(gemma3-270m): ``benchmarks/results/precision_fp32_attention.json``.
"""

from __future__ import annotations

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
