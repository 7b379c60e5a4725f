"""Overdamped Langevin (Brownian) dynamics, Euler–Maruyama (paper eq. 2)."""
from __future__ import annotations

import numpy as np

from ..tools.checks import positive_int
from .base import STATUS_DIVERGED, Sampler, as_batch
from .rules import FixedSteps, Periodic, check_rule
from .skmd import _new_points


def _no_bias(chains):
    return {}


class OverdampedLangevin(Sampler):
    """x ← x + (dt/γ) α F(x) + sqrt(2 σ² dt/γ) ξ on one or more walkers.

    Args:
        potential: the potential.
        walkers: one start point (D,), walkers (N, D), or (B, N, D) for B independent trials.
        acquisition: :class:`Periodic` (points every ``interval`` steps along each walker's path)
            or :class:`FixedSteps` (walkers move in turn, like SKMD's schedule, and their end
            points are acquired). With the same noise stream and schedule, SKMD with amplitude 0
            reproduces this sampler step for step.
        Other arguments: see :class:`~skmd.md.base.Sampler`.
    """

    def __init__(self, potential, walkers, *, kT, dt, acquisition, gamma=1.0, alpha=1.0, sigma2=None,
                 noise=None, backend=None, bound=np.inf, max_restarts=3):
        raw = np.asarray(walkers, dtype=float)
        positions = as_batch("walkers", raw[None] if raw.ndim == 1 else raw, potential.dim, n_points_axis=True)
        check_rule(acquisition, (FixedSteps, Periodic))
        super().__init__(potential, kT=kT, dt=dt, gamma=gamma, alpha=alpha, sigma2=sigma2, noise=noise,
                         backend=backend, bound=bound, max_restarts=max_restarts, n_chains=positions.shape[0])
        self.walkers_batch = positions
        self.acquisition = acquisition
        self._squeeze = raw.ndim <= 2

    @property
    def walkers(self) -> np.ndarray:
        return self.walkers_batch[0] if self._squeeze else self.walkers_batch

    def run(self, iterations: int = 1):
        """Move every walker in turn ``iterations`` times; return the points acquired by this call."""
        positive_int("iterations", iterations)
        first = len(self.acquired)
        event = 0
        for _ in range(iterations):
            for walker in range(self.walkers_batch.shape[1]):
                self.move_walker(walker)
                event += 1
                self.call_observers(event)
            self.iteration += 1
        return _new_points(self, first)

    def move_walker(self, walker: int) -> dict:
        """Move one walker of every chain under the acquisition rule and record its points."""
        result = self._segment(self.walkers_batch[:, walker].copy(), self.acquisition, _no_bias)
        good = result["status"] != STATUS_DIVERGED
        self.walkers_batch[good, walker] = result["x_end"][good]
        if isinstance(self.acquisition, FixedSteps):
            chains = np.flatnonzero(good)
            self.acquired.add(result["x_end"][chains], chains, self.iteration, walker, result["steps"][chains])
        else:
            record_path_points(self, result, walker)
        return result


def record_path_points(sampler, result, particle: int) -> None:
    """Add the points a path rule recorded for each chain to ``sampler.acquired``."""
    for chain, records in enumerate(result["acquired"]):
        if records:
            sampler.acquired.add(np.array([p for p, _ in records]), chain, sampler.iteration, particle,
                                 np.array([s for _, s in records]))
