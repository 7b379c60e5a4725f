"""Batch selection on posterior features (docs/method.md §9), next to
:func:`skmd.tools.selection.furthest_point_sampling`.

All methods work on the posterior kernel K (m, m) of the m candidates, k(a, b) = σ² φ̂_aᵀ(Φ̂ᵀΦ̂ + σ²I)⁻¹φ̂_b
(:meth:`~skmd.uncertainty.posterior.FeaturePosterior.kernel`), and its distance
d(a, b)² = k(a, a) + k(b, b) − 2 k(a, b). The training data sit near the origin of that kernel's
feature space, so a candidate's distance to them is sqrt(k(a, a)), its posterior standard deviation.

- ``max_det``: greedy pivoted Cholesky: each pick maximises det K[batch] given the earlier picks.
- ``lcmd``: largest cluster maximum distance: cluster the candidates around the picks (and the
  training data), take the cluster with the largest sum of squared distances, pick its farthest point.
- ``max_dist``: each pick is the candidate farthest from the training data and the earlier picks.
- ``random``: a seeded uniform draw without replacement.
"""
from __future__ import annotations

import numpy as np

from ..tools.checks import finite_array, positive_int
from .methods import METHODS


def _check(kernel, n_select: int) -> tuple[np.ndarray, int]:
    matrix = finite_array("kernel", kernel, ndim=2)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"kernel must be square, got shape {matrix.shape}")
    n_select = positive_int("n_select", n_select)
    if n_select > matrix.shape[0]:
        raise ValueError(f"cannot select {n_select} of {matrix.shape[0]} candidates")
    return matrix, n_select


def max_det(kernel, n_select: int) -> np.ndarray:
    """Greedy max-determinant batch (n_select,) by pivoted Cholesky on ``kernel`` (m, m)."""
    matrix, n_select = _check(kernel, n_select)
    residual = np.diag(matrix).copy()
    factors = np.zeros((n_select, matrix.shape[0]))
    chosen = []
    for step in range(n_select):
        masked = residual.copy()
        masked[chosen] = -np.inf
        pick = int(np.argmax(masked))
        chosen.append(pick)
        pivot = np.sqrt(max(residual[pick], 1e-300))
        factors[step] = (matrix[pick] - factors[:step, pick] @ factors[:step]) / pivot
        residual = residual - factors[step] ** 2
    return np.array(chosen, dtype=int)


def _distances(matrix: np.ndarray) -> np.ndarray:
    diag = np.diag(matrix)
    return np.sqrt(np.maximum(diag[:, None] + diag[None, :] - 2.0 * matrix, 0.0))


def max_dist(kernel, n_select: int) -> np.ndarray:
    """Greedy furthest-point batch (n_select,) in the kernel distance, starting from the training data."""
    matrix, n_select = _check(kernel, n_select)
    dist = _distances(matrix)
    nearest = np.sqrt(np.maximum(np.diag(matrix), 0.0))
    chosen = []
    for _ in range(n_select):
        masked = nearest.copy()
        masked[chosen] = -np.inf
        pick = int(np.argmax(masked))
        chosen.append(pick)
        nearest = np.minimum(nearest, dist[pick])
    return np.array(chosen, dtype=int)


def lcmd(kernel, n_select: int) -> np.ndarray:
    """Largest-cluster-maximum-distance batch (n_select,) in the kernel distance."""
    matrix, n_select = _check(kernel, n_select)
    dist = _distances(matrix)
    nearest = np.sqrt(np.maximum(np.diag(matrix), 0.0))
    owner = np.full(matrix.shape[0], -1)  # -1: the training data's cluster
    chosen = []
    for _ in range(n_select):
        candidates = np.setdiff1d(np.arange(matrix.shape[0]), chosen)
        labels = owner[candidates]
        sizes = {label: float(np.sum(nearest[candidates[labels == label]] ** 2)) for label in np.unique(labels)}
        largest = max(sizes, key=lambda label: (sizes[label], -label))
        members = candidates[labels == largest]
        pick = int(members[np.argmax(nearest[members])])
        chosen.append(pick)
        closer = dist[pick] < nearest
        owner[closer], nearest[closer] = pick, dist[pick][closer]
        owner[pick], nearest[pick] = pick, 0.0
    return np.array(chosen, dtype=int)


def random_batch(n_candidates: int, n_select: int, seed: int) -> np.ndarray:
    """A uniform draw of ``n_select`` of ``n_candidates`` indices without replacement (seeded)."""
    n_candidates = positive_int("n_candidates", n_candidates)
    n_select = positive_int("n_select", n_select)
    if n_select > n_candidates:
        raise ValueError(f"cannot select {n_select} of {n_candidates} candidates")
    return np.random.default_rng(seed).choice(n_candidates, size=n_select, replace=False)


def select_batch(method: str, features, posterior, n_select: int, seed: int = 0) -> np.ndarray:
    """Indices (n_select,) of candidate rows ``features`` (m, K) chosen by ``method`` under ``posterior``
    (a fitted :class:`~skmd.uncertainty.posterior.FeaturePosterior`)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    rows = np.atleast_2d(finite_array("features", features, ndim=(1, 2)))
    if method == "random":
        return random_batch(rows.shape[0], n_select, seed)
    kernel = posterior.kernel(rows)
    return {"max_det": max_det, "lcmd": lcmd, "max_dist": max_dist}[method](kernel, n_select)
