"""Running uncertainty-biased MD with ASE's integrators and collecting candidate frames.

:func:`make_dynamics` builds Langevin (NVT) or ASE's fully flexible MTK barostat (NPT) after checking
that the run can work (with the engine's integrator factories); :func:`run_until_uncertain` runs any
ASE dynamics on atoms whose calculator reports ``uncertainty`` / ``atomic_uncertainties`` (an
:class:`~skmd.uncertainty.bias.UncertaintyBias` or any :class:`~skmd.uncertainty.base.UncertaintyCalculator`)
and returns the candidates.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ..atoms.integrators import NPT, Langevin, check_integrator
from ..tools.checks import positive, positive_int

ENSEMBLES = ("nvt", "npt")


def make_dynamics(atoms, ensemble: str = "nvt", temperature_K: float = 300.0, timestep_fs: float = 0.5,
                  pressure_GPa: float = 0.0, friction_per_fs: float = 0.01, tdamp_fs: float = 50.0,
                  pdamp_fs: float = 500.0, seed: int = 0):
    """Langevin (``"nvt"``) or MTK NPT with a fully flexible cell (``"npt"``) on ``atoms`` (with its calculator).

    Built by the engine's integrator factories (:mod:`skmd.atoms.integrators`; momenta drawn at
    ``temperature_K`` when ``atoms`` has none). Raises ``ValueError`` before any force call when the
    run cannot work (NPT on a non-periodic system, a calculator without stress, non-positive
    temperature or time step).
    """
    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {ENSEMBLES}, got {ensemble!r}")
    if atoms.calc is None:
        raise ValueError("atoms has no calculator")
    if ensemble == "nvt":
        integrator = Langevin(temperature_K=temperature_K, timestep_fs=timestep_fs,
                              damping_fs=1.0 / positive("friction_per_fs", friction_per_fs))
    else:
        integrator = NPT(temperature_K=temperature_K, pressure_GPa=pressure_GPa, timestep_fs=timestep_fs,
                         tdamp_fs=tdamp_fs, pdamp_fs=pdamp_fs)
    check_integrator(integrator, atoms, atoms.calc)
    return integrator(atoms, np.random.default_rng(seed))


@dataclass
class BiasedRun:
    """What :func:`run_until_uncertain` returns: candidate frames (``Atoms`` with ``info`` keys
    ``step``, ``uncertainty``, ``max_atomic_uncertainty``), whether a threshold stopped the run,
    and the number of steps taken."""

    candidates: list = field(default_factory=list)
    stopped: bool = False
    steps: int = 0


def _frame(atoms, step: int) -> object:
    results = atoms.calc.results
    frame = atoms.copy()
    frame.info.update(step=step, uncertainty=float(results["uncertainty"]),
                      max_atomic_uncertainty=float(np.max(results["atomic_uncertainties"])))
    return frame


def run_until_uncertain(dynamics, steps: int, atomic_threshold: float | None = None,
                        structure_threshold: float | None = None, interval: int | None = None) -> BiasedRun:
    """Run ``dynamics`` up to ``steps`` steps; stop at the first frame whose calibrated atomic u
    (eV/Å) or structure u (eV/atom) exceeds its threshold, and return that frame as the candidate.
    Without a crossing, frames every ``interval`` steps are the candidates."""
    steps = positive_int("steps", steps)
    atomic_threshold = None if atomic_threshold is None else positive("atomic_threshold", atomic_threshold)
    structure_threshold = None if structure_threshold is None else positive("structure_threshold", structure_threshold)
    interval = None if interval is None else positive_int("interval", interval)
    atoms, run = dynamics.atoms, BiasedRun()
    for _ in dynamics.irun(steps):
        step = dynamics.nsteps
        atomic_u = atoms.calc.get_property("atomic_uncertainties", atoms)
        structure_u = atoms.calc.get_property("uncertainty", atoms)
        crossed = (atomic_threshold is not None and np.max(atomic_u) > atomic_threshold) or \
                  (structure_threshold is not None and structure_u > structure_threshold)
        if crossed:
            run.candidates, run.stopped, run.steps = [_frame(atoms, step)], True, step
            return run
        if interval is not None and step > 0 and step % interval == 0:
            run.candidates.append(_frame(atoms, step))
    run.steps = dynamics.nsteps
    return run
