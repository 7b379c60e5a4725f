"""Batched uncertainty-biased MD: many frames in one collated pass give the one-frame results, and lockstep
UB-MD walks give the candidates of one-by-one walks (docs/method.md §9)."""
import warnings

import numpy as np
import pytest

pytest.importorskip("mace")

from ase.build import bulk, molecule  # noqa: E402
from ase.calculators.singlepoint import SinglePointCalculator  # noqa: E402

from skmd.atoms.batching import is_batchable  # noqa: E402
from skmd.atoms.calculator import MACEDescriptorCalculator  # noqa: E402
from skmd.atoms.drivers import IndependentWalkers  # noqa: E402
from skmd.atoms.integrators import NPT, Langevin  # noqa: E402
from skmd.atoms.mace_models import build_mace, save_mace  # noqa: E402
from skmd.atoms.observers import UncertaintyStop  # noqa: E402
from skmd.atoms.oracle import write_extxyz  # noqa: E402
from skmd.uncertainty.factory import UBMDFactory  # noqa: E402
from skmd.tools.labels import ENERGY_KEY, FORCES_KEY  # noqa: E402
from skmd.uncertainty import EnsembleUncertainty, GradientUncertainty, UncertaintyBias  # noqa: E402
from skmd.uncertainty.graph import forward_many  # noqa: E402

warnings.filterwarnings("ignore", category=UserWarning)

LAYERS = ("readout", "readout+interactions")
ELEMENTS = (1, 6, 8, 14)


def rattled(atoms, amount, seed):
    copy = atoms.copy()
    copy.rattle(amount, seed=seed)
    return copy


def ethanols(n, seed, amount=0.08):
    return [rattled(molecule("CH3CH2OH"), amount, seed + k) for k in range(n)]


def silicons(n, seed, amount=0.08):
    frames = [rattled(bulk("Si", "diamond", a=5.43) * (1, 1, 2), amount, seed + k) for k in range(n)]
    for k, frame in enumerate(frames):     # different cells, so each frame needs its own volume and strain
        frame.set_cell(frame.cell.array @ (np.eye(3) + 0.01 * k * np.array([[1, .3, 0], [.3, -1, .2], [0, .2, .5]])),
                       scale_atoms=True)
    return frames


def labelled(frames, seed):
    """Frames with random reference energies and forces: only the calibration scales depend on them."""
    rng = np.random.default_rng(seed)
    out = []
    for atoms in frames:
        copy = atoms.copy()
        copy.calc = SinglePointCalculator(copy, energy=float(rng.normal()), forces=0.1 * rng.normal(size=(len(copy), 3)))
        out.append(copy)
    return out


@pytest.fixture(scope="module")
def model():
    return build_mace(channels=8, max_L=1, num_interactions=2, atomic_numbers=ELEMENTS, r_max=4.0, seed=1)


@pytest.fixture(scope="module", params=LAYERS)
def source(request, model):
    """A calibrated GradientUncertainty on molecules and cells alike (scales ≠ 1, so the scaling is tested)."""
    calc = GradientUncertainty(model, n_features=32, seed=0, layers=request.param)
    calc.add_training(ethanols(3, seed=0, amount=0.05) + silicons(3, seed=0, amount=0.05))
    calc.calibrate(labelled(ethanols(2, seed=50) + silicons(2, seed=50), seed=1), alpha=0.25)
    assert calc.structure_scale != 1.0 and calc.atomic_scale != 1.0
    return calc


def mixed_frames():
    """Molecules and cells interleaved: a batch is split into one pass per periodicity."""
    molecules, cells = ethanols(3, seed=20), silicons(3, seed=20)
    return [molecules[0], cells[0], cells[1], molecules[1], cells[2], molecules[2]]


