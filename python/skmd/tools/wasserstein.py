"""Exact 2-Wasserstein distance between equal-size samples (optimal assignment)."""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from .checks import finite_array


def w2_distance(x, y, backend=None) -> float:
    """W2(x, y) = sqrt(min_σ (1/n) Σ_i ‖x_i − y_σ(i)‖²) for x, y of shape (n, D)."""
    x = finite_array("x", x, ndim=2)
    y = finite_array("y", y, ndim=2)
    if x.shape != y.shape:
        raise ValueError(f"exact W2 needs equal-size samples of equal dimension, got {x.shape} and {y.shape}")
    return get_backend(backend).w2(x, y)
