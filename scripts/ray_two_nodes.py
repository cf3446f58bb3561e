"""A study on a real two-node Ray cluster on this machine, the second node's raylet killed mid-study.

Starts a head node (``ray start --head``, 1 CPU) and a second node joining it (``ray start --address``, 2 CPUs,
its own node-manager port), both on loopback, authenticated by a token made for the run; runs a 12-cell study with the deterministic fake runner (each
cell sleeps ``--sleep`` seconds) through ``xshot run --executor ray --ray-address``; once a few cells are done,
kills the second node's raylet. Checks that every cell is recorded exactly once and none failed (a cell whose
node was lost is retried on the head), and that the store passes ``PRAGMA integrity_check``. Prints one JSON
object (the log of what happened and the store's summary).

    python scripts/ray_two_nodes.py [--out results/ray-two-nodes/summary.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAKE = REPO / "tests" / "unit" / "studies"
STUDY = """\
name: two-nodes
task: nli
models: [tiny-model]
methods: [finetune, lora]
seeds: [1, 2, 3]
languages: [de, sw]
defaults: {max_steps: 5, eval_limit: 50, batch_size: 4}
resources: {num_cpus: 1, num_gpus: 0}
settings:
  - name: src
    train: xnli:en:dev
    k: [4, 16]
    eval: ["xnli:{lang}:test"]
"""


def ray(*args: str, env: dict[str, str]) -> str:
    out = subprocess.run([str(Path(sys.executable).parent / "ray"), *args], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"ray {' '.join(args)} failed: {out.stderr.strip()[-500:]}")
    return out.stdout


def raylet_pids(port: int) -> list[int]:
    rows = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()
    return [int(r.split()[0]) for r in rows if "raylet" in r and f"--node_manager_port={port}" in r]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sleep", type=float, default=4.0)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    log: list[str] = []
    # Ray 2.60 authenticates the nodes of a cluster with a token: one for this cluster, in every process's env
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex,
           "PYTHONPATH": os.pathsep.join([str(FAKE), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    head_port, node_port = 6391, 6392
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store, calls = tmp / "store.sqlite", tmp / "calls.log"
        # the workers inherit the environment of the `ray start` that made their node
        env.update({"FAKE_RUNNER_LOG": str(calls), "FAKE_RUNNER_SLEEP": str(args.sleep)})
        ray("start", "--head", f"--port={head_port}", "--num-cpus=1", "--node-ip-address=127.0.0.1",
            "--include-dashboard=false", env=env)
        try:
            ray("start", f"--address=127.0.0.1:{head_port}", "--num-cpus=2", "--node-ip-address=127.0.0.1",
                f"--node-manager-port={node_port}", env=env)
            log.append("head (1 CPU) and a second node (2 CPUs) started on 127.0.0.1")
            (tmp / "study.yaml").write_text(STUDY)
            run_env = env
            study = subprocess.Popen(
                [sys.executable, "-m", "xshot", "run", str(tmp / "study.yaml"), "--executor", "ray", "--ray-address",
                 f"127.0.0.1:{head_port}", "--store", str(store), "--runner", "study_fake_runner:run", "-q"],
                env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.time() + 300
            while time.time() < deadline and study.poll() is None:
                done = 0
                if store.exists():
                    with sqlite3.connect(store) as db:
                        done = db.execute("SELECT COUNT(DISTINCT cell) FROM results").fetchone()[0]
                if done >= 3:
                    break
                time.sleep(0.5)
            victims = raylet_pids(node_port)
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            log.append(f"after {done} recorded cell(s): killed the second node's raylet (pid {victims})")
            out, err = study.communicate(timeout=600)
            log.append(f"xshot run exited {study.returncode}: {out.strip().splitlines()[-1] if out.strip() else err[-300:]}")
            with sqlite3.connect(store) as db:
                integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
                rows = db.execute("SELECT cell, status, COUNT(*) FROM results GROUP BY cell, status").fetchall()
            runs = Counter(calls.read_text().split()) if calls.exists() else Counter()
        finally:
            subprocess.run([str(Path(sys.executable).parent / "ray"), "stop", "--force"], env=env,
                           capture_output=True)
    status = Counter(s for _, s, _ in rows)
    summary = {"log": log, "cells": len(rows), "status": dict(status), "rows_per_cell": sorted({n for *_, n in rows}),
               "integrity_check": integrity, "runner_calls_per_cell": dict(Counter(runs.values())),
               "exit_code": study.returncode,
               "passed": integrity == "ok" and len(rows) == 12 and status == Counter({"done": 12})
               and study.returncode == 0 and bool(victims)}
    text = json.dumps(summary, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
