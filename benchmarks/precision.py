"""bf16 against fp32 on this CPU: the same weights evaluated both ways, training steps, and the roofline.

``precision: auto`` picks bf16 autocast on CPUs with bf16 matrix units (AMX-BF16 / AVX512-BF16). This
measures what that buys and costs, per offline model (me5-small ``finetune``, gemma3-270m ``prompt``):

* **parity**: one model, trained a few steps in fp32, evaluated with ``evaluate_dataset`` on the same
  XNLI test pairs in fp32 and in bf16: the share of identical predictions (target ≥ 99% over ≥ 1000
  pairs) and the accuracy difference; and for NER (me5-small ``finetune``, 16 mentions per type of
  WikiANN en, 60 steps at lr 5e-4, evaluated on WikiANN de) the F1 difference (target ≤ 0.5 points over ≥ 1000 sentences);
* **evaluation speed**: seconds for those pairs end to end, interleaved fp32/bf16, median, and the bf16
  tokens/s against the bf16 roofline: tokens/s × forward FLOP per token (2 × the body's non-embedding
  weights, plus attention) over the best bf16 matrix product measured in the same run (square, 1024-4096,
  and the models' layer shapes at 4096 tokens);
* **training speed**: seconds per optimisation step (batch 8, AdamW) in fp32 and bf16 on the same shots;
* **the packed linear layers** (`xshot.kernels`): bf16 evaluation without them, beside the default;
* **eager attention in training** (`xshot.kernels`): steps with the model's own ``sdpa`` kernel beside it.

Targets (issue 10): evaluation bf16 ≥ 3× fp32, training step ≥ 2×, evaluation ≥ 50% of the roofline,
parity as above. Prints one JSON object.
"""

from __future__ import annotations

import copy
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402



#: (rows, inner, columns) of the products timed for the roofline: square ones, and the offline models' own
#: layer shapes at 4096 tokens (on a busy host the square products were sometimes the slower ones)
ROOFLINE_SHAPES = [(n, n, n) for n in (1024, 2048, 4096)] + [
    (4096, 384, 1536), (4096, 1536, 384), (4096, 640, 2048), (4096, 2048, 640)]


def matmul_gflops(torch, dtype, shapes=ROOFLINE_SHAPES, repeats: int = 5) -> float:
    """The best rate of a matrix product over a few shapes (the roofline: large products come closest)."""
    best = 0.0
    for m, k, n in shapes:
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        for _ in range(2):  # warm-up
            a @ b
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        best = max(best, 2 * m * k * n / C.median(times) / 1e9)
    return best


def flop_per_token(model, seq_len: float) -> float:
    """2 × the body's matrix weights (embeddings are lookups) plus attention's two products."""
    body = model.backbone.body
    weights = sum(p.numel() for name, p in body.named_parameters() if p.dim() == 2 and "embed" not in name)
    cfg = body.config.get_text_config() if hasattr(body.config, "get_text_config") else body.config
    return 2 * weights + 4 * cfg.num_hidden_layers * cfg.hidden_size * seq_len


