"""Whole-sentence scoring in bf16: the bf16 screen with fp32 recomputation near the top against the fp32 product.

gemma3-270m evaluated in bf16 (weights cast as an evaluation casts them) with XGLM's template
(``zero-shot -o template=xglm -o verbalizer_language=target``) on XNLI test pairs. The classes' sentence scores
are computed from the same body states by both sides:

* ``screen``: ``VocabScorer.token_log_probs`` as evaluation runs it (the product in bf16, the target and every
  logit within ``NEAR`` nats of the top recomputed in fp32, the tail's share of the normaliser from bf16).
* ``fp32 product``: what evaluation ran before the screen: the fp32 product over the whole vocabulary (the bf16
  weights cast to fp32 per chunk of positions), its log-softmax, the target's entry.

Reported: each side's seconds (after one untimed call of each; medians of interleaved repetitions), the body's
seconds once (the padded sentences run whole), the largest per-token difference and how many items' predicted
class differs.

    python benchmarks/sentence_scoring.py [--languages de,sw] [--per-language 24] [--repeats 3]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--languages", default="de,sw")
    p.add_argument("--per-language", type=int, default=24)
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.languages, args.per_language, args.repeats = "de", 4, 1
    import time

    import torch

    from xshot.backbone import load_backbone
    from xshot.data.sampling import subsample
    from xshot.methods import get_method
    from xshot.methods.prompt.sentences import log_probs_from_states, padded, unpack
    from xshot.training.evaluate import to_inference_precision
    from xshot.training.prepare import load_data
    from xshot.training.run import EVAL_SUBSET_SEED

    root = C.data_root(args.data_root)
    spec = get_method("zero-shot")
    config = spec.config_class.resolve({"template": "xglm", "verbalizer_language": "target"})
    backbone = load_backbone(C.model_path("gemma3-270m"), want_lm_head=True)
    model = spec.build(backbone, "nli", (), config, max_length=256, source_language="en").eval()
    to_inference_precision(model, torch.bfloat16)
    batches = []
    for lang in args.languages.split(","):
        model.set_language(lang)
        data = subsample(load_data(f"xnli:{lang}:test", "test", root), args.per_language, EVAL_SUBSET_SEED)
        features = model.encode(data.examples)
        batches += [model.collate(features[i:i + 8]) for i in range(0, len(features), 8)]
    split = [(rows, [s for s in shared for _ in range(3)]) for rows, shared in (unpack(b, 3) for b in batches)]
    start = time.perf_counter()
    with torch.no_grad():  # once: both sides score the same states
        states = [(model.hidden_states(padded(model, rows)), rows, starts) for rows, starts in split]
    body_s = time.perf_counter() - start

    screen_fn = model.scorer.token_log_probs

    def fp32_product(h, targets):  # the path before the screen: the fp32 product over the whole vocabulary
        logits = model.scorer.full_vocabulary(h)
        return logits.gather(-1, targets[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)

    def side(name: str, fn):
        def run(_: int) -> None:
            model.scorer.token_log_probs = fn
            try:
                with torch.no_grad():
                    results[name] = [log_probs_from_states(model, *state) for state in states]
            finally:
                del model.scorer.token_log_probs
        return run

    results: dict[str, list] = {}
    for warm in (side("screen", screen_fn), side("fp32 product", fp32_product)):  # one-off: the screen's bf16
        warm(0)                                                                   # matrix, kernels' first calls
    times = C.interleave(args.repeats, {"screen": side("screen", screen_fn),
                                        "fp32 product": side("fp32 product", fp32_product)})
    screened, exact = results["screen"], results["fp32 product"]
    diffs, flips, items = 0.0, 0, 0
    for a_batch, b_batch in zip(screened, exact):
        diffs = max([diffs] + [float((a - b).abs().max()) for a, b in zip(a_batch, b_batch)])
        a_scores = torch.stack([t.sum() for t in a_batch]).view(-1, 3)
        b_scores = torch.stack([t.sum() for t in b_batch]).view(-1, 3)
        flips += int((a_scores.argmax(-1) != b_scores.argmax(-1)).sum())
        items += a_scores.size(0)
    screen, full = C.median(times["screen"]), C.median(times["fp32 product"])
    C.emit({"benchmark": "sentence_scoring", "model": "gemma3-270m", "precision": "bf16", "template": "xglm",
            "items": items, "scored_tokens": sum(len(t) for batch in screened for t in batch),
            "seconds": {"screen": round(screen, 2), "fp32 product": round(full, 2), "body (once)": round(body_s, 2)},
            "speedup": round(full / screen, 2), "max_token_difference": diffs, "predictions_differing": flips,
            "times": times,
            "targets": [C.target("scoring speed-up", full / screen, ">=", 1.5),
                        C.target("predictions differing", flips, "<=", 0)]}, args.out, args.threads)


if __name__ == "__main__":
    main()
