"""One training loop for every method: the few-shot protocol of the literature.

A fixed number of optimisation steps (or epochs) on the shots, with no model selection on a large
dev set ("true few-shot", Perez et al. 2021); AdamW with linear warm-up and decay, gradient clipping,
optional gradient accumulation, autocast to bf16/fp16 (on GPUs and on CPUs with bf16 matrix units; on CPUs
with ``xshot.kernels``' attention and dropout). Randomness comes from one seeded generator, so the same
configuration and seed give the same model on CPU.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from xshot.backbone import precision_name
from xshot.errors import Diverged, XshotError
from xshot.kernels import training_attention, training_dropout
from xshot.methods.base import MethodConfig, XshotModel
from xshot.methods.inputs import Feature
from xshot.seeding import seed_everything
from xshot.training.config import resolve_steps


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


@dataclass
class TrainResult:
    steps: int
    seconds: float
    losses: list[float]
    tokens: int = 0  # non-padding tokens the body processed
    flops: float = 0.0  # estimated training compute (see :func:`flops_per_token`)


def flops_per_token(model: XshotModel) -> float:
    """Training FLOPs per token, the usual estimate: a forward pass costs 2N for N body weights (the word
    embedding matrix is a lookup, not counted), the backward pass 2N for the activation gradients plus 2N
    times the share of body weights that train (weight gradients): 6N for full fine-tuning, about 4N for
    parameter-efficient methods on a frozen body."""
    embedding = model.body.get_input_embeddings().weight
    seen, total, trainable = {id(embedding)}, 0, 0
    for p in model.body.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return float(total) * (4 + 2 * trainable / max(1, total))


def steps_for_budget(model: XshotModel, features: list[Feature], config: MethodConfig, flops: float) -> int:
    """Optimisation steps whose estimated compute is ``flops``, at the shots' mean length."""
    mean_tokens = sum(len(f.input_ids) for f in features) / max(1, len(features))
    per_step = flops_per_token(model) * mean_tokens * config.batch_size * config.grad_accumulation
    return max(1, round(flops / per_step))


def move(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def train(model: XshotModel, features: list[Feature], config: MethodConfig, *, seed: int, device: torch.device,
          dtype: torch.dtype | None = None, max_steps: int | None = None, epochs: float | None = None,
          progress: bool = True) -> TrainResult:
    from transformers import get_linear_schedule_with_warmup

    if not features:
        raise ValueError("no training features")
    seed_everything(seed)
    model.to(device).train()
    steps = resolve_steps(max_steps, epochs, config.max_steps, len(features), config.batch_size,
                          config.grad_accumulation)
    if steps == 0:  # evaluate the untrained model (a zero-shot baseline of any method)
        model.eval()
        return TrainResult(0, 0.0, [])
    if steps < 0:
        raise XshotError(f"max_steps must be 0 or more, not {steps}")
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    # fused: one kernel over every tensor instead of ~10 ops per tensor (on CPU the per-tensor loop was a sixth
    # of a bf16 me5-small step); the update is AdamW's, equal up to float rounding
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.learning_rate,
                                  fused=device.type in ("cpu", "cuda"))
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * steps), steps)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    order = torch.Generator().manual_seed(seed)
    batches = _batches(features, config.batch_size, order)
    rows = config.batch_size * model.rows_per_input
    longest = max(len(f.input_ids) for f in features) + getattr(model, "virtual_tokens", 0)
    start = time.perf_counter()
    bar = _progress(steps, "train", progress)
    losses: list[float] = []
    tokens = 0
    with training_attention(model, device, dtype, rows, longest), training_dropout(device):
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            total = 0.0
            for _ in range(config.grad_accumulation):
                batch = move(model.collate(next(batches)), device)
                tokens += int(batch["attention_mask"].sum())
                with autocast(device, dtype):
                    loss = model.loss(batch) / config.grad_accumulation
                (scaler.scale(loss) if scaler else loss).backward()
                total += float(loss.detach())
            if not math.isfinite(total):  # the weights are lost from here on: every prediction would be noise
                raise Diverged(
                    f"training diverged: the loss of step {len(losses) + 1} is {total} (learning rate "
                    f"{config.learning_rate:g}, precision {precision_name(dtype)}); lower the learning rate"
                    + ("" if dtype is None else " or train in fp32"))
            if scaler:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm, foreach=True)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            losses.append(total)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{total:.3f}")
    if bar is not None:
        bar.close()
    optimizer.zero_grad(set_to_none=True)  # the last step's gradients would stay allocated through evaluation
    model.eval()
    return TrainResult(steps, time.perf_counter() - start, losses, tokens, tokens * flops_per_token(model))


def _batches(features: list[Feature], size: int, generator: torch.Generator):
    """An endless stream of shuffled mini-batches (reshuffled every epoch)."""
    while True:
        perm = torch.randperm(len(features), generator=generator).tolist()
        for i in range(0, len(perm), size):
            chunk = perm[i: i + size]
            if len(chunk) < size and len(perm) >= size:
                chunk = chunk + perm[: size - len(chunk)]
            yield [features[j] for j in chunk]


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
