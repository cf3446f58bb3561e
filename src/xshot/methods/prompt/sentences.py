"""Whole-sentence scoring on decoders: each class's sentence, scored by its tokens' log-probabilities.

XGLM (Lin et al. 2022) and lm-evaluation-harness's ``xnli_*`` tasks put the label word inside the sentence
(``{premise}, right? Yes, {hypothesis}``) and compare the log-likelihood of the whole sentence of each class.
A feature packs an example's C sentences end to end (:meth:`xshot.methods.inputs.InputFormat.
encode_sequences`); here they are unpacked into C rows, run through the body in one batch (the method's own
``hidden_states``, so in-context demonstrations keep their cached keys and values), and each class scores the
sum (or the mean) of the log-probabilities of its tokens after the start all C sentences share. Those shared
tokens have the same log-probabilities in every class (a causal model reads only what precedes them), so the
sum over the whole sentence, lm-evaluation-harness's score, differs from this one by a constant per example
and ranks the classes identically; the mean is over the differing tokens only.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

#: positions whose whole-vocabulary log-softmax is computed at a time (memory: positions x vocabulary floats)
CHUNK = 256


def unpack(batch: dict[str, torch.Tensor], classes: int) -> tuple[list[torch.Tensor], list[int]]:
    """The C sentences of each example (row-major: example, then class) and each example's shared length."""
    rows, shared = [], []
    for ids, pos in zip(batch["input_ids"], batch["positions"]):
        ends = pos[:classes].tolist()
        rows += [ids[start:end] for start, end in zip([0, *ends[:-1]], ends)]
        shared.append(int(pos[classes]))
    return rows, shared


def padded(model, rows: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The rows as one right-padded batch for the body."""
    pad = model.backbone.tokenizer.pad_token_id
    length = max(len(r) for r in rows)
    return {"input_ids": torch.stack([F.pad(r, (0, length - len(r)), value=pad) for r in rows]),
            "attention_mask": torch.stack([F.pad(torch.ones_like(r), (0, length - len(r))) for r in rows])}


def token_log_probs(model, rows: list[torch.Tensor], starts: list[int]) -> list[torch.Tensor]:
    """For each row, the log-probability of each of its tokens from ``start`` on, given what precedes it."""
    return log_probs_from_states(model, model.hidden_states(padded(model, rows)), rows, starts)


def log_probs_from_states(model, hidden: torch.Tensor, rows: list[torch.Tensor], starts: list[int]
                          ) -> list[torch.Tensor]:
    """:func:`token_log_probs` from the body's states of the padded rows [R, L, D]."""
    read = [(i, t) for i, (r, s) in enumerate(zip(rows, starts)) for t in range(max(s, 1) - 1, len(r) - 1)]
    index = torch.tensor(read, device=hidden.device)
    states = hidden[index[:, 0], index[:, 1]]  # the state before each scored token
    targets = torch.stack([rows[i][t + 1] for i, t in read])
    flat = torch.cat([model.scorer.token_log_probs(part, target)
                      for part, target in zip(states.split(CHUNK), targets.split(CHUNK))])
    sizes = [len(r) - max(s, 1) for r, s in zip(rows, starts)]
    return list(flat.split(sizes))


def sentence_log_likelihoods(model, batch: dict[str, torch.Tensor], classes: int, reduce: str = "sum") -> torch.Tensor:
    """[B, C] each class's sentence score: the sum (or mean) of its token log-probabilities after the shared start."""
    rows, shared = unpack(batch, classes)
    per_token = token_log_probs(model, rows, [s for s in shared for _ in range(classes)])
    scores = [lp.sum() if reduce == "sum" else lp.mean() for lp in per_token]
    return torch.stack(scores).view(-1, classes)
