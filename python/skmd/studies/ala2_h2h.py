"""The ``ala2-h2h`` head-to-head's starting point and ideal-data control (docs/ala2-h2h-protocol.md).

Every piece is built from the general machinery (oracle MD frames of :mod:`skmd.studies.ala2_testset`,
mace's training, skmd's Brownian walkers); this module only fixes the settings, before any result:

* :func:`thermal_frames`: GFN2-xTB Langevin MD at 300 K from C7eq (relaxed with φ/ψ held), 1 ps discarded,
  then a frame every 25 fs: the starting labels (no perturbed copies). The MD runs under the test set's
  flat-bottom φ/ψ restraint (30°, 2 eV/rad²; the labels are the bare oracle's): unrestrained, the first
  build left C7eq for C5 within the discarded picosecond, and all 120 frames were C5.
* :func:`converged_surrogate`: the medium preset's 32-channel 2-layer MACE, trained from scratch on them to
  convergence (mace's early stopping, patience 50 epochs, at most 1000), float32.
* :func:`burned_in_ensemble`: C7eq relaxed with the surrogate (BFGS, fmax 0.05 eV/Å), then 4000
  Brownian steps at 300 K per walker (the SKMD integrator's settings), one ensemble for every sampler.
* :func:`ideal_frames`: the ideal-data control's labels, oracle MD in each of the test set's five basins
  with other seeds than the test set's, so never a test frame.

Units: K, fs, Å, eV; the Brownian friction in eV·fs/Å².
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.optimize import BFGS

from ..atoms.drivers import IndependentWalkers
from ..atoms.integrators import Brownian
from ..atoms.observers import EndPoint
from ..atoms.oracle import Oracle, gfn2_xtb
from ..atoms.parallel import MACEFactory
from ..atoms.training import SurrogateSettings, train_surrogate
from .ala2_testset import BASIN_CENTRES, build_testset

#: the thermal starting labels: one unrestrained run from C7eq (seed distinct from the test set's 0–4)
THERMAL = {"basins": ["C7eq"], "frames_per_basin": 120, "stride": 25, "equilibration": 1000, "timestep_fs": 1.0,
           "temperature_K": 300.0, "friction_per_fs": 0.01, "restrained": ["C7eq"], "restraint_half_width": 30.0,
           "restraint_k": 2.0, "seed": 100}
#: the surrogate trained to convergence on them (mace_run_train's patience and epoch cap)
SURROGATE = {"channels": 32, "num_interactions": 2, "max_epochs": 1000, "patience": 50, "valid_fraction": 0.15,
             "dtype": "float32", "seed": 0}
#: the burned-in walkers every sampler and seed starts from
ENSEMBLE = {"walkers": 15, "relax_fmax": 0.05, "burn_in_steps": 4000, "temperature_K": 300.0, "timestep_fs": 0.1,
            "friction": 75.0, "dtype": "float32", "seed": 7}
#: the ideal-data control's pool: every test-set basin, 40 frames each (200 labels), each basin's MD under the
#: flat-bottom restraint so that its frames stay in it; seeds 200–204 (the test set used 0–4, the starting labels 100)
IDEAL = {"basins": list(BASIN_CENTRES), "frames_per_basin": 40, "stride": 25, "equilibration": 1000,
         "timestep_fs": 1.0, "temperature_K": 300.0, "friction_per_fs": 0.01, "restrained": list(BASIN_CENTRES),
         "restraint_half_width": 30.0, "restraint_k": 2.0, "seed": 200}


def _oracle_md(settings: dict, oracle_factory=gfn2_xtb) -> list:
    """Labelled frames of oracle Langevin MD with ``settings`` (:func:`~skmd.studies.ala2_testset.build_testset`)."""
    kwargs = {key: value for key, value in settings.items() if key != "seed"}
    return build_testset(Oracle(oracle_factory), oracle_factory, seed=settings["seed"], **kwargs)


def thermal_frames(oracle_factory=gfn2_xtb) -> list:
    """The 120 labelled thermal starting frames near C7eq (:data:`THERMAL`)."""
    return _oracle_md(THERMAL, oracle_factory)


def ideal_frames(oracle_factory=gfn2_xtb) -> list:
    """The ideal-data control's 200 labelled frames, 40 per basin in basin order (:data:`IDEAL`);
    :func:`evenly` takes the first n of them spread over the basins."""
    return _oracle_md(IDEAL, oracle_factory)


def evenly(frames: list, n: int) -> list:
    """The first ``n`` frames taking from every basin (``info["target_basin"]``) in turn: equal labels per basin."""
    by_basin = {}
    for frame in frames:
        by_basin.setdefault(frame.info["target_basin"], []).append(frame)
    if n > len(frames):
        raise ValueError(f"asked for {n} ideal frames; the pool holds {len(frames)}")
    rounds = max(len(group) for group in by_basin.values())
    ordered = [group[i] for i in range(rounds) for group in by_basin.values() if i < len(group)]
    return ordered[:n]


def converged_surrogate(train_file, work_dir, e0s: dict, threads: int = 1) -> Path:
    """The surrogate (:data:`SURROGATE`) trained from scratch on ``train_file`` until the validation loss
    stops improving for ``patience`` epochs; returns its ``.safetensors``."""
    s = SURROGATE
    settings = SurrogateSettings(channels=s["channels"], num_interactions=s["num_interactions"],
                                 epochs=s["max_epochs"], patience=s["patience"], valid_fraction=s["valid_fraction"],
                                 dtype=s["dtype"])
    return train_surrogate(train_file, work_dir, e0s, settings, seed=s["seed"], name="surrogate", threads=threads)


def burned_in_ensemble(start, model_path) -> list:
    """:data:`ENSEMBLE`: ``start`` relaxed with the model at ``model_path``, then one Brownian burn-in per
    walker from it (seeded); returns the walkers' end points (bare ``Atoms``)."""
    s = ENSEMBLE
    calculator = MACEFactory(str(model_path), s["dtype"])()
    relaxed = start.copy()
    relaxed.calc = calculator
    BFGS(relaxed, logfile=None).run(fmax=s["relax_fmax"], steps=1000)
    relaxed.calc = None
    walkers = [relaxed.copy() for _ in range(s["walkers"])]
    driver = IndependentWalkers(walkers, calculator, Brownian(s["temperature_K"], s["timestep_fs"], s["friction"]),
                                acquisition=EndPoint(s["burn_in_steps"]), seed=s["seed"])
    driver.run(s["walkers"])
    if driver.dropped:
        raise RuntimeError(f"burn-in walks diverged: {driver.dropped}")
    ensemble = []
    for index, atoms in enumerate(driver.particles):
        bare = atoms.copy()
        bare.calc = None
        bare.info = {"skmd_walker": index}
        ensemble.append(bare)
    return ensemble


def spread_A(ensemble) -> float:
    """The ensemble's median pairwise RMSD (Å, no alignment): how far the burn-in spread the walkers."""
    positions = np.array([atoms.positions for atoms in ensemble])
    pairs = [np.sqrt(np.mean((positions[i] - positions[j]) ** 2)) for i in range(len(ensemble))
             for j in range(i + 1, len(ensemble))]
    return float(np.median(pairs))
