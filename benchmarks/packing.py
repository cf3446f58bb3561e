"""Padding-free training: would packing a batch's sequences into one row, without padding, pay on this CPU?

Issue 30 asks for study throughput 2x the base's; a training batch of few-shot inputs is a third to a half
padding (batch 8, padded to its longest input). This times the body's forward and backward pass (bf16
autocast on CPUs with bf16 matrix units, else fp32; xshot's training kernels; word embeddings frozen as
every method keeps them) on the same shots' batches, padded as xshot trains against packed into one row:
for a decoder transformers' own packed-sequence masks (position ids restarting per sequence, no cache), for
an encoder an explicit block-diagonal mask with each sequence's own position ids. Before timing, the packed
hidden states are checked against the padded ones in fp32 (the largest difference, relative to the largest
state). Models: gemma3-270m on XNLI en (16 per class), me5-small on WikiANN en (10 mentions per type), the
shapes of the headline study's cells. The optimiser step and gradient clipping, which packing leaves
unchanged, are not timed. Prints one JSON object.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

CELLS = {"gemma3-270m": dict(task="nli", train="xnli:en:dev", k=16),
         "me5-small": dict(task="ner", train="wikiann:en:train", k=10)}


def packed_inputs(torch, body, batch: dict, causal: bool) -> dict:
    """The batch's real tokens as one row, with the position ids the padded batch gives them and, for an
    encoder, a mask that keeps each sequence to itself (additive, as eager attention adds it)."""
    real = batch["attention_mask"].bool()
    lengths = real.sum(1)
    embeddings = getattr(body, "embeddings", None)
    offset = embeddings.padding_idx + 1 if hasattr(embeddings, "create_position_ids_from_input_ids") else 0
    positions = torch.cat([torch.arange(int(n)) for n in lengths])[None] + offset
    inputs = {"input_ids": batch["input_ids"][real][None], "position_ids": positions}
    if causal:
        return {**inputs, "use_cache": False}  # transformers then masks packed sequences apart
    sequence = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    apart = sequence[:, None] != sequence[None, :]
    mask = torch.zeros(apart.shape).masked_fill(apart, torch.finfo(torch.float32).min)
    return {**inputs, "attention_mask": mask[None, None]}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0], repeats=3)
    p.add_argument("--batches", type=int, default=6, help="training batches (of 8) timed per side and repeat")
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.batches, args.repeats = 1, 1
    root = C.data_root(args.data_root)

    import torch

    from xshot.backbone import select_precision
    from xshot.kernels import training_attention, training_dropout
    from xshot.training.config import RunConfig
    from xshot.training.prepare import Runtime, build_model, method_config, training_data
    from xshot.training.trainer import autocast

    cpu = torch.device("cpu")
    dtype = select_precision(cpu, "auto")
    out: dict = {"precision": str(dtype or "fp32"), "models": {}}
    targets = []
    for name, cell in CELLS.items():
        config = RunConfig(model=C.model_path(name), method="finetune", seed=1, max_length=128, **cell)
        source = training_data(config, config.train, config.k, Runtime(cpu, None, root, False))
        model = build_model(config, method_config(config), source.labels if config.task == "ner" else (),
                            source.language)
        body, causal = model.body, model.backbone.kind != "encoder"
        features = model.encode(source.examples)
        order = torch.randperm(len(features), generator=torch.Generator().manual_seed(1)).tolist()
        batches = [model.collate([features[j] for j in order[i:i + 8]])
                   for i in range(0, min(8 * args.batches, len(features) - 7), 8)]
        real = sum(int(b["attention_mask"].sum()) for b in batches) / sum(b["attention_mask"].numel() for b in batches)

        def hidden(batch: dict, packed: bool) -> torch.Tensor:
            """The body's states at the batch's real tokens, [tokens, D]."""
            if packed:
                return body(**packed_inputs(torch, body, batch, causal)).last_hidden_state[0]
            states = body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            return states[batch["attention_mask"].bool()]

        model.eval()
        with training_attention(model, cpu, dtype, 8, max(b["input_ids"].size(1) for b in batches)), torch.no_grad():
            a, b = hidden(batches[0], False), hidden(batches[0], True)
        difference = float((a - b).abs().max() / a.abs().max())
        model.train()

        def steps(packed: bool):
            def run(_: int) -> None:
                for batch in batches:
                    with autocast(cpu, dtype):
                        loss = hidden(batch, packed).float().pow(2).mean()
                    loss.backward()
                    model.zero_grad(set_to_none=True)
            return run

        with training_attention(model, cpu, dtype, 8, 128), training_dropout(cpu):
            steps(False)(0), steps(True)(0)  # warm-up: first-touch memory, kernels' first calls
            times = C.interleave(args.repeats, {"padded": steps(False), "packed": steps(True)})
        per_batch = {side: C.median(v) / len(batches) for side, v in times.items()}
        speedup = per_batch["padded"] / per_batch["packed"]
        out["models"][name] = {**cell, "batches": len(batches), "real_token_share": round(real, 3),
                               "packed_vs_padded_fp32_relative_difference": difference,
                               "forward_backward_s_per_batch": {k: round(v, 4) for k, v in per_batch.items()},
                               "speedup": round(speedup, 3)}
        C.log(f"packing: {name}: {out['models'][name]}")
        targets.append(C.target(f"{name}: packed states equal the padded ones (fp32, relative)", difference,
                                "<=", 1e-4))
    out["targets"] = targets
    C.emit(out, args.out, args.threads)


if __name__ == "__main__":
    main()
