"""Batched model calls: collated MACE evaluation, batchable calculators, and the lockstep driver.

The lockstep driver must give the walks of the one-by-one driver (same seeds, same candidates,
same restarts and dropped moves, same traces) while making one model call per step for all walkers.
"""
import threading

import numpy as np
import pytest

pytest.importorskip("mace")

from conftest import rattled_copies  # noqa: E402

from ase.build import bulk, molecule  # noqa: E402
from ase.calculators.calculator import CalculationFailed  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402

from skmd.al.traces import Trace  # noqa: E402
from skmd.tools.divergence import DivergenceWarning  # noqa: E402
from skmd.atoms import (NPT, CommitteeBias, IndependentWalkers, Langevin, MACEDescriptorCalculator,  # noqa: E402
                        build_mace)
from skmd.atoms.batching import evaluate_many, is_batchable  # noqa: E402
from skmd.atoms.descriptors import MACEDescriptor  # noqa: E402
from skmd.atoms.stein_bias import freeze, freeze_many  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return build_mace(channels=8, seed=1)


@pytest.fixture(scope="module")
def silicon_model():
    return build_mace(channels=8, atomic_numbers=[14], r_max=4.0, seed=1)


def _run(calculator, members, integrator, lockstep, moves, steps=8, trace=True):
    driver = IndependentWalkers(members, calculator, integrator, steps=steps, seed=5, lockstep=lockstep)
    observer = Trace(lambda atoms: [atoms.positions[0, 0]], interval=2)
    if trace:
        driver.observers.append(observer)
    candidates = driver.run(moves)
    return driver, candidates, observer.records


def _same_walks(first, second, atol=1e-9):
    (one, candidates_one, trace_one), (two, candidates_two, trace_two) = first, second
    assert len(candidates_one) == len(candidates_two) > 0
    for a, b in zip(candidates_one, candidates_two):
        assert a.info == b.info
        np.testing.assert_allclose(a.positions, b.positions, atol=atol, rtol=0)
        np.testing.assert_allclose(a.cell.array, b.cell.array, atol=atol, rtol=0)
    assert one.dropped == two.dropped and one.moves_done == two.moves_done
    np.testing.assert_allclose(np.array(trace_one), np.array(trace_two), atol=atol, rtol=0)
    for a, b in zip(one.particles, two.particles):
        np.testing.assert_allclose(a.positions, b.positions, atol=atol, rtol=0)


def test_collated_evaluation_equals_one_structure_at_a_time(model, silicon_model):
    frames = rattled_copies(molecule("CH3CH2OH"), 3) + [molecule("H2O")]
    for pooling, subset in (("sum", None), ("mean", [0, 1, 2])):
        descriptor = MACEDescriptor(model, pooling=pooling, subset=subset, max_atoms=12)  # several chunks
        together = descriptor.evaluate_many(frames)
        assert len(descriptor.last_chunks) > 1
        for atoms, result in zip(frames, together):
            alone = descriptor.evaluate(atoms)
            for key in ("forces", "descriptor"):
                np.testing.assert_allclose(result[key], alone[key], atol=1e-12, rtol=0)
            assert result["energy"] == pytest.approx(alone["energy"], abs=1e-10)
    cells = rattled_copies(bulk("Si", "diamond", a=5.43, cubic=True), 2, scale=0.03)
    cells[1].set_cell(cells[1].cell * 1.02, scale_atoms=True)
    descriptor = MACEDescriptor(silicon_model)
    for atoms, result in zip(cells, descriptor.evaluate_many(cells, stress=True)):
        np.testing.assert_allclose(result["stress"], descriptor.evaluate(atoms, stress=True)["stress"], atol=1e-12)


def test_collated_jacobians_and_frozen_members_equal_one_by_one(model):
    frames = rattled_copies(molecule("CH3CH2OH"), 3)
    calculator = MACEDescriptorCalculator(model)
    for member, atoms in zip(freeze_many(frames, calculator), frames):
        alone = freeze(atoms, calculator)
        for key in ("forces", "descriptor", "jacobian"):
            np.testing.assert_allclose(getattr(member, key), getattr(alone, key), atol=1e-12, rtol=0)
    # and the Jacobian is the derivative of the descriptor (central differences, one coordinate)
    descriptor = calculator.descriptor
    values, jacobian = descriptor.jacobian_many(frames[:1])[0]
    shifted = [frames[0].copy(), frames[0].copy()]
    shifted[0].positions[4, 1] += 1e-5
    shifted[1].positions[4, 1] -= 1e-5
    numeric = (descriptor.compute(shifted[0]) - descriptor.compute(shifted[1])) / 2e-5
    np.testing.assert_allclose(jacobian[:, 3 * 4 + 1], numeric, atol=1e-6)


def test_lockstep_md_gives_the_one_by_one_walks_with_one_call_per_step(model):
    members = rattled_copies(molecule("CH3CH2OH"), 4)
    calculator = MACEDescriptorCalculator(model)
    assert is_batchable(calculator)
    one_by_one = _run(calculator, members, Langevin(300.0, 1.0, 50.0), lockstep=False, moves=6)
    calls = calculator.calls
    lockstep = _run(calculator, members, Langevin(300.0, 1.0, 50.0), lockstep=None, moves=6)
    assert lockstep[0].lockstep
    _same_walks(one_by_one, lockstep)
    # 6 moves of 8 steps in two rounds (4 walkers, then 2): (8 + 1) calls per round, not per walker
    assert calculator.calls - calls == 2 * (8 + 1)


