"""UncertaintyBias: bias forces and stress by finite differences, the τ window, NPT, the stops, divergence,
bad input."""
import warnings

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

from skmd.atoms.divergence import DivergenceCheck
from skmd.atoms.drivers import IndependentWalkers
from skmd.atoms.integrators import NPT, Langevin
from skmd.atoms.mace_models import build_mace
from skmd.atoms.observers import Every, EveryK, UncertaintyCross, UncertaintyStop
from skmd.tools.divergence import DivergenceWarning
from skmd.uncertainty import EnsembleUncertainty, GradientUncertainty, UncertaintyBias
from skmd.uncertainty.sampling import integrator_for

warnings.filterwarnings("ignore", category=UserWarning)


def si_model(seed):
    return build_mace(channels=8, max_L=1, num_interactions=2, atomic_numbers=(14,), r_max=4.0, seed=seed)


def rattled(atoms, amount, seed):
    copy = atoms.copy()
    copy.rattle(amount, seed=seed)
    return copy


@pytest.fixture(scope="module")
def silicon():
    return bulk("Si", "diamond", a=5.43) * (1, 1, 2)


@pytest.fixture(scope="module")
def gradient_source(silicon):
    source = GradientUncertainty(si_model(1), n_features=64, seed=0, layers="readout")
    source.add_training([rattled(silicon, 0.05, seed) for seed in range(4)])
    return source


@pytest.fixture(scope="module")
def wide_gradient_source(silicon):
    source = GradientUncertainty(si_model(1), n_features=64, seed=0, layers="readout+interactions")
    source.add_training([rattled(silicon, 0.05, seed) for seed in range(4)])
    return source


@pytest.fixture(scope="module")
def ensemble_source():
    return EnsembleUncertainty([si_model(1), si_model(2), si_model(3)])


@pytest.mark.parametrize("kind", ["gradient", "gradient+interactions", "ensemble"])
def test_bias_forces_and_stress_match_finite_differences(kind, silicon, gradient_source, wide_gradient_source,
                                                         ensemble_source):
    source = {"gradient": gradient_source, "gradient+interactions": wide_gradient_source}.get(kind, ensemble_source)
    atoms = rattled(silicon, 0.15, seed=11)
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.02 * np.array([[1, 0.3, 0], [0.3, -1, 0.2], [0, 0.2, 0.5]])),
                   scale_atoms=True)
    atoms.calc = UncertaintyBias(source, tau=3.0, adaptive=False)
    forces, stress = atoms.get_forces(), atoms.get_stress()
    results = atoms.calc.results
    assert np.abs(forces - results["base_forces"]).max() > 1e-3  # the bias is not negligible
    assert np.abs(stress - results["base_stress"]).max() > 1e-5
    assert np.isclose(results["energy"], results["base_energy"] - 3.0 * results["uncertainty"])
    assert np.allclose(calculate_numerical_forces(atoms, eps=1e-4), forces, atol=1e-7)
    assert np.allclose(calculate_numerical_stress(atoms, eps=1e-5), stress, atol=1e-9)


def test_tau_follows_the_window_rule(silicon, gradient_source):
    window, tau = 4, 0.7
    calc = UncertaintyBias(gradient_source, tau=tau, tau_stress=0.3, window=window)
    norms_f, norms_u, norms_s, norms_su = [], [], [], []
    for step in range(7):
        atoms = rattled(silicon, 0.1, seed=step)
        atoms.calc = calc
        atoms.get_forces()
        results = calc.results
        norms_f.append(np.sum(results["base_forces"] ** 2))
        norms_u.append(np.sum(gradient_source.results["uncertainty_gradient"] ** 2))
        norms_s.append(np.sum(results["base_stress"] ** 2))
        norms_su.append(np.sum(gradient_source.results["uncertainty_stress"] ** 2))
        if step < window - 1:
            assert results["tau_forces"] == 0.0 and results["tau_stress"] == 0.0
            assert np.allclose(results["forces"], results["base_forces"])
            continue
        last = slice(step - window + 1, step + 1)
        assert np.isclose(results["tau_forces"], tau * np.sqrt(sum(norms_f[last]) / sum(norms_u[last])))
        assert np.isclose(results["tau_stress"], 0.3 * np.sqrt(sum(norms_s[last]) / sum(norms_su[last])))
        assert np.allclose(results["forces"] - results["base_forces"],
                           results["tau_forces"] * gradient_source.results["uncertainty_gradient"])


def test_element_weights_switch_off_hydrogen():
    model = build_mace(channels=8, max_L=1, num_interactions=2, seed=0)
    source = GradientUncertainty(model, n_features=32)
    source.add_training([rattled(molecule("CH4"), 0.05, seed) for seed in range(3)])
    atoms = rattled(molecule("CH3OH"), 0.1, seed=7)
    atoms.calc = UncertaintyBias(source, tau=1.0, adaptive=False, element_weights={"H": 0.0})
    bias = atoms.get_forces() - atoms.calc.results["base_forces"]
    hydrogen = atoms.numbers == 1
    assert np.all(bias[hydrogen] == 0.0) and np.abs(bias[~hydrogen]).max() > 0.0
    assert atoms.calc.results["atomic_uncertainties"].shape == (len(atoms),)


