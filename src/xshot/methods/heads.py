"""Scoring heads shared by the methods: a linear classifier and verbalizer (label-word) scoring."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from xshot.backbone import Backbone
from xshot.kernels import can_pack, packed_product, packed_weight


#: bf16 evaluation of full-vocabulary log-probabilities: logits within this many nats of a position's largest are
#: recomputed in fp32 (:meth:`VocabScorer.token_log_probs`)
NEAR = 8.0


def in_fp32(h: torch.Tensor) -> contextlib.AbstractContextManager:
    """Scores are computed in fp32 even under bf16 autocast: rounding class logits to bf16 (8 significant
    bits, steps of 0.125 at a logit of 20) would decide close calls by rounding, not by the model."""
    return torch.autocast(h.device.type, enabled=False)


class LinearHead(nn.Module):
    def __init__(self, hidden_size: int, n_classes: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden_size, n_classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        with in_fp32(h):  # also when the weights are bf16 (bf16 evaluation)
            bias = self.linear.bias.float() if self.linear.bias is not None else None
            return F.linear(self.dropout(h.float()), self.linear.weight.float(), bias)


def extended_fp32_rows(weight: torch.Tensor, bias: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor:
    """Rows of [weight | bias] in fp32 (the exact side of :meth:`VocabScorer.max_logit`)."""
    column = bias[rows].float()[:, None] if bias is not None else torch.zeros(len(rows), 1, device=weight.device)
    return torch.cat([weight[rows].float(), column], -1)


#: the bf16 screen's [rows | bias] matrix is widened with zero columns to a multiple of this: oneDNN's matrix units
#: take the inner dimension in steps of 32 bf16 values, and an odd width (384 features + the bias) fell off the
#: fast path (a 256 x 250k product of width 385 took 82 ms, of width 416 59 ms, packed 43 ms)
SCREEN_COLUMNS = 32

#: vocabulary columns per block of :func:`block_maxima`
SCREEN_BLOCK = 1024


#: integer types whose maximum orders the bit patterns of non-negative floats of the same width as the floats
_AS_INTEGERS = {2: torch.int16, 4: torch.int32}


def block_maxima(logits: torch.Tensor, block: int | None = None, as_bits: bool = False) -> torch.Tensor:
    """[P, V] → [P, ceil(V / block)]: each position's largest value in each block of ``block`` columns (the
    last block may be shorter), in one pass over the logits.

    ``as_bits``: the maxima of the logits' bit patterns as integers, several times faster than a bf16 maximum
    (1.4 against 10 ms for 128 x 250k logits, 2 threads): non-negative floats order as their bits do, so a block
    holding a value >= 0 (+0.0 included, not -0.0) gets its exact maximum, while a block of negative values only
    reads as its most negative value, at most its maximum."""
    block = block or SCREEN_BLOCK
    n, width = logits.shape
    whole = width - width % block
    blocks = logits[:, :whole].view(_AS_INTEGERS[logits.element_size()]) if as_bits else logits[:, :whole]
    maxima = [blocks.view(n, whole // block, block).amax(-1).view(logits.dtype)] if whole else []
    if whole < width:
        maxima.append(logits[:, whole:].amax(-1, keepdim=True))
    return torch.cat(maxima, 1)


def near_top(logits: torch.Tensor, below: Callable[[torch.Tensor], torch.Tensor],
             block: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(each position's largest logit [P], then the positions and columns of every logit at or above
    ``below(top)`` [P], as :func:`at_or_above` finds them), where ``below(top) <= top`` elementwise.

    The block maxima are taken as bits (:func:`block_maxima`), exact for every block that can reach a
    threshold above 0; positions whose threshold is at or below 0 (every logit negative, or a wide window) get
    float maxima instead, then their threshold again."""
    block = block or SCREEN_BLOCK
    block_max = block_maxima(logits, block, as_bits=True)
    top = block_max.amax(-1)
    threshold = below(top)
    redo = (threshold <= 0).nonzero(as_tuple=True)[0]
    if len(redo):
        block_max[redo] = block_maxima(logits[redo], block)
        top[redo] = block_max[redo].amax(-1)
        threshold = below(top)
    return top, *at_or_above(logits, block_max, threshold, block)


