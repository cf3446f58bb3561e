"""What every benchmark shares: process settings, models and data, timing, and the one JSON output.

Each benchmark measures xshot and its reference in the same process run, interleaving the
repetitions (xshot, reference, xshot, reference, ...) and reporting medians, so that the ratios hold
on a busy machine where absolute times drift. The process re-executes itself once with the glibc
settings the ``xshot`` command uses (page faults otherwise dominate CPU training on VMs) and, unless
told otherwise, runs torch on one thread (other processes share the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
#: each offline model's usual method and learning rate (short-budget rates, as the example studies use)
MODELS = {"me5-small": ("finetune", 1e-4), "gemma3-270m": ("prompt", 5e-5)}
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736",
                 "MALLOC_TOP_PAD_": "1073741824"}


def setup_process(threads: int) -> None:
    """Re-exec once with the allocator settings and the thread count; call before importing torch."""
    wanted = dict(ALLOCATOR_ENV)
    wanted.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                   "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
                   "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "TQDM_DISABLE": "1"})
    if sys.platform.startswith("linux") and any(os.environ.get(k) != v for k, v in wanted.items()) \
            and not os.environ.get("XSHOT_BENCH_REEXECED"):
        os.environ.update(wanted)
        os.environ["XSHOT_BENCH_REEXECED"] = "1"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    os.environ.update({k: v for k, v in wanted.items() if k not in os.environ})
    import torch

    torch.set_num_threads(threads)
    import logging

    logging.getLogger("transformers").setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # pragma: no cover
        pass


def parser(description: str, repeats: int = 3) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--threads", type=int, default=1, help="torch threads for both sides (default 1)")
    p.add_argument("--repeats", type=int, default=repeats,
                   help=f"interleaved repetitions; medians are reported (default {repeats})")
    p.add_argument("--quick", action="store_true", help="much smaller sizes (a smoke run)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--data-root", default=None, help="data root (default $XSHOT_DATA_ROOT or ../shared/data)")
    return p


def data_root(arg: str | None) -> str:
    root = arg or os.environ.get("XSHOT_DATA_ROOT") or str(REPO.parent / "shared" / "data")
    if not Path(root, "nli", "xnli").is_dir():
        sys.exit(f"benchmark: no XNLI data under {root}; pass --data-root or set XSHOT_DATA_ROOT")
    return root


def model_path(name: str) -> str:
    """Local path of an offline model (XSHOT_ME5 / XSHOT_GEMMA, else ~/.cache/offline-models/NAME)."""
    env = {"me5-small": "XSHOT_ME5", "gemma3-270m": "XSHOT_GEMMA"}.get(name)
    path = (os.environ.get(env) if env else None) or str(Path.home() / ".cache" / "offline-models" / name)
    if not Path(path, "config.json").is_file():
        tool = REPO.parent / "shared" / "tools" / "offline_models.py"
        try:
            out = subprocess.run([sys.executable, str(tool), "path", name], capture_output=True, text=True,
                                 check=True).stdout.strip().splitlines()
            path = out[-1] if out else path
        except (OSError, subprocess.CalledProcessError):
            pass
    if not Path(path, "config.json").is_file():
        sys.exit(f"benchmark: offline model {name} not found at {path}")
    return path


@contextmanager
def timer(into: list[float]) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        into.append(time.perf_counter() - start)


def interleave(repeats: int, sides: dict[str, Callable[[int], Any]]) -> dict[str, list[float]]:
    """Run each side once per repetition, in turn (rotating which goes first), timing every call."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for rep in range(repeats):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for name in order:
            start = time.perf_counter()
            sides[name](rep)
            times[name].append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def target(name: str, value: float, op: str, threshold: float, note: str = "") -> dict[str, Any]:
    met = {"<=": value <= threshold, ">=": value >= threshold, "<": value < threshold, ">": value > threshold}[op]
    out = {"name": name, "value": round(value, 4), "op": op, "threshold": threshold, "met": bool(met)}
    if note:
        out["note"] = note
    return out


def environment(threads: int) -> dict[str, Any]:
    import torch
    import transformers

    from xshot.hardware import processor_name

    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = None
    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "cpu": platform.processor() or platform.machine(), "processor": processor_name("cpu"),
            "cores": os.cpu_count(), "torch_threads": threads,
            "load_average_at_end": [round(x, 2) for x in load] if load else None,
            "git_commit": _git_commit()}


def _git_commit() -> str | None:
    """HEAD of the checkout, or ``$XSHOT_GIT_COMMIT`` for a copy without git (``git archive`` of a commit)."""
    if os.environ.get("XSHOT_GIT_COMMIT"):
        return os.environ["XSHOT_GIT_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def emit(result: dict[str, Any], out: Path | None, threads: int) -> None:
    """Print the one JSON object (and write it to ``out``)."""
    result.setdefault("environment", environment(threads))
    result["all_targets_met"] = all(t["met"] for t in result.get("targets", []))
    text = json.dumps(result, indent=2, default=_jsonable)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(out)
    print(text, flush=True)


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def log(*args: Any) -> None:
    """Progress on stderr, so stdout stays one JSON object."""
    print(*args, file=sys.stderr, flush=True)


def train_quick_model(config_kwargs: dict[str, Any], data_root: str):
    """Build and train an xshot model for a few steps (the model under evaluation in several benchmarks)."""
    import torch

    from xshot.training.config import RunConfig
    from xshot.training.prepare import Runtime, build_model, method_config, training_data
    from xshot.training.trainer import seed_everything, train

    config = RunConfig(**config_kwargs)
    seed_everything(config.seed)  # the new head's initialisation, as a run seeds it
    rt = Runtime(torch.device("cpu"), None, data_root, False)
    mcfg = method_config(config)
    source = training_data(config, config.train, config.k, rt)
    model = build_model(config, mcfg, source.labels if config.task == "ner" else (), source.language)
    result = train(model, model.encode(source.examples), mcfg, seed=config.seed, device=torch.device("cpu"),
                   max_steps=config.max_steps, progress=False)
    return model, rt, result


@contextmanager
def torch_kernels(attention: bool = False, dropout: bool = False) -> Iterator[None]:
    """Train with torch's own kernels instead of xshot's CPU ones (``xshot.kernels``): the model's attention
    implementation instead of eager attention, torch's dropout instead of ``cpu_dropout``."""
    from xshot import kernels

    budget, own = kernels.EAGER_ATTENTION_BYTES, kernels.cpu_dropout
    if attention:
        kernels.EAGER_ATTENTION_BYTES = -1
    if dropout:
        kernels.cpu_dropout = kernels._torch_dropout
    try:
        yield
    finally:
        kernels.EAGER_ATTENTION_BYTES, kernels.cpu_dropout = budget, own
