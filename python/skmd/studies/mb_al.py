"""``skmd mb-al``: neural-network active learning on Müller–Brown (paper §5.1, E.1, Figs. 1, 2, 5).

Every trial starts from the same 32 points in the metastable basin B and the same initial
model for every sampler; each sampler then runs ``iterations`` rounds of
(sample on the current model → label 32 points with the exact surface → retrain).
All trials of one sampler run as one batch; trial b of every sampler reads chain b of the same
noise stream, so the samplers of a trial share one Brownian realization.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..backends import get_backend
from ..modules.nn import TrainingConfig, committee_potential, train_mlps
from ..modules.kernels import fidelity_amplitude, kernel_regime
from ..tools.checks import positive, positive_int
from ..tools.progress import progress
from . import mueller_brown as mbs
from . import plots
from .mb_acquire import Acquirer
from .mb_defaults import EXPLORATION_AMPLITUDE, SAMPLERS, TAU_AT_RULE, TAU_EXPLORATION
from .mb_learning import held_out, held_out_curves, learning_check, validation_rmse, worse_iterations
from ..tools.rundir import check_config, make_run_directory



@dataclass
class ALConfig:
    """Every parameter of the study (units: the Müller–Brown surface's energy and length)."""

    trials: int = 50
    iterations: int = 16
    per_iteration: int = 32
    n_initial: int = 32
    kT: float = 4.0
    dt: float = 1e-4
    gamma: float = 1.0
    bound: float = 2.5
    period: int = 100
    amplitude: float = EXPLORATION_AMPLITUDE    # the exploration regime (mb_defaults); boltzmann: 0.1 N
    tau: float = TAU_EXPLORATION
    t_min: int = 20
    t_max: int = 1000
    udd_members: int = 5
    udd_A: float = 180.0
    udd_B: float = 3.0
    udd_threshold: float = 0.5
    udd_min_gap: int = 50
    udd_max_steps: int = 6400
    test_size: int = 1000
    seed: int = 0
    samplers: tuple = SAMPLERS
    backend: str = "auto"
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def validate(self):
        for name in ("trials", "iterations", "per_iteration", "n_initial", "period", "t_max",
                     "udd_members", "udd_max_steps", "test_size"):
            positive_int(name, getattr(self, name))
        for name in ("kT", "dt", "gamma", "bound", "amplitude", "tau", "udd_B"):
            positive(name, getattr(self, name))
        unknown = set(self.samplers) - set(SAMPLERS)
        if unknown or not self.samplers:
            raise ValueError(f"unknown samplers {sorted(unknown)}; choose from {', '.join(SAMPLERS)}")
        if self.udd_members < 2 and "udd" in self.samplers:
            raise ValueError("UDD needs at least 2 committee members")
        return self


#: the quick run: fewer trials, iterations and test points than the full study, each training run to
#: convergence (the "plateau" schedule) instead of a fixed epoch count, which under-fits a sampler's labels in a
#: new basin within 4 iterations (benchmarks/mb_quick_learning.py; docs/mueller-brown.md)
QUICK = dict(trials=4, iterations=4, test_size=500, training=TrainingConfig(schedule="plateau"))


def regime_settings(name: str, n_particles: int = 32) -> dict:
    """The amplitude and a-SKMD threshold of SKMD's regime ``name`` ("exploration" or "boltzmann")."""
    if name == "boltzmann":
        return {"amplitude": fidelity_amplitude(n_particles), "tau": TAU_AT_RULE}
    if name == "exploration":
        return {"amplitude": EXPLORATION_AMPLITUDE, "tau": TAU_EXPLORATION}
    raise ValueError(f"SKMD's regime is 'exploration' or 'boltzmann', got {name!r}")


# --------------------------------------------------------------------------- data handling
def padded(datasets):
    """Stack ragged per-trial (points, energies, forces) into arrays with a mask."""
    n = max(len(d[0]) for d in datasets)
    G = len(datasets)
    X, E, F, M = np.zeros((G, n, 2)), np.zeros((G, n)), np.zeros((G, n, 2)), np.zeros((G, n))
    for g, (x, e, f) in enumerate(datasets):
        X[g, :len(x)], E[g, :len(x)], F[g, :len(x)], M[g, :len(x)] = x, e, f, 1.0
    return X, E, F, M


def rmse(model, test_x, test_e, test_f):
    """Energy and force-component RMSE of each chain's model on the test set → (B,), (B,)."""
    energy_rmse, force_rmse = [], []
    for b in range(model.n_chains):
        e, f = model.member(b).energy_forces(test_x)
        energy_rmse.append(np.sqrt(np.mean((e - test_e) ** 2)))
        force_rmse.append(np.sqrt(np.mean((f - test_f) ** 2)))
    return np.array(energy_rmse), np.array(force_rmse)


class Trainer:
    """Retrains the per-trial models (warm start) with a deterministic seed per call."""

    def __init__(self, config: ALConfig):
        self.config = config
        self.calls = 0

    def __call__(self, datasets, init=None):
        self.calls += 1
        X, E, F, M = padded(datasets)
        return train_mlps(X, E, F, M, self.config.training, seed=self.config.seed * 1000 + self.calls, init=init)

    def committee(self, datasets, rngs, init=None):
        """k-fold committee per trial: member k is trained on all folds but k."""
        K = self.config.udd_members
        members = []
        for (x, e, f), rng in zip(datasets, rngs):
            folds = np.array_split(rng.permutation(len(x)), K)
            for k in range(K):
                keep = np.concatenate([folds[j] for j in range(K) if j != k])
                members.append((x[keep], e[keep], f[keep]))
        models = self(members, init=init)
        return committee_potential(models, len(datasets)), models


# --------------------------------------------------------------------------- the study
def run_study(config: ALConfig, out_dir, show_progress: bool = True) -> dict:
    """Run the study, write results.json, points/, models/ and the figures (``plots.AL_FIGURES``) into ``out_dir``."""
    config.validate()
    get_backend(config.backend)
    out = make_run_directory(out_dir)
    check_config(out, config)   # other settings in out: refused before any work
    B = config.trials
    seeds = mbs.trial_seeds(config.seed, B)
    initial = np.stack([mbs.basin_samples(config.n_initial, config.kT, np.random.default_rng(s)) for s in seeds])
    test_x = mbs.boltzmann_samples(config.test_size, config.kT, np.random.default_rng([config.seed, 99]))
    test_e, test_f = mbs.label(test_x)
    initial_data = [(x, *mbs.label(x)) for x in initial]
    trainer = Trainer(config)
    started = time.perf_counter()
    model0 = trainer(initial_data)
    initial_s = time.perf_counter() - started
    e0, f0 = rmse(model0, test_x, test_e, test_f)
    results = {"config": _config_dict(config, initial_s), "samplers": {},
               "test_set": {"nearest_minimum": mbs.nearest_minimum_fractions(test_x)}}
    snapshots = {}
    for name in config.samplers:
        started = time.perf_counter()
        acquirer = Acquirer(name, config, initial, trainer, noise_seed=config.seed + 1)
        data = [list(d) for d in initial_data]
        valid = [(np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2))) for _ in range(B)]
        iteration_of = [np.zeros(config.n_initial, dtype=int) for _ in range(B)]
        valid_iteration = [np.zeros(0, dtype=int) for _ in range(B)]
        model, energy_rmse, force_rmse, acquired, checks, models = model0, [e0], [f0], [], [], [model0]
        bar = progress(range(1, config.iterations + 1), desc=f"mb-al {name}", enable=show_progress)
        for it in bar:
            new = acquirer.acquire(model, data)
            acquired.append([len(points) for points in new])
            if it == 2 and name in ("a-skmd", "udd"):
                snapshots[name] = acquirer.snapshot
            for b in range(B):
                e, f = mbs.label(new[b])
                hold = held_out(len(new[b]), config.seed, b, it)
                valid[b] = tuple(np.concatenate([v, w[hold]]) for v, w in zip(valid[b], (new[b], e, f)))
                valid_iteration[b] = np.concatenate([valid_iteration[b], np.full(hold.sum(), it)])
                data[b] = [np.concatenate([d, w[~hold]]) for d, w in zip(data[b], (new[b], e, f))]
                iteration_of[b] = np.concatenate([iteration_of[b], np.full((~hold).sum(), it)])
            before = validation_rmse(model, valid)
            model = trainer([tuple(d) for d in data], init=model)
            models.append(model)
            checks.append(learning_check(before, validation_rmse(model, valid), sum(len(v[0]) for v in valid),
                                         seed=config.seed))
            e_r, f_r = rmse(model, test_x, test_e, test_f)
            energy_rmse.append(e_r)
            force_rmse.append(f_r)
        wall = time.perf_counter() - started
        _save_sampler(out, name, data, iteration_of, valid, valid_iteration, model)
        every = [np.concatenate([d[0][config.n_initial:], v[0]]) for d, v in zip(data, valid)]
        results["samplers"][name] = {"energy_rmse": np.array(energy_rmse).T.tolist(),
                                     "force_rmse": np.array(force_rmse).T.tolist(), "wall_s": wall,
                                     **held_out_curves(models, valid),
                                     "n_acquired": np.array(acquired).T.tolist(),
                                     "n_validation": [len(v[0]) for v in valid],
                                     "learning_check": checks, "worse_iterations": worse_iterations(checks),
                                     "n_diverged": _diverged(acquirer),
                                     "acquired_nearest_minimum": mbs.nearest_minimum_fractions(np.concatenate(every))}
    results["statistics"] = (mbs.al_statistics(results["samplers"], config.kT, seed=config.seed)
                             if config.trials >= 2 else {"skipped": "intervals and tests need at least 2 trials"})
    (out / "results.json").write_text(json.dumps(results, indent=1))
    plots.al_figures(out, results, snapshots, config)
    return results