class Recorder:
    """Test observer: the largest calibrated atomic u and the positions after every step."""

    def __init__(self):
        self.peaks, self.positions = [], []

    def __call__(self, walk):
        self.peaks.append(float(np.max(walk.results["atomic_uncertainties"])))
        self.positions.append(walk.atoms.get_positions())


def test_npt_run_with_bias_keeps_a_valid_cell(silicon, gradient_source):
    start = rattled(silicon, 0.05, seed=3)
    bias = UncertaintyBias(gradient_source, tau=0.5, tau_stress=0.5, window=5)
    driver = IndependentWalkers([start], bias, NPT(temperature_K=600.0, pressure_GPa=1.0, timestep_fs=1.0,
                                                   tdamp_fs=50.0, pdamp_fs=300.0),
                                acquisition=EveryK(10, 4), seed=0)
    candidates = driver.run(1)
    end = driver.particles[0]
    assert len(candidates) == 4 and not driver.dropped
    assert np.all(np.isfinite(end.cell.array)) and np.all(np.isfinite(end.positions)) and end.cell.rank == 3
    assert 0.5 < end.get_volume() / start.get_volume() < 2.0
    assert not np.allclose(end.cell.array, start.cell.array)  # the cell moved
    assert bias.results["tau_stress"] > 0.0  # the window filled and the stress was biased
    assert np.abs(bias.results["stress"] - bias.results["base_stress"]).max() > 0.0


def test_threshold_stop_returns_the_crossing_frame(silicon, gradient_source):
    def run(observer, steps=12):
        bias = UncertaintyBias(gradient_source, tau=2.0, adaptive=False)
        recorder = Recorder()
        integrator = Langevin(temperature_K=3000.0, timestep_fs=2.0, damping_fs=20.0)
        driver = IndependentWalkers([silicon], bias, integrator, acquisition=[observer, recorder], steps=steps,
                                    seed=4)  # starts on the lattice and heats up: u grows
        return driver.run(1), recorder

    _, record = run(EveryK(1, 12))
    peaks = np.array(record.peaks)
    assert len(peaks) == 12 and peaks.max() > peaks[0]
    threshold = 0.5 * (peaks[0] + peaks.max())
    first = int(np.argmax(peaks > threshold))
    candidates, stopped = run(UncertaintyCross(threshold, key="atomic_uncertainties", max_steps=12))
    assert len(candidates) == 1 and len(stopped.peaks) == first + 1  # the walk ended at the crossing
    frame = candidates[0]
    assert frame.info["skmd_step"] == first + 1
    assert np.allclose(frame.positions, record.positions[first])


