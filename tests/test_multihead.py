"""Multi-head fine-tuning with replay (mace_run_train --multiheads_finetuning, skmd al --finetune multihead)."""
import numpy as np
import pytest

pytest.importorskip("mace")

from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402
from ase.calculators.singlepoint import SinglePointCalculator  # noqa: E402
from ase.io import read, write  # noqa: E402

from skmd.atoms import training  # noqa: E402
from skmd.atoms.oracle import write_extxyz  # noqa: E402
from skmd.tools.labels import ENERGY_KEY, FORCES_KEY, STRESS_KEY  # noqa: E402


def _copper(lattice_A: float, n_frames: int, seed: int, ref_keys: bool = True) -> list:
    """Rattled 8-atom Cu cells labelled by EMT: under REF_ keys, or in a SinglePointCalculator."""
    frames = []
    for k in range(n_frames):
        atoms = bulk("Cu", "fcc", a=lattice_A, cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.08, seed=seed + k)
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        if ref_keys:
            atoms.calc = None
            atoms.info[ENERGY_KEY], atoms.arrays[FORCES_KEY] = energy, forces
        else:
            atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    return frames


def test_settings_need_a_replay_file_for_multihead_only():
    with pytest.raises(ValueError, match="'multihead' needs a replay_file"):
        training.FinetuneSettings(mode="multihead")
    with pytest.raises(ValueError, match="used only by fine-tuning mode 'multihead', not 'lora'"):
        training.FinetuneSettings(mode="lora", replay_file="old.extxyz")
    assert training.FinetuneSettings(mode="multihead", replay_file="old.extxyz").replay_file == "old.extxyz"


def test_replay_copy_checks_labels_elements_and_size(tmp_path):
    good = tmp_path / "replay.xyz"
    write(str(good), _copper(3.6, 4, 0, ref_keys=False), format="extxyz")   # energy=/forces= columns
    copy = training.replay_copy(good, tmp_path / "copy.extxyz", {29: 3.5}, valid_fraction=0.25)
    frames = read(str(copy), ":")
    assert len(frames) == 4 and all(ENERGY_KEY in a.info and FORCES_KEY in a.arrays for a in frames)
    np.testing.assert_allclose(frames[1].arrays[FORCES_KEY], read(str(good), 1).get_forces())
    assert len(read(str(training.replay_copy(good, copy, {29: 3.5}, 0.25)), ":")) == 4   # rewritten, not appended

    stressed = _copper(3.6, 4, 0)
    for atoms in stressed:
        atoms.info[STRESS_KEY] = np.full(6, 0.01)
    write_extxyz(tmp_path / "stressed.extxyz", stressed)
    assert STRESS_KEY not in read(str(training.replay_copy(tmp_path / "stressed.extxyz", copy, {29: 3.5}, 0.25)),
                                  0).info                    # the new data has no stress either
    np.testing.assert_allclose(read(str(training.replay_copy(tmp_path / "stressed.extxyz", copy, {29: 3.5}, 0.25,
                                                             stress=True)), 0).info[STRESS_KEY], 0.01)

    unlabelled = _copper(3.6, 4, 0)
    unlabelled[2].calc, unlabelled[2].info = None, {}
    write_extxyz(tmp_path / "unlabelled.extxyz", unlabelled)
    with pytest.raises(ValueError, match="frame 2 has no reference labels"):
        training.replay_copy(tmp_path / "unlabelled.extxyz", copy, {29: 3.5})
    with pytest.raises(ValueError, match="holds Cu, which the base model does not know"):
        training.replay_copy(good, copy, {13: -0.1})
    with pytest.raises(ValueError, match="too few"):
        training.replay_copy(good, copy, {29: 3.5}, valid_fraction=0.1)
    with pytest.raises(ValueError, match="no replay file"):
        training.replay_copy(tmp_path / "missing.extxyz", copy, {29: 3.5})


def test_a_one_element_foundation_pickle_has_e0s_mace_can_index(tmp_path):
    """mace 0.3.16 squeezes the foundation's (1, n) E0 table for pt_head and indexes it per element, which
    fails for n = 1; the pickle skmd writes holds the one head's E0s as (n,), and predicts the same."""
    import torch

    from skmd.atoms.mace_models import build_mace, load_mace, save_mace
    from skmd.atoms.model_files import write_training_pickle
    model = build_mace(channels=4, max_L=0, num_interactions=1, atomic_numbers=[29], atomic_energies=[[3.5]])
    assert model.atomic_energies_fn.atomic_energies.shape == (1, 1)    # as mace_run_train saves one head
    safe = save_mace(model, tmp_path / "cu.safetensors")
    pickled = load_mace(write_training_pickle(safe, tmp_path / "foundation.model"), trusted=True)
    assert pickled.atomic_energies_fn.atomic_energies.shape == (1,)
    frame = _copper(3.6, 1, 0)[0]
    from skmd.atoms.descriptors import MACEDescriptor
    assert MACEDescriptor(pickled).evaluate(frame)["energy"] == \
        pytest.approx(MACEDescriptor(load_mace(safe)).evaluate(frame)["energy"], abs=1e-10)
    assert torch.is_tensor(pickled.atomic_energies_fn.atomic_energies)


