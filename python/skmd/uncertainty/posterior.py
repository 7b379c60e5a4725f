"""Gaussian-process posterior variance on (sketched gradient) features (docs/method.md §9).

With training features Φ (S, K) rescaled by c = sqrt(mean_s ‖φ_s‖²) and noise σ,

    u²(φ) = σ² φ̂ᵀ (Φ̂ᵀΦ̂ + σ² I)⁻¹ φ̂,      φ̂ = φ / c,

the posterior variance of a Bayesian linear model on the features, in units of the prior
variance. The posterior keeps the raw Gram matrix ΦᵀΦ (K, K) and the sum of squared norms, so
adding structures is a rank update followed by one Cholesky factorisation; no inverse is formed.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import solve_triangular

from ..tools.checks import finite_array, positive


class FeaturePosterior:
    """Posterior variance over features of dimension K.

    Args:
        sigma: σ, the noise of the posterior (default 0.01); dimensionless, like the rescaled features.

    Use :meth:`add` with training features (S, K) (any number of times), then :meth:`variance`.
    """

    def __init__(self, sigma: float = 0.01):
        self.sigma = positive("sigma", sigma)
        self.gram = None
        self.sum_sq = 0.0
        self.count = 0
        self._chol = None
        self._chol_torch = None

    @property
    def n_features(self) -> int | None:
        """K, or ``None`` before the first :meth:`add`."""
        return None if self.gram is None else self.gram.shape[0]

    @property
    def scale(self) -> float:
        """c = sqrt(mean over training rows of ‖φ‖²)."""
        if self.count == 0:
            raise ValueError("the posterior has no training features yet; call add() first")
        return float(np.sqrt(self.sum_sq / self.count))

    def add(self, features) -> "FeaturePosterior":
        """Add training rows ``features`` (S, K) and refactorise; returns ``self``."""
        phi = finite_array("features", features, ndim=2)
        if self.gram is not None and phi.shape[1] != self.gram.shape[0]:
            raise ValueError(f"features have {phi.shape[1]} columns, the posterior has {self.gram.shape[0]}")
        self.gram = phi.T @ phi if self.gram is None else self.gram + phi.T @ phi
        self.sum_sq += float(np.sum(phi * phi))
        self.count += phi.shape[0]
        if self.sum_sq <= 0.0:
            raise ValueError("training features are all zero; the rescaling is undefined")
        system = self.gram / self.scale ** 2 + self.sigma ** 2 * np.eye(self.gram.shape[0])
        self._chol = np.linalg.cholesky(system)
        self._chol_torch = torch.from_numpy(self._chol)
        return self

    def _check(self, n_columns: int) -> None:
        if self._chol is None:
            raise ValueError("the posterior has no training features yet; call add() first")
        if n_columns != self._chol.shape[0]:
            raise ValueError(f"features have {n_columns} columns, the posterior has {self._chol.shape[0]}")

    def _whiten(self, features) -> np.ndarray:
        """L⁻¹ φ̂ᵀ (K, m) for rows (m, K), L the Cholesky factor of Φ̂ᵀΦ̂ + σ²I."""
        phi = np.atleast_2d(finite_array("features", features, ndim=(1, 2)))
        self._check(phi.shape[1])
        return solve_triangular(self._chol, (phi / self.scale).T, lower=True)

    def variance(self, features) -> np.ndarray:
        """u² (m,) of feature rows (m, K) (or a single (K,) row → shape (1,))."""
        whitened = self._whiten(features)
        return self.sigma ** 2 * np.sum(whitened * whitened, axis=0)

    def variance_torch(self, features: torch.Tensor) -> torch.Tensor:
        """u² (m,) of feature rows (m, K) as a differentiable torch expression."""
        phi = torch.atleast_2d(features)
        self._check(phi.shape[1])
        whitened = torch.linalg.solve_triangular(self._chol_torch, (phi / self.scale).T, upper=False)
        return self.sigma ** 2 * (whitened * whitened).sum(dim=0)

    def kernel(self, features) -> np.ndarray:
        """Posterior covariance σ² φ̂_aᵀ (Φ̂ᵀΦ̂ + σ²I)⁻¹ φ̂_b between rows (m, K): an (m, m) matrix."""
        whitened = self._whiten(features)
        return self.sigma ** 2 * whitened.T @ whitened
