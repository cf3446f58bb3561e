"""Estimate what a study costs before running it.

The model is deliberately simple: a cell costs

    load + (seconds per train step x steps) + (seconds per eval example x eval examples)

with seconds per step and per example from a per-method, per-task default (``Cost``), scaled by model size (the matrix
weights of the transformer layers, i.e. compute per token; the word embeddings are a lookup and frozen by
default) and batch size. The defaults (fp32, each method's ``Cost``) were measured on a quiet 2-core
CPU VM on the cells of ``benchmarks/study_throughput.py`` (NER on me5-small, XNLI on gemma3-270m, in bf16) and
are divided by ``BF16_SPEEDUP`` for cells that run in
bf16 and scaled from the 2 threads they were measured at to the threads a cell gets (Amdahl's law with
the parallel fraction of a model of that size, ``PARALLEL_FRACTION``); on a GPU they are far too high. A
cell loads its checkpoint from disk (``LOAD_S``) unless an earlier cell of the same process did (``RELOAD_S``:
``xshot.backbone`` keeps the last two checkpoints in memory), in the order the local executor runs them.
When the results store holds finished cells, the defaults are calibrated by the ratio of measured to
predicted times (each cell's prediction at the threads it ran with): over finished cells of the same
method and model, else the same method, else all finished cells; only those run on this machine's
processor where there are any (a store moved to another machine).
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xshot.backbone import KEEP_CHECKPOINTS
from xshot.methods import get_method
from xshot.studies.grid import Cell
from xshot.training.config import RunConfig, resolve_steps
from xshot.data.spec import builtin, parse_spec
from xshot.hardware import cpu_has_native_bf16, cpu_has_native_fp16, processor_name

#: seconds to load a checkpoint a process has not loaded yet: a fixed part (the process's first imports, the
#: tokenizer) and a part per GB of fp32 weights; fitted to the first cell of each model in
#: benchmarks/study_throughput.py (me5-small, 0.47 GB: 5.8, 6.1, 9.2 s; gemma3-270m, 1.07 GB: 8.8, 9.8, 11.8 s)
LOAD_S = (4.6, 5.2)
#: a cell whose checkpoint an earlier cell of the process loaded: a copy from memory (the same benchmark's later
#: cells: 0.2-0.9 s; 2.9 s where a prompt method loads the same checkpoint with its LM head)
RELOAD_S = 0.6
#: (train, eval) speed-up of bf16 autocast over fp32 on a CPU with bf16 matrix units, for the unit costs
#: below (which are fp32): medians of benchmarks/precision.py on me5-small and gemma3-270m
BF16_SPEEDUP = (1.4, 2.3)
#: (train, eval) slow-down of bf16 against fp32 on a CPU without bf16 matrix units, where oneDNN emulates
#: bf16 (an explicit ``precision: bf16`` there): benchmarks/auto_precision.py on an AVX2-only AMD EPYC
#: (Zen 3), me5-small training step (0.92 s fp32, 16.9 s bf16 autocast) and bare forward pass (2047 against 332
#: tokens/s with bf16 weights)
EMULATED_BF16_SLOWDOWN = (18.4, 6.2)
#: the threads the unit costs were measured at
REFERENCE_THREADS = 2
#: the share of a (train step, evaluated example) that runs in parallel, by model size factor: Amdahl fits
#: to 1 vs 2 threads in bf16 (benchmarks/threads.py, medians of two runs: me5-small finetune 1.29x / 1.38x
#: faster at 2 threads, gemma3-270m prompt 1.70-1.77x / 1.43-1.86x; this machine's noise is that large). A
#: small model's step is mostly serial work (Python, small kernels, dropout's random numbers); between the
#: two sizes the fraction is interpolated in log size, beyond them it stays at the nearer one.
PARALLEL_FRACTION = {"train": ((1.066, 0.45), (4.44, 0.85)), "eval": ((1.066, 0.54), (4.44, 0.76))}
DEFAULT_BATCH = 16
BASE_PARAMS = 110e6
#: matrix weights (12 x layers x hidden^2) of the transformer layers of a model of size factor 1. The unit
#: costs were measured on me5-small (21.2M such weights), whose factor stays 1.066, what they were derived
#: with. Counting all parameters instead (embeddings included) put gemma3-270m at 2.3 instead of 4.4 and
#: its cells 2.5-3.5x above the estimate (examples/fair, ``benchmarks/plan_check.py``).
REFERENCE_LAYER_WEIGHTS = 12 * 12 * 384**2 / 1.066

#: labels per class (NLI) / entity types (NER), for turning K into a number of training examples
N_LABELS = {"nli": 3, "ner": 4}
#: sizes assumed for datasets whose size xshot does not know (files, the Hub)
DEFAULT_TRAIN_SIZE = 5000
DEFAULT_EVAL_SIZE = 2000


def dataset_size(spec: str, split: str, default: int) -> int:
    """A built-in dataset's rough size (``Builtin.sizes``) for the split a spec or the run names."""
    known = builtin(spec)
    if known is None:
        return default
    return known.sizes.get(parse_spec(spec).split or split, default)