def test_builtin_trainer_passes_the_replay_file_to_multihead(tmp_path, monkeypatch):
    from skmd.al import training as al_training
    from skmd.al.config import CampaignConfig
    from skmd.al.training import builtin_trainer
    seen = {}
    monkeypatch.setattr(al_training, "finetune", lambda base, train, work, settings, seed, name, valid_file=None, **_:
                        seen.update(s=settings, valid=valid_file))
    config = CampaignConfig(structures="s.xyz", model="base.safetensors", finetune="multihead", replay="old.extxyz")
    frames = _copper(3.6, 12, 0)
    for k, atoms in enumerate(frames):                  # ten starting labels and a batch of two
        atoms.info["skmd_source"] = "start/train" if k < 10 else "md/iter01"
    write_extxyz(tmp_path / "train.extxyz", frames)
    builtin_trainer(config, {})("base.safetensors", tmp_path / "train.extxyz", tmp_path, seed=0)
    assert seen["s"].mode == "multihead" and seen["s"].replay_file == "old.extxyz"
    valid, fit = read(str(seen["valid"]), ":"), read(str(tmp_path / "fit.extxyz"), ":")
    assert len(valid) == 1 and len(fit) == 11                       # floor(0.1 × 10) and the batch of 2 trains whole
    assert [a.info["skmd_source"] for a in fit[-2:]] == ["md/iter01"] * 2
    assert builtin_trainer(CampaignConfig(structures="s.xyz", finetune="full"), {}).replay is None


@pytest.mark.slow
def test_multihead_finetuning_keeps_the_new_head_and_trains_on_the_replay(tmp_path):
    from mace.calculators import MACECalculator

    from skmd.atoms.mace_models import load_mace
    old, new = _copper(3.6, 12, 0), _copper(3.6 * 1.06, 12, 100)     # the base's data; a strained cell
    write_extxyz(tmp_path / "old.extxyz", old)
    write(str(tmp_path / "replay.xyz"), _copper(3.6, 12, 0, ref_keys=False), format="extxyz")
    write_extxyz(tmp_path / "new.extxyz", new)
    e0s = training.isolated_atom_energies(EMT, [29])
    small = dict(channels=8, max_L=0, num_interactions=1, batch_size=4, valid_fraction=0.25)
    base = training.train_surrogate(tmp_path / "old.extxyz", tmp_path / "base", e0s,
                                    training.SurrogateSettings(epochs=6, **small), seed=0)
    settings = training.FinetuneSettings(mode="multihead", replay_file=str(tmp_path / "replay.xyz"), epochs=8,
                                         switch_epoch=6, batch_size=4, valid_fraction=0.25)
    work = tmp_path / "mh"
    tuned = training.finetune(base, tmp_path / "new.extxyz", work, settings, seed=0, name="model")

    model = load_mace(tuned)
    assert list(model.heads) == [training.NEW_HEAD]
    before, after = training.rmse(load_mace(base), new), training.rmse(model, new)
    assert np.isfinite(list(after.values())).all()
    assert after["energy_rmse"] < before["energy_rmse"] and after["force_rmse"] < before["force_rmse"]

    # the kept head is the fine-tuned one: mace's two-head model gives the same on its "Default" head
    two_heads = load_mace(work / "model_stagetwo.model", trusted=True)     # the file finetune adopted
    assert sorted(two_heads.heads) == sorted(["pt_head", training.NEW_HEAD])
    frame = new[0].copy()
    frame.calc = MACECalculator(models=[two_heads], head=training.NEW_HEAD, default_dtype="float64", device="cpu")
    from skmd.atoms.descriptors import MACEDescriptor
    kept = MACEDescriptor(model).evaluate(new[0])
    assert kept["energy"] == pytest.approx(frame.get_potential_energy(), abs=1e-8)
    np.testing.assert_allclose(kept["forces"], frame.get_forces(), atol=1e-8)
    frame.calc = MACECalculator(models=[two_heads], head="pt_head", default_dtype="float64", device="cpu")
    assert abs(kept["energy"] - frame.get_potential_energy()) > 1e-6

    # the replay frames were trained on, from local files only
    log, debug_log = (work / "model.stdout").read_text(), next((work / "logs").glob("*_debug.log")).read_text()
    assert "Using heads: ['Default', 'pt_head']" in log and "Head 'pt_head' training dataset size: 9" in log
    assert f"pt_train_file='{work / 'replay.extxyz'}'" in debug_log
    assert "Materials Project" not in log and "Downloading" not in log
    assert len(read(str(work / "replay.extxyz"), ":")) == 12


@pytest.mark.slow
def test_the_builtin_trainer_validates_on_part_of_each_batch_and_trains_on_the_newest(tmp_path):
    """MACETrainer in multihead mode: mace trains on the fit file and stops early on the valid file it is given
    (mace's log says train=11, valid=3); the two newest labels are all in training."""
    from skmd.al.training import MACETrainer
    old = _copper(3.6, 12, 0)
    write_extxyz(tmp_path / "old.extxyz", old)
    e0s = training.isolated_atom_energies(EMT, [29])
    base = training.train_surrogate(tmp_path / "old.extxyz", tmp_path / "base", e0s,
                                    training.SurrogateSettings(epochs=2, channels=8, max_L=0, num_interactions=1,
                                                               batch_size=4, valid_fraction=0.25), seed=0)
    frames = old + _copper(3.6 * 1.04, 2, 100)
    for k, atoms in enumerate(frames):
        atoms.info["skmd_source"] = "start/train" if k < 12 else "md/iter01"
    write_extxyz(tmp_path / "train.extxyz", frames)
    trainer = MACETrainer(mode="multihead", e0s=e0s, epochs=2, valid_fraction=0.25, replay=str(tmp_path / "old.extxyz"))
    tuned = trainer(base, tmp_path / "train.extxyz", tmp_path / "mh", seed=0)
    assert tuned.is_file()
    text = "".join(path.read_text() for path in (tmp_path / "mh").rglob("*.stdout"))
    assert "train=11, valid=3," in text
    assert [a.info["skmd_source"] for a in read(str(tmp_path / "mh" / "fit.extxyz"), ":")][-2:] == ["md/iter01"] * 2
