"""Resumption after crashes: os._exit inside a cell, death inside the store's write, kill -9 from outside."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

from xshot.studies.grid import expand
from xshot.studies.spec import load_study
from xshot.studies.store import ResultsStore

from study_fixtures import TINY

MANY = TINY.replace("seeds: [1, 2]", "seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]")  # 40 cells

DIE_IN_WRITE = """\
import os, sys
from xshot.studies.store import ResultsStore
real = ResultsStore._insert_row
count = [0]
def insert(self, row):
    count[0] += 1
    if count[0] == int(os.environ["DIE_AT_ROW"]):
        os._exit(9)  # after the cell's first row is inserted, before its transaction commits
    real(self, row)
ResultsStore._insert_row = insert
from xshot.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _xshot(args, env, script=None):
    cmd = [sys.executable, str(script)] if script else [sys.executable, "-m", "xshot"]
    return subprocess.run(cmd + args, env=env, capture_output=True, text=True, timeout=120)


def _check_store(path, cells):
    """Every cell done exactly once: one row per (cell, eval set), nothing else, store intact."""
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    with ResultsStore(path) as store:
        rows = store.rows()
    expected = {(c.key, e) for c in cells for e in c.config.eval}
    got = [(r["cell"], r["eval_set"]) for r in rows]
    assert len(got) == len(set(got))
    assert set(got) == expected
    assert {r["status"] for r in rows} == {"done"}


def test_crash_inside_a_cell_then_rerun(tmp_path, make_study, runner, subprocess_env):
    study = make_study()
    cells = expand(load_study(study))
    store, log = tmp_path / "r.sqlite", tmp_path / "calls.log"
    env = {**subprocess_env, "FAKE_RUNNER_LOG": str(log), "FAKE_RUNNER_EXIT_AFTER": "3"}
    args = ["run", str(study), "--store", str(store), "--runner", runner, "-q"]
    first = _xshot(args, env)
    assert first.returncode == 9, first.stderr
    with ResultsStore(store) as s:
        assert s.done_keys() == {c.key for c in cells[:3]}
        assert s.count() == 6
    env.pop("FAKE_RUNNER_EXIT_AFTER")
    second = _xshot(args, env)
    assert second.returncode == 0, second.stderr
    assert "3 already done, 5 to run" in second.stdout
    _check_store(store, cells)
    assert log.read_text().split() == [c.key for c in cells]  # no cell ran twice


def test_death_inside_the_store_write_then_rerun(tmp_path, make_study, runner, subprocess_env):
    study = make_study()
    cells = expand(load_study(study))
    store = tmp_path / "r.sqlite"
    script = tmp_path / "die_in_write.py"
    script.write_text(DIE_IN_WRITE)
    env = {**subprocess_env, "DIE_AT_ROW": "6"}  # rows 5-6 are the third cell's
    args = ["run", str(study), "--store", str(store), "--runner", runner, "-q"]
    first = _xshot(args, env, script)
    assert first.returncode == 9, first.stderr
    with ResultsStore(store) as s:
        assert s.count() == 4  # the third cell's first row was rolled back
        assert s.done_keys() == {c.key for c in cells[:2]}
    second = _xshot(args, subprocess_env)
    assert second.returncode == 0, second.stderr
    _check_store(store, cells)


def test_kill_9_at_arbitrary_moments_then_rerun(tmp_path, make_study, runner, subprocess_env):
    study = make_study(MANY)
    cells = expand(load_study(study))
    assert len(cells) == 40
    store, log = tmp_path / "r.sqlite", tmp_path / "calls.log"
    env = {**subprocess_env, "FAKE_RUNNER_LOG": str(log), "FAKE_RUNNER_SLEEP": "0.02"}
    args = [sys.executable, "-m", "xshot", "run", str(study), "--store", str(store), "--runner", runner, "-q"]
    kills = 0
    for target, extra in ((4, 0.0), (12, 0.013), (21, 0.007), (30, 0.021)):
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and len(log.read_text().split()) >= target:
                break
            time.sleep(0.002)
        time.sleep(extra)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
    assert kills >= 3
    with ResultsStore(store) as s:
        assert 0 < len(s.done_keys()) < 40
    final = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    _check_store(store, cells)
    calls = Counter(log.read_text().split())
    assert set(calls) == {c.key for c in cells}
    # only a cell that was running when the process was killed runs again
    assert sum(calls.values()) - 40 <= kills
