"""Evaluation throughput: xshot end to end vs the bare model forward vs a straightforward loop.

A me5-small NLI model (fine-tuned for a few steps on 16 English shots per class) is evaluated on
XNLI test sets of several languages, three ways, interleaved, median of the repetitions:

* ``xshot``: end to end, from the dataset spec to the scores, exactly what a run does per set
  (``xshot.data.load`` + the seeded evaluation subset + ``xshot.training.run.evaluate_dataset``:
  tokenization, length-bucketed inference, scores, bootstrap intervals, fertility). The feature
  cache is off here, so tokenization is paid every time (the cold case).
* ``bare``: only ``model.body(input_ids, attention_mask)`` on the same length-bucketed, pre-collated
  batches that xshot builds: the floor xshot's overheads are measured against.
* ``baseline``: the usual evaluation loop: fixed-size batches in file order, the tokenizer called per
  batch with ``padding=True`` (dynamic padding, as ``DataCollatorWithPadding`` does), the same model
  and head under ``torch.no_grad``, argmax, accuracy.

Targets: end to end within 15% of the bare forward; under 10% padding tokens; at least 2x faster than
the baseline (its predictions must agree with xshot's).
"""

from __future__ import annotations

import inspect
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

LANGUAGES = "de,sw,ur,zh"


