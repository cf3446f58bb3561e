"""Inference over many examples: length-bucketed batches, no gradients, one pass.

Sorting features by length and filling each batch up to a token budget keeps padding small and
batches large; predictions are put back in input order afterwards.
"""

from __future__ import annotations

import torch

from xshot.methods.base import XshotModel
from xshot.methods.inputs import Feature
from xshot.training.trainer import autocast, move


def length_buckets(features: list[Feature], token_budget: int, max_batch: int) -> list[list[int]]:
    """Indices grouped into batches of similar length whose padded size stays within the budget."""
    order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids), reverse=True)
    batches, current, longest = [], [], 0
    for i in order:
        length = len(features[i].input_ids)
        if current and (max(longest, length) * (len(current) + 1) > token_budget or len(current) >= max_batch):
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, length)
    if current:
        batches.append(current)
    return batches


def padding_fraction(features: list[Feature], batches: list[list[int]]) -> float:
    real = sum(len(f.input_ids) for f in features)
    padded = sum(max(len(features[i].input_ids) for i in b) * len(b) for b in batches)
    return 1 - real / padded if padded else 0.0


@torch.inference_mode()
def predict(model: XshotModel, features: list[Feature], *, device: torch.device, dtype: torch.dtype | None = None,
            token_budget: int = 8192, max_batch: int = 128, progress: bool = False) -> list[list[int]]:
    """Class index per scored position of every feature (one for NLI, one per kept word for NER)."""
    model.to(device).eval()
    out: list[list[int] | None] = [None] * len(features)
    batches = length_buckets(features, token_budget, max_batch)
    iterator = batches
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(batches, desc="eval", leave=False, dynamic_ncols=True)
    for idx in iterator:
        batch = move(model.collate([features[i] for i in idx]), device)
        with autocast(device, dtype):
            logits = model(batch)
        if logits.dim() == 2:
            logits = logits.unsqueeze(1)
        best = logits.argmax(-1).cpu()
        for row, i in enumerate(idx):
            out[i] = best[row, : len(features[i].positions)].tolist()
    return out  # type: ignore[return-value]
