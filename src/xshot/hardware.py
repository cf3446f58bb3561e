"""What the machine offers a run: bf16 matrix units on the CPU or GPU, how many cores to use, and its name.

Kept free of a top-level torch import so that ``xshot plan`` can ask without loading torch.
"""

from __future__ import annotations

import functools
import os
import platform
import re

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


def default_threads() -> int:
    """Intra-op threads a run uses: ``$OMP_NUM_THREADS`` when set (Ray sets it to a task's CPUs), else the
    physical cores this process may use (hyper-threads share one core's matrix units and only contend)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    logical, physical = psutil.cpu_count(logical=True) or usable, psutil.cpu_count(logical=False) or usable
    return max(1, usable * physical // logical)


def configure_threads() -> int:
    """Set torch's intra-op threads to :func:`default_threads` (torch itself follows ``$OMP_NUM_THREADS``)."""
    import torch

    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(default_threads())
    return torch.get_num_threads()
