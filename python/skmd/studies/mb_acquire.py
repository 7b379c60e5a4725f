"""The samplers of ``skmd mb-al`` (:mod:`skmd.studies.mb_al`): one :class:`Acquirer` runs one sampler for
every trial of the study, one acquisition round (``per_iteration`` points per trial) at a time, on the
current models; positions, the SKMD ensemble and UDD's committee carry over between rounds."""
from __future__ import annotations

import numpy as np

from .. import (AdaptiveStop, FixedSteps, GaussianKernel, NoiseStream, OverdampedLangevin, Periodic, SKMD, UDD,
                UncertaintyThreshold)


class Acquirer:
    """Runs one sampler for all trials, one acquisition round at a time. ``config``: the study's
    :class:`~skmd.studies.mb_al.ALConfig`; ``initial_points`` (trials, n_initial, 2); ``trainer``: the study's
    :class:`~skmd.studies.mb_al.Trainer` (UDD trains its committee with it)."""

    def __init__(self, name, config, initial_points, trainer, noise_seed):
        self.name, self.config, self.trainer = name, config, trainer
        self.noise = NoiseStream(noise_seed, dim=2, chains=len(initial_points))
        self.position = initial_points[:, :1].copy()
        self.initial = initial_points
        self.sampler = None
        self.committee_models = None
        self.committee_rngs = [np.random.default_rng([config.seed, 7, b]) for b in range(len(initial_points))]
        self.snapshot = None

    def common(self):
        c = self.config
        return dict(kT=c.kT, dt=c.dt, gamma=c.gamma, noise=self.noise, backend=c.backend, bound=c.bound)

    def acquire(self, model, datasets):
        c = self.config
        if self.name == "langevin":
            sampler = OverdampedLangevin(model, self.position, acquisition=Periodic(c.period, c.per_iteration),
                                         **self.common())
            points = sampler.run(1)
            self.position = sampler.walkers_batch.copy()
            return points
        if self.name in ("skmd", "a-skmd"):
            if self.sampler is None:
                stopping = (FixedSteps(c.period) if self.name == "skmd"
                            else AdaptiveStop(tau=c.tau, t_min=c.t_min, t_max=c.t_max))
                self.sampler = SKMD(model, self.initial.copy(), kernel=GaussianKernel(c.amplitude, "median"),
                                    stopping=stopping, bandwidth_schedule="initial", **self.common())
            else:
                self.sampler.update_potential(model)
            self.snapshot = {"ensemble": self.sampler.ensemble_batch[0].copy(),
                             "bandwidth": float(self.sampler._fixed_bandwidth[0]), "model": model.member(0)}
            return self.sampler.run(1)
        committee, self.committee_models = self.trainer.committee(datasets, self.committee_rngs,
                                                                  init=self.committee_models)
        sampler = UDD(committee, self.position[:, 0], A=c.udd_A, B=c.udd_B,
                      acquisition=_udd_rule(c), **self.common())
        points = sampler.run(1)
        self.position = sampler.position_batch[:, None].copy()
        self.snapshot = {"committee": committee.member(0)}
        return points


def _udd_rule(c):
    return UncertaintyThreshold(threshold=c.udd_threshold, n_points=c.per_iteration,
                                max_steps=c.udd_max_steps, min_gap=c.udd_min_gap)
