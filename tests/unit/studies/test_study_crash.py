"""Resumption after crashes: os._exit inside a cell, death inside the store's write, kill -9 from outside."""

from __future__ import annotations

import re
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


def _start(args, env):
    return subprocess.Popen([sys.executable, "-m", "xshot"] + args, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_and_three_processes_on_one_store_run_each_cell_once(tmp_path, make_study, runner, subprocess_env):
    study = make_study(MANY.replace("seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", "seeds: [1, 2, 3]"))  # 12 cells
    cells = expand(load_study(study))
    for n in (2, 3):
        store, log = tmp_path / f"r{n}.sqlite", tmp_path / f"calls{n}.log"
        env = {**subprocess_env, "FAKE_RUNNER_LOG": str(log), "FAKE_RUNNER_SLEEP": "0.3"}
        procs = [_start(["run", str(study), "--store", str(store), "--runner", runner, "-q"], env) for _ in range(n)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * n, [o[1] for o in outs]
        calls = Counter(log.read_text().split())
        assert calls == Counter({c.key: 1 for c in cells})  # each cell trained exactly once
        ran = [int(re.search(r"(\d+) done, \d+ failed", o[0]).group(1)) for o in outs]
        assert sum(ran) == len(cells) and min(ran) >= 1  # the processes split the study
        _check_store(store, cells)


def _claims_of(store, pid) -> list:
    """The cells process ``pid`` holds; none while the store or its claims table is still being created."""
    if not store.exists():
        return []
    db = sqlite3.connect(store)
    try:
        return db.execute("SELECT cell FROM claims WHERE pid = ?", (pid,)).fetchall()
    except sqlite3.OperationalError:  # the table is not there yet (the store is being created)
        return []
    finally:
        db.close()


def test_a_process_killed_mid_cell_leaves_its_cell_to_the_other(tmp_path, make_study, runner, subprocess_env):
    study = make_study(MANY.replace("seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", "seeds: [1, 2, 3]"))
    cells = expand(load_study(study))
    store, log = tmp_path / "r.sqlite", tmp_path / "calls.log"
    env = {**subprocess_env, "FAKE_RUNNER_LOG": str(log), "FAKE_RUNNER_SLEEP": "0.5"}
    args = ["run", str(study), "--store", str(store), "--runner", runner, "-q"]
    victim, other = _start(args, env), _start(args, env)
    deadline = time.time() + 60
    while time.time() < deadline:  # the victim holds a cell: kill it in the middle of that cell
        if _claims_of(store, victim.pid):
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    out, err = other.communicate(timeout=120)
    assert other.returncode == 0, err
    calls = Counter(log.read_text().split())
    assert set(calls) == {c.key for c in cells}
    assert sum(n - 1 for n in calls.values()) <= 1  # only the killed cell ran twice
    _check_store(store, cells)
    with ResultsStore(store) as s:
        assert s._db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
