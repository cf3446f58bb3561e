"""Evaluation with LoRA / (IA)³ adapters merged into the base weights vs through peft's adapter layers.

For each (model, task, method) of the headline study's parameter-efficient arms, two copies of the same
trained model (the same seed, a few training steps so the adapters are not zero) are evaluated on the same
test features, interleaved, median of the repetitions: ``adapter`` casts and packs the model for inference as
xshot did before (peft's LoRA / (IA)³ layers stay in the path), ``merged`` goes through
``xshot.training.evaluate.to_inference_precision`` (adapters merged, then cast and packed). Both must predict
the same classes up to bf16 rounding of near-ties: each side's agreement with the fp32 predictions of the
unmerged model is reported. Target: merged evaluation no slower than the adapter path.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

CASES = (("me5-small", "ner", "lora", "masakhaner2:swa"), ("gemma3-270m", "nli", "lora", "xnli:de"),
         ("me5-small", "nli", "ia3", "xnli:de"))


def build(model_name: str, task: str, method: str, root: str, steps: int, dtype) -> list:
    """Two identical models, trained a few steps on 16 English shots."""
    import torch

    from xshot.backbone import load_backbone
    from xshot.data.spec import load
    from xshot.methods import get_method
    from xshot.training.trainer import train

    spec = get_method(method)
    train_spec = "wikiann:en" if task == "ner" else "xnli:en"
    options = {"head": "linear"} if model_name == "me5-small" else {}
    models = []
    for _ in range(2):
        config = spec.config_class.resolve(options)
        backbone = load_backbone(C.model_path(model_name), want_lm_head=config.uses_lm_head)
        types = ("PER", "ORG", "LOC") if task == "ner" else ()
        torch.manual_seed(0)
        model = spec.build(backbone, task, types, config, max_length=128, source_language="en")
        shots = list(load(train_spec, "train" if task == "ner" else "dev", root))[:16]
        train(model, model.encode(shots), config, seed=1, device=torch.device("cpu"), dtype=dtype, max_steps=steps,
              progress=False)
        models.append(model)
    return models


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=200, help="test sentences / pairs per case")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.examples, args.repeats = 40, 2
    import torch

    from xshot.data.spec import load
    from xshot.kernels import pack_linear_weights
    from xshot.training.evaluate import predict_proba, to_inference_precision

    dtype = torch.bfloat16 if args.precision == "bf16" else None
    root, cpu = C.data_root(args.data_root), torch.device("cpu")
    cases = []
    for model_name, task, method, test in CASES:
        adapter, merged = build(model_name, task, method, root, args.steps, dtype)
        features = adapter.encode(list(load(test, "test", root))[: args.examples])
        reference = predict_proba(adapter, features, device=cpu).classes  # fp32, adapter layers: the reference
        if dtype is not None:  # what inference did before: cast and pack, the adapter layers kept
            adapter.to(dtype)
            pack_linear_weights(adapter)
        to_inference_precision(merged, dtype)
        out = {}

        def side(model, name):
            return lambda _rep: out.__setitem__(name, predict_proba(model, features, device=cpu, dtype=dtype))

        times = C.interleave(args.repeats, {"adapter": side(adapter, "adapter"), "merged": side(merged, "merged")})
        def agreement(x, y):
            pairs = [(p, q) for xs, ys in zip(x, y) for p, q in zip(xs, ys)]
            return sum(p == q for p, q in pairs) / len(pairs)

        a, m = out["adapter"].classes, out["merged"].classes
        cases.append({"model": model_name, "task": task, "method": method, "test": test, "features": len(features),
                      "adapter_s": C.median(times["adapter"]), "merged_s": C.median(times["merged"]),
                      "speedup": C.median(times["adapter"]) / C.median(times["merged"]),
                      "agreement": agreement(a, m), "adapter_vs_fp32": agreement(a, reference),
                      "merged_vs_fp32": agreement(m, reference), "times": times})
    targets = [C.target(f"{c['model']} {c['task']} {c['method']}: adapter / merged time", c["speedup"], ">=", 1.0)
               for c in cases]
    C.emit({"benchmark": "merged_adapters", "precision": args.precision, "cases": cases, "targets": targets},
           args.out, args.threads)


if __name__ == "__main__":
    main()
