"""Does ``precision: auto`` pick the faster precision on this CPU? fp32 against bf16, side by side.

``auto`` means bf16 on CPUs with bf16 matrix units (AMX-BF16 / AVX512-BF16) and fp32 on the others,
where oneDNN emulates bf16 (an AVX2-only CPU such as AMD Zen 3 converts every operand to fp32 and
back). This measures both precisions on the machine it runs on, interleaved, median of the repeats:

* matrix products at the offline models' layer shapes (2048 tokens) and 1024², GFLOP/s;
* a bare me5-small forward pass (transformers ``AutoModel``, batch 32 × 64 tokens), fp32 weights
  against bf16 weights (as xshot's bf16 evaluation runs), tokens/s;
* an xshot training step (me5-small ``finetune``, batch 8, AdamW), fp32 against bf16 autocast.

Target: the precision ``auto`` resolves to is at least as fast as the other one for the forward pass
and the step. On a CPU without bf16 units the slow-down ratios are what ``xshot plan`` charges a cell
that asks for ``precision: bf16`` there (``studies.plan.EMULATED_BF16_SLOWDOWN``).
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

SHAPES = [(1024, 1024, 1024), (2048, 384, 1536), (2048, 1536, 384), (2048, 640, 2048), (2048, 2048, 640)]


def main() -> None:
    p = C.parser(__doc__.splitlines()[0], repeats=3)
    p.add_argument("--steps", type=int, default=2, help="optimisation steps per timed repeat")
    args = p.parse_args()
    C.setup_process(args.threads)
    if args.quick:
        args.repeats, args.steps = 1, 1
    root = C.data_root(args.data_root)

    import torch
    from transformers import AutoModel

    from xshot.backbone import precision_name, select_precision
    from xshot.data import load
    from xshot.hardware import cpu_has_native_bf16
    from xshot.training.config import RunConfig
    from xshot.training.prepare import method_config
    from xshot.training.trainer import train

    cpu = torch.device("cpu")
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    autocast = {"fp32": None, "bf16": torch.bfloat16}  # what train() takes: no autocast for fp32
    auto = precision_name(select_precision(cpu, "auto"))
    other = "fp32" if auto == "bf16" else "bf16"

    def product(shape, dtype) -> float:
        m, k, n = shape
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        a @ b  # warm-up
        start = time.perf_counter()
        a @ b
        return 2 * m * k * n / (time.perf_counter() - start) / 1e9

    gflops = {name: {f"{m}x{k}x{n}": round(C.median([product((m, k, n), dt) for _ in range(args.repeats)]), 1)
                     for m, k, n in SHAPES} for name, dt in dtypes.items()}
    C.log(f"auto_precision: GFLOP/s {gflops}")

    me5 = C.model_path("me5-small")
    bodies = {"fp32": AutoModel.from_pretrained(me5).eval()}
    bodies["bf16"] = AutoModel.from_pretrained(me5).eval().to(torch.bfloat16)
    ids = torch.randint(5, 1000, (32, 64), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)

    def forward(name: str) -> None:
        with torch.inference_mode():
            bodies[name](input_ids=ids, attention_mask=mask)

    for name in bodies:
        forward(name)
    forward_s = C.interleave(args.repeats, {name: (lambda r, n=name: forward(n)) for name in bodies})
    tokens_per_s = {name: round(ids.numel() / C.median(t), 1) for name, t in forward_s.items()}
    C.log(f"auto_precision: forward tokens/s {tokens_per_s}")

    settings = dict(task="nli", model=me5, method="finetune", train="xnli:en:dev", k=16, seed=1, max_steps=1,
                    learning_rate=1e-4, max_length=128)
    model, _, _ = C.train_quick_model(settings, root)
    mcfg = method_config(RunConfig(**settings))
    shots = model.encode(load("xnli:en:dev", None, root).examples[:96])

    def steps(name: str, count: int) -> float:
        done = train(model, shots, mcfg, seed=1, device=cpu, dtype=autocast[name], max_steps=count, progress=False)
        return done.seconds / done.steps

    for name in dtypes:  # warm-up
        steps(name, 1)
    per_step: dict[str, list[float]] = {name: [] for name in dtypes}
    for _ in range(args.repeats):
        for name in dtypes:
            per_step[name].append(steps(name, args.steps))
    step_s = {name: round(C.median(v), 3) for name, v in per_step.items()}
    C.log(f"auto_precision: step seconds {step_s}")

    forward_gain = tokens_per_s[auto] / tokens_per_s[other]
    step_gain = step_s[other] / step_s[auto]
    out = {
        "native_bf16": cpu_has_native_bf16(), "auto": auto, "matmul_gflops": gflops,
        "forward_tokens_per_s": tokens_per_s, "train_step_s": step_s,
        "bf16_over_fp32": {"forward_time": round(tokens_per_s["fp32"] / tokens_per_s["bf16"], 2),
                           "step_time": round(step_s["bf16"] / step_s["fp32"], 2)},
        "targets": [C.target(f"forward: auto ({auto}) against {other}, speed ratio", forward_gain, ">=", 1.0),
                    C.target(f"training step: auto ({auto}) against {other}, speed ratio", step_gain, ">=", 1.0)],
    }
    C.emit(out, args.out, args.threads)


if __name__ == "__main__":
    main()
