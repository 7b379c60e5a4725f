"""The atomistic engine on ASE's calculator seam: biases, Brownian dynamics, drivers, periodic cells."""
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("mace")

from conftest import rattled_copies  # noqa: E402

from ase import Atoms  # noqa: E402
from ase.build import bulk, molecule  # noqa: E402

import skmd  # noqa: E402
from skmd.atoms import (NPT, Brownian, CommitteeBias, DivergenceCheck, DivergenceWarning,  # noqa: E402
                        IndependentWalkers, KernelSchedule, MACEDescriptorCalculator, RoundRobin, Stein, SteinBias,
                        SteinStop, build_mace, freeze)
from skmd.tools.divergence import Diverged  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return build_mace(channels=8, seed=1)


@pytest.fixture(scope="module")
def silicon_models():
    return [build_mace(channels=8, atomic_numbers=[14], r_max=4.0, seed=s) for s in (1, 2, 3)]


def test_stein_bias_reports_base_energy_and_adds_stein_force(model):
    calculator = MACEDescriptorCalculator(model)
    members = rattled_copies(molecule("CH3CH2OH"), 4)
    frozen = [freeze(frame, calculator) for frame in members[1:]]
    bias = SteinBias(calculator, frozen, amplitude=3.0, bandwidth=0.7, temperature_K=300.0, n_particles=4)
    atoms = members[0].copy()
    atoms.calc = bias
    forces = atoms.get_forces()
    base = members[0].copy()
    base.calc = MACEDescriptorCalculator(model)
    assert atoms.get_potential_energy() == pytest.approx(base.get_potential_energy(), abs=1e-12)
    d_x = base.calc.results["descriptor"]
    kernel = skmd.GaussianKernel(3.0, 0.7)
    expected = skmd.stein_force(d_x, np.stack([f.descriptor for f in frozen]), np.stack([f.forces for f in frozen]),
                                np.stack([f.jacobian for f in frozen]), kernel, kT=300.0 * 8.617333262e-5,
                                normalization=4)
    np.testing.assert_allclose(forces, base.get_forces() + expected.reshape(-1, 3), atol=1e-10)
    assert bias.results["stein_norm"] == pytest.approx(np.linalg.norm(expected))


def test_zero_amplitude_skmd_is_exactly_brownian_dynamics_with_the_same_noise(model):
    members = rattled_copies(molecule("CH3CH2OH"), 3)
    integrator = Brownian(temperature_K=300.0, timestep_fs=0.2, friction=75.0)
    calculator = MACEDescriptorCalculator(model)
    skmd_run = RoundRobin(members, calculator, integrator, bias=Stein(skmd.GaussianKernel(0.0), 300.0),
                          steps=5, seed=11).run(4)
    plain = IndependentWalkers(members, MACEDescriptorCalculator(model), integrator, steps=5, seed=11).run(4)
    assert len(skmd_run) == len(plain) == 4
    for a, b in zip(skmd_run, plain):
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.info["skmd_particle"] == b.info["skmd_particle"]


def test_same_seed_same_candidates_and_schedule_persists_across_runs(model):
    members = rattled_copies(molecule("CH3CH2OH"), 3)
    kernel = skmd.GaussianKernel(2.0, "median")

    def driver():
        bias = Stein(KernelSchedule(kernel, explore=2, total=4), 300.0)
        return RoundRobin(members, MACEDescriptorCalculator(model), Brownian(300.0, 0.2), bias=bias, steps=3,
                          seed=5), bias

    one, bias_one = driver()
    whole = one.run(4)
    stepwise, bias_step = driver()
    pieces = [frame for _ in range(4) for frame in stepwise.run(1)]
    for a, b in zip(whole, pieces):
        np.testing.assert_array_equal(a.positions, b.positions)
    amplitudes = [h for _, h, _ in bias_step.history]
    assert amplitudes == [h for _, h, _ in bias_one.history] and amplitudes[-1] == pytest.approx(1.0)


def test_divergence_names_its_cause_and_uses_the_minimum_image():
    cell = np.eye(3) * 5.0
    atoms = Atoms("H2", positions=[[0.1, 1, 1], [4.8, 1, 1]], cell=cell, pbc=True)   # 0.3 Å across the boundary
    check = DivergenceCheck(min_distance=0.5)
    with pytest.raises(Diverged, match="min_distance|closer"):
        check.check_configuration(atoms, 0.0, np.zeros((2, 3)))
    atoms.pbc = False
    check.check_configuration(atoms, 0.0, np.zeros((2, 3)))
    with pytest.raises(Diverged, match="max_step"):
        check.check_step(np.zeros((2, 3)), np.full((2, 3), 1.0))
    with pytest.raises(Diverged, match="force_limit"):
        check.check_configuration(atoms, 0.0, np.full((2, 3), 1e3))


