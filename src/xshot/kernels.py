"""Kernel choices on CPUs (measured on this project's 2-core machines, AMX and AVX2-only): packed linear
layers in bf16 inference, transformers' eager attention in CPU training, and dropout masks from integers.

``F.linear`` on bf16 CPU tensors goes through a general matrix product; oneDNN's inner product on a weight
reordered once into its blocked layout is 1.2-1.4x faster on the body's shapes (2048 tokens x 384-2048
features; identical outputs); bf16 evaluation end to end is 1.12-1.23x faster on me5-small and no faster on
gemma3-270m (0.89-1.04x over four runs), predictions identical (``benchmarks/precision.py``).
:func:`pack_linear_weights` swaps a model's ``nn.Linear`` layers for :class:`PackedLinear`, which shares
their parameters (the state dict is unchanged) and uses the packed copy only for CPU bf16 forward passes
without autograd.

Training in bf16 on a CPU runs attention through transformers' ``eager`` implementation (two batched
products and an fp32 softmax) instead of ``sdpa``, whose CPU flash kernel has a slow bf16 backward pass and
which falls back to a math kernel that computes bf16 in fp32 whenever attention dropout is on: forward and
backward of one attention layer took 12-13 ms instead of 27 ms (gemma3-270m shapes) and 11 instead of 14 ms
(me5-small, dropout). Attention is a tenth of a step, so whole steps gain little: median 2% (gemma3-270m
``prompt``) and 5% (me5-small ``finetune``) over 6-8 alternating repeats, within this machine's noise. In
fp32 the kernels are on par where attention weights are not dropped (gemma3-270m ``prompt``: 0.99x, AMD
EPYC), and fp32 keeps ``sdpa`` there; where they are (BERT-style bodies such as me5-small, XLM-R, mBERT),
``sdpa`` takes its math kernel and draws torch's Bernoulli mask (5% of a me5-small step), while eager
attention's dropout is :func:`cpu_dropout`: me5-small steps 1.07x (``finetune``) and 1.05x (LoRA) faster
in fp32 (AMD EPYC, 2 threads, 5 alternating repeats of 3 steps). Eager attention keeps the
attention probabilities for the backward pass, so it is used only while they fit
:data:`EAGER_ATTENTION_BYTES`; evaluation keeps ``sdpa`` (no measurable difference there).

Training on a CPU (any precision) draws dropout masks with :func:`cpu_dropout`: torch's CPU dropout samples
a 64-bit Bernoulli variate per element, serially, and was 22% of a bf16 me5-small ``finetune`` step and 29%
of a gemma3-270m LoRA step (peft drops the input of every adapter). 15 random bits per element from the
same generator cost about half (profiled on me5-small ``finetune``: 73 ms of dropout per step against
34 ms of random integers and 16 ms of comparing and scaling). Steps, ``benchmarks/training_kernels.py``
(12 alternating repeats): me5-small ``finetune`` 1.13x and LoRA 1.17x faster, gemma3-270m LoRA 1.07x.
Drawing them four to a 64-bit value (:func:`random_bits`) halves the generator's work again: LoRA steps
1.08x (me5-small) and 1.04x (gemma3-270m) faster in fp32 on AMD EPYC (5 alternating repeats of 3 steps).
Masks are as reproducible as torch's (same seed, same masks, whatever the thread count) but different
ones, so results differ from those of versions before it within seed noise.

Tried and not kept: attention on fp32 query/key/value while training under CPU bf16 autocast (torch's bf16
flash-attention backward profiled 3x slower than its fp32 one on gemma3-270m, one thread, a busy machine);
on a quiet machine with two threads the whole step was slower with it, 0.82x (me5-small) and 0.88x
(gemma3-270m): ``benchmarks/results/precision_fp32_attention.json``.
"""

from __future__ import annotations

