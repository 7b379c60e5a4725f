"""``skmd mb-w2``: Boltzmann fidelity of SKMD against overdamped Langevin (paper §B.1, Fig. 4).

Per trial: N particles start in the metastable basin B; SKMD with stopping time T ∈ {1, 10,
100, 1000} and overdamped Langevin take the same total number of steps on the exact surface,
reading the same noise stream (one Brownian realization per trial). Every ``eval_every``
total steps the exact W2 distance between the ensemble and a fixed set of N exact Boltzmann
samples of that trial is recorded.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np

from .. import FixedSteps, GaussianKernel, MuellerBrown, NoiseStream, OverdampedLangevin, SKMD
from ..modules.kernels import fidelity_amplitude
from ..backends import get_backend
from ..tools.checks import positive, positive_int
from ..tools.progress import progress
from . import mueller_brown as mbs
from .plots import W2_FIGURE, w2_figure
from ..tools.rundir import check_config, make_run_directory


@dataclass
class W2Config:
    """All parameters (Müller–Brown units). total_steps and eval_every must be multiples of
    N × T for every T and of N × langevin_steps."""

    trials: int = 100
    n_particles: int = 32
    stopping_times: tuple = (1, 10, 100, 1000)
    langevin_steps: int = 100
    total_steps: int = 32000
    eval_every: int = 4000
    kT: float = 4.0
    dt: float = 1e-4
    gamma: float = 1.0
    amplitude: float = fidelity_amplitude(32)   # 3.2, the fidelity rule's largest h for 32 particles
    bound: float = 2.5
    seed: int = 0
    backend: str = "auto"

    def validate(self):
        for name in ("trials", "n_particles", "langevin_steps", "total_steps", "eval_every"):
            positive_int(name, getattr(self, name))
        for name in ("kT", "dt", "gamma", "amplitude", "bound"):
            positive(name, getattr(self, name))
        if self.n_particles < 2:
            raise ValueError("the W2 study needs at least 2 particles")
        for T in tuple(self.stopping_times) + (self.langevin_steps,):
            positive_int("stopping time", T)
            if self.eval_every % T or self.total_steps % self.eval_every:
                raise ValueError(f"eval_every ({self.eval_every}) must be a multiple of every stopping time ({T}) "
                                 f"and divide total_steps ({self.total_steps})")
        return self


QUICK = dict(trials=10, total_steps=8000, eval_every=2000)


def _track(move, n_particles, steps_per_move, config, ensemble_of, reference, backend):
    """Run moves in round-robin order; return W2 (trials, evaluations) including step 0."""
    w2 = [[backend.w2(e, r) for e, r in zip(ensemble_of(), reference)]]
    done, particle = 0, 0
    while done < config.total_steps:
        move(particle)
        particle = (particle + 1) % n_particles
        done += steps_per_move
        if done % config.eval_every == 0:
            w2.append([backend.w2(e, r) for e, r in zip(ensemble_of(), reference)])
    return np.array(w2).T


def run_study(config: W2Config, out_dir, show_progress: bool = True) -> dict:
    """Run the study; write results.json, ensembles/NAME.npz and the figure ``plots.W2_FIGURE`` to ``out_dir``."""
    config.validate()
    backend = get_backend(config.backend)
    out = make_run_directory(out_dir)
    check_config(out, config)   # other settings in out: refused before any work
    (out / "ensembles").mkdir(parents=True, exist_ok=True)
    seeds = mbs.trial_seeds(config.seed, config.trials)
    initial = np.stack([mbs.basin_samples(config.n_particles, config.kT, np.random.default_rng(s)) for s in seeds])
    reference = np.stack([mbs.boltzmann_samples(config.n_particles, config.kT, np.random.default_rng([config.seed, 5, b]))
                          for b in range(config.trials)])
    steps = list(range(0, config.total_steps + 1, config.eval_every))
    results = {"config": {**asdict(config), "stopping_times": list(config.stopping_times),
                          "reference": "N exact Boltzmann samples per trial (rejection sampling)"},
               "methods": {}}
    common = dict(kT=config.kT, dt=config.dt, gamma=config.gamma, bound=config.bound, backend=backend)
    mb = MuellerBrown()
    methods = [("langevin", config.langevin_steps)] + [(f"skmd_T{T}", T) for T in config.stopping_times]
    for name, T in progress(methods, desc="mb-w2", enable=show_progress):
        started = time.perf_counter()
        noise = NoiseStream(config.seed + 1, dim=2, chains=config.trials)
        if name == "langevin":
            sampler = OverdampedLangevin(mb, initial.copy(), acquisition=FixedSteps(T), noise=noise, **common)
            move, ensemble_of = sampler.move_walker, (lambda s=sampler: s.walkers_batch)
        else:
            sampler = SKMD(mb, initial.copy(), kernel=GaussianKernel(config.amplitude, "median"),
                           stopping=FixedSteps(T), bandwidth_schedule="initial", noise=noise, **common)
            move, ensemble_of = sampler.move_particle, (lambda s=sampler: s.ensemble_batch)
        w2 = _track(move, config.n_particles, T, config, ensemble_of, reference, backend)
        results["methods"][name] = {"steps": steps, "w2": w2.tolist(), "wall_s": time.perf_counter() - started,
                                    "n_diverged": int(sampler.n_diverged)}
        np.savez(out / "ensembles" / f"{name}.npz", final=ensemble_of())
    results["statistics"] = mbs.w2_statistics(results["methods"], seed=config.seed)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    w2_figure(out / W2_FIGURE, results)
    return results
