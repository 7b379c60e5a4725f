"""Thread counts, set deliberately (docs/method.md §8).

torch's default on a 2-core machine is 2 intra-op threads per process. Under load, or with two
samplers running side by side, that oversubscribes the cores: a MACE step was measured 6× slower
with the default than with 1 thread on a loaded machine. Every skmd command therefore sets the
threads of its process (and of each worker it starts) explicitly; ``--threads`` or
``SKMD_THREADS`` overrides the default of 1.
"""
from __future__ import annotations

import os

from .checks import positive_int

ENV_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def default_threads() -> int:
    """$SKMD_THREADS if set, else 1."""
    return positive_int("SKMD_THREADS", int(os.environ.get("SKMD_THREADS", "1")))


def set_threads(n: int | None = None) -> int:
    """Use ``n`` threads (default :func:`default_threads`) in torch and the BLAS libraries of this process."""
    n = default_threads() if n is None else positive_int("threads", n)
    for name in ENV_VARIABLES:
        os.environ[name] = str(n)
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return n
    torch.set_num_threads(n)
    return n
