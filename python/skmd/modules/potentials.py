"""Potentials: energy U (n,) and forces F = −∇U (n, D) at configurations x (n, D).

Every potential offers ``energy``, ``forces``, ``energy_forces`` and, for the samplers,
``evaluate_batch(x (B, D)) → (energies (B, K), forces (B, K, D))`` where chain b may use its own
model and K > 1 is a committee. Analytic potentials also return ``spec()``, a plain-array
description that both backends (NumPy and Julia) evaluate in their inner loops.
"""
from __future__ import annotations

import numpy as np

from ..backends import numpy_backend
from ..tools.checks import finite_array, non_negative

# Müller–Brown constants (method.md §6).
MB_A = np.array([-200.0, -100.0, -170.0, 15.0])
MB_a = np.array([-1.0, -1.0, -6.5, 0.7])
MB_b = np.array([0.0, 0.0, 11.0, 0.6])
MB_c = np.array([-10.0, -10.0, -6.5, 0.7])
MB_X0 = np.array([1.0, 0.0, -0.5, -1.0])
MB_Y0 = np.array([0.0, 0.5, 1.5, 1.0])


class Potential:
    """Base class. Subclasses implement ``evaluate_batch`` or ``spec``."""

    dim: int = 2

    def spec(self, n_chains: int | None = None):
        """(kind, params) for the backends' inner loops, or None for Python-only potentials."""
        return None

    def evaluate_batch(self, x):
        spec = self.spec(n_chains=len(x))
        if spec is None:
            raise NotImplementedError
        return numpy_backend.evaluate_spec(spec, np.asarray(x, float))

    def energy_forces(self, x):
        """x (n, D) or (D,) → (energy (n,), forces (n, D)); committee mean for K > 1."""
        x = np.asarray(x, float)
        single = x.ndim == 1
        points = np.atleast_2d(x)
        if points.shape[-1] != self.dim:
            raise ValueError(f"positions must have {self.dim} columns, got shape {x.shape}")
        energies, forces = self.evaluate_batch(points)
        energy, force = energies.mean(axis=1), forces.mean(axis=1)
        return (energy[0], force[0]) if single else (energy, force)

    def energy(self, x):
        return self.energy_forces(x)[0]

    def forces(self, x):
        return self.energy_forces(x)[1]


class MuellerBrown(Potential):
    """The Müller–Brown surface V(x, y) = Σ_k A_k exp[a_k (x−x0_k)² + b_k (x−x0_k)(y−y0_k) + c_k (y−y0_k)²].

    Energies in the surface's own units, lengths in its x–y units. Minima near
    (−0.558, 1.442), (0.623, 0.028) and (−0.050, 0.467). The surface is not confining.
    """

    dim = 2
    minima = np.array([[-0.558224, 1.441726], [0.623499, 0.028038], [-0.050011, 0.466694]])

    def spec(self, n_chains=None):
        return ("mueller_brown", {"A": MB_A, "a": MB_a, "b": MB_b, "c": MB_c, "x0": MB_X0, "y0": MB_Y0})


class Quadratic(Potential):
    """U(x) = ½ (x − μ)ᵀ P (x − μ): the Boltzmann distribution at kT is N(μ, kT P⁻¹).

    Args:
        mean: μ, shape (D,). precision: P, symmetric positive definite (D, D).
    """

    def __init__(self, mean, precision):
        self.mean = finite_array("mean", mean, ndim=1)
        self.precision = finite_array("precision", precision, ndim=2)
        if self.precision.shape != (self.mean.size, self.mean.size):
            raise ValueError(f"precision must have shape {(self.mean.size,) * 2}, got {self.precision.shape}")
        if not np.allclose(self.precision, self.precision.T) or np.linalg.eigvalsh(self.precision).min() <= 0:
            raise ValueError("precision must be symmetric positive definite")
        self.dim = self.mean.size

    def spec(self, n_chains=None):
        return ("quadratic", {"mu": self.mean, "precision": self.precision})

    def sample(self, n: int, kT: float, rng) -> np.ndarray:
        """Exact Boltzmann samples at kT, shape (n, D)."""
        covariance = kT * np.linalg.inv(self.precision)
        return np.random.default_rng(rng).multivariate_normal(self.mean, covariance, size=n)


class MLPPotential(Potential):
    """Tanh MLP D → H → 1 plus a confining quartic λ‖x − c‖⁴, with analytic forces.

    Weights may carry leading axes for independent chains B and committee members K:
    W1 (B, K, H, D), b1 (B, K, H), w2 (B, K, H), b2 (B, K). A single model is W1 (H, D),
    b1 (H,), w2 (H,), b2 scalar. Chain b of a sampler uses model set b (B = 1 is shared).
    """

    def __init__(self, W1, b1, w2, b2, lam: float = 0.0, center=None):
        W1 = np.asarray(W1, float)
        extra = 4 - W1.ndim
        if extra < 0:
            raise ValueError(f"W1 must have 2 to 4 dimensions, got shape {W1.shape}")
        lead = (1,) * extra
        self.W1 = W1.reshape(lead + W1.shape)
        batch, models, hidden, dim = self.W1.shape
        self.b1 = np.asarray(b1, float).reshape(batch, models, hidden)
        self.w2 = np.asarray(w2, float).reshape(batch, models, hidden)
        self.b2 = np.asarray(b2, float).reshape(batch, models)
        self.lam = non_negative("lam", lam)
        self.center = np.zeros(dim) if center is None else finite_array("center", center, ndim=1)
        self.dim = dim
        for name in ("W1", "b1", "w2", "b2"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"MLP weights {name} contain NaN or infinite values")

    @property
    def n_chains(self) -> int:
        return self.W1.shape[0]

    @property
    def n_models(self) -> int:
        return self.W1.shape[1]

    def spec(self, n_chains=None):
        n = self.n_chains if n_chains is None else n_chains
        if self.n_chains not in (1, n):
            raise ValueError(f"this MLP holds {self.n_chains} model sets but {n} chains were asked for")
        reps = n if self.n_chains == 1 else 1
        tile = lambda a: np.repeat(a, reps, axis=0)  # noqa: E731
        return ("mlp", {"W1": tile(self.W1), "b1": tile(self.b1), "w2": tile(self.w2), "b2": tile(self.b2),
                        "lam": self.lam, "center": self.center})

    def member(self, chain: int) -> "MLPPotential":
        """The committee (or model) of one chain as its own potential."""
        return MLPPotential(self.W1[chain], self.b1[chain], self.w2[chain], self.b2[chain], self.lam, self.center)

    def energy_forces(self, x):
        if self.n_chains != 1:
            raise ValueError("energy/forces of a multi-chain MLP are ambiguous; use member(b) first")
        return super().energy_forces(x)


class FunctionPotential(Potential):
    """Wrap a Python function ``energy_forces(x (n, D)) → (E (n,), F (n, D))``.

    Runs in the NumPy loop on every backend.
    """

    def __init__(self, energy_forces, dim: int):
        self._fn = energy_forces
        self.dim = int(dim)

    def evaluate_batch(self, x):
        energy, forces = self._fn(np.asarray(x, float))
        return np.asarray(energy, float)[:, None], np.asarray(forces, float)[:, None, :]
