"""Gaussian kernel on global descriptors (method.md §1, paper eqs. 6–7)."""
from __future__ import annotations

import numpy as np

from ..tools.checks import finite_array, positive


#: The fidelity rule: amplitude per particle h/N at most this keeps an SKMD ensemble's variance within
#: about 5 % of Boltzmann (measured on Gaussians in 2 and 66 dimensions, benchmarks/gaussian_fidelity.py;
#: docs/method.md §2.1). Larger h/N over-disperses the ensemble: it explores, it no longer samples.
FIDELITY_AMPLITUDE_PER_PARTICLE = 0.1


def fidelity_amplitude(n_particles: int) -> float:
    """The largest amplitude h the fidelity rule allows for an ensemble of ``n_particles``: 0.1 · N."""
    if int(n_particles) != n_particles or n_particles < 2:
        raise ValueError(f"an SKMD ensemble needs an integer n_particles >= 2, got {n_particles!r}")
    return FIDELITY_AMPLITUDE_PER_PARTICLE * int(n_particles)


def kernel_regime(amplitude: float, n_particles: int) -> str:
    """SKMD's regime at kernel amplitude h for an ensemble of ``n_particles``: ``"boltzmann"`` where
    h ≤ :func:`fidelity_amplitude` (the ensemble samples its target within about 5 %), else ``"exploration"``
    (the kernel pushes particles apart: they reach unseen regions and over-disperse; for active learning)."""
    return "boltzmann" if amplitude <= fidelity_amplitude(n_particles) * (1 + 1e-9) else "exploration"


def regime_sentence(amplitude: float, n_particles: int, particles: str = "particles") -> str:
    """One sentence: which regime h puts SKMD in for ``n_particles``, and what that regime gives up."""
    h, n = amplitude, n_particles
    if kernel_regime(h, n) == "boltzmann":
        return (f"SKMD runs in the Boltzmann regime (h = {h:g}, h/N = {h / n:.3g} <= 0.1 at N = {n} {particles}): "
                "it samples its target closely and rarely leaves its starting basin.")
    return (f"SKMD runs in the exploration regime (h = {h:g}, h/N = {h / n:.3g} > 0.1 at N = {n} {particles}): the "
            "kernel pushes them apart, toward regions the model has not seen; the ensemble is no Boltzmann sample.")


def median_bandwidth(descriptors) -> float:
    """Median pairwise Euclidean distance between the rows of ``descriptors`` (N, M).

    This is the paper's bandwidth heuristic. Raises ValueError for fewer than two rows or
    when every pair coincides (the median would be 0).
    """
    d = finite_array("descriptors", descriptors, ndim=2)
    if d.shape[0] < 2:
        raise ValueError("the median bandwidth needs at least two descriptors")
    squared = np.sum((d[:, None, :] - d[None, :, :]) ** 2, axis=-1)
    upper = np.sqrt(squared[np.triu_indices(d.shape[0], k=1)])
    value = float(np.median(upper))
    if value <= 0.0:
        raise ValueError("the median pairwise distance is 0: all descriptors coincide")
    return value


class GaussianKernel:
    """k(x, y) = h · exp(−‖d(x) − d(y)‖² / (2ℓ²)).

    Args:
        amplitude: h ≥ 0 (energy-free scale; h = 0 switches the Stein force off).
        bandwidth: ℓ > 0 in descriptor units, or ``"median"`` to take the median pairwise
            distance of an ensemble (call :meth:`with_median_bandwidth` or let the sampler do it).
    """

    def __init__(self, amplitude: float, bandwidth="median"):
        self.amplitude = float(amplitude)
        if not np.isfinite(self.amplitude) or self.amplitude < 0:
            raise ValueError(f"amplitude must be finite and >= 0, got {amplitude!r}")
        if isinstance(bandwidth, str):
            if bandwidth != "median":
                raise ValueError(f"bandwidth must be a positive number or 'median', got {bandwidth!r}")
            self.bandwidth = "median"
        else:
            self.bandwidth = positive("bandwidth", bandwidth)

    @property
    def is_median(self) -> bool:
        return self.bandwidth == "median"

    def __repr__(self):
        return f"GaussianKernel(amplitude={self.amplitude}, bandwidth={self.bandwidth!r})"

    def with_median_bandwidth(self, descriptors) -> "GaussianKernel":
        """A copy with ℓ fixed to the median pairwise distance of ``descriptors`` (N, M)."""
        return GaussianKernel(self.amplitude, median_bandwidth(descriptors))

    def _fixed_bandwidth(self) -> float:
        if self.is_median:
            raise ValueError("this kernel has bandwidth='median'; fix it first with with_median_bandwidth(ensemble)")
        return self.bandwidth

    def value(self, d_y, d_x):
        """k(y, x) for descriptors d_y (..., M) and d_x (M,) → (...)."""
        ell = self._fixed_bandwidth()
        diff = np.asarray(d_y, float) - np.asarray(d_x, float)
        return self.amplitude * np.exp(-np.sum(diff**2, axis=-1) / (2.0 * ell**2))

    def gradient(self, d_y, d_x, jac_y=None):
        """∇_y k(y, x) = −(k/ℓ²) J(y)ᵀ (d(y) − d(x)).

        d_y (N, M), d_x (M,), jac_y (N, M, D) or None (identity, D = M) → (N, D).
        """
        ell = self._fixed_bandwidth()
        d_y = np.asarray(d_y, float)
        diff = d_y - np.asarray(d_x, float)
        k = self.amplitude * np.exp(-np.sum(diff**2, axis=-1) / (2.0 * ell**2))
        projected = diff if jac_y is None else np.einsum("nmd,nm->nd", np.asarray(jac_y, float), diff)
        return -(k / ell**2)[..., None] * projected
