"""Atomistic building blocks: MACE descriptors and Jacobians, model loading, the oracle on Dask."""
import numpy as np
import pytest

pytest.importorskip("mace")
pytest.importorskip("tblite")

from ase.build import molecule  # noqa: E402

import skmd  # noqa: E402
from skmd.atoms.descriptors import MACEDescriptor  # noqa: E402
from skmd.atoms.mace_models import build_mace, load_mace, save_mace  # noqa: E402
from skmd.atoms.oracle import ENERGY_KEY, FORCES_KEY, Oracle, gfn2_xtb, write_extxyz  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return build_mace(channels=8, seed=1)


@pytest.fixture(scope="module")
def ethanol():
    return molecule("CH3CH2OH")


def test_descriptor_jacobian_matches_finite_differences(model, ethanol):
    descriptor = MACEDescriptor(model).on_positions(ethanol)
    x = ethanol.positions.ravel() + 0.02 * np.random.default_rng(0).standard_normal(ethanol.positions.size)
    d, jac = descriptor.jacobian(x)
    assert d.shape == (descriptor.descriptor.n_features,) == (16,) and jac.shape == (16, x.size)
    np.testing.assert_allclose(d, descriptor.compute(x), rtol=1e-12)
    for column in (0, 5, 17, 26):
        step = np.zeros_like(x)
        step[column] = 1e-5
        numeric = (descriptor.compute(x + step) - descriptor.compute(x - step)) / 2e-5
        np.testing.assert_allclose(jac[:, column], numeric, atol=1e-8)


def test_descriptor_kernel_is_invariant_under_rotation_translation_permutation(model, ethanol):
    descriptor = MACEDescriptor(model)
    kernel = skmd.GaussianKernel(1.0, 0.5)
    reference = descriptor.compute(ethanol)
    rotated = ethanol.copy()
    rotated.rotate(73, (1, 2, 0.5), center="COM")
    rotated.translate([3.0, -1.0, 7.5])
    hydrogens = [i for i, z in enumerate(ethanol.numbers) if z == 1]
    order = list(range(len(ethanol)))
    order[hydrogens[0]], order[hydrogens[-1]] = order[hydrogens[-1]], order[hydrogens[0]]
    permuted = rotated[order]
    for frame in (rotated, permuted):
        other = descriptor.compute(frame)
        np.testing.assert_allclose(other, reference, atol=1e-9)
        assert kernel.value(other, reference) == pytest.approx(1.0, abs=1e-12)
    distorted = ethanol.copy()
    distorted.positions += 0.1 * np.random.default_rng(1).standard_normal(ethanol.positions.shape)
    assert kernel.value(descriptor.compute(distorted), reference) < 1.0 - 1e-6


def test_pooling_options_and_bad_input(model, ethanol):
    total = MACEDescriptor(model).compute(ethanol)
    mean = MACEDescriptor(model, pooling="mean").compute(ethanol)
    np.testing.assert_allclose(mean, total / len(ethanol), rtol=1e-12)
    heavy = [i for i, z in enumerate(ethanol.numbers) if z != 1]
    subset = MACEDescriptor(model, subset=heavy).compute(ethanol)
    assert not np.allclose(subset, total)
    with pytest.raises(ValueError, match="pooling"):
        MACEDescriptor(model, pooling="max")
    with pytest.raises(ValueError, match="subset"):
        MACEDescriptor(model, subset=[0, 99]).check(ethanol)
    with pytest.raises(ValueError, match="elements"):
        MACEDescriptor(model).check(molecule("SiH4"))


def test_model_files_round_trip_in_the_safe_format(model, ethanol, tmp_path):
    path = save_mace(model, tmp_path / "small.safetensors")
    loaded = load_mace(path)
    np.testing.assert_allclose(MACEDescriptor(loaded).evaluate(ethanol)["forces"],
                               MACEDescriptor(model).evaluate(ethanol)["forces"], rtol=1e-12)
    with pytest.raises(ValueError, match="no MACE model"):
        load_mace(tmp_path / "missing.safetensors")


