"""The precision mace_run_train trains in (MACETrainer / FinetuneSettings / SurrogateSettings ``dtype``)."""
import numpy as np
import pytest

pytest.importorskip("mace")

from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402

from skmd.al.training import MACETrainer  # noqa: E402
from skmd.atoms import training  # noqa: E402
from skmd.atoms.oracle import write_extxyz  # noqa: E402
from skmd.tools.labels import ENERGY_KEY, FORCES_KEY  # noqa: E402


def _copper(n_frames: int, seed: int) -> list:
    """Rattled 8-atom Cu cells with EMT labels under skmd's REF_ keys."""
    frames = []
    for k in range(n_frames):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.08, seed=seed + k)
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = None
        atoms.info[ENERGY_KEY], atoms.arrays[FORCES_KEY] = energy, forces
        frames.append(atoms)
    return frames


class _Stop(Exception):
    pass


def _captured_args(monkeypatch, trainer, base, train_file, work):
    """The mace_run_train arguments ``trainer`` builds (the training itself is not run)."""
    seen = {}

    def capture(args, work_dir, name, **_):
        seen["args"] = list(args)
        raise _Stop

    monkeypatch.setattr(training, "run_mace_train", capture)
    with pytest.raises(_Stop):
        trainer(base, train_file, work, seed=0)
    return seen["args"]


def test_dtype_reaches_mace_run_train_and_a_bad_one_is_refused(tmp_path, monkeypatch):
    write_extxyz(tmp_path / "train.extxyz", _copper(8, 0))
    e0s = training.isolated_atom_energies(EMT, [29])
    for dtype in ("float32", "float64"):
        args = _captured_args(monkeypatch, MACETrainer(mode="scratch", e0s=e0s, valid_fraction=0.25, dtype=dtype), None,
                              tmp_path / "train.extxyz", tmp_path / f"scratch_{dtype}")
        assert f"--default_dtype={dtype}" in args
        assert sum(a.startswith("--default_dtype=") for a in args) == 1
    assert "--default_dtype=float64" in training._common_args("m", tmp_path / "train.extxyz", tmp_path, 0, 4, 0.25, 2)
    with pytest.raises(ValueError, match="training dtype must be one of float64, float32, got 'float16'"):
        MACETrainer(dtype="float16")
    with pytest.raises(ValueError, match="training dtype must be one of"):
        training.FinetuneSettings(mode="full", dtype="double")
    with pytest.raises(ValueError, match="training dtype must be one of"):
        training.SurrogateSettings(dtype="half")


@pytest.mark.slow
def test_a_float64_model_finetunes_in_float32_and_scores(tmp_path):
    from skmd.atoms.scoring import score_model_file
    write_extxyz(tmp_path / "old.extxyz", _copper(8, 0))
    write_extxyz(tmp_path / "new.extxyz", _copper(8, 50))
    e0s = training.isolated_atom_energies(EMT, [29])
    small = dict(channels=8, max_L=0, num_interactions=1, batch_size=4, valid_fraction=0.25)
    base = training.train_surrogate(tmp_path / "old.extxyz", tmp_path / "base", e0s,
                                    training.SurrogateSettings(epochs=2, **small), seed=0)
    tuned = MACETrainer(mode="full", e0s=e0s, epochs=2, valid_fraction=0.25, dtype="float32")(
        base, tmp_path / "new.extxyz", tmp_path / "ft32", seed=0)
    logs = "".join(path.read_text() for path in (tmp_path / "ft32" / "logs").glob("*_debug.log"))
    assert "default_dtype='float32'" in logs                      # mace itself trained in float32
    scores = score_model_file(tuned, _copper(3, 200))
    assert np.isfinite(scores["force_rmse_meV_A"]) and len(scores["per_frame"]["forces"]) == 3


def test_a_campaigns_trainer_keeps_only_what_skmd_reads(tmp_path, monkeypatch):
    """mace's pickles, checkpoints and tables go after a training (--keep-training-files keeps them)."""
    from skmd.al.training import MACETrainer

    def fake_training(self, base, train_file, work_dir, seed, valid_file=None):
        for name in ("model.model", "model_compiled.model", "foundation.model", "checkpoints/run_epoch-3.pt",
                     "results/run_train.txt", "logs/run.log", "model.stdout", "model.safetensors"):
            (work_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (work_dir / name).write_text("x")
        return work_dir / "model.safetensors"
    monkeypatch.setattr(MACETrainer, "_train", fake_training)
    for keep in (False, True):
        work = tmp_path / f"keep{keep}"
        work.mkdir()
        assert MACETrainer(keep_files=keep)(None, tmp_path / "train.extxyz", work, 0) == work / "model.safetensors"
        left = sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file())
        if keep:
            assert len(left) == 8
        else:
            assert left == ["logs/run.log", "model.safetensors", "model.stdout"]