def test_lockstep_udd_and_npt_give_the_one_by_one_walks(model, silicon_model):
    committee = CommitteeBias([MACEDescriptorCalculator(build_mace(channels=8, seed=s)) for s in (1, 2)],
                              A=0.5, B=0.01)
    assert is_batchable(committee)
    members = rattled_copies(molecule("CH3CH2OH"), 3)
    _same_walks(_run(committee, members, Langevin(300.0, 1.0, 50.0), False, 3),
                _run(committee, members, Langevin(300.0, 1.0, 50.0), True, 3))
    cells = rattled_copies(bulk("Si", "diamond", a=5.43, cubic=True), 3, scale=0.03, seed=2)
    npt = NPT(temperature_K=300.0, pressure_GPa=1.0, timestep_fs=1.0)
    calculator = MACEDescriptorCalculator(silicon_model)
    _same_walks(_run(calculator, cells, npt, False, 3), _run(calculator, cells, npt, True, 3))


class _FailsOnce(EMT):
    """EMT that fails once, at walker 1's fourth evaluation (as an oracle's SCF might)."""

    def __init__(self):
        super().__init__()
        self.seen = {}

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        walker = atoms.info.get("walker") if atoms is not None else None
        self.seen[walker] = self.seen.get(walker, 0) + 1
        if walker == 1 and self.seen[walker] == 4:
            raise CalculationFailed("the oracle's SCF did not converge")
        super().calculate(atoms, properties, system_changes)


def test_a_failure_reaches_only_its_own_walker_and_it_restarts():
    members = rattled_copies(bulk("Cu", "fcc", a=3.6, cubic=True), 3, scale=0.02, seed=1)
    for index, atoms in enumerate(members):
        atoms.info["walker"] = index
    results = []
    for lockstep in (False, True):
        with pytest.warns(DivergenceWarning, match="move 1 of particle 1 diverged .*SCF did not converge"):
            driver, candidates, _ = _run(_FailsOnce(), members, Langevin(300.0, 2.0, 50.0), lockstep, 3, trace=False)
        results.append((driver, candidates))
    assert not is_batchable(EMT())      # a plain ASE calculator goes frame by frame, also in lockstep
    for (driver, candidates) in results:
        assert len(candidates) == 3 and driver.dropped == []
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-12)


def test_an_error_in_one_walk_stops_the_round_and_leaves_no_thread(model):
    members = rattled_copies(molecule("CH3CH2OH"), 3)
    driver = IndependentWalkers(members, MACEDescriptorCalculator(model), Langevin(300.0, 1.0, 50.0), steps=6)

    def broken(walk):
        if walk.particle == 1 and walk.step == 3:
            raise RuntimeError("a bug in an observer")
    driver.observers.append(broken)
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="a bug in an observer"):
        driver.run(3)
    assert threading.active_count() == before


def test_evaluate_many_works_with_any_calculator():
    frames = rattled_copies(bulk("Cu", "fcc", a=3.6, cubic=True), 2, scale=0.02)
    results = evaluate_many(EMT(), frames, ["energy", "forces"])
    for atoms, result in zip(frames, results):
        atoms.calc = EMT()
        assert result["energy"] == pytest.approx(atoms.get_potential_energy())
    with pytest.raises(ValueError, match="one list of properties"):
        evaluate_many(EMT(), frames, [["energy"]])


class _FirstMove:
    """A user's observer that keeps per-walk state on itself (set in start): stop once atom 0 moved 0.02 Å."""

    max_steps = 12

    def __init__(self):
        self.stopped_walks = 0

    def start(self, walk):
        self.origin = walk.atoms.positions[0].copy()

    def __call__(self, walk):
        if np.linalg.norm(walk.atoms.positions[0] - self.origin) > 0.02:
            walk.acquire("moved")
            walk.stop()
            self.stopped_walks += 1


class _FirstMoveOnTheWalk(_FirstMove):
    """The same, lockstep-safe: the per-walk state on ``walk.memory``."""

    lockstep_safe = True

    def start(self, walk):
        walk.memory[id(self)] = walk.atoms.positions[0].copy()

    def __call__(self, walk):
        self.origin = walk.memory[id(self)]
        super().__call__(walk)


def test_observers_that_keep_state_on_themselves_get_one_walk_at_a_time(model):
    members = rattled_copies(molecule("CH3CH2OH"), 4)
    calculator = MACEDescriptorCalculator(model)
    runs = []
    for observer, expected in ((_FirstMove(), False), (_FirstMoveOnTheWalk(), True)):
        driver = IndependentWalkers(members, calculator, Langevin(300.0, 1.0, 50.0), acquisition=observer, seed=2)
        assert driver.lockstep is expected
        runs.append((driver.run(4), observer.stopped_walks))
    assert runs[0][1] == runs[1][1] == 4
    for a, b in zip(runs[0][0], runs[1][0]):
        assert a.info["skmd_step"] == b.info["skmd_step"]
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-9)