def main() -> None:
    p = C.parser(__doc__.splitlines()[0], repeats=3)
    p.add_argument("--models", default=",".join(C.MODELS))
    p.add_argument("--per-language", type=int, default=250, help="XNLI test pairs per language (4 languages)")
    p.add_argument("--ner-sentences", type=int, default=1000)
    p.add_argument("--train-steps", type=int, default=40,
                   help="fp32 steps before the parity check (a model at chance has no margins to keep)")
    p.add_argument("--step-repeats", type=int, default=6, help="timed optimisation steps per precision")
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.per_language, args.ner_sentences, args.train_steps, args.repeats, args.step_repeats = 30, 60, 2, 1, 2
    root = C.data_root(args.data_root)

    import torch

    from xshot.backbone import cpu_has_native_bf16
    from xshot.data import load
    from xshot.data.sampling import subsample
    from xshot.training.config import RunConfig
    from xshot.training.prepare import Runtime, method_config
    from xshot.training.evaluate import to_inference_precision
    from xshot.training.run import EVAL_SUBSET_SEED, evaluate_dataset
    from xshot.training.trainer import train

    cpu = torch.device("cpu")
    gflops = {"fp32": matmul_gflops(torch, torch.float32), "bf16": matmul_gflops(torch, torch.bfloat16)}
    C.log(f"precision: matmul GFLOP/s {gflops}")
    out: dict = {"native_bf16": cpu_has_native_bf16(), "matmul_gflops": gflops, "models": {}}
    targets = []

    def subset(spec: str, n: int):
        data = subsample(load(spec, "test", root), n, EVAL_SUBSET_SEED)
        data.name = spec
        return data

    sets = [subset(f"xnli:{lang}:test", args.per_language) for lang in ("de", "sw", "ur", "zh")]
    n_pairs = sum(len(d) for d in sets)
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        method, lr = C.MODELS[name]
        C.log(f"precision: {name} {method}: {args.train_steps} fp32 steps")
        settings = dict(task="nli", model=C.model_path(name), method=method, train="xnli:en:dev", k=16, seed=1,
                        max_steps=args.train_steps, learning_rate=lr, max_length=128)
        model, _, _ = C.train_quick_model(settings, root)
        mcfg = method_config(RunConfig(**settings))
        model.eval()
        # what a run does: fp32 weights under no autocast, or bf16 weights (xshot's bf16 evaluation)
        # and, to attribute the kernel choice (xshot.kernels), bf16 weights without the packed linear layers
        models = {"fp32": model, "bf16": to_inference_precision(copy.deepcopy(model), torch.bfloat16),
                  "bf16-unpacked": copy.deepcopy(model).to(torch.bfloat16)}
        runtimes = {"fp32": Runtime(cpu, None, root, False), "bf16": Runtime(cpu, torch.bfloat16, root, False)}
        runtimes["bf16-unpacked"] = runtimes["bf16"]
        predictions: dict[str, list] = {}
        accuracy: dict[str, float] = {}

        def evaluate(precision: str) -> None:
            preds, correct = [], 0.0
            for data in sets:
                evaluation, records = evaluate_dataset(models[precision], data, runtimes[precision], bootstrap=0)
                preds += [r["prediction"] for r in records]
                correct += evaluation.score("accuracy") * len(data)
            predictions[precision], accuracy[precision] = preds, correct / n_pairs

        for precision in models:  # warm-up (and the feature cache)
            evaluate(precision)
        times = C.interleave(args.repeats, {p: (lambda r, p=p: evaluate(p)) for p in models})
        agree = sum(a == b for a, b in zip(predictions["fp32"], predictions["bf16"])) / n_pairs
        tokens = sum(len(f.input_ids) for d in sets for f in model.encode(d.examples))
        bf16_tps = tokens / C.median(times["bf16"])
        roofline = bf16_tps * flop_per_token(model, tokens / n_pairs) / (gflops["bf16"] * 1e9)

        # optimisation steps (batch 8) on the same shots, interleaved; a one-step warm-up per side is not
        # counted. "bf16-sdpa" keeps the model's own attention kernel in bf16 training (xshot.kernels)
        shots = model.encode(load("xnli:en:dev", None, root).examples[:96])
        step_sides = {"fp32": (None, True), "bf16": (torch.bfloat16, True), "bf16-sdpa": (torch.bfloat16, False)}

        def steps(side: str) -> float:
            dtype, eager = step_sides[side]
            with C.torch_kernels(attention=not eager):
                done = train(model, shots, mcfg, seed=1, device=cpu, dtype=dtype, max_steps=args.step_repeats,
                             progress=False)
            return done.seconds / done.steps

        for side in step_sides:
            train(model, shots, mcfg, seed=1, device=cpu, dtype=step_sides[side][0], max_steps=1, progress=False)
        per_step = {side: [] for side in step_sides}
        for _ in range(max(1, args.repeats)):
            for side in step_sides:
                per_step[side].append(steps(side))
        step_s = {side: C.median(v) for side, v in per_step.items()}
        model.eval()
        speed = C.median(times["fp32"]) / C.median(times["bf16"])
        out["models"][name] = {
            "method": method, "pairs": n_pairs, "tokens": tokens,
            "eval_s": {k: round(C.median(v), 3) for k, v in times.items()}, "eval_speedup": round(speed, 3),
            "packed_linear_speedup": round(C.median(times["bf16-unpacked"]) / C.median(times["bf16"]), 3),
            "prediction_agreement": round(agree, 4),
            "packed_predictions_identical": predictions["bf16"] == predictions["bf16-unpacked"],
            "accuracy": {k: round(v, 4) for k, v in accuracy.items()},
            "bf16_tokens_per_s": round(bf16_tps, 1), "bf16_roofline_share": round(roofline, 3),
            "train_step_s": {k: round(v, 3) for k, v in step_s.items()},
            "train_speedup": round(step_s["fp32"] / step_s["bf16"], 3),
            "eager_attention_train_speedup": round(step_s["bf16-sdpa"] / step_s["bf16"], 3),
        }
        C.log(f"precision: {name} {out['models'][name]}")
        targets += [C.target(f"{name} NLI predictions identical bf16 vs fp32", agree, ">=", 0.99),
                    C.target(f"{name} evaluation bf16 speed-up", speed, ">=", 3.0),
                    C.target(f"{name} evaluation share of the bf16 roofline", roofline, ">=", 0.5),
                    C.target(f"{name} training step bf16 speed-up", step_s["fp32"] / step_s["bf16"], ">=", 2.0)]
        del model

    if "me5-small" in args.models:
        C.log("precision: me5-small NER parity")
        model, _, _ = C.train_quick_model(dict(task="ner", model=C.model_path("me5-small"), method="finetune",
                                               train="wikiann:en", k=16, seed=1, max_steps=60,
                                               learning_rate=5e-4, max_length=128), root)
        model.eval()
        data = subset("wikiann:de", args.ner_sentences)
        f1 = {"fp32": evaluate_dataset(model, data, Runtime(cpu, None, root, False), bootstrap=0)[0].score("f1")}
        bf16 = to_inference_precision(model, torch.bfloat16)
        f1["bf16"] = evaluate_dataset(bf16, data, Runtime(cpu, torch.bfloat16, root, False), bootstrap=0)[0].score("f1")
        out["ner"] = {"sentences": len(data), "f1": {k: round(v, 4) for k, v in f1.items()}}
        targets.append(C.target("me5-small NER F1 points bf16 vs fp32", 100 * abs(f1["bf16"] - f1["fp32"]), "<=", 0.5))
    out["targets"] = targets
    C.emit(out, args.out, args.threads)


if __name__ == "__main__":
    main()
