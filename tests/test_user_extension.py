"""A user's own bias, observer and dynamics plug into skmd's drivers with no change to skmd.

Written as a user would write it: only public imports from ``skmd.atoms`` and ASE.
"""
import numpy as np
import pytest

pytest.importorskip("mace")

from ase import units  # noqa: E402
from ase.build import molecule  # noqa: E402
from ase.md.verlet import VelocityVerlet  # noqa: E402

from skmd.atoms import (BiasCalculator, Brownian, GaussianKernel, IndependentWalkers,  # noqa: E402
                        MACEDescriptorCalculator, RoundRobin, Stein, build_mace)


class DistanceRestraint(BiasCalculator):
    """A harmonic restraint E = ½ k (r − r0)² on the distance r between atoms i and j (eV, Å)."""

    def __init__(self, base, i, j, k, r0):
        super().__init__(base)
        self.i, self.j, self.k, self.r0 = i, j, k, r0

    def bias(self, atoms, base):
        vector = atoms.positions[self.i] - atoms.positions[self.j]
        r = np.linalg.norm(vector)
        forces = np.zeros((len(atoms), 3))
        forces[self.i] = -self.k * (r - self.r0) * vector / r
        forces[self.j] = -forces[self.i]
        return {"energy": 0.5 * self.k * (r - self.r0) ** 2, "forces": forces, "restraint_distance": r}


class StretchWatcher:
    """Acquire the first frame where the restrained distance moved by more than ``shift`` Å, then stop."""

    def __init__(self, shift, max_steps):
        self.shift, self.max_steps = shift, max_steps
        self.stopped_walks = 0

    def start(self, walk):
        self.initial = None

    def __call__(self, walk):
        r = walk.results["restraint_distance"]
        self.initial = r if self.initial is None else self.initial
        if abs(r - self.initial) > self.shift:
            walk.acquire(f"distance moved by more than {self.shift} Å")
            walk.stop()
            self.stopped_walks += 1


@pytest.fixture(scope="module")
def model():
    return build_mace(channels=8, seed=1)


def _ensemble(n, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        frame = molecule("CH3CH2OH")
        frame.positions += 0.03 * rng.standard_normal(frame.positions.shape)
        frames.append(frame)
    return frames


def test_user_restraint_forces_are_minus_the_gradient_of_its_energy(model):
    atoms = _ensemble(1)[0]
    atoms.calc = DistanceRestraint(MACEDescriptorCalculator(model), i=0, j=2, k=20.0, r0=3.0)
    forces = atoms.get_forces()
    assert atoms.calc.results["restraint_distance"] == pytest.approx(atoms.get_distance(0, 2))
    for index in (0, 2, 5):
        for axis in range(3):
            energies = []
            for sign in (1, -1):
                shifted = atoms.copy()
                shifted.positions[index, axis] += sign * 1e-4
                shifted.calc = atoms.calc
                energies.append(shifted.get_potential_energy())
            assert forces[index, axis] == pytest.approx(-(energies[0] - energies[1]) / 2e-4, abs=1e-6)


def test_user_bias_and_observer_drive_independent_walkers_and_round_robin(model):
    members = _ensemble(3)
    restraint = DistanceRestraint(MACEDescriptorCalculator(model), i=0, j=2, k=20.0, r0=3.0)
    integrator = Brownian(temperature_K=300.0, timestep_fs=0.2, friction=75.0)
    watcher = StretchWatcher(shift=0.05, max_steps=200)
    walkers = IndependentWalkers(members, restraint, integrator, acquisition=watcher, seed=3)
    candidates = walkers.run(3)
    assert len(candidates) == 3 and watcher.stopped_walks == 3
    for frame in candidates:
        assert frame.info["skmd_reason"].startswith("distance moved") and frame.info["skmd_step"] < 200
    # The restraint pulls r(0, 2) ≈ 2.4 Å towards 3 Å, so the end states are stretched.
    assert all(a.get_distance(0, 2) > b.get_distance(0, 2) for a, b in zip(walkers.particles, members))

    skmd_watcher = StretchWatcher(shift=0.05, max_steps=200)
    round_robin = RoundRobin(members, restraint, integrator, bias=Stein(GaussianKernel(2.0, 1.0), 300.0),
                             acquisition=skmd_watcher, seed=3)
    skmd_candidates = round_robin.run(3)
    assert len(skmd_candidates) == 3 and skmd_watcher.stopped_walks == 3
    assert [f.info["skmd_particle"] for f in skmd_candidates] == [0, 1, 2]
    assert not np.array_equal(skmd_candidates[0].positions, candidates[0].positions)   # the Stein force acted


def test_user_ase_dynamics_factory_gives_plain_ase_velocity_verlet(model):
    members = _ensemble(2)
    calculator = MACEDescriptorCalculator(model)
    driver = IndependentWalkers(members, calculator, lambda atoms, rng: VelocityVerlet(atoms, timestep=0.5 * units.fs),
                                steps=6, seed=0)
    candidates = driver.run(2)
    for member, candidate in zip(members, candidates):
        reference = member.copy()
        reference.calc = MACEDescriptorCalculator(model)
        VelocityVerlet(reference, timestep=0.5 * units.fs).run(6)
        np.testing.assert_array_equal(candidate.positions, reference.positions)
        assert np.any(candidate.get_momenta() != 0)
