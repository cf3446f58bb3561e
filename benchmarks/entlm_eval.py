"""EntLM's NER evaluation against fine-tuning's, on the same test sentences, and against the full product.

EntLM (``prompt`` on NER, its paper's full-vocabulary objective) predicts a word's type when a label token's
logit beats every real token's at the word's first sub-token: each scored position needs the largest logit over
the whole vocabulary (250k rows on me5-small). xshot computes only that: first sub-tokens of real words only (not
a batch's padding positions), 128 at a time, and with bf16 weights a bf16 screen (its matrix widened to a multiple
of 32 columns and packed for oneDNN, its block maxima taken as integers) whose near-maximal rows are recomputed
in fp32 (``VocabScorer.max_logit``).
Three sides, interleaved, median of the repetitions, each evaluating the same MasakhaNER 2.0 test sentences with
``evaluate_dataset`` as a run does (its precision: bf16 on CPUs with bf16 matrix units, else fp32):

* ``finetune``: a token-classification head on the same backbone (the cost to match);
* ``entlm``: xshot's EntLM evaluation;
* ``entlm-full-product``: the same model with each position's maximum taken from the full fp32 product
  (every logit), the reference for the predictions.

Both models train ``--steps`` steps on 10 mentions per type of WikiANN en (the label tokens then compete).
Targets (issue 30): EntLM evaluation at most 3x fine-tuning's; predictions identical to the full product.

    python benchmarks/entlm_eval.py [--sentences 200] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager, nullcontext

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

TESTS = ("masakhaner2:hau:test", "masakhaner2:swa:test")


@contextmanager
def full_product():
    """``VocabScorer.max_logit`` as the fp32 product over every vocabulary row, then the maximum."""
    import torch.nn.functional as F

    from xshot.methods.heads import VocabScorer, in_fp32

    def reference(self, h):
        with in_fp32(h):  # not under the evaluation's autocast
            features = h.float()
            weight = self.weight_source.weight.float()
            bias = self._bias()
            logits = F.linear(features, weight) + (bias.float() if bias is not None else 0.0)
            return features, logits.max(-1).values

    own = VocabScorer.max_logit
    VocabScorer.max_logit = reference
    try:
        yield
    finally:
        VocabScorer.max_logit = own


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--sentences", type=int, default=200, help="test sentences per language (2 languages)")
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.sentences, args.steps, args.repeats = 20, 2, 1
    root = C.data_root(args.data_root)

    from xshot.backbone import select_device, select_precision
    from xshot.data import load
    from xshot.data.sampling import subsample
    from xshot.training.evaluate import to_inference_precision
    from xshot.training.prepare import Runtime
    from xshot.training.run import EVAL_SUBSET_SEED, evaluate_dataset

    cpu = select_device("cpu")
    dtype = select_precision(cpu, "auto")
    runtime = Runtime(cpu, dtype, root, False)
    sets = []
    for spec in TESTS:
        data = subsample(load(spec, "test", root), args.sentences, EVAL_SUBSET_SEED)
        data.name = spec
        sets.append(data)
    models = {}
    for method, lr in (("finetune", 5e-5), ("prompt", 5e-5)):
        settings = dict(task="ner", model=C.model_path("me5-small"), method=method, train="wikiann:en:train", k=10,
                        seed=1, max_steps=args.steps, learning_rate=lr, max_length=128)
        model, _, _ = C.train_quick_model(settings, root)
        models[method] = to_inference_precision(model.eval(), dtype)
    predictions: dict[str, list] = {}

    def evaluate(side: str) -> None:
        model = models["finetune" if side == "finetune" else "prompt"]
        preds = []
        with full_product() if side == "entlm-full-product" else nullcontext():
            for data in sets:
                _, records = evaluate_dataset(model, data, runtime, bootstrap=0)
                preds += [r["prediction"] for r in records]
        predictions[side] = preds

    sides = ("finetune", "entlm", "entlm-full-product")
    for side in sides:  # warm-up (and the feature cache)
        evaluate(side)
    times = C.interleave(args.repeats, {side: (lambda _rep, s=side: evaluate(s)) for side in sides})
    median = {side: C.median(t) for side, t in times.items()}
    same = sum(a == b for a, b in zip(predictions["entlm"], predictions["entlm-full-product"]))
    ratio = median["entlm"] / median["finetune"]
    C.emit({"benchmark": "entlm_eval", "precision": str(dtype or "fp32").removeprefix("torch."),
            "sentences": sum(len(d) for d in sets), "tests": list(TESTS), "eval_s": median, "times": times,
            "entlm_over_finetune": round(ratio, 3),
            "full_product_over_entlm": round(median["entlm-full-product"] / median["entlm"], 3),
            "sentences_predicted_identically": same,
            "targets": [C.target("EntLM evaluation / fine-tuning's", ratio, "<=", 3.0),
                        C.target("sentences predicted as with the full product", same / len(predictions["entlm"]),
                                 ">=", 1.0)]}, args.out, args.threads)


if __name__ == "__main__":
    main()
