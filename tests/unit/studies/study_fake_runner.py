"""A deterministic stand-in for ``xshot.training.run.run`` (importable by Ray workers and subprocesses).

Scores are a hash of the cell's configuration and the evaluation set, so the same cell always gets
the same scores wherever it runs. Behaviour switches, all through environment variables so that a
subprocess or a Ray worker sees them too:

- ``FAKE_RUNNER_LOG``: append one line ``<key>`` per call to this file (to count calls).
- ``FAKE_RUNNER_EXIT_AFTER``: ``os._exit(9)`` at the start of the call after this many logged calls
  (a crash inside a cell, like kill -9 while training).
- ``FAKE_RUNNER_SLEEP``: sleep this many seconds per call.
- ``FAKE_RUNNER_HARD_CRASH_KEY``: ``os._exit(1)`` when running the cell with this key (a worker
  killed by the OOM killer, say).
- ``FAKE_RUNNER_CRASH_ONCE_KEY`` and ``FAKE_RUNNER_CRASH_MARKER``: ``os._exit(1)`` the first time the cell with
  this key runs (the marker file records it), then run normally (a node lost once).
- methods named in ``FAKE_RUNNER_FAIL`` (comma-separated) raise; ``FAKE_RUNNER_FAIL_KIND`` picks
  ``error`` (RuntimeError, the default), ``memory`` (MemoryError) or ``xshot`` (XshotError).
"""

from __future__ import annotations

import hashlib
import os
import time


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF


def _calls(log: str) -> int:
    try:
        with open(log, encoding="utf-8") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def run(config, out_dir=None) -> dict:
    key = config.key()
    log = os.environ.get("FAKE_RUNNER_LOG")
    exit_after = os.environ.get("FAKE_RUNNER_EXIT_AFTER")
    if log and exit_after is not None and _calls(log) >= int(exit_after):
        os._exit(9)
    if os.environ.get("FAKE_RUNNER_HARD_CRASH_KEY") == key:
        os._exit(1)
    marker = os.environ.get("FAKE_RUNNER_CRASH_MARKER")
    if os.environ.get("FAKE_RUNNER_CRASH_ONCE_KEY") == key and marker and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(key + "\n")
            f.flush()
            os.fsync(f.fileno())
    if os.environ.get("FAKE_RUNNER_SLEEP"):
        time.sleep(float(os.environ["FAKE_RUNNER_SLEEP"]))
    if config.method in os.environ.get("FAKE_RUNNER_FAIL", "").split(","):
        kind = os.environ.get("FAKE_RUNNER_FAIL_KIND", "error")
        if kind == "memory":
            raise MemoryError("fake out of memory")
        if kind == "xshot":
            from xshot.errors import XshotError

            raise XshotError("fake user error", "data.tsv", 3)
        raise RuntimeError(f"fake failure in {config.method}")

    nli = config.task == "nli"
    primary = "accuracy" if nli else "f1"
    evaluations = {}
    for spec in config.eval:
        a = round(0.3 + 0.6 * _unit(key, spec, "a"), 6)
        b = round(0.3 + 0.6 * _unit(key, spec, "b"), 6)
        scores = {"accuracy": a, "macro_f1": b} if nli else {"precision": b, "recall": a, "f1": round((a + b) / 2, 6)}
        ci = {m: [round(v - 0.04, 6), round(v + 0.04, 6)] for m, v in scores.items()}
        if not nli:
            scores["per_type"] = {"PER": {"f1": a}}  # nested: not a score column
        evaluations[spec] = {
            "spec": spec,
            "language": spec.split(":")[1] if ":" in spec else None,
            "n": config.eval_limit or 100,
            "scores": scores,
            "ci": ci,
            "fertility": round(1 + _unit(spec), 4),
            "eval_s": 0.5,
        }
    if out_dir is not None:
        (out_dir / "metrics.txt").write_text(key)
    return {
        "key": key,
        "config": config.model_dump(mode="json"),
        "method_config": {"learning_rate": config.learning_rate or 1e-5},
        "task": config.task,
        "primary_metric": primary,
        "source_language": config.train.split(":")[1],
        "evaluations": evaluations,
        "params": {"trainable": 1000 + len(config.method), "total": 118_000_000},
        "time": {"train_s": 2.0 * (config.max_steps or 10) / 10, "eval_s": 0.5 * len(config.eval), "load_s": 0.1},
        "peak_memory_mb": 512.0,
        "threads": 2,
        "processor": "Fake CPU (AVX2)",
        "notes": [],
        "versions": {"xshot": "0.1.0", "torch": "fake"},
    }


def bad_run(config, out_dir=None):
    """A runner that returns something that is not a metrics dict."""
    return {"nothing": True}
