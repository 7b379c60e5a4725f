"""Exact 2-Wasserstein distance between equal-size samples (optimal assignment)."""
from __future__ import annotations

from ..backends import get_backend
from ..backends.numpy_backend import w2_samples


def w2_distance(x, y, backend=None) -> float:
    """W2(x, y) = sqrt(min_σ (1/n) Σ_i ‖x_i − y_σ(i)‖²) for x, y of shape (n, D).

    The samples are checked (shape, NaN/inf, overflow; ``ValueError``) before a backend is chosen.
    """
    x, y = w2_samples(x, y)
    return get_backend(backend).w2(x, y)
