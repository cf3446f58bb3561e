"""Trained in bf16 against trained in fp32, over seeds: is the difference smaller than the seeds' own spread?

``benchmarks/precision.py`` checks that the *same weights* give the same predictions at both precisions.
This checks the other half of issue 10's parity target: whole cells (``xshot.training.run.run``, the
function every study cell calls) trained and evaluated at ``precision: fp32`` and at ``precision: bf16``
for each seed, on the same shots and test pairs. Target: the difference of the mean scores over seeds is
smaller than the seed standard deviation (of either precision). Per model (me5-small ``finetune``,
gemma3-270m ``prompt``): XNLI en K = 16, ``--steps`` steps, ``--per-language`` test pairs of de, sw, ur, zh.
Prints one JSON object.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

#: method and short-budget learning rate per offline model (as examples/closing-run measured them)
MODELS = {"me5-small": ("finetune", 1e-4), "gemma3-270m": ("prompt", 5e-5)}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0], repeats=1)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--per-language", type=int, default=300)
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.steps, args.per_language, args.seeds = 2, 20, "1,2"
    root = C.data_root(args.data_root)

    from xshot.training.config import RunConfig
    from xshot.training.run import run

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    specs = [f"xnli:{lang}:test" for lang in ("de", "sw", "ur", "zh")]
    out: dict = {"steps": args.steps, "seeds": seeds, "eval": specs, "per_language": args.per_language, "models": {}}
    targets = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        method, lr = MODELS[name]
        scores: dict[str, list[float]] = {"fp32": [], "bf16": []}
        seconds: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for seed in seeds:
            for precision in ("fp32", "bf16"):  # both precisions of one seed side by side
                config = RunConfig(task="nli", model=C.model_path(name), method=method, train="xnli:en:dev", k=16,
                                   seed=seed, max_steps=args.steps, batch_size=8, learning_rate=lr, max_length=128,
                                   eval=specs, eval_limit=args.per_language, bootstrap=0, precision=precision)
                with tempfile.TemporaryDirectory(prefix="xshot-cache-") as cache:
                    os.environ["XSHOT_CACHE_DIR"] = cache
                    result = run(config, data_root=root)
                if result.precision != precision:
                    raise SystemExit(f"precision_seeds: asked for {precision}, the run recorded {result.precision}")
                accuracy = statistics.mean(result.primary_scores().values())  # over the target languages
                scores[precision].append(accuracy)
                seconds[precision].append(result.time.train_s + result.time.eval_s)
                C.log(f"precision_seeds: {name} seed {seed} {precision}: accuracy {accuracy:.4f}")
        mean = {k: statistics.mean(v) for k, v in scores.items()}
        std = {k: statistics.stdev(v) if len(v) > 1 else float("nan") for k, v in scores.items()}
        diff = abs(mean["bf16"] - mean["fp32"])
        out["models"][name] = {
            "method": method, "learning_rate": lr,
            "accuracy": {k: [round(x, 4) for x in v] for k, v in scores.items()},
            "mean": {k: round(v, 4) for k, v in mean.items()}, "seed_std": {k: round(v, 4) for k, v in std.items()},
            "mean_difference": round(diff, 4),
            "train_plus_eval_s": {k: [round(x, 1) for x in v] for k, v in seconds.items()},
        }
        targets.append(C.target(f"{name}: |mean bf16 - mean fp32| below the seed standard deviation (larger of the two)",
                                diff, "<", max(std.values())))
    out["targets"] = targets
    C.emit(out, args.out, args.threads)


if __name__ == "__main__":
    main()