def assert_same(first: dict, second: dict, keys=None):
    assert set(first) == set(second)
    for key in keys or first:
        np.testing.assert_allclose(np.asarray(first[key], float), np.asarray(second[key], float),
                                   rtol=1e-9, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("derivatives", [True, False])
def test_batched_raw_values_equal_one_frame_at_a_time(source, derivatives):
    frames = mixed_frames()
    batched = source.raw_many(frames, derivatives)
    for atoms, values in zip(frames, batched):
        alone = source.raw(atoms, derivatives)
        assert_same(values, alone)
        periodic = bool(atoms.pbc.all())
        assert ("stress" in values) == periodic and ("stress_u" in values) == (periodic and derivatives)
        assert values["atomic_u"].shape == (len(atoms),) and values["forces"].shape == (len(atoms), 3)
    # passes of at most 12 atoms (one ethanol, or up to three cells): the same values again
    small = GradientUncertainty(source.model, n_features=32, seed=0, layers=source.features.layers, max_atoms=12)
    small.structure_posterior, small.atomic_posterior = source.structure_posterior, source.atomic_posterior
    for values, chunked in zip(batched, small.raw_many(frames, derivatives)):
        assert_same(values, chunked)


def test_calculate_batch_equals_calculate(source):
    frames = mixed_frames()
    cached = frames[0].copy()
    cached.calc = source
    cached.get_forces()
    before = source.results
    batched = source.calculate_batch(frames, [["energy", "forces"]] * len(frames))
    assert is_batchable(source) and source.results is before       # the calculator's own cache is left alone
    for atoms, results in zip(frames, batched):
        copy = atoms.copy()
        copy.calc = source
        copy.get_forces()
        assert_same(results, source.results)
        assert set(results) >= {"uncertainty", "atomic_uncertainties", "uncertainty_gradient"}
        assert ("uncertainty_stress" in results) == ("stress" in results) == bool(atoms.pbc.all())
        assert results["uncertainty"] == pytest.approx(source.structure_scale * source.raw(atoms, False)["u"])


def test_training_features_are_the_same_collated_or_not(source):
    frames = mixed_frames()
    structures, atomic = source.features.compute(frames)
    for k, atoms in enumerate(frames):
        one_structure, (one_atomic,) = source.features.compute([atoms])
        np.testing.assert_allclose(structures[k], one_structure[0], rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(atomic[k], one_atomic, rtol=1e-9, atol=1e-13)


def test_one_pass_refuses_mixed_periodicity(model):
    with pytest.raises(ValueError, match="all be periodic or all not"):
        forward_many(model, mixed_frames()[:2])


@pytest.mark.parametrize("adaptive", [False, True])
def test_batched_bias_equals_the_bias_frame_by_frame(source, adaptive):
    """The bias term follows frame order, so even the adaptive window sees the frames as one by one."""
    frames = mixed_frames()
    batched_bias, single_bias = (UncertaintyBias(source, tau=0.7, window=2, adaptive=adaptive) for _ in range(2))
    assert is_batchable(batched_bias)
    batched = batched_bias.calculate_batch(frames, [["forces"]] * len(frames))
    for atoms, results in zip(frames, batched):
        copy = atoms.copy()
        copy.calc = single_bias
        copy.get_forces()                    # on a cell the bias computes stress too (one evaluation per step)
        assert_same(results, single_bias.results)
        assert ("stress" in results) == bool(atoms.pbc.all())
    if adaptive:
        assert batched[-1]["tau_forces"] > 0.0 and batched[-2]["tau_stress"] > 0.0


def test_only_one_pass_sources_that_collate_are_batchable(tmp_path, model):
    """The UB-MD calculator UBMDFactory builds is batchable; an ensemble source and the two-pass bias are not."""
    frames = []
    for k, atoms in enumerate(labelled(ethanols(7, seed=70), seed=2)):
        atoms.info[ENERGY_KEY], atoms.arrays[FORCES_KEY] = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = None
        frames.append(atoms)
    write_extxyz(tmp_path / "train.extxyz", frames[:3])
    write_extxyz(tmp_path / "calibration.extxyz", frames[3:])
    path = save_mace(model, tmp_path / "model.safetensors")
    for layers in LAYERS:
        calculator = UBMDFactory(str(path), str(tmp_path / "train.extxyz"), str(tmp_path / "calibration.extxyz"),
                                 n_features=16, alpha=0.25, feature_layers=layers)()
        assert isinstance(calculator, UncertaintyBias) and is_batchable(calculator)
    ensemble = EnsembleUncertainty([model, build_mace(channels=8, max_L=1, atomic_numbers=ELEMENTS, r_max=4.0, seed=2)])
    assert not is_batchable(ensemble) and not is_batchable(UncertaintyBias(ensemble, tau=1.0))
    assert not is_batchable(UncertaintyBias(MACEDescriptorCalculator(model), uncertainty=ensemble, tau=1.0))


class Levels:
    """Test observer: (move, step, τ_F, largest atomic u) of every step, in the order the steps ran."""

    def __init__(self):
        self.rows = []

    def __call__(self, walk):
        results = walk.results
        self.rows.append((walk.move, walk.step, results["tau_forces"], float(np.max(results["atomic_uncertainties"]))))


def walk(source, members, integrator, lockstep, moves, stop, adaptive=False, seed=3):
    """UB-MD walks of ``members``; the driver, its candidates, the step records and the largest pass."""
    bias = UncertaintyBias(source, tau=0.5, tau_stress=0.5, window=5, adaptive=adaptive)
    passes = []
    raw_many = type(source).raw_many

    def counted(frames, derivatives):
        frames = list(frames)
        passes.append(len(frames))
        return raw_many(source, frames, derivatives)

    source.raw_many = counted
    try:
        levels = Levels()
        driver = IndependentWalkers(members, bias, integrator, acquisition=[stop, levels], seed=seed, lockstep=lockstep)
        candidates = driver.run(moves)
    finally:
        del source.raw_many
    return driver, candidates, levels.rows, max(passes)


def assert_same_walks(first, second):
    (one, candidates_one, _, _), (two, candidates_two, _, _) = first, second
    assert len(candidates_one) == len(candidates_two) > 0
    for a, b in zip(candidates_one, candidates_two):
        assert a.info.keys() == b.info.keys()
        assert (a.info["skmd_move"], a.info["skmd_step"], a.info["skmd_reason"]) == \
            (b.info["skmd_move"], b.info["skmd_step"], b.info["skmd_reason"])
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-9, rtol=0)
        np.testing.assert_allclose(a.cell.array, b.cell.array, atol=1e-9, rtol=0)
        assert a.info["max_atomic_uncertainty"] == pytest.approx(b.info["max_atomic_uncertainty"], rel=1e-8)
    assert one.dropped == two.dropped and one.moves_done == two.moves_done
    for a, b in zip(one.particles, two.particles):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-9, rtol=0)


