"""fp32 evaluation against the fp32 roofline, for CPUs where ``precision: auto`` is fp32 (no bf16 units).

Per offline model (me5-small ``finetune``, gemma3-270m ``prompt``, trained 2 steps): XNLI de test pairs
evaluated end to end with ``evaluate_dataset`` (median of the repetitions), tokens/s x forward FLOP per
token (``precision.flop_per_token``) over the best fp32 matrix product measured in the same run
(``precision.matmul_gflops``). It says how much an fp32 evaluation leaves to gain on this machine.

    python benchmarks/fp32_roofline.py --threads 2
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from precision import flop_per_token, matmul_gflops  # noqa: E402

PAIRS = {"me5-small": 500, "gemma3-270m": 150}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0], repeats=3)
    p.add_argument("--models", default=",".join(PAIRS))
    args = p.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if unknown := [m for m in models if m not in PAIRS]:
        p.error(f"--models: unknown {', '.join(unknown)} (valid: {', '.join(PAIRS)})")
    C.setup_process(args.threads)
    root = C.data_root(args.data_root)

    import torch

    from xshot.data import load
    from xshot.data.sampling import subsample
    from xshot.training.prepare import Runtime
    from xshot.training.run import EVAL_SUBSET_SEED, evaluate_dataset

    gflops = matmul_gflops(torch, torch.float32)
    out: dict = {"benchmark": "fp32_roofline", "matmul_gflops_fp32": round(gflops, 1), "models": {}}
    rt = Runtime(torch.device("cpu"), None, root, False)
    for name in models:
        method, lr = C.MODELS[name]
        n = 20 if args.quick else PAIRS[name]
        settings = dict(task="nli", model=C.model_path(name), method=method, train="xnli:en:dev", k=16, seed=1,
                        max_steps=2, learning_rate=lr, max_length=128)
        model, _, _ = C.train_quick_model(settings, root)
        model.eval()
        data = subsample(load("xnli:de:test", "test", root), n, EVAL_SUBSET_SEED)
        data.name = "xnli:de:test"
        evaluate_dataset(model, data, rt, bootstrap=0)  # warm-up (and the feature cache)
        times = C.interleave(1 if args.quick else args.repeats,
                             {"eval": lambda rep: evaluate_dataset(model, data, rt, bootstrap=0)})["eval"]
        tokens = sum(len(f.input_ids) for f in model.encode(data.examples))
        per_token = flop_per_token(model, tokens / n)
        tps = tokens / C.median(times)
        out["models"][name] = {"method": method, "pairs": n, "tokens": tokens, "eval_s": [round(t, 2) for t in times],
                               "tokens_per_s": round(tps, 1), "mflop_per_token": round(per_token / 1e6, 1),
                               "roofline_fraction": round(tps * per_token / (gflops * 1e9), 3)}
        C.log(f"fp32_roofline: {name} {out['models'][name]}")
    C.emit(out, args.out, args.threads)


if __name__ == "__main__":
    main()