class EnergyForcesOnly(Calculator):
    """A base potential without stress (harmonic springs to the starting positions)."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, reference):
        super().__init__()
        self.reference = reference.copy()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        shift = self.atoms.positions - self.reference
        self.results = {"energy": float(np.sum(shift ** 2)), "forces": -2.0 * shift}


def test_bad_input_is_refused_before_any_work(silicon, gradient_source):
    model = si_model(1)
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="tau"):
            UncertaintyBias(gradient_source, tau=bad)
        with pytest.raises(ValueError, match="tau_stress"):
            UncertaintyBias(gradient_source, tau=1.0, tau_stress=bad)
        with pytest.raises(ValueError, match="sigma"):
            GradientUncertainty(model, sigma=bad)
    for bad in (0, -4, 2.5):
        with pytest.raises(ValueError, match="n_features"):
            GradientUncertainty(model, n_features=bad)
    with pytest.raises(ValueError, match="add_training"):
        UncertaintyBias(GradientUncertainty(model, n_features=8), tau=1.0)
    with pytest.raises(ValueError, match="UncertaintyCalculator"):
        UncertaintyBias(EnergyForcesOnly(silicon.positions), tau=1.0)
    with pytest.raises(ValueError, match="at least 2"):
        EnsembleUncertainty([model])
    # a periodic NPT run whose base model gives no stress
    no_stress = UncertaintyBias(EnergyForcesOnly(silicon.positions), uncertainty=gradient_source, tau=1.0)
    with pytest.raises(ValueError, match="gives no stress"):
        IndependentWalkers([silicon], no_stress, NPT(), steps=5)
    # NPT (stress) on a molecule
    water = molecule("H2O")
    water.center(vacuum=3.0)
    net = build_mace(channels=8, max_L=1, num_interactions=2, seed=0)
    source = GradientUncertainty(net, n_features=8)
    source.add_training([water])
    with pytest.raises(ValueError, match="periodic"):
        IndependentWalkers([water], UncertaintyBias(source, tau=1.0), NPT(), steps=5)


def hot_walk(gradient_source, silicon, observers, steps=10, **kwargs):
    """A biased NVT walk from the lattice at 3000 K (u grows) through the engine; returns the driver."""
    bias = UncertaintyBias(gradient_source, tau=2.0, adaptive=False)
    integrator = integrator_for("nvt", temperature_K=3000.0, timestep_fs=2.0, friction_per_fs=0.05)
    driver = IndependentWalkers([silicon], bias, integrator, acquisition=observers, steps=steps, seed=4, **kwargs)
    driver.run(1)
    return driver


def test_uncertainty_stop_returns_only_the_crossing_frame(silicon, gradient_source):
    recorder = Recorder()
    free = hot_walk(gradient_source, silicon, [UncertaintyStop(10, atomic_threshold=1e6, interval=1), recorder])
    peaks = np.array([frame.info["max_atomic_uncertainty"] for frame in free.candidates])
    assert len(peaks) == 10 and np.allclose(peaks, recorder.peaks) and peaks.max() > peaks[0]
    assert [frame.info["skmd_step"] for frame in free.candidates] == list(range(1, 11))
    late = int(np.argmax(peaks[3:] > peaks[:3].max())) + 3   # the first crossing after three interval frames
    assert peaks[late] > peaks[:3].max()
    threshold = 0.5 * (peaks[:3].max() + peaks[late])
    first = int(np.argmax(peaks > threshold))
    assert first >= 3
    trace = []
    stopped = hot_walk(gradient_source, silicon, [UncertaintyStop(10, atomic_threshold=threshold, interval=1),
                                                  Every(lambda walk: trace.append(walk.step), 2)])
    assert len(stopped.candidates) == 1                                 # the interval frames were cleared
    frame = stopped.candidates[0]
    assert frame.info["skmd_step"] == first + 1 and frame.info["skmd_reason"] == "uncertainty threshold crossed"
    assert np.allclose(frame.positions, free.candidates[first].positions)
    assert np.isclose(frame.info["max_atomic_uncertainty"], peaks[first]) and "uncertainty" in frame.info
    assert trace == list(range(2, first + 2, 2))                       # Every ran until the stop
    end = hot_walk(gradient_source, silicon, UncertaintyStop(4, structure_threshold=1e6))
    assert len(end.candidates) == 1 and end.candidates[0].info["skmd_reason"] == "end point"


def test_a_diverging_biased_walk_is_dropped_without_candidates(silicon, gradient_source):
    with pytest.warns(DivergenceWarning, match="force component"):
        driver = hot_walk(gradient_source, silicon, UncertaintyStop(10, atomic_threshold=1e6, interval=1),
                          divergence=DivergenceCheck(force_limit=1e-9), restarts=1)
    assert driver.candidates == [] and len(driver.dropped) == 1
    assert driver.dropped[0]["move"] == 0 and "force_limit" in driver.dropped[0]["cause"]


def test_integrator_for_refuses_bad_runs(silicon, gradient_source):
    no_stress = UncertaintyBias(EnergyForcesOnly(silicon.positions), uncertainty=gradient_source, tau=1.0)
    with pytest.raises(ValueError, match="gives no stress"):
        integrator_for("npt", atoms=silicon, calculator=no_stress)
    water = molecule("H2O")
    water.calc = EnergyForcesOnly(water.positions)
    with pytest.raises(ValueError, match="periodic"):
        integrator_for("npt", atoms=water)
    with pytest.raises(ValueError, match="ensemble"):
        integrator_for("nve")
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="temperature"):
            integrator_for("nvt", temperature_K=bad)
        with pytest.raises(ValueError, match="timestep"):
            integrator_for("npt", timestep_fs=bad)
        with pytest.raises(ValueError, match="friction"):
            integrator_for("nvt", friction_per_fs=bad)
    assert isinstance(integrator_for("nvt", friction_per_fs=0.05), Langevin)
    assert integrator_for("nvt", friction_per_fs=0.05).damping_fs == pytest.approx(20.0)
    bias = UncertaintyBias(gradient_source, tau=1.0)
    npt = integrator_for("npt", pressure_GPa=-0.5, atoms=silicon, calculator=bias)
    driver = IndependentWalkers([silicon], bias, npt, acquisition=UncertaintyStop(3, 1e6, interval=1), seed=1)
    assert len(driver.run(1)) == 3 and bias.results["stress"].shape == (6,)


def test_two_pass_bias_equals_one_pass(silicon, gradient_source):
    from skmd.atoms.calculator import MACEDescriptorCalculator

    atoms = rattled(silicon, 0.1, seed=21)
    one = UncertaintyBias(gradient_source, tau=1.5, adaptive=False)
    two = UncertaintyBias(MACEDescriptorCalculator(gradient_source.model), uncertainty=gradient_source, tau=1.5,
                          adaptive=False)
    values = []
    for calc in (one, two):
        atoms.calc = calc
        values.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(),
                       calc.results["uncertainty"], calc.results["atomic_uncertainties"]))
    for first, second in zip(*values):
        assert np.allclose(first, second, rtol=1e-9, atol=1e-12)