def previous_length_buckets(features, token_budget: int = 8192, max_batch: int = 128) -> list[list[int]]:
    """xshot's bucketing before this benchmark (greedy fill up to the budget), for the before/after figures."""
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


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--languages", default=LANGUAGES, help=f"XNLI test languages (default {LANGUAGES})")
    p.add_argument("--per-language", type=int, default=150, help="examples per language (stratified subset)")
    p.add_argument("--train-steps", type=int, default=2)
    p.add_argument("--baseline-batch", type=int, default=32, help="batch size of the straightforward loop")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples in xshot's scores")
    p.add_argument("--no-before", action="store_true",
                   help="skip timing the bare forward on the previous (greedy, fixed-budget) batches")
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.languages, args.per_language, args.repeats = "de,sw", 40, 2
    os.environ["XSHOT_NO_CACHE"] = "1"  # measure tokenization every time
    root = C.data_root(args.data_root)

    import torch

    from xshot.data import load
    from xshot.data.sampling import subsample
    from xshot.training.evaluate import BATCH_COST, DEFAULT_BATCH_COST, length_buckets, predict
    from xshot.training.run import EVAL_SUBSET_SEED, evaluate_dataset

    languages = [x.strip() for x in args.languages.split(",") if x.strip()]
    specs = [f"xnli:{lang}:test" for lang in languages]
    me5 = C.model_path("me5-small")
    C.log(f"eval_throughput: training me5-small finetune for {args.train_steps} steps")
    model, rt, _ = C.train_quick_model(dict(task="nli", model=me5, method="finetune", train="xnli:en:dev", k=16,
                                            seed=1, max_steps=args.train_steps), root)
    model.eval()

    def dataset(spec):
        data = subsample(load(spec, None, root), args.per_language, EVAL_SUBSET_SEED)
        data.name = spec
        return data

    sets = [dataset(s) for s in specs]
    n_examples = sum(len(d) for d in sets)

    # the batches xshot builds (same defaults as xshot.training.evaluate.predict)
    defaults = inspect.signature(predict).parameters
    budget, max_batch = defaults["token_budget"].default, defaults["max_batch"].default
    batch_cost = BATCH_COST.get("cpu", DEFAULT_BATCH_COST)
    bare_batches, before_batches, real_tokens = [], [], 0
    for d in sets:
        features = model.encode(d.examples)
        buckets = length_buckets(features, budget, max_batch, batch_cost)
        real_tokens += sum(len(f.input_ids) for f in features)
        bare_batches += [model.collate([features[i] for i in b]) for b in buckets]
        before_batches += [model.collate([features[i] for i in b]) for b in previous_length_buckets(features)]
    padded_tokens = sum(int(b["input_ids"].numel()) for b in bare_batches)
    padding = 1 - real_tokens / padded_tokens
    padding_before = 1 - real_tokens / sum(int(b["input_ids"].numel()) for b in before_batches)

    tok = model.backbone.tokenizer
    base_padded = 0
    for d in sets:
        for i in range(0, len(d), args.baseline_batch):
            chunk = d.examples[i: i + args.baseline_batch]
            enc = tok([e.premise for e in chunk], [e.hypothesis for e in chunk], padding=True, truncation=True,
                      max_length=256)
            base_padded += len(enc["input_ids"]) * len(enc["input_ids"][0])

    results: dict[str, dict] = {"xshot": {}, "baseline": {}}

    def run_xshot(rep: int) -> None:
        for spec in specs:
            data = subsample(load(spec, None, root), args.per_language, EVAL_SUBSET_SEED)
            data.name = spec
            evaluation, records = evaluate_dataset(model, data, rt, bootstrap=args.bootstrap)
            results["xshot"][spec] = ([r["prediction"] for r in records], evaluation.score("accuracy"))

    @torch.inference_mode()
    def run_bare(rep: int, batches=bare_batches) -> None:
        for batch in batches:
            model.body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])

    def run_bare_before(rep: int) -> None:
        run_bare(rep, before_batches)

    classes = model.labels.classes

    def run_baseline(rep: int) -> None:
        with torch.no_grad():
            for d in sets:
                preds = []
                for i in range(0, len(d), args.baseline_batch):
                    chunk = d.examples[i: i + args.baseline_batch]
                    enc = tok([e.premise for e in chunk], [e.hypothesis for e in chunk], padding=True,
                              truncation=True, max_length=256, return_tensors="pt")
                    hidden = model.body(**enc).last_hidden_state
                    preds += model.head(hidden[:, 0]).argmax(-1).tolist()
                labels = [classes[c] for c in preds]
                accuracy = sum(p == e.label for p, e in zip(labels, d.examples)) / len(d)
                results["baseline"][d.name] = (labels, accuracy)

    C.log(f"eval_throughput: {n_examples} examples ({real_tokens} tokens) in {len(specs)} languages, "
          f"{args.repeats} interleaved repetitions")
    # warm-up, not timed: first-call imports (metrics, scipy) and allocations of every side
    warm = subsample(sets[0], min(8, len(sets[0])), 0)
    evaluate_dataset(model, warm, rt, bootstrap=args.bootstrap)
    run_bare(-1)
    sides = {"xshot": run_xshot, "bare": run_bare, "baseline": run_baseline}
    if not args.no_before:
        sides["bare_previous_batches"] = run_bare_before
    times = C.interleave(args.repeats, sides)
    med = {k: C.median(v) for k, v in times.items()}
    agree = sum(a == b for s in specs for a, b in zip(results["xshot"][s][0], results["baseline"][s][0]))
    e2e_over_bare = med["xshot"] / med["bare"]
    speedup = med["baseline"] / med["xshot"]
    result = {
        "benchmark": "eval_throughput",
        "model": "me5-small", "method": "finetune", "train_steps": args.train_steps,
        "sets": specs, "examples": n_examples, "real_tokens": real_tokens,
        "repeats": args.repeats,
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "tokens_per_s": {k: round(real_tokens / v, 1) for k, v in med.items()},
        "examples_per_s": {k: round(n_examples / v, 2) for k, v in med.items()},
        "xshot_over_bare": round(e2e_over_bare, 4),
        "speedup_vs_baseline": round(speedup, 3),
        "padding_fraction": {"xshot": round(padding, 4), "baseline": round(1 - real_tokens / base_padded, 4),
                             "xshot_previous_batches": round(padding_before, 4)},
        "before_after": None if args.no_before else {
            "note": "bare forward on xshot's previous batches (greedy fill to 8192 tokens) vs the current ones",
            "previous_batches": len(before_batches), "current_batches": len(bare_batches),
            "speedup_of_current_batches": round(med["bare_previous_batches"] / med["bare"], 3)},
        "xshot_batches": {"count": len(bare_batches), "token_budget": budget, "max_batch": max_batch,
                          "batch_cost": batch_cost},
        "baseline_batch_size": args.baseline_batch,
        "prediction_agreement": round(agree / n_examples, 5),
        "accuracy": {s: {"xshot": round(results["xshot"][s][1], 4), "baseline": round(results["baseline"][s][1], 4)}
                     for s in specs},
        "targets": [
            C.target("xshot end-to-end time / bare forward time", e2e_over_bare, "<=", 1.15),
            C.target("padding fraction (xshot batches)", padding, "<", 0.10),
            C.target("speedup vs fixed-size batches in file order", speedup, ">=", 2.0),
            C.target("prediction agreement with the baseline", agree / n_examples, ">=", 0.995),
        ],
    }
    C.emit(result, args.out, args.threads)


if __name__ == "__main__":
    main()
