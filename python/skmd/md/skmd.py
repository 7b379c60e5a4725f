"""Stein kernelized molecular dynamics (method.md §2–3; paper Algorithms 1–2)."""
from __future__ import annotations

import numpy as np

from ..modules.descriptors import IdentityDescriptor
from ..modules.kernels import GaussianKernel, median_bandwidth
from ..modules.schedules import KernelSchedule
from ..tools.checks import positive_int
from .base import STATUS_DIVERGED, Sampler, _subset_potential, as_batch
from .rules import AdaptiveStop, FixedSteps, check_rule


class SKMD(Sampler):
    """Asynchronous stochastic SVGD as overdamped dynamics on an ensemble of N particles.

    Particle i moves while the other N − 1 are frozen:

        x ← x + (dt/γ) [α F(x) + b(x)] + sqrt(2 σ² dt/γ) ξ,
        b(x) = (1/N) Σ_{j≠i} [k(x_j, x) F(x_j) + kT ∇_{x_j} k(x_j, x)].

    After ``stopping.steps`` steps (:class:`FixedSteps`) or at the adaptive stop
    (:class:`AdaptiveStop`, a-SKMD) its end point replaces x_i and is acquired, and the next
    particle moves. One pass over the ensemble is one iteration. Frozen members' forces,
    descriptors and Jacobians are computed once, when they are frozen.

    Args:
        potential: the potential (energy units, length units of x).
        ensemble: initial particles, (N, D), or (B, N, D) for B independent trials.
        kernel: :class:`GaussianKernel`, or a :class:`~skmd.modules.schedules.KernelSchedule`
            (indexed by iteration) for h and ℓ that change over the run. A numeric bandwidth is
            fixed; ``"median"`` is re-evaluated on the ensemble descriptors at the start of every
            iteration (``bandwidth_schedule="iteration"``) or once from the initial ensemble
            (``"initial"``; the paper's 2D setting, needed by the adaptive stop).
        stopping: :class:`FixedSteps` or :class:`AdaptiveStop`.
        descriptor: descriptor map with ``compute``/``jacobian`` (default identity).
        Other arguments: see :class:`~skmd.md.base.Sampler`.
    """

    def __init__(self, potential, ensemble, *, kernel: GaussianKernel, kT, dt, stopping,
                 gamma=1.0, alpha=1.0, sigma2=None, noise=None, descriptor=None, backend=None,
                 bound=np.inf, max_restarts=3, bandwidth_schedule="iteration"):
        positions = as_batch("ensemble", ensemble, potential.dim, n_points_axis=True)
        if positions.shape[1] < 1:
            raise ValueError("the ensemble is empty")
        if isinstance(kernel, GaussianKernel):
            kernel = KernelSchedule(kernel)
        if not isinstance(kernel, KernelSchedule):
            raise ValueError(f"kernel must be a GaussianKernel or a KernelSchedule, got {type(kernel).__name__}")
        check_rule(stopping, (FixedSteps, AdaptiveStop))
        if bandwidth_schedule not in ("iteration", "initial"):
            raise ValueError(f"bandwidth_schedule must be 'iteration' or 'initial', got {bandwidth_schedule!r}")
        super().__init__(potential, kT=kT, dt=dt, gamma=gamma, alpha=alpha, sigma2=sigma2, noise=noise,
                         backend=backend, bound=bound, max_restarts=max_restarts, n_chains=positions.shape[0])
        self.ensemble_batch = positions
        self.schedule = kernel
        self.kernel = kernel.kernel
        self.stopping = stopping
        self.descriptor = descriptor or IdentityDescriptor()
        self.bandwidth_schedule = bandwidth_schedule
        self._squeeze = np.asarray(ensemble).ndim == 2
        self._freeze_all()
        self._fixed_bandwidth = None
        if self.kernel.is_median and bandwidth_schedule == "initial":
            self._fixed_bandwidth = self._median_bandwidths()

    # ------------------------------------------------------------------ frozen state
    @property
    def ensemble(self) -> np.ndarray:
        """Current particles, (N, D) (or (B, N, D) for a batch)."""
        return self.ensemble_batch[0] if self._squeeze else self.ensemble_batch

    def _freeze_all(self):
        B, N, D = self.ensemble_batch.shape
        flat = self.ensemble_batch.reshape(B * N, D)
        forces = np.stack([self.backend.evaluate(self.potential, self.ensemble_batch[:, j])[1].mean(axis=1)
                           for j in range(N)], axis=1)
        self.frozen_forces = forces
        if getattr(self.descriptor, "is_identity", False):
            self.frozen_desc, self.frozen_jac = self.ensemble_batch.copy(), None
        else:
            self.frozen_desc = self.descriptor.compute(flat).reshape(B, N, -1)
            self.frozen_jac = self.descriptor.jacobian(flat).reshape(B, N, self.frozen_desc.shape[-1], D)
        if not (np.all(np.isfinite(forces)) and np.all(np.isfinite(self.frozen_desc))):
            raise ValueError("the potential or descriptor is not finite at some ensemble member")

    def _potential_changed(self):
        self._freeze_all()

    def _freeze(self, particle, chains):
        x = self.ensemble_batch[chains, particle]
        self.frozen_forces[chains, particle] = self.backend.evaluate(
            _subset_potential(self.potential, chains), x)[1].mean(axis=1)
        if self.frozen_jac is None:
            self.frozen_desc[chains, particle] = x
        else:
            self.frozen_desc[chains, particle] = self.descriptor.compute(x)
            self.frozen_jac[chains, particle] = self.descriptor.jacobian(x)

    def _median_bandwidths(self):
        return np.array([median_bandwidth(d) for d in self.frozen_desc])

    def _kernel_parameters(self):
        """(h, ℓ) of every chain at the current iteration, each (B,)."""
        fixed = self._fixed_bandwidth
        pairs = [self.schedule.parameters(self.iteration, self.frozen_desc[b], key=b,
                                          bandwidth=None if fixed is None else fixed[b])
                 for b in range(self.n_chains)]
        return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])

    # ------------------------------------------------------------------ dynamics
    def _bias_args(self, particle, amplitude, bandwidth):
        others = np.delete(np.arange(self.ensemble_batch.shape[1]), particle)
        size = float(self.ensemble_batch.shape[1])

        def args(chains):
            descriptor = None if self.frozen_jac is None else self.descriptor.compute
            return {"ens_d": self.frozen_desc[chains][:, others],
                    "ens_f": self.frozen_forces[chains][:, others],
                    "ens_jac": None if self.frozen_jac is None else self.frozen_jac[chains][:, others],
                    "descriptor": descriptor,
                    "amplitude": amplitude[chains], "bandwidth": bandwidth[chains],
                    "normalization": np.full(len(chains), size)}
        return args

    def move_particle(self, particle: int, amplitude=None, bandwidth=None) -> dict:
        """Move particle ``particle`` of every chain with the others frozen; acquire its end point."""
        if amplitude is None:
            amplitude, bandwidth = self._kernel_parameters()
        start = self.ensemble_batch[:, particle].copy()
        result = self._segment(start, self.stopping, self._bias_args(particle, amplitude, bandwidth))
        good = result["status"] != STATUS_DIVERGED
        self.ensemble_batch[good, particle] = result["x_end"][good]
        chains = np.flatnonzero(good)
        if chains.size:
            self._freeze(particle, chains)
        self.acquired.add(result["x_end"][chains], chains, self.iteration, particle, result["steps"][chains])
        return result

    def run(self, iterations: int = 1):
        """Run ``iterations`` passes over all particles; return the points acquired by this call.

        Returns (n, D) for a single ensemble, else a list of (n_b, D) per chain.
        """
        positive_int("iterations", iterations)
        first = len(self.acquired)
        event = 0
        for _ in range(iterations):
            amplitude, bandwidth = self._kernel_parameters()
            for particle in range(self.ensemble_batch.shape[1]):
                self.move_particle(particle, amplitude, bandwidth)
                event += 1
                self.call_observers(event)
            self.iteration += 1
        return _new_points(self, first)


def _new_points(sampler, first: int):
    points, chains = sampler.acquired.since(first)
    points = points.reshape(-1, sampler.potential.dim)
    if sampler.n_chains == 1 and getattr(sampler, "_squeeze", True):
        return points
    return [points[chains == b] for b in range(sampler.n_chains)]
