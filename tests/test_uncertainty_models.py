"""GradientUncertainty and EnsembleUncertainty as calculators: training updates, calibration, ensemble formulas."""
import warnings

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

from skmd.atoms.calculator import MACEDescriptorCalculator
from skmd.atoms.mace_models import build_mace
from skmd.uncertainty import EnsembleUncertainty, GradientUncertainty, conformal_scale
from skmd.uncertainty.calibration import energy_residuals, force_residuals

warnings.filterwarnings("ignore", category=UserWarning)


def small(seed):
    return build_mace(channels=8, max_L=1, num_interactions=2, seed=seed)


def frames(n, seed, amount=0.08, name="CH3OH"):
    out = []
    for k in range(n):
        atoms = molecule(name)
        atoms.rattle(amount, seed=seed + k)
        out.append(atoms)
    return out


def labelled(frames_, teacher):
    """Frames with reference energies and forces from another MACE model (the test's oracle)."""
    calc = MACEDescriptorCalculator(teacher)
    out = []
    for atoms in frames_:
        copy = atoms.copy()
        copy.calc = calc
        energy, forces = copy.get_potential_energy(), copy.get_forces()
        copy.calc = SinglePointCalculator(copy, energy=energy, forces=forces)
        out.append(copy)
    return out


@pytest.fixture(scope="module")
def source():
    calc = GradientUncertainty(small(1), n_features=64, seed=0)
    calc.add_training(frames(5, seed=0))
    return calc


def test_adding_training_structures_lowers_their_uncertainty(source):
    new = frames(3, seed=100, amount=0.3, name="CH3CH2OH")
    before = source.predict(new)["uncertainties"]
    grown = GradientUncertainty(small(1), n_features=64, seed=0)
    grown.add_training(frames(5, seed=0))
    grown.add_training(new)
    after = grown.predict(new)["uncertainties"]
    assert np.all(after < 0.5 * before)
    assert grown.structure_posterior.count == 8 and grown.atomic_posterior.count == 5 * 6 + 3 * 9


@pytest.mark.slow
def test_calibration_uses_the_conformal_quantile(source):
    validation = labelled(frames(25, seed=200, amount=0.15), small(7))
    scales = source.calibrate(validation)
    predictions = source.predict(validation)
    raw_u = predictions["uncertainties"] / source.structure_scale
    reference_e = np.array([a.get_potential_energy() for a in validation])
    e_res = energy_residuals(predictions["energies"], reference_e, [len(a) for a in validation])
    assert np.isclose(scales["structure_scale"], conformal_scale(e_res, raw_u))
    f_res = np.concatenate([force_residuals(f, a.get_forces()) for f, a in zip(predictions["forces"], validation)])
    raw_atomic = np.concatenate(predictions["atomic_uncertainties"]) / source.atomic_scale
    assert np.isclose(scales["atomic_scale"], conformal_scale(f_res, raw_atomic))
    assert source.coverage(validation)["structure"] >= 0.95  # on the calibration set itself, by construction
    held_out = source.coverage(labelled(frames(20, seed=300, amount=0.15), small(7)))
    assert set(held_out) == {"structure", "atomic"} and all(0.0 <= v <= 1.0 for v in held_out.values())
    atoms = frames(1, seed=400)[0]
    atoms.calc = source
    assert np.isclose(atoms.calc.get_property("uncertainty", atoms), source.predict([atoms])["uncertainties"][0])


def test_oracle_labels_calibrate_the_uncertainty(source):
    """The oracle's REF_ keys and a SinglePointCalculator holding the same labels calibrate alike."""
    from ase.calculators.emt import EMT

    from skmd.atoms import Oracle
    batch = Oracle(EMT).label(frames(6, seed=500, amount=0.1))
    assert len(batch.labelled) == 6 and all(frame.calc is None for frame in batch.labelled)
    scales = source.calibrate(batch.labelled, alpha=0.25)
    single_point = []
    for frame in batch.labelled:
        copy = frame.copy()
        copy.calc = SinglePointCalculator(copy, energy=frame.info["REF_energy"], forces=frame.arrays["REF_forces"])
        del copy.info["REF_energy"], copy.arrays["REF_forces"]
        single_point.append(copy)
    assert source.calibrate(single_point, alpha=0.25) == scales
    assert 0 < scales["structure_scale"] < np.inf and 0 < scales["atomic_scale"] < np.inf


def test_calibration_needs_labels(source):
    with pytest.raises(ValueError, match="reference labels"):
        source.calibrate(frames(25, seed=0))


@pytest.mark.slow
def test_ensemble_formulas_match_the_members():
    models = [small(seed) for seed in (1, 2, 3, 4)]
    ensemble = EnsembleUncertainty(models)
    atoms = frames(1, seed=5, amount=0.1)[0]
    energies, forces = [], []
    for model in models:
        copy = atoms.copy()
        copy.calc = MACEDescriptorCalculator(model)
        energies.append(copy.get_potential_energy())
        forces.append(copy.get_forces())
    energies, forces = np.array(energies), np.array(forces)
    atoms.calc = ensemble
    assert np.isclose(atoms.get_potential_energy(), energies.mean())
    assert np.allclose(atoms.get_forces(), forces.mean(axis=0))
    assert np.isclose(ensemble.results["uncertainty"], energies.std() / len(atoms))
    expected_atomic = np.sqrt(np.mean((forces - forces.mean(axis=0)) ** 2, axis=(0, 2)))
    assert np.allclose(ensemble.results["atomic_uncertainties"], expected_atomic)
