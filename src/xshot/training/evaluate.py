"""Inference over many examples: length-bucketed batches, no gradients, one pass.

Features are sorted by length and the sorted run is cut into batches by a small dynamic programme
that minimises the tokens actually computed (padding included) plus a fixed cost per batch, within a
token budget and a batch-size cap. On a CPU a forward call of a 12-layer model costs about as much as
30 tokens (measured: 25 ms per call, about 1 ms per token for me5-small on one thread), so batches
there are only as large as keeping padding low allows; on accelerators the per-call cost dominates
and batches fill up to the budget. (A fixed budget alone put a set of a hundred examples into one or
two batches with half of their tokens padding.) Predictions are put back in input order afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from xshot.backbone import precision_name
from xshot.errors import Diverged
from xshot.kernels import pack_linear_weights
from xshot.methods.base import LabelSpace, XshotModel
from xshot.methods.inputs import Feature
from xshot.training.trainer import autocast, move

#: cost of one forward call in tokens' worth of compute, per device type and precision (see the module
#: docstring); bf16 products are faster, so a call's fixed cost is worth more tokens (measured on this
#: 2-core CPU: 256 instead of 32 made bf16 evaluation 13% faster on me5-small, 8% on gemma3-270m)
BATCH_COST = {"cpu": 32, "cpu-bf16": 256}
DEFAULT_BATCH_COST = 4096


def length_buckets(features: list[Feature], token_budget: int, max_batch: int,
                   batch_cost: float = BATCH_COST["cpu"]) -> list[list[int]]:
    """Indices grouped into batches of similar length whose padded size stays within the budget.

    Batches are contiguous runs of the features sorted longest first (the largest allocations come
    first and are reused); among those, the partition minimising ``sum(batch_cost + size x longest)``
    is chosen exactly. A feature longer than the budget gets a batch of its own.
    """
    n = len(features)
    if n == 0:
        return []
    lengths = [len(f.input_ids) for f in features]
    order = sorted(range(n), key=lengths.__getitem__, reverse=True)
    longest_first = np.array([lengths[i] for i in order], dtype=np.float64)
    best = np.zeros(n + 1)
    start = np.zeros(n + 1, dtype=np.int64)
    for j in range(1, n + 1):  # best[j]: cheapest split of the first j; the last batch is [start[j], j)
        lo = max(0, j - max_batch)
        size = np.arange(j - lo, 0, -1, dtype=np.float64)
        padded = size * longest_first[lo:j]  # the batch's longest is its first (longest-first order)
        cost = best[lo:j] + batch_cost + padded
        cost[(padded > token_budget) & (size > 1)] = np.inf
        k = int(np.argmin(cost))
        best[j], start[j] = cost[k], lo + k
    cuts, j = [], n
    while j > 0:
        cuts.append((int(start[j]), j))
        j = int(start[j])
    return [order[a:b] for a, b in reversed(cuts)]


def padding_fraction(features: list[Feature], batches: list[list[int]]) -> float:
    real = sum(len(f.input_ids) for f in features)
    padded = sum(max(len(features[i].input_ids) for i in b) * len(b) for b in batches)
    return 1 - real / padded if padded else 0.0


@dataclass
class Predictions:
    """Per feature and scored position (one for NLI, one per kept word for NER): the class and the
    softmax of the method's class scores (for calibrated prompting, the calibrated distribution)."""

    classes: list[list[int]]
    probabilities: list[list[list[float]]]

    def named(self, labels: LabelSpace) -> list[list[dict[str, float]]]:
        """The probabilities by class name, as prediction files record them."""
        return [[labels.named(p) for p in row] for row in self.probabilities]


def predict(model: XshotModel, features: list[Feature], **kwargs) -> list[list[int]]:
    """Class index per scored position of every feature (see :func:`predict_proba`)."""
    return predict_proba(model, features, **kwargs).classes


def to_inference_precision(model: XshotModel, dtype: torch.dtype | None) -> XshotModel:
    """The model as inference runs it: parameter-efficient adapters merged (:func:`merge_adapters`), and bf16
    evaluation on bf16 weights (cast in place, once), not autocast over fp32 weights.

    Autocast converts activations between fp32 and bf16 around every layer norm and activation; with the
    weights cast once, evaluation gets most of what the matrix units offer (measured in
    ``benchmarks/precision.py``). The scores themselves stay fp32 (``methods.heads.in_fp32``). On a CPU
    the linear layers also get their weights packed for oneDNN (``xshot.kernels``). Cast after the
    weights are saved: bf16 weights are not converted back.
    """
    merge_adapters(model)
    if dtype == torch.bfloat16:
        model.to(dtype)
        pack_linear_weights(model)
    return model


#: peft methods whose adapters fold into the weights they adapt (soft prompts and prefixes add inputs instead)
MERGEABLE = ("LORA", "IA3")


def merge_adapters(model: XshotModel) -> XshotModel:
    """LoRA and (IA)³ adapters folded into their base weights (peft's ``merge_and_unload``), so that inference
    runs plain linear layers (packed for bf16 like any other) instead of the base layer plus the adapter's path
    at every call. The same function up to float rounding (a test checks the predictions). Only after the
    model is saved: the saved adapter directory is written before and stays as it is."""
    body = getattr(model, "body", None)
    if body is None or not type(body).__module__.startswith("peft"):
        return model
    config = body.peft_config[body.active_adapter]
    if getattr(config.peft_type, "name", str(config.peft_type)) in MERGEABLE:
        model.body = body.merge_and_unload()
        model.notes.append(f"evaluated with the {config.peft_type.name} adapter merged into the base weights")
    return model


@torch.inference_mode()
def predict_proba(model: XshotModel, features: list[Feature], *, device: torch.device,
                  dtype: torch.dtype | None = None, token_budget: int = 8192, max_batch: int = 128,
                  batch_cost: float | None = None, progress: bool = False) -> Predictions:
    """Classes and class probabilities of every feature, in input order."""
    model.to(device).eval()
    out: list[list[int] | None] = [None] * len(features)
    probs: list[list[list[float]] | None] = [None] * len(features)
    if batch_cost is None:
        key = device.type + ("-bf16" if dtype == torch.bfloat16 else "")
        batch_cost = BATCH_COST.get(key, BATCH_COST.get(device.type, DEFAULT_BATCH_COST))
    rows = model.rows_per_input  # several rows per input (LM-BFF demonstration sets)
    batches = length_buckets(features, max(1, token_budget // rows), max(1, max_batch // rows), batch_cost)
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
        if torch.isnan(logits).any():  # argmax would read NaN as the best class: a score out of noise
            raise Diverged(f"the model's scores are NaN (precision {precision_name(dtype)}): its weights diverged "
                             "in training" + ("" if dtype is None else ", or its activations overflow this precision; "
                                              "evaluate in fp32"))
        best = logits.argmax(-1).tolist()  # one transfer and conversion per batch
        dist = torch.softmax(logits.float(), dim=-1).tolist()
        for row, p, i in zip(best, dist, idx):
            n = len(features[i].positions)
            out[i], probs[i] = row[:n], p[:n]
    return Predictions(out, probs)  # type: ignore[arg-type]