def model_dims(model: str) -> tuple[int, int, int] | None:
    """(hidden size, layers, vocabulary) from a local config.json, None without one."""
    from xshot.errors import XshotError
    from xshot.settings import resolve_model

    try:
        model = resolve_model(model)
    except XshotError:
        pass
    cfg = Path(model) / "config.json"
    if not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text())
        text = data.get("text_config", data)
        hidden = text.get("hidden_size") or text.get("d_model") or text.get("n_embd")
        layers = text.get("num_hidden_layers") or text.get("num_layers") or text.get("n_layer")
        return (int(hidden), int(layers), int(text.get("vocab_size") or 0)) if hidden and layers else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def vocabulary_factor(model: str) -> float:
    """Cost of a token through the body and the whole-vocabulary head against the body alone (FLOPs: the
    head's V·H against the body's 12·L·H²); 1 when the model's dimensions are unknown."""
    dims = model_dims(model)
    if dims is None:
        return 1.0
    hidden, layers, vocab = dims
    return 1.0 + vocab * hidden / (12 * layers * hidden * hidden)


def load_seconds(model: str) -> float:
    """:data:`LOAD_S` for ``model``: its parameters (word embeddings and layers' matrices from a local
    config.json, else the size factor x 110M) at 4 bytes each."""
    dims = model_dims(model)
    if dims is not None:
        hidden, layers, vocab = dims
        params = vocab * hidden + 12 * layers * hidden * hidden
    else:
        params = model_size_factor(model) * BASE_PARAMS
    fixed, per_gb = LOAD_S
    return fixed + per_gb * params * 4 / 1e9


def model_size_factor(model: str) -> float:
    """Compute per token relative to the unit costs' model: the layers' matrix weights from a local
    config.json when there is one (:data:`REFERENCE_LAYER_WEIGHTS`), else, roughly, the parameter count
    in the name against 110M."""
    from xshot.errors import XshotError
    from xshot.settings import resolve_model

    dims = model_dims(model)
    if dims is not None:
        hidden, layers, _ = dims
        return max(0.05, 12 * layers * hidden * hidden / REFERENCE_LAYER_WEIGHTS)
    try:
        model = resolve_model(model)
    except XshotError:
        pass
    name = model.lower()
    m = re.search(r"(\d+(?:\.\d+)?)\s*([mb])(?![a-z])", name)
    if m:
        params = float(m.group(1)) * (1e6 if m.group(2) == "m" else 1e9)
        return max(0.05, params / BASE_PARAMS)
    words = set(re.split(r"[^a-z0-9]+", name))
    for word, factor in (("xxl", 40.0), ("xl", 10.0), ("large", 3.5), ("base", 1.0), ("small", 0.3),
                         ("mini", 0.2), ("tiny", 0.1)):
        if word in words:
            return factor
    return 1.0


def train_examples(config: RunConfig) -> int:
    per = N_LABELS.get(config.task, 3)
    n = config.k * per if config.k is not None else dataset_size(config.train, config.train_split, DEFAULT_TRAIN_SIZE)
    return max(1, n)


