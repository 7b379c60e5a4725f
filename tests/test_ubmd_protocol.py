"""Uncertainty-biased MD as its authors run it: chained starts, a random calibration split that is also the
early-stopping set, interval frames kept beside the crossing frame, heavy-atom-only bias, and the
``ubmd-ala2-paper`` preset end to end at a quick scale."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("mace")

from ase.build import bulk, molecule  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402

from skmd.al.config import make_config  # noqa: E402
from skmd.al.iteration import IterationStages  # noqa: E402
from skmd.al.presets import read_preset  # noqa: E402
from skmd.al.run_dir import RunDir  # noqa: E402
from skmd.al.splits import split_labels, validation  # noqa: E402
from skmd.atoms.store import atomic_write_frames, read_frames  # noqa: E402
from skmd.tools.labels import ENERGY_KEY, FORCES_KEY  # noqa: E402


def labelled_cu(n, seed, source=None):
    """``n`` rattled Cu cells with EMT labels stored under skmd's REF_ keys; ``info["skmd_source"]`` set."""
    frames = []
    for i in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
        atoms.rattle(0.05, seed=1000 * seed + i)
        atoms.calc = EMT()
        frame = atoms.copy()
        frame.info[ENERGY_KEY], frame.arrays[FORCES_KEY] = atoms.get_potential_energy(), atoms.get_forces()
        if source:
            frame.info["skmd_source"] = source
        frames.append(frame)
    return frames


def config(tmp_path, **settings):
    structure = tmp_path / "cu.extxyz"
    atomic_write_frames(structure, [bulk("Cu", "fcc", a=3.61, cubic=True)])
    return make_config({"structures": str(structure), "out": str(tmp_path / "run"), "walkers": 3,
                        "start_frames": 30, **settings})


def test_chained_starts_come_from_the_previous_iterations_labelled_training_frames(tmp_path):
    c = config(tmp_path, starts="labelled")
    run = RunDir(c.out)
    out, folder = run.root, run.iteration
    start_train, start_calibration = labelled_cu(4, 0), labelled_cu(2, 1)
    atomic_write_frames(out / "start" / "train.extxyz", start_train)
    atomic_write_frames(out / "start" / "calibration.extxyz", start_calibration)
    new = labelled_cu(5, 2, source="md/iter01")
    train, calibration = split_labels(start_train, start_calibration, new, c, 1)
    atomic_write_frames(folder("md", 1) / "train.extxyz", train)
    atomic_write_frames(folder("md", 1) / "calibration.extxyz", calibration)
    stages = IterationStages(run, c, structures=[], store=None, selector=None, trainer=None)
    sampler = SimpleNamespace(name="md")

    first = stages.walker_starts(sampler, 1)
    assert len(first) == c.walkers
    assert all(any(np.allclose(f.positions, t.positions) for t in start_train) for f in first)

    second = stages.walker_starts(sampler, 2)
    trained_new = [f for f in train if f.info.get("skmd_source") == "md/iter01"]
    held_out = [f for f in calibration if f.info.get("skmd_source") == "md/iter01"]
    assert trained_new and len(second) == c.walkers
    for start in second:       # each start is a new label of iteration 1 that went to training, bare
        assert any(np.allclose(start.positions, t.positions) for t in trained_new)
        assert not any(np.allclose(start.positions, h.positions) for h in held_out)
        assert start.calc is None and not any(key.startswith("REF_") for key in {**start.arrays, **start.info})


def test_the_random_calibration_split_is_redrawn_disjoint_and_is_the_early_stopping_set(tmp_path):
    c = config(tmp_path, calibration="random", calibration_fraction=0.2)
    train0, calibration0 = labelled_cu(8, 0), labelled_cu(2, 1)
    batch1, batch2 = labelled_cu(5, 2, "md/iter01"), labelled_cu(5, 3, "md/iter02")
    train1, calibration1 = split_labels(train0, calibration0, batch1, c, 1)
    train2, calibration2 = split_labels(train1, calibration1, batch2, c, 2)
    key = lambda frames: {tuple(np.round(f.positions.ravel(), 6)) for f in frames}  # noqa: E731
    for train, calibration, every in ((train1, calibration1, train0 + calibration0 + batch1),
                                      (train2, calibration2, train0 + calibration0 + batch1 + batch2)):
        assert not key(train) & key(calibration)
        assert key(train) | key(calibration) == key(every)
        assert len(calibration) == round(0.2 * len(every))
    moved = key(calibration1) - key(calibration2)
    assert moved, "the second split is drawn afresh, so some first-split calibration frames go to training"
    calibration_file = tmp_path / "iter" / "calibration.extxyz"
    assert validation(c, calibration_file) == {"valid_file": calibration_file}
    assert validation(config(tmp_path), calibration_file) == {}


