"""Describe the machine a timing was taken on, so every benchmark JSON carries it.

Timings from a shared 2-core machine mean little without the CPU model, the thread counts and the load at the
time; :func:`machine_info` gathers them in one JSON-ready dict.
"""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere), or ``"unknown"``."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    return platform.processor() or "unknown"


def torch_threads() -> int | None:
    """``torch.get_num_threads()`` if torch is installed, else ``None``."""
    try:
        import torch  # noqa: PLC0415  lazy: torch is the ml extra
    except ImportError:
        return None
    return int(torch.get_num_threads())


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (``os.getloadavg``), or ``None`` where the OS has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info() -> dict:
    """JSON-ready description of this machine and its thread settings, taken now.

    Keys: ``cpu_model`` (str), ``n_cores`` (logical CPUs, int), ``torch_threads`` (int or None),
    ``omp_num_threads`` / ``mkl_num_threads`` (the environment variables, str or None),
    ``load_average`` ([1 min, 5 min, 15 min] or None), ``python`` (version), ``platform`` (OS string).
    """
    return {
        "cpu_model": cpu_model(),
        "n_cores": os.cpu_count(),
        "torch_threads": torch_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "mkl_num_threads": os.environ.get("MKL_NUM_THREADS"),
        "load_average": load_average(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def source_commit(folder) -> str | None:
    """The git commit of the checkout holding ``folder`` (``-dirty`` added when tracked files have uncommitted
    changes), or None outside a git checkout: what a benchmark JSON records as the code it ran."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
