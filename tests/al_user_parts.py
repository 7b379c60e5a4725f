"""Parts of an active-learning campaign written as a user would write them (tests/test_al.py).

They live in a module, not in the test file, so that worker processes (a spawned process pool, Dask
workers, the ``skmd al`` command in a subprocess) can import them by name. Only public skmd and ASE
imports; no edit to skmd.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from ase import units
from ase.calculators.emt import EMT
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

#: the environment variable naming the file that :func:`counted_emt` appends one line per calculation to
ORACLE_LOG = "SKMD_TEST_ORACLE_LOG"


class CountedEMT(EMT):
    """EMT that appends one line per calculation to the file named by ``$SKMD_TEST_ORACLE_LOG`` (any process):
    the atomic numbers and positions rounded to 1e-6 Å, so a configuration sent twice shows twice."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        super().calculate(atoms, properties, system_changes)
        path = os.environ.get(ORACLE_LOG)
        if path:
            key = " ".join(f"{x:.6f}" for x in np.round(self.atoms.positions, 6).ravel())
            with open(path, "a") as handle:
                handle.write(f"{os.getpid()} {len(self.atoms)} {key}\n")


def counted_emt():
    """The oracle of the tests: EMT, counted (see :class:`CountedEMT`)."""
    return CountedEMT()


class EMTWithoutStress(CountedEMT):
    """EMT that says it gives no stress (an oracle an NPT campaign must refuse); counted."""

    implemented_properties = ["energy", "forces"]


def emt_without_stress():
    return EMTWithoutStress()


def oracle_calls(path) -> list:
    """The lines :class:`CountedEMT` wrote to ``path`` (one per calculation); [] if none."""
    return open(path).read().splitlines() if os.path.exists(path) else []


@dataclass(frozen=True)
class VerletAt:
    """An integrator factory: momenta drawn at ``temperature_K`` (seeded by the walk), then NVE velocity Verlet."""

    temperature_K: float
    timestep_fs: float = 1.0

    def __call__(self, atoms, rng):
        thermalize_momenta(atoms, temperature_K=self.temperature_K, rng=rng)
        Stationary(atoms)
        return VelocityVerlet(atoms, timestep=self.timestep_fs * units.fs)


@dataclass(frozen=True)
class HotVerlet:
    """A user's sampler: independent NVE walks started hot, sampled with the chain's current model."""

    temperature_K: float = 900.0
    name: str = "hot_verlet"
    n_models = 1

    def spec(self, n_moves, steps, seed):
        from skmd.atoms.parallel import SamplerSpec  # noqa: PLC0415
        return SamplerSpec(self.name, "independent", VerletAt(self.temperature_K), n_moves, steps=steps, seed=seed)

    def factory(self, context):
        from skmd.atoms.parallel import MACEFactory  # noqa: PLC0415
        return MACEFactory(str(context.models[0]))


def highest_energy(candidates, n_select, context):
    """A user's selector: the ``n_select`` candidates of highest energy under the sampler's model, highest first."""
    calculator = context.calculator()
    energies = []
    for frame in candidates:
        atoms = frame.copy()
        atoms.calc = calculator
        energies.append(atoms.get_potential_energy())
    return [int(i) for i in np.argsort(energies)[::-1][:n_select]]


def unchanged_model(base, train_file, work_dir, seed):
    """A user's trainer that keeps the model as it is (a copy of ``base`` in ``work_dir``): for tests whose
    outcome (the training set of one iteration) does not depend on the training, so they skip mace_run_train."""
    import shutil  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    return shutil.copyfile(base, Path(work_dir) / "model.safetensors")