def test_a_crossing_walk_keeps_its_interval_frames_when_asked():
    from skmd.atoms.observers import UncertaintyStop, Walk
    stop = UncertaintyStop(100, atomic_threshold=1.0, interval=2, keep_on_crossing=True)
    walk = SimpleNamespace(candidates=[], step=0, atoms=molecule("H2O"), results={}, stopped=False)
    walk.acquire = lambda reason: walk.candidates.append(walk.atoms.copy())
    walk.stop = lambda: setattr(walk, "stopped", True)
    for step, peak in enumerate((0.2, 0.3, 0.4, 0.5, 1.5), start=1):
        walk.step, walk.results = step, {"uncertainty": 0.1, "atomic_uncertainties": np.array([peak, 0.0, 0.0])}
        stop(walk)
    assert walk.stopped and len(walk.candidates) == 3       # steps 2 and 4, then the crossing at step 5
    assert [c.info["max_atomic_uncertainty"] for c in walk.candidates] == [0.3, 0.5, 1.5]
    assert Walk is not None


def test_adaptive_tau_with_element_weights_uses_the_weighted_gradient():
    from skmd.atoms.mace_models import build_mace
    from skmd.uncertainty import GradientUncertainty, UncertaintyBias
    model = build_mace(channels=8, max_L=1, num_interactions=2, seed=0)
    source = GradientUncertainty(model, n_features=32)
    source.add_training([molecule("CH4")])
    window, tau = 3, 0.4
    calc = UncertaintyBias(source, tau=tau, window=window, element_weights={"H": 0.0})
    forces, gradients = [], []
    for step in range(4):
        atoms = molecule("CH3OH")
        atoms.rattle(0.1, seed=step)
        atoms.calc = calc
        atoms.get_forces()
        hydrogen = atoms.numbers == 1
        gradient = np.array(source.results["uncertainty_gradient"])
        gradient[hydrogen] = 0.0
        forces.append(np.sum(calc.results["base_forces"] ** 2))
        gradients.append(np.sum(gradient ** 2))
        if step >= window - 1:
            last = slice(step - window + 1, step + 1)
            expected = tau * np.sqrt(sum(forces[last]) / sum(gradients[last]))
            assert np.isclose(calc.results["tau_forces"], expected)
            bias = calc.results["forces"] - calc.results["base_forces"]
            assert np.all(bias[hydrogen] == 0.0) and np.abs(bias[~hydrogen]).max() > 0.0


def test_the_paper_preset_is_valid_and_unknown_element_weights_are_refused(tmp_path):
    from skmd.al.checks import check_element_weights
    c = make_config(read_preset("ubmd-ala2-paper"))
    assert (c.starts, c.calibration, c.finetune, c.ubmd_threshold, c.select) == ("labelled", "random", "scratch",
                                                                                   1.5, 8)
    assert c.ubmd_element_weights == {"H": 0.0} and c.ubmd_interval == 200 and c.steps == 20000
    with pytest.raises(ValueError, match="Xx"):
        check_element_weights({"Xx": 0.0})
    # the random split draws from every label but the test frames: 200 starting frames leave 18 < 19
    with pytest.raises(ValueError, match="as few as 18 held-out frames"):
        make_config(read_preset("ubmd-ala2-paper"), {"start_frames": 200})