def train_steps(config: RunConfig) -> int:
    """Optimisation steps the cell will take, by the run's own rule (:func:`xshot.training.config.resolve_steps`:
    max_steps, else epochs over the training examples, else the method's default steps)."""
    if not get_method(config.method).config_class.trains:
        return 0
    mcfg = _method_config(config)
    phases = [config.k] + ([config.target_k] if config.target_train else [])
    return sum(resolve_steps(config.max_steps, config.epochs, mcfg.max_steps,
                             k * N_LABELS.get(config.task, 3) if k is not None else train_examples(config),
                             mcfg.batch_size, mcfg.grad_accumulation) for k in phases)


def _method_config(config: RunConfig):
    """The cell's method config (its class defaults where its options do not resolve: the run reports that)."""
    from xshot.errors import XshotError
    from xshot.training.prepare import method_config

    try:
        return method_config(config)
    except XshotError:
        return get_method(config.method).config_class()


def eval_examples(config: RunConfig) -> int:
    total = 0
    for spec in config.eval:
        size = dataset_size(spec, config.eval_split, DEFAULT_EVAL_SIZE)
        if config.eval_limit is not None:
            size = min(size, config.eval_limit)
        total += size
    return total


def precision_speedup(config: RunConfig) -> tuple[float, float]:
    """(train, eval) speed of the cell's precision on this machine against the fp32 unit costs: bf16 on
    bf16 matrix units (``auto`` there, or asked for) is :data:`BF16_SPEEDUP`; bf16 asked for on a CPU
    that emulates it is :data:`EMULATED_BF16_SLOWDOWN` slower, and so is fp16 on an x86 CPU without fp16
    units (its products ran at the same 0.9 GFLOP/s as emulated bf16 on the AVX2 EPYC, and a bare me5-small
    forward pass under fp16 autocast 5.9x slower than fp32, 7.1x under bf16); fp32 (and fp16 elsewhere, not
    modelled) is 1."""
    on_cpu = config.device in ("auto", "cpu")
    if config.precision == "fp16" and on_cpu and cpu_has_native_fp16() is False:
        return 1 / EMULATED_BF16_SLOWDOWN[0], 1 / EMULATED_BF16_SLOWDOWN[1]
    if config.precision not in ("auto", "bf16"):
        return 1.0, 1.0
    if on_cpu and cpu_has_native_bf16():
        return BF16_SPEEDUP
    if config.precision == "auto":  # fp32 on this CPU
        return 1.0, 1.0
    return (1 / EMULATED_BF16_SLOWDOWN[0], 1 / EMULATED_BF16_SLOWDOWN[1]) if on_cpu else BF16_SPEEDUP


def parallel_fraction(kind: str, size: float) -> float:
    """:data:`PARALLEL_FRACTION` of ``kind`` ("train" or "eval") at model size factor ``size``."""
    (small, p_small), (large, p_large) = PARALLEL_FRACTION[kind]
    where = (math.log(max(size, 1e-6)) - math.log(small)) / (math.log(large) - math.log(small))
    return p_small + (p_large - p_small) * min(1.0, max(0.0, where))


def thread_factor(threads: int, parallel: float) -> float:
    """Time at ``threads`` intra-op threads against the :data:`REFERENCE_THREADS` of the unit costs."""
    def amdahl(n: int) -> float:
        return (1 - parallel) + parallel / max(1, n)

    return amdahl(threads) / amdahl(REFERENCE_THREADS)


def selection_steps(config: RunConfig) -> int:
    """Training steps of the in-run model selection: every candidate on every fold (cv) or once (dev-k)."""
    if not config.search:
        return 0
    from xshot.training.selection import halving_runs, search_space

    default = config.max_steps if config.max_steps is not None else train_steps(config)
    steps = [int(point.get("max_steps", default)) for point in search_space(config.search)]
    if config.selection == "cv" and config.selection_halving:  # the candidates' mean steps per fold training
        return round(sum(steps) / len(steps) * halving_runs(len(steps), config.selection_folds))
    runs = config.selection_folds if config.selection == "cv" else 1
    return sum(s * runs for s in steps)


