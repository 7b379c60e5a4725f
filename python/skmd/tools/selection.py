"""Offline selection: greedy furthest-point sampling (method.md §3, paper Alg. 3)."""
from __future__ import annotations

import numpy as np

from .checks import finite_array, positive_int


def furthest_point_sampling(candidates, n_select: int, existing=None, normalize: bool = True) -> np.ndarray:
    """Greedy furthest-point selection of ``n_select`` rows of ``candidates`` (n, M).

    The min-distance field starts from ALL ``existing`` descriptors (m, M) when given
    (previously selected data); otherwise the first pick is the candidate furthest from the
    candidates' mean. With ``normalize`` every descriptor is scaled to unit L2 norm first.
    Returns the selected row indices in order of selection, shape (n_select,).
    """
    cand = finite_array("candidates", candidates, ndim=2)
    n_select = positive_int("n_select", n_select)
    if n_select > cand.shape[0]:
        raise ValueError(f"cannot select {n_select} of {cand.shape[0]} candidates")
    prior = None if existing is None or len(existing) == 0 else finite_array("existing", existing, ndim=2)
    if prior is not None and prior.shape[1] != cand.shape[1]:
        raise ValueError(f"shape mismatch: candidates {cand.shape}, existing {prior.shape}")
    if normalize:
        cand = cand / np.maximum(np.linalg.norm(cand, axis=1, keepdims=True), 1e-300)
        if prior is not None:
            prior = prior / np.maximum(np.linalg.norm(prior, axis=1, keepdims=True), 1e-300)
    if prior is not None:
        min_dist = np.min(np.linalg.norm(cand[:, None, :] - prior[None, :, :], axis=-1), axis=1)
    else:
        min_dist = np.linalg.norm(cand - cand.mean(axis=0), axis=1)
    chosen = []
    for _ in range(n_select):
        pick = int(np.argmax(min_dist))
        chosen.append(pick)
        min_dist = np.minimum(min_dist, np.linalg.norm(cand - cand[pick], axis=1))
        min_dist[chosen] = -np.inf
    return np.array(chosen, dtype=int)