def test_skmd_runs_on_mace_descriptors(model, ethanol):
    """SKMD on atoms: a MACE potential and its nonlinear descriptor through the generic loop."""
    descriptor = MACEDescriptor(model).on_positions(ethanol)

    def energy_forces(x):
        outs = [descriptor.descriptor.evaluate(descriptor.atoms_at(row)) for row in x]
        return np.array([o["energy"] for o in outs]), np.array([o["forces"].ravel() for o in outs])

    potential = skmd.FunctionPotential(energy_forces, dim=descriptor.dim)
    features = skmd.FunctionDescriptor(descriptor.compute, descriptor.jacobian)
    rng = np.random.default_rng(0)
    ensemble = ethanol.positions.ravel() + 0.05 * rng.standard_normal((3, descriptor.dim))
    kT = 8.617e-5 * 300
    sampler = skmd.SKMD(potential, ensemble, kernel=skmd.GaussianKernel(1.0, "median"), kT=kT, dt=1e-3,
                        stopping=skmd.FixedSteps(3), descriptor=features, noise=1, backend="numpy")
    points = sampler.run(1)
    assert points.shape == (3, descriptor.dim) and np.all(np.isfinite(points))
    assert sampler.frozen_jac.shape == (1, 3, 16, descriptor.dim)


class FlakyCalculatorFactory:
    """An oracle that fails on one structure and returns NaN on another (picklable)."""

    def __call__(self):
        from ase.calculators.calculator import Calculator, all_changes

        class Flaky(Calculator):
            implemented_properties = ["energy", "forces"]

            def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
                super().calculate(atoms, properties, system_changes)
                shift = atoms.positions[0, 0]
                if shift > 9:
                    raise RuntimeError("SCF did not converge")
                energy = np.nan if shift > 4 else float(np.sum(atoms.positions ** 2))
                self.results = {"energy": energy, "forces": -2 * atoms.positions}

        return Flaky()


@pytest.mark.slow
def test_oracle_on_a_dask_cluster_records_failures(ethanol, tmp_path):
    distributed = pytest.importorskip("distributed")
    frames = []
    for shift in (0.0, 0.1, 5.0, 10.0):
        frame = ethanol.copy()
        frame.positions[0, 0] += shift
        frames.append(frame)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        batch = Oracle(FlakyCalculatorFactory(), executor=client.get_executor()).label(frames)
        xtb = Oracle(gfn2_xtb, executor=client.get_executor()).label(frames[:2])
    assert batch.indices == [0, 1]
    assert [i for i, _ in batch.failed] == [2, 3]
    assert "non-finite" in batch.failed[0][1] and "SCF did not converge" in batch.failed[1][1]
    local = Oracle(gfn2_xtb).label(frames[:2])
    for a, b in zip(xtb.labelled, local.labelled):
        assert a.info[ENERGY_KEY] == pytest.approx(b.info[ENERGY_KEY], abs=1e-8)
        np.testing.assert_allclose(a.arrays[FORCES_KEY], b.arrays[FORCES_KEY], atol=1e-8)
    path = tmp_path / "labels.xyz"
    write_extxyz(path, xtb.labelled)
    from ase.io import read
    back = read(path, index=":")
    assert len(back) == 2 and back[0].info[ENERGY_KEY] == pytest.approx(xtb.labelled[0].info[ENERGY_KEY])
    np.testing.assert_allclose(back[1].arrays[FORCES_KEY], xtb.labelled[1].arrays[FORCES_KEY], atol=1e-6)


def _broken(atoms, where):
    """A copy of ``atoms`` with a NaN position ("positions") or an infinite cell entry ("cell")."""
    bad = atoms.copy()
    if where == "positions":
        bad.positions[2, 1] = np.nan
    else:
        bad.pbc = True
        bad.cell = [[10.0, 0, 0], [0, np.inf, 0], [0, 0, 10.0]]
    return bad


@pytest.mark.parametrize("where, message", [("positions", "NaN or infinite positions"),
                                            ("cell", "NaN or infinite cell")])