def default_costs(config: RunConfig, threads: int = REFERENCE_THREADS,
                  loaded: bool = False) -> tuple[float, float, float]:
    """(load, train, eval) seconds predicted from the defaults alone for a cell at ``threads`` CPU threads
    (``loaded``: an earlier cell of the process loaded its checkpoint); train includes the choices made on
    the shots (label search, model selection)."""
    from xshot.errors import XshotError
    from xshot.training.prepare import method_config

    size = model_size_factor(config.model)
    # half of a CPU step scales with the batch, half (the optimiser) does not
    batch = 0.5 + 0.5 * _method_config(config).batch_size / DEFAULT_BATCH
    step_s, eval_s = get_method(config.method).cost.unit(config.task)
    train_speedup, eval_speedup = precision_speedup(config)
    if config.device in ("auto", "cpu"):
        train_speedup /= thread_factor(threads, parallel_fraction("train", size))
        eval_speedup /= thread_factor(threads, parallel_fraction("eval", size))
    steps = train_steps(config)
    try:
        mcfg = method_config(config)
        extra, step_factor, eval_factor = mcfg.cost_factors(config.task, steps)
        share = mcfg.vocabulary_share(config.task)
        if share:
            vocab = 1 + share * (vocabulary_factor(config.model) - 1)
            step_factor, eval_factor = step_factor * vocab, eval_factor * vocab
    except XshotError:  # an invalid option is reported by the study check, not here
        extra, step_factor, eval_factor = 0, 1.0, 1.0
    step = step_s * size * batch * step_factor / train_speedup
    per_example = eval_s * size * eval_factor / eval_speedup
    load = RELOAD_S if loaded else load_seconds(config.model)
    return load, step * (steps + extra + selection_steps(config)), per_example * eval_examples(config)


@dataclass
class Calibration:
    """Measured / predicted ratios from finished cells in the store."""

    cells: int = 0
    # (method, model) -> (train ratio, eval ratio); method -> ...; "" -> all
    by_method_model: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    by_method: dict[str, tuple[float, float]] = field(default_factory=dict)
    overall: tuple[float, float] | None = None

    def ratios(self, method: str, model: str) -> tuple[tuple[float, float], str]:
        if (method, model) in self.by_method_model:
            return self.by_method_model[(method, model)], "store: same method and model"
        if method in self.by_method:
            return self.by_method[method], "store: same method"
        if self.overall is not None:
            return self.overall, "store: all finished cells"
        return (1.0, 1.0), "defaults"


def calibrate(rows: list[dict[str, Any]]) -> Calibration:
    """Calibration from store rows (``ResultsStore.rows()``): only done cells with recorded timings count,
    each against the defaults at the threads it ran with."""
    cells: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("status") != "done" or not row.get("config"):
            continue
        train_s = row.get("train_s")
        if train_s is not None and row.get("choose_s") is not None:  # the prediction includes the choosing
            train_s += row["choose_s"]
        c = cells.setdefault(row["cell"], {"config": row["config"], "train_s": train_s,
                                           "cell_eval_s": row.get("cell_eval_s"), "eval_s": 0.0, "n": 0,
                                           "threads": row.get("threads") or REFERENCE_THREADS})
        c["eval_s"] += row.get("eval_s") or 0.0
        c["n"] += row.get("n") or 0
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for c in cells.values():
        try:
            config = RunConfig.model_validate(json.loads(c["config"]))
        except Exception:
            continue
        _, train_pred, eval_pred = default_costs(config, c["threads"])
        train_s = c["train_s"]
        eval_s = c["cell_eval_s"] if c["cell_eval_s"] is not None else c["eval_s"]
        if train_s is None or eval_s is None:
            continue
        if c["n"]:  # scale the eval prediction to the examples actually evaluated
            per_example = eval_pred / max(1, eval_examples(config))
            eval_pred = per_example * c["n"]
        train_ratio = train_s / train_pred if train_pred > 0 else 1.0
        eval_ratio = eval_s / eval_pred if eval_pred > 0 else 1.0
        samples.setdefault((config.method, config.model), []).append((train_ratio, eval_ratio))

    def median(pairs: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)

    cal = Calibration(cells=sum(len(v) for v in samples.values()))
    by_method: dict[str, list[tuple[float, float]]] = {}
    for (method, model), pairs in samples.items():
        cal.by_method_model[(method, model)] = median(pairs)
        by_method.setdefault(method, []).extend(pairs)
    cal.by_method = {m: median(p) for m, p in by_method.items()}
    everything = [p for pairs in samples.values() for p in pairs]
    cal.overall = median(everything) if everything else None
    return cal


