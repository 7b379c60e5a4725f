"""Uncertainty-driven dynamics, UDD (Kulichenko et al. 2023; method.md §4)."""
from __future__ import annotations

import numpy as np

from ..backends.numpy_backend import committee_forces
from ..modules.potentials import MLPPotential
from ..tools.checks import non_negative, positive, positive_int
from .base import STATUS_DIVERGED, Sampler, as_batch
from .rules import UncertaintyThreshold, check_rule
from .langevin import record_path_points
from .skmd import _new_points


def udd_bias(energies, forces, A: float, B: float, n_atoms: int = 1):
    """UDD bias energy and force of a committee.

    energies (K,) or (n, K), forces (K, D) or (n, K, D) →
    dict with energy (Ē + E_bias), force (F̄ + F_bias), rho, bias_energy (scalars or (n,)).
    E_bias = A [exp(−σ_E²/(K N_A B²)) − 1], σ_E² = ½ Σ_k (E_k − Ē)², rho = sqrt(2/(K N_A)) σ_E.
    """
    energies = np.asarray(energies, float)
    forces = np.asarray(forces, float)
    single = energies.ndim == 1
    e, f = np.atleast_2d(energies), forces[None] if single else forces
    n = e.shape[0]
    energy, force, rho, bias = committee_forces(e, f, np.full(n, float(A)), np.full(n, float(B)), int(n_atoms))
    out = {"energy": energy, "force": force, "rho": rho, "bias_energy": bias}
    return {k: v[0] for k, v in out.items()} if single else out


class UDD(Sampler):
    """Overdamped dynamics on the committee mean plus the UDD bias, with threshold acquisition.

    Args:
        committee: :class:`MLPPotential` with K ≥ 2 members (weights (K, H, D) or (B, K, H, D)).
        start: start point (D,) or one per chain (B, D).
        A: bias height (energy units, ~5× the barrier in the original paper). B: bias width
            (energy units). n_atoms: N_A (1 in 2D).
        acquisition: :class:`UncertaintyThreshold`.
        Other arguments: see :class:`~skmd.md.base.Sampler`.
    """

    def __init__(self, committee, start, *, kT, dt, A, B, acquisition, n_atoms=1, gamma=1.0, alpha=1.0,
                 sigma2=None, noise=None, backend=None, bound=np.inf, max_restarts=3):
        if not isinstance(committee, MLPPotential) or committee.n_models < 2:
            raise ValueError("UDD needs an MLPPotential committee with at least 2 members")
        positions = as_batch("start", start, committee.dim, n_points_axis=False)
        check_rule(acquisition, (UncertaintyThreshold,))
        super().__init__(committee, kT=kT, dt=dt, gamma=gamma, alpha=alpha, sigma2=sigma2, noise=noise,
                         backend=backend, bound=bound, max_restarts=max_restarts, n_chains=positions.shape[0])
        self.A = non_negative("A", A)
        self.B = positive("B", B)
        self.n_atoms = positive_int("n_atoms", n_atoms)
        self.acquisition = acquisition
        self.position_batch = positions
        self._squeeze = np.asarray(start).ndim == 1

    @property
    def position(self):
        return self.position_batch[0] if self._squeeze else self.position_batch

    def _bias_args(self, chains):
        n = len(chains)
        return {"udd_a": np.full(n, self.A), "udd_b": np.full(n, self.B), "udd_atoms": self.n_atoms}

    def run(self, iterations: int = 1):
        """Run ``iterations`` acquisition rounds (each until n_points records or max_steps)."""
        positive_int("iterations", iterations)
        first = len(self.acquired)
        for event in range(1, iterations + 1):
            result = self._segment(self.position_batch.copy(), self.acquisition, self._bias_args)
            good = result["status"] != STATUS_DIVERGED
            self.position_batch[good] = result["x_end"][good]
            record_path_points(self, result, 0)
            self.iteration += 1
            self.call_observers(event)
        return _new_points(self, first)