def test_a_diverging_move_is_dropped_with_its_cause(model):
    members = rattled_copies(molecule("CH3CH2OH"), 2)
    driver = IndependentWalkers(members, MACEDescriptorCalculator(model), Brownian(300.0, 0.2, friction=0.05),
                                steps=3, seed=0, restarts=1)
    with pytest.warns(DivergenceWarning, match="max_step"):
        assert driver.run(1) == []
    assert driver.dropped[0]["move"] == 0 and "max_step" in driver.dropped[0]["cause"]


def _by_largest_force(members, calculator) -> tuple[list, list]:
    """The members ordered by their largest force component (eV/Å), and those components, ascending."""
    largest = []
    for frame in members:
        frame.calc = calculator
        largest.append(float(np.abs(frame.get_forces()).max()))
    order = np.argsort(largest)
    return [members[i] for i in order], [largest[i] for i in order]


def test_a_member_above_the_force_limit_is_left_out_of_the_others_bias(model):
    """Its Stein term is dropped (N and the median bandwidth unchanged) until its own move is accepted."""
    calculator = MACEDescriptorCalculator(model)
    members, largest = _by_largest_force(rattled_copies(molecule("CH3CH2OH"), 4, scale=0.1, seed=3), calculator)
    limit = 0.5 * (largest[-1] + largest[-2])                     # between the two strongest: member 3 is out
    bias = Stein(skmd.GaussianKernel(0.05, 0.7), 300.0)
    with pytest.warns(DivergenceWarning, match="member 3 is left out"):
        driver = RoundRobin(members, calculator, Brownian(300.0, 0.2), bias=bias, steps=3, seed=7,
                            divergence=DivergenceCheck(force_limit=limit, max_step=5.0))
    assert driver.excluded == {3} and [m.admissible for m in driver.frozen] == [True, True, True, False]

    def stein_force(others):
        atoms = members[0].copy()
        atoms.calc = SteinBias(calculator, others, amplitude=0.05, bandwidth=0.7, temperature_K=300.0, n_particles=4)
        return atoms.get_forces()

    built = members[0].copy()
    built.calc = bias.build(calculator, driver.frozen, 0, 0)
    np.testing.assert_array_equal(built.get_forces(), stein_force(driver.frozen[1:3]))
    assert not np.allclose(built.get_forces(), stein_force([replace(m, admissible=True) for m in driver.frozen[1:]]))
    with pytest.warns(DivergenceWarning, match="force_limit"):
        driver.run(4)                                              # member 3's own move diverges at once
    assert [d["particle"] for d in driver.dropped] == [3] and driver.excluded == {3}
    driver.divergence = DivergenceCheck(force_limit=10 * limit, max_step=5.0)
    driver.run(4)                                                  # now its move is accepted: it is back in
    assert driver.excluded == set() and all(m.admissible for m in driver.frozen) and driver.left_out == {3}


def test_with_no_admissible_other_the_stein_force_is_zero_and_a_skmd_stops(model):
    calculator = MACEDescriptorCalculator(model)
    members, largest = _by_largest_force(rattled_copies(molecule("CH3CH2OH"), 2, scale=0.1, seed=3), calculator)
    check = DivergenceCheck(force_limit=0.5 * sum(largest), max_step=5.0)
    with pytest.warns(DivergenceWarning, match="member 1 is left out"):
        driver = RoundRobin(members, calculator, Brownian(300.0, 0.2), bias=Stein(skmd.GaussianKernel(3.0), 300.0),
                            acquisition=SteinStop(tau=1e-9, t_min=2, t_max=5), seed=0, divergence=check)
    candidates = driver.run(1)
    assert len(candidates) == 1 and candidates[0].info["skmd_step"] == 2 and candidates[0].info["skmd_reason"] == "|b| < 1e-09"


def test_members_with_different_cells_use_their_own_cell(silicon_models):
    calculator = MACEDescriptorCalculator(silicon_models[0])
    small = bulk("Si", "diamond", a=5.43, cubic=True)
    strained = small.copy()
    strained.set_cell(small.cell * 1.04, scale_atoms=True)
    d_small = freeze(small, calculator).descriptor
    d_strained = freeze(strained, calculator).descriptor
    assert not np.allclose(d_small, d_strained)
    np.testing.assert_allclose(d_strained, calculator.descriptor.compute(strained), atol=1e-10)