@dataclass
class CellEstimate:
    index: int
    key: str
    setting: str
    model: str
    method: str
    train: str
    k: int | None
    target_train: str | None
    target_k: int | None
    seed: int
    eval: list[str]
    status: str  # pending | done | failed
    steps: int
    eval_examples: int
    est_load_s: float
    est_train_s: float
    est_eval_s: float
    est_s: float
    basis: str


def estimate(cells: list[Cell], status: dict[str, str] | None = None, rows: list[dict[str, Any]] | None = None,
             resume: bool = True, threads: int = REFERENCE_THREADS, in_order: bool = True) -> dict[str, Any]:
    """The plan of a study: every cell with its status and estimated seconds at ``threads`` CPU threads per
    cell, and the totals. ``in_order``: one process runs the cells in order (the local executor), so a cell
    whose checkpoint an earlier one loaded copies it from memory; otherwise (Ray tasks) every cell loads."""
    status = status or {}
    # a store resumed on another machine: its own finished cells calibrate it, when it has any
    here = processor_name("cpu")
    mine = [r for r in rows or [] if r.get("processor") == here]
    cal = calibrate(mine or rows or [])
    out: list[CellEstimate] = []
    kept: list[str] = []  # the checkpoints the process running the cells holds, the latest last
    for cell in cells:
        cfg = cell.config
        load, train, ev = default_costs(cfg, threads, loaded=cfg.model in kept)
        if in_order and (status.get(cell.key, "pending") != "done" or not resume):  # it runs: its checkpoint is kept
            kept = [m for m in kept if m != cfg.model][-(KEEP_CHECKPOINTS - 1):] + [cfg.model]
        (r_train, r_eval), basis = cal.ratios(cfg.method, cfg.model)
        train, ev = train * r_train, ev * r_eval
        out.append(CellEstimate(
            index=cell.index, key=cell.key, setting=cell.setting, model=cfg.model, method=cfg.method,
            train=cfg.train, k=cfg.k, target_train=cfg.target_train, target_k=cfg.target_k, seed=cfg.seed,
            eval=list(cfg.eval), status=status.get(cell.key, "pending"), steps=train_steps(cfg),
            eval_examples=eval_examples(cfg), est_load_s=round(load, 2), est_train_s=round(train, 2),
            est_eval_s=round(ev, 2), est_s=round(load + train + ev, 2), basis=basis,
        ))
    to_run = [c for c in out if c.status != "done" or not resume]
    return {
        "cells": [asdict(c) for c in out],
        "estimate": {
            "cells": len(out),
            "done": sum(c.status == "done" for c in out),
            "failed": sum(c.status == "failed" for c in out),
            "pending": sum(c.status == "pending" for c in out),
            "to_run": len(to_run),
            "to_run_s": round(sum(c.est_s for c in to_run), 1),
            "total_s": round(sum(c.est_s for c in out), 1),
            "calibrated_from_cells": cal.cells,
            "calibrated_on": here if mine else ("other or unrecorded processors" if cal.cells else None),
            "threads_per_cell": threads,
            "basis": "store" if cal.cells else "defaults",
        },
    }


def format_seconds(s: float) -> str:
    s = float(s)
    if s < 90:
        return f"{s:.0f}s"
    if s < 5400:
        return f"{s / 60:.1f}min"
    return f"{s / 3600:.1f}h"
