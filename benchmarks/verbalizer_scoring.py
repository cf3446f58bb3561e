"""Verbalizer scoring: label-word rows at the answer position vs the full-vocabulary head everywhere.

NLI evaluation of gemma3-270m with the ``prompt`` method (``{premise}\\nQuestion: {hypothesis} Yes,
Maybe or No?\\nAnswer:``, next-token scores of " Yes" / " Maybe" / " No"), on XNLI test examples.
Both sides run the same body on the same length-bucketed batches and differ only in the head:

* ``xshot``: ``PromptModel`` as ``xshot.training.evaluate.predict`` runs it: the hidden state at the
  answer position times the three label words' rows of the LM head (``VocabScorer``).
* ``reference``: what ``AutoModelForCausalLM(...).logits`` computes: the full 262k-word LM head at
  every position, a log-softmax over the vocabulary, and the label words' log-probabilities read
  at the answer position.

Both take the argmax over the three classes; predictions must be identical. Interleaved
repetitions, medians; the body and the head are timed separately as well. The model is the
pretrained checkpoint (zero-shot prompt scoring): training changes no cost here. The batches'
token budget is the reference's memory limit (its logits take 1 MiB per token).

Target: the evaluation at least 5x faster with identical predictions.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--languages", default="de,sw")
    p.add_argument("--per-language", type=int, default=30)
    p.add_argument("--token-budget", type=int, default=1024, help="padded tokens per batch, both sides")
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.languages, args.per_language, args.repeats = "de", 10, 2
    root = C.data_root(args.data_root)

    import torch

    from xshot.backbone import load_backbone
    from xshot.data import load
    from xshot.data.sampling import subsample
    from xshot.methods import get_method
    from xshot.training.evaluate import BATCH_COST, length_buckets

    gemma = C.model_path("gemma3-270m")
    method = get_method("prompt")
    config = method.config_class.resolve({})
    model = method.build(load_backbone(gemma, want_lm_head=True), "nli", (), config, max_length=256,
                         source_language="en").eval()
    if model.autoregressive or model.scorer.mode != "lm-head-rows":
        sys.exit(f"verbalizer_scoring: expected single-token label words on an LM head, got {model.label_words}")

    examples = []
    for lang in [x.strip() for x in args.languages.split(",") if x.strip()]:
        examples += subsample(load(f"xnli:{lang}:test", None, root), args.per_language, 0).examples
    features = model.encode(examples)
    buckets = length_buckets(features, args.token_budget, 128, BATCH_COST["cpu"])
    batches = [model.collate([features[i] for i in b]) for b in buckets]
    real_tokens = sum(len(f.input_ids) for f in features)
    vocab = model.scorer.weight_source.weight.shape[0]
    word_ids = model.word_ids[:, 0]  # one sub-token per label word (checked above)

    preds: dict[str, list[int]] = {}
    parts: dict[str, dict[str, list[float]]] = {"xshot": {"body": [], "head": []}, "reference": {"body": [], "head": []}}

    def side(name, head, subset=None):
        @torch.inference_mode()
        def run(rep: int) -> None:
            out, body_s, head_s = [], 0.0, 0.0
            for batch in subset or batches:
                t0 = time.perf_counter()
                hidden = model.hidden_states(batch)
                t1 = time.perf_counter()
                out += head(hidden, batch).argmax(-1).tolist()
                body_s, head_s = body_s + t1 - t0, head_s + time.perf_counter() - t1
            preds[name] = out
            parts.setdefault(name, {"body": [], "head": []})
            parts[name]["body"].append(body_s)
            parts[name]["head"].append(head_s)
        return run

    def xshot_head(hidden, batch):  # PromptModel.score: the label words' rows at the answer position
        return model.score(hidden, batch)[:, 0]  # [B, C] at the one scored position

    def reference_head(hidden, batch):  # full vocabulary at every position, then read the answer slot
        logprobs = torch.log_softmax(model.scorer.full_vocabulary(hidden).float(), dim=-1)  # [B, L, V]
        answer = batch["positions"][:, 0]
        return logprobs[torch.arange(len(answer)), answer][:, word_ids]

    C.log(f"verbalizer_scoring: {len(examples)} examples, {real_tokens} tokens, {len(batches)} batches, "
          f"{args.repeats} interleaved repetitions")
    side("warm-up", xshot_head, batches[:1])(-1)  # not timed: first-call allocations of both heads
    side("warm-up", reference_head, batches[:1])(-1)
    parts.pop("warm-up")
    times = C.interleave(args.repeats, {"xshot": side("xshot", xshot_head), "reference": side("reference", reference_head)})
    # what xshot's own evaluation loop does with the same batches, for the record
    from xshot.training.evaluate import predict

    start = time.perf_counter()
    via_predict = [c[0] for c in predict(model, features, device=torch.device("cpu"), token_budget=args.token_budget)]
    predict_s = time.perf_counter() - start

    # invert the bucketing order to compare with predict's input-ordered output
    order = [i for b in buckets for i in b]
    xs = [0] * len(order)
    for pos, i in enumerate(order):
        xs[i] = preds["xshot"][pos]
    identical = preds["xshot"] == preds["reference"]
    med = {k: C.median(v) for k, v in times.items()}
    med_parts = {k: {part: round(C.median(v), 4) for part, v in d.items()} for k, d in parts.items()}
    speedup = med["reference"] / med["xshot"]
    head_speedup = C.median(parts["reference"]["head"]) / max(C.median(parts["xshot"]["head"]), 1e-9)
    hidden = model.backbone.hidden_size
    body_params = sum(p.numel() for p in model.body.parameters()) - vocab * hidden
    result = {
        "benchmark": "verbalizer_scoring",
        "model": "gemma3-270m", "method": "prompt", "examples": len(examples), "real_tokens": real_tokens,
        "batches": len(batches), "token_budget": args.token_budget, "vocabulary": vocab,
        "label_words": model.label_words, "repeats": args.repeats,
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "median_parts_s": med_parts,
        "examples_per_s": {k: round(len(examples) / v, 3) for k, v in med.items()},
        "speedup": round(speedup, 3),
        "head_only_speedup": round(head_speedup, 1),
        "predictions_identical": identical,
        "predict_matches": xs == via_predict,
        "predict_s": round(predict_s, 3),
        "flops_per_token": {"body_matmuls": 2 * body_params, "full_lm_head": 2 * vocab * hidden,
                            "note": "the reference's head costs more than the body per token; removing it "
                                    "caps the evaluation speed-up at about (body + head) / body"},
        "targets": [
            C.target("evaluation speed-up (reference time / xshot time)", speedup, ">=", 5.0),
            C.target("identical predictions (1 = yes)", float(identical and xs == via_predict), ">=", 1.0),
        ],
    }
    C.emit(result, args.out, args.threads)


if __name__ == "__main__":
    main()
