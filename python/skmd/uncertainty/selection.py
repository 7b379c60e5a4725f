"""Batch selection on gradient features (docs/method.md §9.5), next to
:func:`skmd.tools.selection.furthest_point_sampling`.

Every method except ``random`` works on a kernel matrix over the m candidates and its distance
d(a, b)² = k(a, a) + k(b, b) − 2 k(a, b), the Euclidean distance in the kernel's feature space.

- ``max_det``: greedy pivoted Cholesky on the posterior kernel k(a, b) = σ² φ̂_aᵀ(Φ̂ᵀΦ̂ + σ²I)⁻¹φ̂_b
  (:meth:`~skmd.uncertainty.posterior.FeaturePosterior.kernel`): each pick maximises det K[batch]
  given the earlier picks. The training data enter through the posterior.
- ``max_dist`` and ``lcmd`` work with centres: every training structure is a centre of its own, and so
  is every pick. With training features, :func:`select_batch` gives them the plain kernel φ̂_aᵀφ̂_b on
  the features scaled as in the posterior (φ̂ = φ / s), so their distances are ‖φ̂_a − φ̂_b‖.

  - ``max_dist``: each pick is the candidate whose distance to its nearest centre is largest.
  - ``lcmd`` (largest cluster, maximum distance): each candidate belongs to its nearest centre; take
    the cluster whose members have the largest sum of squared distances to its centre, and pick the
    member farthest from it.

  Without training points the only centre besides the picks is the origin of the kernel's feature
  space (distance sqrt(k(a, a))), so the first pick is the argmax of the kernel's diagonal; on the
  posterior kernel, where the training data sit near the origin, that is argmax u.
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


def _training_centres(matrix: np.ndarray, cross, train_diag) -> tuple[np.ndarray, np.ndarray]:
    """Distance (m,) of each candidate to its nearest centre before any pick, and that centre's label
    (m,): the training point's row in ``cross``, or -1 for the origin when there is no training point."""
    diag = np.diag(matrix)
    if cross is None and train_diag is None:
        return np.sqrt(np.maximum(diag, 0.0)), np.full(matrix.shape[0], -1)
    if cross is None or train_diag is None:
        raise ValueError("give both cross (m, n) and train_diag (n,) for training centres, or neither")
    cross = finite_array("cross", cross, ndim=2)
    train_diag = finite_array("train_diag", train_diag, ndim=1)
    if cross.shape != (matrix.shape[0], train_diag.shape[0]) or cross.shape[1] == 0:
        raise ValueError(f"cross must have shape (m, n) = ({matrix.shape[0]}, {train_diag.shape[0]}) "
                         f"with n >= 1, got {cross.shape}")
    squared = np.maximum(diag[:, None] + train_diag[None, :] - 2.0 * cross, 0.0)
    owner = np.argmin(squared, axis=1)
    return np.sqrt(squared[np.arange(matrix.shape[0]), owner]), owner


def max_dist(kernel, n_select: int, cross=None, train_diag=None) -> np.ndarray:
    """Greedy furthest-point batch (n_select,) in the kernel distance, the training points as centres.

    Args:
        kernel: (m, m) kernel of the candidates.
        n_select: how many to pick.
        cross: (m, n) kernel between the candidates and n training points, with ``train_diag`` (n,)
            their kernel with themselves. Without them the origin is the one centre besides the picks
            (the first pick is argmax of the diagonal).
    """
    matrix, n_select = _check(kernel, n_select)
    dist = _distances(matrix)
    nearest, _ = _training_centres(matrix, cross, train_diag)
    chosen = []
    for _ in range(n_select):
        masked = nearest.copy()
        masked[chosen] = -np.inf
        pick = int(np.argmax(masked))
        chosen.append(pick)
        nearest = np.minimum(nearest, dist[pick])
    return np.array(chosen, dtype=int)


def lcmd(kernel, n_select: int, cross=None, train_diag=None) -> np.ndarray:
    """Largest-cluster-maximum-distance batch (n_select,) in the kernel distance; arguments as
    :func:`max_dist`. Clusters are labelled by their centre: a training point's row in ``cross``
    (or -1 for the origin without training points), or n + the candidate index for a pick; ties
    go to the smaller label."""
    matrix, n_select = _check(kernel, n_select)
    dist = _distances(matrix)
    nearest, owner = _training_centres(matrix, cross, train_diag)
    offset = 0 if cross is None else np.shape(cross)[1]
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
        owner[closer], nearest[closer] = offset + pick, dist[pick][closer]
        owner[pick], nearest[pick] = offset + pick, 0.0
    return np.array(chosen, dtype=int)


def random_batch(n_candidates: int, n_select: int, seed: int) -> np.ndarray:
    """A uniform draw of ``n_select`` of ``n_candidates`` indices without replacement (seeded)."""
    n_candidates = positive_int("n_candidates", n_candidates)
    n_select = positive_int("n_select", n_select)
    if n_select > n_candidates:
        raise ValueError(f"cannot select {n_select} of {n_candidates} candidates")
    return np.random.default_rng(seed).choice(n_candidates, size=n_select, replace=False)


def _feature_kernels(rows: np.ndarray, train_features, scale: float) -> dict:
    """Plain kernels φ̂ᵀφ̂′ (φ̂ = φ / scale) of candidate rows (m, K) with themselves and the training rows."""
    train = np.atleast_2d(finite_array("train_features", train_features, ndim=(1, 2)))
    if train.shape[1] != rows.shape[1]:
        raise ValueError(f"train_features have {train.shape[1]} columns, the candidate features {rows.shape[1]}")
    candidates, train = rows / scale, train / scale
    return {"kernel": candidates @ candidates.T, "cross": candidates @ train.T,
            "train_diag": np.sum(train * train, axis=1)}


def select_batch(method: str, features, posterior, n_select: int, seed: int = 0,
                 train_features=None) -> np.ndarray:
    """Indices (n_select,) of candidate rows ``features`` (m, K) chosen by ``method``.

    ``posterior`` is a fitted :class:`~skmd.uncertainty.posterior.FeaturePosterior`; ``max_det``
    uses its kernel. ``train_features`` (n, K) are the training structures' features (the rows the
    posterior was fitted on): ``max_dist`` and ``lcmd`` then take each as a centre, in the plain kernel
    on features scaled by the posterior's scale s. Without them, ``max_dist`` and ``lcmd`` run on the
    posterior kernel with the origin as the training data's one centre (first pick argmax u).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    rows = np.atleast_2d(finite_array("features", features, ndim=(1, 2)))
    if method == "random":
        return random_batch(rows.shape[0], n_select, seed)
    if method == "max_det":
        return max_det(posterior.kernel(rows), n_select)
    chooser = {"lcmd": lcmd, "max_dist": max_dist}[method]
    if train_features is None:
        return chooser(posterior.kernel(rows), n_select)
    return chooser(**_feature_kernels(rows, train_features, posterior.scale), n_select=n_select)