def test_committee_bias_is_conservative_with_strain_derivative_stress(silicon_models):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.positions += 0.05 * np.random.default_rng(3).standard_normal(atoms.positions.shape)
    calculator = CommitteeBias([MACEDescriptorCalculator(m) for m in silicon_models], A=0.5, B=0.01)
    atoms.calc = calculator
    forces, stress = atoms.get_forces(), atoms.get_stress()
    for index, axis in ((0, 0), (3, 2)):
        shifted = [atoms.copy() for _ in range(2)]
        for frame, sign in zip(shifted, (1, -1)):
            frame.positions[index, axis] += sign * 1e-4
            frame.calc = calculator
        numeric = -(shifted[0].get_potential_energy() - shifted[1].get_potential_energy()) / 2e-4
        assert forces[index, axis] == pytest.approx(numeric, abs=1e-6)
    volume = atoms.get_volume()
    for voigt, (i, j) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        energies = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[i, j] += sign * 5e-5
            if i != j:
                strain[j, i] += sign * 5e-5
            frame = atoms.copy()
            frame.set_cell(atoms.cell @ strain, scale_atoms=True)
            frame.calc = calculator
            energies.append(frame.get_potential_energy())
        factor = 1.0 if i == j else 2.0
        assert stress[voigt] == pytest.approx((energies[0] - energies[1]) / (2 * 5e-5 * factor * volume), abs=1e-6)
    assert calculator.results["uncertainty"] > 0


def test_round_robin_skmd_and_npt_on_a_periodic_mace_system(silicon_models):
    calculator = MACEDescriptorCalculator(silicon_models[0])
    members = rattled_copies(bulk("Si", "diamond", a=5.43, cubic=True), 3, scale=0.03, seed=4)
    skmd_driver = RoundRobin(members, calculator, Brownian(300.0, 0.5, friction=10.0),
                             bias=Stein(skmd.GaussianKernel(1.0), 300.0), steps=4, seed=0)
    assert len(skmd_driver.run(3)) == 3
    npt = IndependentWalkers(members, calculator, NPT(temperature_K=300.0, pressure_GPa=1.0, timestep_fs=1.0),
                             steps=10, seed=0)
    candidates = npt.run(2)
    assert len(candidates) == 2
    for frame in candidates:
        assert frame.cell.rank == 3 and frame.get_volume() > 0.5 * members[0].get_volume()
        assert not np.allclose(frame.cell, members[0].cell)


def test_bad_input_is_refused_before_any_work(model):
    members = rattled_copies(molecule("CH3CH2OH"), 2)
    calculator = MACEDescriptorCalculator(model)
    with pytest.raises(ValueError, match="periodic"):
        IndependentWalkers(members, calculator, NPT(), steps=2)
    with pytest.raises(ValueError, match="identical"):
        RoundRobin([members[0], members[0].copy()], calculator, Brownian(), bias=Stein(skmd.GaussianKernel(1.0), 50.0),
                   steps=2)
    with pytest.raises(ValueError, match="SteinStop"):
        IndependentWalkers(members, calculator, Brownian(), acquisition=skmd.AdaptiveStop(0.1, 1, 5))
    with pytest.raises(ValueError, match="callable"):
        IndependentWalkers(members, calculator, "langevin", steps=2)
    with pytest.raises(ValueError, match="max_restarts"):
        IndependentWalkers(members, calculator, Brownian(), steps=2, restarts=-1)
    with pytest.raises(ValueError, match="cell"):
        IndependentWalkers([Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.7]], pbc=True)] * 2, calculator, Brownian(),
                           steps=2)
    with pytest.raises(ValueError, match="amplitude"):
        skmd.GaussianKernel(-3.0)


def test_an_exploding_npt_cell_is_caught_as_divergence():
    """DivergenceCheck watched positions only: a barostat blowing the cell up went unnoticed."""
    from ase.calculators.calculator import Calculator

    from skmd.tools.divergence import DivergenceWarning

    class Tension(Calculator):
        """E = −k V: a constant tensile stress −k (eV/Å³) that pulls the cell open, no forces."""

        implemented_properties = ["energy", "free_energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            super().calculate(atoms, properties, system_changes)
            energy = -0.05 * self.atoms.get_volume()
            self.results = {"energy": energy, "free_energy": energy, "forces": np.zeros((len(self.atoms), 3)),
                            "stress": np.array([-0.05, -0.05, -0.05, 0.0, 0.0, 0.0])}

    check = DivergenceCheck()
    check.check_cell(np.eye(3) * 4.0, np.eye(3) * 4.0 * 1.4)            # 2.7 × V0: still allowed
    with pytest.raises(Diverged, match=r"V/V0 = 3.38"):
        check.check_cell(np.eye(3) * 4.0, np.eye(3) * 4.0 * 1.5)
    with pytest.raises(Diverged, match="NaN or infinite"):
        check.check_cell(np.eye(3) * 4.0, np.diag([4.0, np.inf, 4.0]))
    crystal = Atoms("Cu4", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
                    cell=np.eye(3) * 3.6, pbc=True)
    driver = IndependentWalkers([crystal], Tension(), NPT(temperature_K=300.0, pressure_GPa=0.0, timestep_fs=2.0,
                                                          pdamp_fs=20.0), steps=400, seed=0, restarts=1)
    with pytest.warns(DivergenceWarning, match="cell volume"):
        candidates = driver.run(1)
    assert candidates == [] and [d["kind"] for d in driver.dropped] == ["cell"]
