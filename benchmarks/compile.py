"""torch.compile on a whole cell: does it win once its compile time is counted?

Issue 10 asks to try ``torch.compile`` and keep it only where it wins including its compile time for a
cell. This runs one real cell (``xshot.training.run.run``: me5-small ``finetune``, XNLI en K = 16,
``--steps`` steps, ``--per-language`` test pairs of de, sw, ur, zh, at xshot's default precision) eagerly
and with the model's forward compiled (``torch.compile(dynamic=True)``: evaluation batches change shape
with every length bucket, so static shapes would recompile per bucket), interleaved. The compiled side
runs twice per repetition: with an empty inductor cache (the first cell of a study) and with the cache
the first run left (every later cell). Same seed on both sides; the scores are reported so that a
numerical change is visible. Prints one JSON object.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402


def main() -> None:
    p = C.parser(__doc__.splitlines()[0], repeats=1)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--per-language", type=int, default=300)
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.steps, args.per_language = 2, 20
    root = C.data_root(args.data_root)

    import torch

    import xshot.training.run as run_module
    from xshot.training.config import RunConfig

    build_model = run_module.build_model
    compiling = {"on": False}

    def maybe_compiled(*a, **kw):
        model = build_model(*a, **kw)
        if compiling["on"]:
            model.forward = torch.compile(model.forward, dynamic=True)  # training and evaluation both call it
        return model

    run_module.build_model = maybe_compiled
    specs = [f"xnli:{lang}:test" for lang in ("de", "sw", "ur", "zh")]
    config = RunConfig(task="nli", model=C.model_path("me5-small"), method="finetune", train="xnli:en:dev", k=16,
                       seed=1, max_steps=args.steps, batch_size=8, learning_rate=1e-4, max_length=128, eval=specs,
                       eval_limit=args.per_language, bootstrap=0)
    parts: dict[str, list[dict]] = {"eager": [], "compiled-cold": [], "compiled-warm": []}
    scores: dict[str, float] = {}
    inductor_cache = tempfile.mkdtemp(prefix="xshot-inductor-")

    def cell(side: str) -> None:
        compiling["on"] = side != "eager"
        if side == "compiled-cold":  # a fresh inductor cache, and dynamo's in-memory caches cleared
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="xshot-inductor-")
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = inductor_cache
        torch._dynamo.reset()
        with tempfile.TemporaryDirectory(prefix="xshot-cache-") as cache:
            os.environ["XSHOT_CACHE_DIR"] = cache
            result = run_module.run(config, data_root=root)
        parts[side].append(result.time.model_dump())
        scores[side] = statistics.mean(result.primary_scores().values())
        C.log(f"compile: {side} {result.time.model_dump()} accuracy {scores[side]:.4f}")

    cell("compiled-cold")  # fills inductor_cache for the warm side (and warms the file cache)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = inductor_cache
    times = C.interleave(args.repeats, {"eager": lambda r: cell("eager"), "compiled-cold": lambda r: cell("compiled-cold"),
                                        "compiled-warm": lambda r: cell("compiled-warm")})
    median = {side: C.median(v) for side, v in times.items()}
    out = {"cell": {"model": "me5-small", "method": "finetune", "steps": args.steps, "eval": specs,
                    "per_language": args.per_language, "compile": "torch.compile(model.forward, dynamic=True)"},
           "repeats": args.repeats, "median_s": {k: round(v, 2) for k, v in median.items()},
           "parts_s": parts, "accuracy": {k: round(v, 4) for k, v in scores.items()}}
    out["targets"] = [
        C.target("speed-up of a compiled first cell (cold cache) over eager", median["eager"] / median["compiled-cold"], ">", 1.0,
                 "above 1 would justify compiling the first cell of a study"),
        C.target("speed-up of a compiled later cell (warm cache) over eager", median["eager"] / median["compiled-warm"], ">", 1.0,
                 "above 1 would justify compiling every later cell"),
    ]
    C.emit(out, args.out, args.threads)


if __name__ == "__main__":
    main()