def test_non_finite_structures_are_refused_by_every_calculator(model, ethanol, where, message):
    """A NaN coordinate gave MACEDescriptorCalculator an energy of −301.64 eV and no error."""
    from ase.calculators.emt import EMT

    from skmd.atoms import CommitteeBias, MACEDescriptorCalculator
    from skmd.atoms.bias import BiasCalculator
    from skmd.uncertainty import GradientUncertainty, UncertaintyBias

    class Nothing(BiasCalculator):
        def bias(self, atoms, base):
            return {}

    gradient = GradientUncertainty(model, n_features=8, seed=0)
    gradient.add_training([ethanol])
    descriptor_calc = MACEDescriptorCalculator(model)
    calculators = [descriptor_calc, Nothing(EMT()), CommitteeBias([EMT(), EMT()], A=1.0, B=0.1),
                   gradient, UncertaintyBias(gradient, tau=0.1)]   # SteinBias is a BiasCalculator too
    for calculator in calculators:
        bad = _broken(ethanol, where)
        bad.calc = calculator
        with pytest.raises(ValueError, match=message):
            bad.get_potential_energy()
    with pytest.raises(ValueError, match=message):
        MACEDescriptor(model).evaluate(_broken(ethanol, where))
    with pytest.raises(ValueError, match=message):
        Oracle(EMT).label([_broken(ethanol, where)])


def test_single_element_finetuning_gets_the_foundation_e0s(tmp_path, monkeypatch):
    """mace's --E0s=foundation fails for a one-element model (IndexError: invalid index of a 0-dim
    tensor); finetune reads the model's E0s itself and passes them."""
    from ase.build import bulk

    from skmd.atoms import training
    silicon = build_mace(channels=4, max_L=0, num_interactions=1, atomic_numbers=[14], atomic_energies=[-3.25], seed=0)
    path = save_mace(silicon, tmp_path / "si.safetensors")
    assert training.foundation_e0s(path) == {14: -3.25}
    frames = []
    for k in range(4):
        atoms = bulk("Si", cubic=True)
        atoms.rattle(0.05, seed=k)
        atoms.info[ENERGY_KEY], atoms.arrays[FORCES_KEY] = -10.0, np.zeros((len(atoms), 3))
        frames.append(atoms)
    write_extxyz(tmp_path / "train.extxyz", frames)
    seen = {}
    monkeypatch.setattr(training, "run_mace_train", lambda args, work_dir, name, **_: seen.setdefault("args", args))
    monkeypatch.setattr(training, "adopt_trained", lambda trained, target: target)
    training.finetune(path, tmp_path / "train.extxyz", tmp_path / "work",
                      training.FinetuneSettings(epochs=2, switch_epoch=1, valid_fraction=0.25))
    assert "--E0s={14: -3.25}" in seen["args"] and "--E0s=foundation" not in seen["args"]


def test_element_errors_name_the_elements(model):
    ammonia = molecule("NH3")
    ammonia[0].symbol = "Si"
    with pytest.raises(ValueError, match=r"has no elements Si \(it knows") as error:
        MACEDescriptor(model).evaluate(ammonia)
    assert "int64" not in str(error.value)


def test_npt_pressure_is_bounded():
    from skmd.atoms import NPT
    assert NPT(pressure_GPa=-500.0).pressure_GPa == -500.0
    with pytest.raises(ValueError, match="within ±1000 GPa.*Earth's centre"):
        NPT(pressure_GPa=1e6)


def test_uncertainty_stop_warns_when_the_starts_are_already_above_the_threshold(ethanol):
    from ase.calculators.calculator import Calculator

    class FixedUncertainty(Calculator):
        implemented_properties = ["energy", "forces", "uncertainty", "atomic_uncertainties"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            super().calculate(atoms, properties, system_changes)
            shift = float(self.atoms.positions[0, 0])
            self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3)), "uncertainty": 0.01,
                            "atomic_uncertainties": np.full(len(self.atoms), 1.5 + shift)}

    starts = [ethanol.copy() for _ in range(3)]
    for k, start in enumerate(starts):
        start.positions -= start.positions[0] - [0.5 * k, 0, 0]   # max atomic u: 1.5, 2.0, 2.5 eV/Å
    stop = skmd.atoms.UncertaintyStop(10, atomic_threshold=1.8)
    with pytest.warns(UserWarning, match=r"2 of 3 starting structures already exceed the atomic threshold 1.8 eV/Å "
                                         r"\(their calibrated uncertainty: 1.5 to 2.5 eV/Å\)"):
        levels = stop.check_starts(FixedUncertainty(), starts)
    assert [round(level[1], 6) for level in levels] == [1.5, 2.0, 2.5]