def _diverged(acquirer) -> int:
    return int(acquirer.sampler.n_diverged) if acquirer.sampler is not None else 0


def _save_sampler(out, name, data, iteration_of, valid, valid_iteration, model):
    """Per trial: every labelled point (``points``, ``energy``, ``forces``, ``iteration``) with ``validation``
    marking the held-out ones, and the final model's weights."""
    (out / "points" / name).mkdir(parents=True, exist_ok=True)
    (out / "models" / name).mkdir(parents=True, exist_ok=True)
    for b, ((x, e, f), it, (vx, ve, vf), vit) in enumerate(zip(data, iteration_of, valid, valid_iteration)):
        np.savez(out / "points" / name / f"trial_{b:03d}.npz", points=np.concatenate([x, vx]),
                 iteration=np.concatenate([it, vit]), energy=np.concatenate([e, ve]),
                 forces=np.concatenate([f, vf]), validation=np.arange(len(x) + len(vx)) >= len(x))
        m = model.member(b)
        np.savez(out / "models" / name / f"trial_{b:03d}.npz", W1=m.W1[0, 0], b1=m.b1[0, 0], w2=m.w2[0, 0],
                 b2=m.b2[0, 0], lam=m.lam, center=m.center)


def _config_dict(config: ALConfig, initial_s: float) -> dict:
    out = asdict(config)
    out["samplers"] = list(config.samplers)
    out["regime"] = kernel_regime(config.amplitude, config.n_initial)
    out["initial_model_s"] = initial_s
    out["test_set"] = "exact Boltzmann samples at kT (rejection sampling on the box)"
    out["force_rmse"] = "RMSE over all force components"
    return out