def at_or_above(logits: torch.Tensor, block_max: torch.Tensor, threshold: torch.Tensor,
                block: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions, columns) where ``logits[p, c] >= threshold[p]``, in row-major order, as
    ``(logits >= threshold[:, None]).nonzero(as_tuple=True)`` gives them, but reading only the blocks whose
    maximum (:func:`block_maxima`) reaches the threshold: a position's near-maximal logits sit in one or a few of
    the vocabulary's blocks, so two passes over the [P, V] logits (the comparison, then the search for hits)
    become a few blocks' worth."""
    block = block or SCREEN_BLOCK
    n, width = logits.shape
    whole = width - width % block
    cand_pos, cand_block = (block_max[:, :whole // block] >= threshold[:, None]).nonzero(as_tuple=True)
    window = logits[:, :whole].view(n, whole // block, block)[cand_pos, cand_block]  # [C, block]
    hit, offset = (window >= threshold[cand_pos][:, None]).nonzero(as_tuple=True)
    pos, col = cand_pos[hit], cand_block[hit] * block + offset
    if whole < width:  # the last, shorter block: compared directly
        tail_pos, tail_col = (logits[:, whole:] >= threshold[:, None]).nonzero(as_tuple=True)
        pos, col = torch.cat([pos, tail_pos]), torch.cat([col, tail_col + whole])
        order = (pos * width + col).argsort()
        pos, col = pos[order], col[order]
    return pos, col


class VocabScorer(nn.Module):
    """LM-head logits for a few vocabulary ids only, never the whole vocabulary when avoidable.

    Three cases: a decoder's head is a plain linear map, so the rows of the label words suffice
    (exact, and what makes verbalizer scoring cheap); an encoder's MLM head has a transform first,
    so it runs on the scored positions only and the ids are gathered; a backbone without a
    pretrained LM head scores against its input word embeddings (tied-embedding scoring) plus a
    learned bias. ``mode`` records which, for the run's log.
    """

    def __init__(self, backbone: Backbone):
        super().__init__()
        head = backbone.lm_head
        self.lm_head = head
        if head is None:
            self.mode = "tied-input-embeddings"
            self.weight_source = backbone.body.get_input_embeddings()
            self.bias = nn.Parameter(torch.zeros(self.weight_source.num_embeddings))
        elif isinstance(head, nn.Linear):
            self.mode = "lm-head-rows"
            self.weight_source = head
            self.bias = None
        else:
            self.mode = "mlm-head"
            self.bias = None
        self.softcap = getattr(backbone.body.config, "final_logit_softcapping", None)

    def forward(self, h: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """h [..., D], ids [..., K] (same leading dims, or [K] shared) → fp32 logits [..., K]."""
        with in_fp32(h):
            if self.mode == "mlm-head":  # the head's transform runs in its own precision
                full = self.lm_head(h.to(next(self.lm_head.parameters()).dtype)).float()
                logits = full.gather(-1, ids.expand(*full.shape[:-1], ids.size(-1)))
            else:
                h = h.float()
                rows = self.weight_source.weight[ids].float()  # [..., K, D]
                if ids.dim() == 1:
                    logits = F.linear(h, rows)
                else:
                    logits = (rows * h.unsqueeze(-2)).sum(-1)
                head_bias = self.bias if self.bias is not None else getattr(self.weight_source, "bias", None)
                if head_bias is not None:
                    logits = logits + head_bias[ids].float()
            return self.cap(logits)

    def full_vocabulary(self, h: torch.Tensor) -> torch.Tensor:
        """fp32 logits over the whole vocabulary (decoder multi-token scoring and the reference path)."""
        return self.cap(self.project(h)[1])

    def project(self, h: torch.Tensor, exact: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(the features entering the vocabulary projection [..., D'], the logits over the vocabulary [..., V]),
        before any soft-capping. ``exact``: in fp32; otherwise in the autocast precision (training losses over
        the whole vocabulary, where the product costs as much as the body)."""
        context = in_fp32(h) if exact else contextlib.nullcontext()
        with context:
            if self.mode == "mlm-head":  # the head's transform, then its decoder: read the decoder's input
                seen: list[torch.Tensor] = []
                hook = self._decoder.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
                try:
                    dtype = next(self.lm_head.parameters()).dtype if exact else h.dtype
                    logits = self.lm_head(h.to(dtype))
                finally:
                    hook.remove()
                features = seen[0]
            else:
                features = h.float() if exact else h
                weight = self.weight_source.weight
                logits = F.linear(features, weight.float() if exact else weight)
                head_bias = self.bias if self.bias is not None else getattr(self.weight_source, "bias", None)
                if head_bias is not None:
                    logits = logits + (head_bias.float() if exact else head_bias)
            return (features.float(), logits.float()) if exact else (features, logits)

    def token_log_probs(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """[P, D] states, [P] vocabulary ids → [P] fp32 log-probabilities of the ids under the full softmax.

        Training: the product in the autocast precision, the loss in fp32 (as EntLM's loss over the whole
        vocabulary). fp32 weights or an MLM head at evaluation: the fp32 product over the whole vocabulary. bf16
        weights at evaluation (whole-sentence scoring, where this product is most of the cost): the product runs in bf16
        (the CPU's matrix units) as a screen; the target's logit and every logit within :data:`NEAR` nats of the
        position's largest screened one are recomputed in fp32 from the same weights, and only the rest of the
        vocabulary (the tail) enters the normaliser with its bf16 logit. Each tail term is below e^-NEAR of the
        largest, so its rounding (at most 2^-8 of the logit, random in sign) moves the log-normaliser by a small
        fraction of the tail's share: measured on gemma3-270m, 256 positions of XNLI-like sentences, at most
        2e-4 nats per token against the fp32 product (6e-5, fp32's own summation noise, with a 10-nat window).
        No worst-case bound below the input rounding's (3·2^-8 ||h|| ||row||, over a nat there) holds: this is a
        measured tolerance, not a guarantee."""
        weight = self.weight_source.weight if self.mode != "mlm-head" else None
        if torch.is_grad_enabled() or weight is None or weight.dtype != torch.bfloat16:
            logits = self.cap(self.project(h, exact=not torch.is_grad_enabled())[1].float())
            return logits.gather(-1, targets[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)
        with in_fp32(h):
            h1 = torch.cat([h.float(), torch.ones_like(h[:, :1], dtype=torch.float32)], -1)
            screen = self.cap(self._screen(h1, weight).float())  # [P, V]
            top, pos, rows = near_top(screen, lambda top: top - NEAR)
            top = top[:, None]
            screen.sub_(top).exp_()
            screen[pos, rows] = 0.0
            tail = screen.sum(-1)  # the tail's share of the normaliser, relative to e^top
            unique, where = rows.unique(return_inverse=True)
            near = self.cap(F.linear(h1, extended_fp32_rows(weight, self._bias(), unique)))[pos, where]
            head = torch.zeros_like(tail).index_add_(0, pos, torch.exp(near - top[pos, 0]))
            target = self.cap((h1 * extended_fp32_rows(weight, self._bias(), targets)).sum(-1))
            return target - top[:, 0] - torch.log(head + tail)

    def max_logit(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the features entering the vocabulary projection [P, D] in fp32, each position's largest fp32 logit
        over the whole vocabulary [P], before capping) — what EntLM's prediction rule needs.

        With bf16 weights at evaluation (a linear head or tied embeddings) the product runs in bf16 first
        (the CPU's bf16 matrix units), then only the rows within its rounding bound of the bf16 maximum are
        recomputed in fp32, so the result is the fp32 maximum. The bound: inputs rounded to bf16 (unit
        roundoff u = 2^-8) make each logit off by at most (2u + u^2 + D 2^-24) ||h|| ||w_row||, and the bf16
        output adds u |logit|; a row whose bf16 logit is more than twice that below the bf16 maximum cannot
        hold the fp32 maximum (the bias rides along as one more column, so that the bound covers it); those rows
        are found block by block (:func:`near_top`). Otherwise: the full fp32 product."""
        weight = self.weight_source.weight if self.mode != "mlm-head" else None
        if weight is None or weight.dtype != torch.bfloat16 or torch.is_grad_enabled():
            features, logits = self.project(h)
            return features, logits.max(-1).values
        with in_fp32(h):
            features = h.float()
            h1 = torch.cat([features, torch.ones_like(features[:, :1])], -1)
            approx = self._screen(h1, weight)  # bf16 logits, fp32 accumulation
            norm = self._screen_matrix(weight)[1]
            u = 2.0 ** -8  # |logit| <= ||h1|| ||row1||, so the output's rounding is bounded the same way
            margin = 2 * (3 * u + u * u + h1.size(1) * 2.0 ** -24) * h1.norm(dim=-1) * norm

            def threshold(top: torch.Tensor) -> torch.Tensor:
                # compared in bf16 (no fp32 pass over the logits): the threshold lowered by its own rounding
                top = top.float()
                return (top - margin - 2 * u * (top.abs() + margin)).to(torch.bfloat16)

            _, pos, rows = near_top(approx, threshold)
            exact = (h1[pos] * extended_fp32_rows(weight, self._bias(), rows)).sum(-1)
            best = torch.full((h.size(0),), -torch.inf, device=h.device).scatter_reduce(0, pos, exact, "amax")
            return features, best

    def _bias(self) -> torch.Tensor | None:
        head_bias = self.bias if self.bias is not None else getattr(self.weight_source, "bias", None)
        return head_bias

    def __getstate__(self) -> dict:  # a packed screen cannot be copied or pickled: the copy builds its own
        return {**self.__dict__, "_screen_key": None, "_screen_cache": None}

    def _screen(self, h1: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """[P, D + 1] features with a ones column → [P, V] bf16 logits of [rows | bias] (fp32 accumulation)."""
        matrix = self._screen_matrix(weight)[0]
        x = F.pad(h1.to(torch.bfloat16), (0, -h1.size(1) % SCREEN_COLUMNS))
        if matrix.is_mkldnn:
            return packed_product(x, matrix)
        return F.linear(x, matrix)

    def _screen_matrix(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[rows | bias | zeros] in bf16, widened to a multiple of :data:`SCREEN_COLUMNS` and on a CPU packed for
        oneDNN (:func:`xshot.kernels.packed_weight`), and the largest norm of its rows in fp32; built once per
        weight tensor."""
        key = (weight.data_ptr(), weight.dtype)
        if getattr(self, "_screen_key", None) != key:
            self._screen_key = self._screen_cache = None  # the old copy goes before the new one is built
            bias = self._bias()
            column = bias.float()[:, None] if bias is not None else torch.zeros(weight.size(0), 1)
            rows = torch.cat([weight.float(), column.to(weight.device)], -1)
            norm = rows.norm(dim=1).max()
            rows = F.pad(rows.to(torch.bfloat16), (0, -rows.size(1) % SCREEN_COLUMNS))
            if rows.device.type == "cpu" and can_pack():
                rows = packed_weight(rows)
            self._screen_key, self._screen_cache = key, (rows, norm)
        return self._screen_cache

    def cap(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.tanh(logits / self.softcap) * self.softcap if self.softcap else logits

    def output_rows(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The output embeddings [K, D'] and biases [K] of vocabulary ids (fp32 copies)."""
        if self.mode == "mlm-head":
            weight, bias = self._decoder.weight, self._decoder.bias
        else:
            weight = self.weight_source.weight
            bias = self.bias if self.bias is not None else getattr(self.weight_source, "bias", None)
        rows = weight[ids].detach().float()
        return rows, (bias[ids].detach().float() if bias is not None else torch.zeros(len(ids)))

    @property
    def vocabulary_size(self) -> int:
        """Width of the full-vocabulary logits (the head's, which may exceed the tokenizer's)."""
        if self.mode == "mlm-head":
            return self._decoder.out_features
        return self.weight_source.weight.size(0)

    @property
    def _decoder(self) -> nn.Linear:
        """An MLM head's vocabulary projection: its widest linear layer (BERT, XLM-R, DeBERTa-v2 alike)."""
        linears = [m for m in self.lm_head.modules() if isinstance(m, nn.Linear)]
        return max(linears, key=lambda m: m.out_features)


def label_word_table(backbone: Backbone, words: list[str | list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-token ids of each class's label word as it appears after a space, padded: ([C, L] ids, [C, L] mask).

    A class with several label words (EntLM's searched words) gets the first sub-token of each.
    """
    pieces = []
    for entry in words:
        if isinstance(entry, str):
            pieces.append(backbone.word_ids([entry], first=False)[0])
        else:
            pieces.append([p[0] for p in backbone.word_ids(list(entry), first=False) if p])
    length = max(len(p) for p in pieces)
    ids = torch.zeros((len(pieces), length), dtype=torch.long)
    mask = torch.zeros((len(pieces), length), dtype=torch.bool)
    for i, p in enumerate(pieces):
        ids[i, : len(p)] = torch.tensor(p)
        mask[i, : len(p)] = True
    return ids, mask


def mean_word_scores(token_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[..., C*L] sub-token logits → [..., C] mean per label word.

    At a single position, the mean of sub-token logits differs from the mean of sub-token
    log-probabilities by the same log-normaliser for every class, so cross-entropy over classes and
    the argmax are exactly those of mean log-probability scoring, without the full-vocabulary softmax.
    """
    c, length = mask.shape
    per_token = token_logits.unflatten(-1, (c, length))
    m = mask.to(per_token.dtype)
    return (per_token * m).sum(-1) / m.sum(-1)