@pytest.mark.slow
def test_the_paper_preset_runs_end_to_end_at_a_quick_scale(tmp_path, monkeypatch):
    pytest.importorskip("tblite")
    from skmd.cli.main import main
    monkeypatch.chdir(tmp_path)
    argv = ["al", "--preset", "ubmd-ala2-paper", "--out", "run", "--iterations", "2", "--walkers", "2",
            "--steps", "40", "--ubmd-interval", "20", "--ubmd-window", "10", "--select", "2",
            "--surrogate-epochs", "1", "--start-frames", "60", "--ubmd-alpha", "0.2"]   # 60 xTB labels, not 220
    assert main(argv) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["config"]["starts"] == "labelled" and results["config"]["calibration"] == "random"
    iterations = results["samplers"]["ubmd"]["iterations"]
    assert [m["n_labelled"] for m in iterations] == [2, 2]
    assert all(m["n_candidates"] >= 2 for m in iterations)
    second = read_frames(tmp_path / "run" / "samplers" / "ubmd" / "iter01" / "train.extxyz")
    firsts = [f for f in second if f.info.get("skmd_source") == "ubmd/iter01"]
    assert firsts, "iteration 1 labelled frames that went to training"
    # the trainer's early-stopping set is the calibration split of its iteration, read from that file
    folder = tmp_path / "run" / "samplers" / "ubmd" / "iter02"
    n_calibration = len(read_frames(folder / "calibration.extxyz"))
    n_train = len(read_frames(folder / "train.extxyz"))
    text = "".join(path.read_text() for path in (folder / "training0").rglob("*.stdout"))
    assert f"train={n_train}, valid={n_calibration}," in text


def test_dropped_walkers_go_on_from_rattled_copies_of_surviving_end_points():
    """A start that diverged in one iteration is not tried again in the next (the ala2-medium benchmark
    lost the same 5 of 30 walks in every iteration before this)."""
    from skmd.al.start import replace_dropped
    ensemble = [molecule("H2O") for _ in range(4)]
    for i, atoms in enumerate(ensemble):
        atoms.positions += 0.01 * i
    dropped = [{"move": 1, "particle": 1, "kind": "force_limit"}, {"move": 3, "particle": 3, "kind": "force_limit"}]
    replaced, which = replace_dropped(ensemble, dropped, seed=5)
    assert which == [1, 3]
    for new, source in ((1, 0), (3, 2)):   # a copy of a survivor, moved a little: SKMD needs distinct walkers
        shift = np.abs(replaced[new].positions - ensemble[source].positions)
        assert 0 < shift.max() < 0.1
    assert replaced[1] is not ensemble[0] and np.array_equal(replaced[2].positions, ensemble[2].positions)
    again, _ = replace_dropped(ensemble, dropped, seed=5)
    assert np.array_equal(again[1].positions, replaced[1].positions)   # seeded
    assert replace_dropped(ensemble, [])[1] == []
    all_dropped = [{"particle": i} for i in range(4)]
    assert replace_dropped(ensemble, all_dropped)[1] == []


def test_walker_starts_cycled_from_few_labels_are_distinct():
    """starts: labelled with fewer labelled frames than walkers repeats frames; SKMD refuses identical walkers,
    so every repeat is moved a little (seeded), and the first pass keeps the frames as they are."""
    from skmd.al.start import bare_copies
    frames = [molecule("H2O") for _ in range(2)]
    frames[1].positions += 0.2
    starts = bare_copies(frames, 5, seed=3)
    positions = [s.positions for s in starts]
    assert all(not np.array_equal(positions[i], positions[j]) for i in range(5) for j in range(i))
    assert sum(any(np.array_equal(p, f.positions) for f in frames) for p in positions) == 2
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(starts, bare_copies(frames, 5, seed=3)))


def test_the_early_stopping_split_holds_out_part_of_each_batch_and_keeps_it():
    """From each batch (frames sharing skmd_source) floor(valid_fraction × size) validate; a label keeps its side
    when later batches arrive, and a small batch trains whole (mace's split over all frames could hold out all of
    the newest labels, and every sampler then trained on the same frames)."""
    from skmd.al.splits import early_stopping_split
    frames = []
    for source, n in (("start/train", 20), ("md/iter01", 8), ("md/iter02", 3)):
        for i in range(n):
            atoms = molecule("H2O")
            atoms.info.update(skmd_source=source, index=len(frames))
            frames.append(atoms)
    fit, valid = early_stopping_split(frames, 0.25, seed=4)
    sources = [a.info["skmd_source"] for a in valid]
    assert sources.count("start/train") == 5 and sources.count("md/iter01") == 2 and "md/iter02" not in sources
    assert len(fit) + len(valid) == len(frames) and [a.info["index"] for a in fit] == sorted(a.info["index"] for a in fit)
    earlier_fit, earlier_valid = early_stopping_split(frames[:28], 0.25, seed=4)     # before md/iter02 arrived
    assert [a.info["index"] for a in earlier_valid] == [a.info["index"] for a in valid]
    other = early_stopping_split(frames, 0.25, seed=5)[1]
    assert [a.info["index"] for a in other] != [a.info["index"] for a in valid]     # the campaign's seed draws
