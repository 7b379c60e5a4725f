"""Inductive conformal calibration of uncertainties (docs/method.md §9).

On a validation split with residuals r_j and raw uncertainties u_j the scores are s_j = |r_j| / u_j;
the scale is their ⌈(n+1)(1−α)⌉/n empirical quantile, i.e. the ⌈(n+1)(1−α)⌉-th smallest score.
For exchangeable data, a new |r| ≤ scale·u with probability ≥ 1 − α. Residuals are the per-atom
energy error |ΔE|/N (eV/atom) for structure uncertainties and the per-atom force RMSE over the three
components (eV/Å) for atomic ones, so calibrated u carries those units.
"""
from __future__ import annotations

import math

import numpy as np

from ..tools.checks import finite_array

DEFAULT_ALPHA = 0.05


def _check_alpha(alpha) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    return alpha


def _scores(residuals, uncertainties) -> np.ndarray:
    res = np.abs(finite_array("residuals", residuals, ndim=1))
    unc = finite_array("uncertainties", uncertainties, ndim=1)
    if res.shape != unc.shape:
        raise ValueError(f"shape mismatch: residuals {res.shape}, uncertainties {unc.shape}")
    if np.any(unc <= 0.0):
        raise ValueError("uncertainties must be > 0")
    return res / unc


def conformal_scale(residuals, uncertainties, alpha: float = DEFAULT_ALPHA) -> float:
    """The conformal scale c from validation residuals (n,) and raw uncertainties (n,).

    Raises ``ValueError`` when n is too small for the level (⌈(n+1)(1−α)⌉ > n).
    """
    alpha = _check_alpha(alpha)
    scores = np.sort(_scores(residuals, uncertainties))
    rank = math.ceil((scores.size + 1) * (1.0 - alpha))
    if rank > scores.size:
        raise ValueError(f"{scores.size} validation points are too few for alpha={alpha} "
                         f"(need at least {math.ceil(1.0 / alpha) - 1})")
    return float(scores[rank - 1])


def coverage(residuals, uncertainties, scale: float) -> float:
    """Fraction of held-out points with |r| ≤ scale · u."""
    return float(np.mean(_scores(residuals, uncertainties) <= float(scale)))


def energy_residuals(predicted, reference, n_atoms) -> np.ndarray:
    """|ΔE|/N (S,) in eV/atom from predicted and reference energies (S,) and atom counts (S,)."""
    pred, ref = finite_array("predicted", predicted, ndim=1), finite_array("reference", reference, ndim=1)
    return np.abs(pred - ref) / np.asarray(n_atoms, float)


def force_residuals(predicted, reference) -> np.ndarray:
    """Per-atom force RMSE over the three components (n,) in eV/Å from forces (n, 3)."""
    diff = finite_array("predicted", predicted, ndim=2) - finite_array("reference", reference, ndim=2)
    return np.sqrt(np.mean(diff * diff, axis=1))
