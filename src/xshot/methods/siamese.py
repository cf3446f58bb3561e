"""Siamese sentence-pair encoding: premise and hypothesis go through the body apart, then are compared.

Sentence-embedding backbones (multilingual-e5, LaBSE, SBERT models) are trained to embed one sentence
at a time; the state of a jointly encoded pair was never trained, and a few-shot head on it stays at
chance. The feature ``[u, v, |u - v|, u * v]`` of the two mean-pooled sentence states (Reimers &
Gurevych 2019) reads what pretraining did learn. A feature keeps both sides in one id sequence, the
hypothesis starting at the feature's single position, so collation, caching and length bucketing are
those of every other input; the split happens on the padded batch.
"""

from __future__ import annotations

import torch


def split_pairs(input_ids: torch.Tensor, attention_mask: torch.Tensor, starts: torch.Tensor,
                pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed pairs [B, L] split at ``starts`` [B] → ids and mask [2B, L']: the B firsts, then the B seconds."""
    lengths = attention_mask.sum(1)
    offsets = torch.cat([torch.zeros_like(starts), starts])
    sizes = torch.cat([starts, lengths - starts])
    width = int(sizes.max())
    steps = torch.arange(width, device=input_ids.device)
    index = (offsets[:, None] + steps[None]).clamp(max=input_ids.size(1) - 1)
    mask = (steps[None] < sizes[:, None]).long()
    ids = torch.cat([input_ids, input_ids]).gather(1, index).masked_fill(mask == 0, pad_id)
    return ids, mask


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)


def pair_features(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.cat([u, v, (u - v).abs(), u * v], dim=-1)
