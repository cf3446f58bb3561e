"""What the machine offers a run: bf16 matrix units on the CPU or GPU, how many cores to use, and its name.

Kept free of a top-level torch import so that ``xshot plan`` can ask without loading torch.
"""

from __future__ import annotations

import functools
import os
import platform
import re
from pathlib import Path

import psutil


#: the devices a run can name (``backbone.select_device`` checks that this machine has the one named)
DEVICES = "auto, cpu, cuda, cuda:N, mps"


def device_name_error(name: str) -> str | None:
    """Why ``name`` is not a device a run can name, or None."""
    if re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", name):
        return None
    return f"unknown device {name!r} (valid: {DEVICES})"


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> str | None:
    """The flags of ``/proc/cpuinfo`` (Linux), or None."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AMX-BF16 or AVX512-BF16), as oneDNN then does.

    Linux: the ``amx_bf16`` / ``avx512_bf16`` flags of ``/proc/cpuinfo``; elsewhere torch's AMX probe.
    Without them oneDNN emulates bf16 and autocast is slower than fp32, so ``auto`` stays fp32.
    """
    flags = _cpu_flags()
    if flags is not None:
        return bool(re.search(r"\b(amx_bf16|avx512_bf16)\b", flags))
    try:
        import torch

        return bool(torch._C._cpu._init_amx())
    except Exception:  # pragma: no cover - a torch without the probe
        return False


def cpu_has_native_fp16() -> bool | None:
    """Whether this x86 CPU multiplies fp16 matrices natively (AMX-FP16 or AVX512-FP16); None where xshot
    cannot tell (another architecture, no ``/proc/cpuinfo``). Without them an fp16 product on an AVX2-only
    AMD EPYC ran at 0.9 GFLOP/s against 137 in fp32 (1024 x 1024, two threads)."""
    flags = _cpu_flags()
    if flags is None or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    return bool(re.search(r"\b(amx_fp16|avx512_fp16)\b", flags))


def cuda_has_native_bf16(device) -> bool:
    """Whether this CUDA device (a ``torch.device``) multiplies bf16 natively: compute capability 8.0 and up
    (Ampere, Ada, Hopper, ...) or any ROCm GPU.

    ``torch.cuda.is_bf16_supported()`` also says yes on a V100 or T4, where bf16 tensors exist but their
    products are emulated and slower than fp16's tensor cores; it also asks about the current device, not
    the run's.
    """
    import torch

    if torch.version.hip:
        return True
    return torch.cuda.get_device_properties(device).major >= 8


@functools.lru_cache(maxsize=4)
def processor_name(device_type: str = "cpu") -> str:
    """The processor a run computes on, as results record it: timings, and on a CPU the rounding of its
    products, depend on it. A CPU: its model name, the widest vector instructions torch uses and whether it
    has bf16 matrix units (e.g. ``AMD EPYC (AVX2)``, ``Intel(R) Xeon(R) Platinum 8480C (AVX512, bf16 matrix
    units)``); a CUDA device: the GPU's name."""
    import torch

    if device_type == "cuda":
        return torch.cuda.get_device_name()
    name = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    if device_type != "cpu":
        return name
    extras = [torch.backends.cpu.get_cpu_capability()] + (["bf16 matrix units"] if cpu_has_native_bf16() else [])
    return f"{name} ({', '.join(extras)})"


#: xshot commands that train or evaluate (a process running one takes its share of the cores)
HEAVY_COMMANDS = frozenset({"train", "eval", "predict", "run"})


def _is_heavy_xshot(cmdline: list[str]) -> bool:
    if not cmdline:
        return False
    interpreted = Path(cmdline[0]).name.startswith("python")
    script = next((i for i, a in enumerate(cmdline[:1 + interpreted]) if Path(a).name == "xshot"), None)
    module = next((i + 1 for i, (a, b) in enumerate(zip(cmdline, cmdline[1:])) if a == "-m" and b == "xshot"), None)
    start = script if script is not None else module
    return start is not None and bool(HEAVY_COMMANDS & set(cmdline[start + 1:start + 4]))


#: process states that take no CPU (a study paused with SIGSTOP, a process being reaped)
IDLE_STATES = frozenset({psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP, psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD})


def xshot_processes() -> int:
    """xshot processes training or evaluating on this machine now (this one counted once, at least 1); stopped
    ones are not counted: they take no CPU until continued."""
    count = 0
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            heavy = _is_heavy_xshot(proc.info["cmdline"] or []) and proc.info["status"] not in IDLE_STATES
        except (psutil.Error, TypeError):
            continue
        count += heavy and proc.info["pid"] != os.getpid()
    return count + 1


def cgroup_cpus(path: str = "/sys/fs/cgroup/cpu.max") -> float | None:
    """The CPUs a cgroup (v2) quota allows this process, None without a quota."""
    try:
        quota, period = Path(path).read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else max(1.0, int(quota) / int(period))


def default_threads() -> int:
    """Intra-op threads a run uses: ``$OMP_NUM_THREADS`` when set (Ray sets it to a task's CPUs), else its share
    of the physical cores this process may use (hyper-threads share one core's matrix units and only contend):
    the cores (capped by a cgroup quota) divided among the xshot processes training or evaluating here, since
    processes whose threads together exceed the cores spin-wait against each other (two of them ran 18x
    slower each, not 2x)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    logical, physical = psutil.cpu_count(logical=True) or usable, psutil.cpu_count(logical=False) or usable
    cores = max(1, usable * physical // logical)
    quota = cgroup_cpus()
    if quota is not None:
        cores = min(cores, int(quota))
    return max(1, cores // xshot_processes())


def configure_threads() -> int:
    """Set torch's intra-op threads to :func:`default_threads` (torch itself follows ``$OMP_NUM_THREADS``)."""
    import torch

    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(default_threads())
    return torch.get_num_threads()
