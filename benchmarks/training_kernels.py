"""What xshot's CPU training kernels (``xshot.kernels``) buy per optimisation step, one at a time.

For me5-small (``finetune``, ``lora``) and gemma3-270m (``prompt``, ``lora``), in the precision a run picks
on this machine (``auto``: bf16 on CPUs with bf16 matrix units), seconds per step (batch 8, the shots of
XNLI en dev) with everything as a run has it ("xshot"), with torch's own dropout instead of
``kernels.cpu_dropout`` ("torch-dropout"), and with the model's own attention kernel instead of eager
attention where xshot trains eagerly (bf16, or a body that drops attention weights: "sdpa"). The sides alternate, in a different order every repetition; medians.

    python benchmarks/training_kernels.py --threads 2 [--repeats 5]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

CASES = {"me5-small": [("finetune", 1e-4), ("lora", 1e-3)], "gemma3-270m": [("prompt", 5e-5), ("lora", 1e-3)]}
SIDES = ("xshot", "torch-dropout", "sdpa")


def main() -> None:
    p = C.parser(__doc__.splitlines()[0], repeats=5)
    p.add_argument("--models", default=",".join(CASES))
    p.add_argument("--steps", type=int, default=4, help="timed optimisation steps per side and repetition")
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.steps, args.repeats = 1, 1
    root = C.data_root(args.data_root)

    import torch

    from xshot.backbone import select_precision
    from xshot.data import load
    from xshot.training.config import RunConfig
    from xshot.training.prepare import method_config
    from xshot.training.trainer import train

    cpu = torch.device("cpu")
    out: dict = {"steps_per_side": args.steps, "cases": []}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        for method, lr in CASES[name]:
            settings = dict(task="nli", model=C.model_path(name), method=method, train="xnli:en:dev", k=16, seed=1,
                            max_steps=1, learning_rate=lr, max_length=128)
            config = RunConfig(**settings)
            dtype = select_precision(cpu, config.precision)
            model, _, _ = C.train_quick_model(settings, root)
            mcfg = method_config(config)
            shots = model.encode(load("xnli:en:dev", None, root).examples[:96])

            def step(side: str) -> float:
                with C.torch_kernels(attention=side == "sdpa", dropout=side == "torch-dropout"):
                    done = train(model, shots, mcfg, seed=1, device=cpu, dtype=dtype, max_steps=args.steps,
                                 progress=False)
                return done.seconds / done.steps

            for side in SIDES:  # warm-up
                step(side)
            times: dict[str, list[float]] = {side: [] for side in SIDES}
            for r in range(max(1, args.repeats)):
                order = SIDES[r % len(SIDES):] + SIDES[:r % len(SIDES)]
                for side in (order if r % 2 == 0 else order[::-1]):
                    times[side].append(step(side))
            s = {side: C.median(v) for side, v in times.items()}
            case = {"model": name, "method": method, "precision": str(dtype or "fp32"),
                    "step_s": {k: round(v, 3) for k, v in s.items()},
                    "all_step_s": {k: [round(x, 3) for x in v] for k, v in times.items()},
                    "cpu_dropout_speedup": round(s["torch-dropout"] / s["xshot"], 3),
                    "eager_attention_speedup": round(s["sdpa"] / s["xshot"], 3)}
            out["cases"].append(case)
            C.log(f"training_kernels: {case}")
            del model
    C.emit(out, args.out, args.threads)


if __name__ == "__main__":
    main()