import functools
import math
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
        self._packed = packed_weight(linear.weight.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != self._packed.dtype or x.device.type != "cpu" or torch.is_grad_enabled():
            return F.linear(x, self.weight, self.bias)
        return packed_product(x, self._packed, None if self.bias is None else self.bias.detach())

    def __getstate__(self) -> dict:  # an opaque oneDNN tensor cannot be copied or pickled: repack instead
        return {**self.__dict__, "_packed": None}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._packed = packed_weight(self.weight.detach())


def packed_weight(weight: torch.Tensor) -> torch.Tensor:
    """A bf16 CPU weight [out, in] reordered once into oneDNN's blocked layout (an opaque tensor for
    :func:`packed_product`); check :func:`can_pack` first."""
    return torch.ops.mkldnn._reorder_linear_weight(weight, None)


def packed_product(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` through the packed copy of ``weight`` (:func:`packed_weight`); x [..., in]."""
    y = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, x.size(-1)), packed, bias, "none", [], "")
    return y.view(*x.shape[:-1], y.size(-1))


@functools.cache
def can_pack() -> bool:
    """Whether oneDNN can pack bf16 weights here: it needs AVX512 (BW, VL, DQ) or AVX-NE-CONVERT, which an
    AVX2-only CPU (e.g. AMD Zen 3) lacks; the reorder is tried once on a tiny weight to find out."""
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
        return False
    try:
        torch.ops.mkldnn._reorder_linear_weight(torch.zeros(2, 2, dtype=torch.bfloat16), None)
    except RuntimeError:
        return False
    return True


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


def _text_config(body: nn.Module):
    return body.config.get_text_config() if hasattr(body.config, "get_text_config") else body.config


def attention_dropout(body: nn.Module) -> float:
    """The dropout probability on the body's attention weights (BERT and Llama families name it differently)."""
    cfg = _text_config(body)
    return float(getattr(cfg, "attention_probs_dropout_prob", None) or getattr(cfg, "attention_dropout", 0.0) or 0.0)


def eager_attention_bytes(body: nn.Module, rows: int, longest: int) -> int:
    """What eager attention keeps for the backward pass of one batch of ``rows`` inputs of ``longest`` tokens."""
    cfg = _text_config(body)
    heads = getattr(cfg, "num_attention_heads", 1) or 1
    layers = getattr(cfg, "num_hidden_layers", 1) or 1
    return 10 * rows * heads * longest * longest * layers


@contextmanager
def training_attention(model: nn.Module, device: torch.device, dtype: torch.dtype | None, rows: int,
                       longest: int) -> Iterator[str | None]:
    """Run the body's attention eagerly while training on a CPU in bf16, or in any precision where attention
    weights are dropped (see the module docstring); yields the implementation in use (None for a body that is
    not a transformers model) and restores the previous one."""
    body = _pretrained(model)
    if body is None:
        yield None
        return
    previous = body.config._attn_implementation
    if not (device.type == "cpu" and (dtype == torch.bfloat16 or attention_dropout(body) > 0) and previous == "sdpa"
            and body._can_set_attn_implementation()
            and eager_attention_bytes(body, rows, longest) <= EAGER_ATTENTION_BYTES):
        yield previous
        return
    body.set_attn_implementation("eager")
    try:
        yield "eager"
    finally:
        body.set_attn_implementation(previous)


#: dropout decisions on a CPU come from this many random bits per element: p is rounded to a multiple of
#: 2**-15 (0.1 becomes 0.100006) and the kept values are scaled so that the expectation stays exact
DROPOUT_BITS = 15
_torch_dropout = F.dropout


class _CPUDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:
        levels = 2**DROPOUT_BITS
        dropped = round(p * levels)
        keep = random_bits(x.shape, x.device) >= dropped
        ctx.scale = levels / (levels - dropped)
        ctx.save_for_backward(keep)
        return (x * keep).mul_(ctx.scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (keep,) = ctx.saved_tensors
        return (grad * keep).mul_(ctx.scale), None


def random_bits(shape: torch.Size, device: torch.device) -> torch.Tensor:
    """int16 values of :data:`DROPOUT_BITS` uniform random bits, four per 64-bit draw of torch's generator.

    torch's CPU ``random_`` draws serially, one value per element: 32 bits of its Mersenne Twister for an
    int16, 64 (two draws, the sign bit cleared) for an int64. Each 16-bit lane of an int64 masked to 15 bits
    is uniform and independent of the others, so four masks come from two draws instead of four (the masks
    of a 576 x 2048 activation: 1.5 ms instead of 4.4, AMD EPYC, 2 threads).
    """
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_()
    return words.view(torch.int16)[:n].view(shape).bitwise_and_(2**DROPOUT_BITS - 1)


def cpu_dropout(input: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> torch.Tensor:
    """``F.dropout`` with masks from 15 random bits per element instead of a double per element.

    See the module docstring for why. Anything else (no training, p of 0 or 1, in place, an accelerator or
    integer tensor) is torch's own dropout.
    """
    if not training or not 0 < p < 1 or inplace or input.device.type != "cpu" or not input.is_floating_point():
        return _torch_dropout(input, p, training, inplace)
    return _CPUDropout.apply(input, p)


@contextmanager
def training_dropout(device: torch.device) -> Iterator[bool]:
    """While training on a CPU, every ``F.dropout`` call (``nn.Dropout`` modules, transformers' eager
    attention, peft's adapters) goes to :func:`cpu_dropout`; yields whether it does, and restores torch's."""
    if device.type != "cpu":
        yield False
        return
    previous = F.dropout
    F.dropout = cpu_dropout
    try:
        yield True
    finally:
        F.dropout = previous
