"""How a cell's training step and evaluation scale with CPU threads: the parallel fractions ``xshot plan`` uses.

For each offline model (its usual method: me5-small ``finetune``, gemma3-270m ``prompt``), in the
precision a run picks on this machine (``auto``), a few optimisation steps (batch 8) and the evaluation
of XNLI test pairs are timed at 1 thread and at ``--threads`` threads, alternating the order between
repetitions. Amdahl's law, time(n) = time(1) x ((1 - p) + p / n), gives the parallel fraction p of each;
``studies.plan.PARALLEL_FRACTION`` holds them by model size, and the JSON shows how far the plan's
1-thread slow-down is from the measured one. Run it on an otherwise idle machine.

    python benchmarks/threads.py --threads 2 [--repeats 3]   (--threads 1 compares with 2)
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

def amdahl_fraction(t1: float, tn: float, n: int) -> float:
    """p such that tn / t1 = (1 - p) + p / n."""
    return (1 - tn / t1) / (1 - 1 / n)


def main() -> None:
    p = C.parser(__doc__.splitlines()[0], repeats=3)
    p.add_argument("--models", default=",".join(C.MODELS))
    p.add_argument("--pairs", type=int, default=200, help="XNLI test pairs evaluated (de and sw, half each)")
    p.add_argument("--steps", type=int, default=4, help="timed optimisation steps per repetition")
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.pairs, args.steps, args.repeats = 20, 1, 1
    root = C.data_root(args.data_root)

    import torch

    from xshot.data import load
    from xshot.data.sampling import subsample
    from xshot.studies.plan import REFERENCE_THREADS, model_size_factor, parallel_fraction, thread_factor
    from xshot.training.config import RunConfig
    from xshot.backbone import select_precision
    from xshot.training.prepare import Runtime, method_config
    from xshot.training.evaluate import to_inference_precision
    from xshot.training.run import EVAL_SUBSET_SEED, evaluate_dataset
    from xshot.training.trainer import train

    sets = []
    for lang in ("de", "sw"):
        data = subsample(load(f"xnli:{lang}:test", "test", root), args.pairs // 2, EVAL_SUBSET_SEED)
        data.name = f"xnli:{lang}:test"
        sets.append(data)
    many = max(2, args.threads)  # compared with 1 thread
    counts = (1, many)
    out: dict = {"thread_counts": list(counts), "models": {}}
    targets = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        method, lr = C.MODELS[name]
        settings = dict(task="nli", model=C.model_path(name), method=method, train="xnli:en:dev", k=16, seed=1,
                        max_steps=2, learning_rate=lr, max_length=128)
        config = RunConfig(**settings)
        model, _, _ = C.train_quick_model(settings, root)
        cpu = torch.device("cpu")
        runtime = Runtime(cpu, select_precision(cpu, config.precision), root, False)
        mcfg = method_config(config)
        shots = model.encode(load("xnli:en:dev", None, root).examples[:96])

        def step(_: int) -> None:
            train(model, shots, mcfg, seed=1, device=runtime.device, dtype=runtime.dtype, max_steps=args.steps,
                  progress=False)

        def evaluate(_: int) -> None:
            for data in sets:
                evaluate_dataset(model, data, runtime, bootstrap=0)

        times: dict[str, dict[int, list[float]]] = {"train": {n: [] for n in counts}, "eval": {n: [] for n in counts}}
        for what, fn in (("train", step), ("eval", evaluate)):
            if what == "eval":  # as a run evaluates: the trained weights cast once (bf16), no autograd
                to_inference_precision(model, runtime.dtype)
                model.eval()
            torch.set_num_threads(many)
            fn(0)  # warm-up (and the feature cache)
            for r in range(max(1, args.repeats)):
                for n in (counts if r % 2 == 0 else counts[::-1]):
                    torch.set_num_threads(n)
                    start = time.perf_counter()
                    fn(r)
                    times[what][n].append(time.perf_counter() - start)
        torch.set_num_threads(many)
        size = model_size_factor(config.model)
        row: dict = {"method": method, "precision": str(runtime.dtype or "fp32"), "pairs": sum(len(d) for d in sets),
                     "steps": args.steps, "model_size_factor": round(size, 3)}
        for what in ("train", "eval"):
            t1, tn = C.median(times[what][1]), C.median(times[what][many])
            plan = parallel_fraction(what, size)
            row[what] = {"s": {str(n): round(C.median(v), 3) for n, v in times[what].items()},
                         "speedup": round(t1 / tn, 3), "parallel_fraction": round(amdahl_fraction(t1, tn, many), 3),
                         "plan_parallel_fraction": round(plan, 3)}
            if many == REFERENCE_THREADS:  # the plan's time(1) / time(2) against the measured one
                ratio = thread_factor(1, plan) / (t1 / tn)
                targets += [C.target(f"{name} {what}: plan's 1-thread slow-down / measured", ratio, ">=", 0.85),
                            C.target(f"{name} {what}: plan's 1-thread slow-down / measured", ratio, "<=", 1.15)]
        out["models"][name] = row
        C.log(f"threads: {name} {row}")
        del model

    out["targets"] = targets
    C.emit(out, args.out, many)


if __name__ == "__main__":
    main()