def test_lockstep_ubmd_walks_give_the_candidates_of_one_by_one_walks(source):
    """Molecules in NVT: walks that cross the threshold at different steps end at different times; four moves
    of three walkers make a full round and a round of one."""
    members = ethanols(3, seed=100, amount=0.05)
    integrator = Langevin(temperature_K=600.0, timestep_fs=1.0, damping_fs=20.0)
    stop = UncertaintyStop(10, atomic_threshold=0.6, interval=4, keep_on_crossing=True)
    batched = walk(source, members, integrator, True, 4, stop)
    single = walk(source, members, integrator, False, 4, stop)
    assert batched[3] == 3 and single[3] == 1            # one pass for all walkers, against one per walker
    assert_same_walks(batched, single)
    steps = {frame.info["skmd_move"]: frame.info["skmd_step"] for frame in batched[1]}
    assert len(set(steps.values())) > 1                  # the walks did not all end together


def test_lockstep_npt_ubmd_walks_give_the_candidates_of_one_by_one_walks(source):
    """Cells under NPT: the bias stress of each walker comes from its own strain and volume."""
    members = silicons(2, seed=200, amount=0.05)
    integrator = NPT(temperature_K=600.0, pressure_GPa=1.0, timestep_fs=1.0, tdamp_fs=50.0, pdamp_fs=300.0)
    stop = UncertaintyStop(6, atomic_threshold=1e6, interval=2)
    batched = walk(source, members, integrator, True, 2, stop)
    assert batched[3] == 2
    assert_same_walks(batched, walk(source, members, integrator, False, 2, stop))
    assert not np.allclose(batched[0].particles[0].cell.array, members[0].cell.array)   # the cells moved


def test_adaptive_lockstep_walks_run_and_repeat(source):
    """With the adaptive τ the walkers fill one shared window, interleaved in lockstep (so the walks differ from
    one-by-one walks), but the same seed gives the same walks again, and τ_F switches on once the window is full."""
    members = ethanols(3, seed=100, amount=0.05)
    integrator = Langevin(temperature_K=600.0, timestep_fs=1.0, damping_fs=20.0)
    stop = UncertaintyStop(6, atomic_threshold=1e6, interval=3)
    first = walk(source, members, integrator, True, 3, stop, adaptive=True)
    again = walk(source, members, integrator, True, 3, stop, adaptive=True)
    assert_same_walks(first, again)
    assert first[2] == again[2]
    rows = first[2]
    assert [row[0] for row in rows[:3]] == [0, 1, 2]     # the steps of the walkers interleave
    assert rows[0][2] == 0.0 and rows[-1][2] > 0.0       # τ_F is 0 until the window holds 5 evaluations
