import os
import warnings
from pathlib import Path

import numpy as np
import pytest

# The suite runs on the NumPy backend unless a test asks otherwise; Julia parity tests ask
# for Julia explicitly and skip with the reason where it cannot start.
os.environ.setdefault("SKMD_BACKEND", "numpy")
# One OpenMP/BLAS thread per test process, as every skmd command sets (skmd.tools.threads): xTB's threaded
# sums otherwise differ in the last digits between two runs, and two xdist workers oversubscribe 2 cores.
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
# and one torch thread per campaign, its training processes included: without $SKMD_THREADS a serial campaign
# takes every core (skmd.tools.threads.threads_per_job), so two workers' trainings ran 2 + 2 threads on 2 cores,
# and a mace_run_train step was 5x slower than on 1 thread
os.environ.setdefault("SKMD_THREADS", "1")
warnings.filterwarnings("ignore", message="skmd: Julia is not available here")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def finite_difference(fn, x, eps=1e-6):
    """Central differences of a scalar function: x (D,) → gradient (D,)."""
    x = np.asarray(x, float)
    grad = np.zeros_like(x)
    for d in range(x.size):
        step = np.zeros_like(x)
        step[d] = eps
        grad[d] = (fn(x + step) - fn(x - step)) / (2 * eps)
    return grad


def rattled_copies(atoms, n, scale=0.05, seed=0):
    """``n`` copies of ``atoms`` with Gaussian displacements of ``scale`` Å per coordinate (seeded)."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        frame = atoms.copy()
        frame.positions += scale * rng.standard_normal(frame.positions.shape)
        frames.append(frame)
    return frames


def processes_where(match) -> list:
    """Process ids (Linux /proc) for which ``match(argv, cwd)`` is true: ``argv`` the command line's words
    (list of str), ``cwd`` the current directory (str). Processes that end or deny access while read are skipped."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if match(argv, cwd):
            found.append(int(entry.name))
    return found
