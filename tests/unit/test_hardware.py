"""A process's share of the cores: its thread count when other xshot processes train on the same machine."""

from __future__ import annotations

import pytest

from xshot import hardware
from xshot.hardware import _is_heavy_xshot, cgroup_cpus, default_threads


@pytest.mark.parametrize("cmdline, heavy", [
    (["/v/bin/python", "/v/bin/xshot", "run", "s.yaml"], True),  # the console script through its interpreter
    (["/v/bin/xshot", "train", "--task", "nli"], True),
    (["/usr/bin/python3", "-m", "xshot", "--debug", "eval", "--model", "m"], True),  # after the re-exec
    (["/v/bin/python", "/v/bin/xshot", "plan", "s.yaml"], False),  # planning trains nothing
    (["/v/bin/python", "-m", "pytest", "tests/run"], False),
    (["vim", "xshot", "run"], False),
    ([], False),
])
def test_heavy_xshot_processes_are_recognised_by_their_command_line(cmdline, heavy):
    assert _is_heavy_xshot(cmdline) is heavy


class _Proc:
    def __init__(self, pid, cmdline, status):
        self.info = {"pid": pid, "cmdline": cmdline, "status": status}


def test_other_heavy_xshot_processes_are_counted_unless_stopped(monkeypatch):
    run = ["/v/bin/python", "/v/bin/xshot", "run", "s.yaml"]
    procs = [_Proc(1, run, hardware.psutil.STATUS_RUNNING), _Proc(2, run, hardware.psutil.STATUS_SLEEPING),
             _Proc(3, run, hardware.psutil.STATUS_STOPPED), _Proc(4, run, hardware.psutil.STATUS_ZOMBIE),
             _Proc(5, ["/v/bin/xshot", "plan", "s.yaml"], hardware.psutil.STATUS_RUNNING),
             _Proc(hardware.os.getpid(), run, hardware.psutil.STATUS_RUNNING)]
    monkeypatch.setattr(hardware.psutil, "process_iter", lambda attrs: iter(procs))
    assert hardware.xshot_processes() == 3  # 1 and 2, and this one


def _cores(monkeypatch, usable, physical, logical, others, quota=None):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: set(range(usable)))
    counts = {True: logical, False: physical}
    monkeypatch.setattr(hardware.psutil, "cpu_count", lambda logical=True: counts[logical])
    monkeypatch.setattr(hardware, "xshot_processes", lambda: others + 1)
    monkeypatch.setattr(hardware, "cgroup_cpus", lambda: quota)


@pytest.mark.parametrize("usable, physical, logical, others, quota, threads", [
    (2, 2, 2, 0, None, 2),  # alone: every core
    (2, 2, 2, 1, None, 1),  # beside another xshot process: half
    (2, 2, 2, 2, None, 1),  # three on two cores: never below one
    (16, 8, 16, 1, None, 4),  # hyper-threads count once: 8 cores for 2 processes
    (16, 8, 16, 0, 3.0, 3),  # a cgroup quota of 3 CPUs caps it
])
def test_the_share_of_the_cores(monkeypatch, usable, physical, logical, others, quota, threads):
    _cores(monkeypatch, usable, physical, logical, others, quota)
    assert default_threads() == threads


def test_omp_num_threads_still_wins(monkeypatch):
    _cores(monkeypatch, 2, 2, 2, 3)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert default_threads() == 2


def test_cgroup_quota_is_read_from_cpu_max(tmp_path):
    (tmp_path / "a").write_text("max 100000\n")
    (tmp_path / "b").write_text("250000 100000\n")
    assert cgroup_cpus(str(tmp_path / "a")) is None and cgroup_cpus(str(tmp_path / "b")) == 2.5
    assert cgroup_cpus(str(tmp_path / "missing")) is None
