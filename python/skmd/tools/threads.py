"""Thread counts, set deliberately (docs/method.md §8).

torch's default on a 2-core machine is 2 intra-op threads per process. Under load, or with two
samplers running side by side, that oversubscribes the cores: a MACE step was measured 6× slower
with the default than with 1 thread on a loaded machine. Every skmd command therefore sets the
threads of its process (and of each worker it starts) explicitly; ``--threads`` or
``SKMD_THREADS`` overrides the default of 1.

A task (a sampler's walks, a scoring) may run in a worker or, with no executor, in the calling process:
it sets torch's threads for its own duration only (:func:`task_threads`) and never writes ``os.environ``,
which every later subprocess (a ``mace_run_train``) would inherit. A training subprocess gets its thread
count in its own environment (:func:`thread_environment`).
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from .checks import positive_int

ENV_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def default_threads() -> int:
    """$SKMD_THREADS if set, else 1."""
    return positive_int("SKMD_THREADS", int(os.environ.get("SKMD_THREADS", "1")))


def resolve_threads(n: int | None) -> int:
    """``n`` (checked), else :func:`default_threads`: the thread count a setting of None means."""
    return default_threads() if n is None else positive_int("threads", n)


def available_cores() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not on Linux
        return os.cpu_count() or 1


def threads_per_job(n: int | None, jobs: int) -> int:
    """A campaign's thread count: ``n`` if given, else $SKMD_THREADS if set, else this machine's cores
    shared among the ``jobs`` that run at once (every core for a serial campaign, one each for
    ``--workers`` equal to the cores)."""
    if n is not None or "SKMD_THREADS" in os.environ:
        return resolve_threads(n)
    return max(1, available_cores() // positive_int("jobs", jobs))


def set_threads(n: int | None = None) -> int:
    """Use ``n`` threads (default :func:`default_threads`) in torch and the BLAS libraries of this process.

    Sets :data:`ENV_VARIABLES`, which torch and the BLAS libraries read when they load; torch is told as
    well where it is loaded already. Torch is not imported here: a command that never uses it (``skmd
    info``) does not pay seconds for it."""
    n = default_threads() if n is None else positive_int("threads", n)
    for name in ENV_VARIABLES:
        os.environ[name] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


@contextmanager
def task_threads(n: int | None):
    """torch's intra-op threads set to ``n`` for the block, restored after; ``os.environ`` is left alone.
    ``n`` None leaves them as they are.

    Not for two blocks at once in threads of one process: torch's thread count is process-wide."""
    if n is None:
        yield None
        return
    n = positive_int("threads", n)
    try:
        import torch  # noqa: PLC0415  lazy: torch is the ml extra
    except ImportError:
        yield n
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def thread_environment(n: int, base=None) -> dict:
    """A copy of ``base`` (default ``os.environ``) with :data:`ENV_VARIABLES` set to ``n``: the
    environment of a subprocess that should run on ``n`` threads."""
    n = positive_int("threads", n)
    environment = dict(os.environ if base is None else base)
    environment.update({name: str(n) for name in ENV_VARIABLES})
    return environment
