"""Where mace_run_train runs (skmd.atoms.training_process): a child forked from the warm process, which
gives the model a fresh process gives, dies with its campaign, restarts when killed, and says why it
cannot start."""
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mace")

from ase.calculators.emt import EMT  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

from skmd.al.training import MACETrainer  # noqa: E402
from skmd.atoms import training, training_process  # noqa: E402
from skmd.atoms.oracle import write_extxyz  # noqa: E402
from test_training_dtype import _copper  # noqa: E402


def _trainer():
    return MACETrainer(mode="scratch", e0s=training.isolated_atom_energies(EMT, [29]), valid_fraction=0.25,
                       scratch_epochs=2, channels=8)


@pytest.mark.slow
def test_a_warm_training_gives_the_model_a_fresh_process_gives(tmp_path, monkeypatch):
    write_extxyz(tmp_path / "train.extxyz", _copper(12, 0))
    warm = load_file(_trainer()(None, tmp_path / "train.extxyz", tmp_path / "warm", seed=3))
    log = (tmp_path / "warm" / "model.stdout").read_text()
    assert "skmd: mace_run_train on 1 torch threads (OMP_NUM_THREADS=1)" in log and "Using CPU" in log
    monkeypatch.setattr(training_process._WARM_PROCESS, "run",
                        lambda args, log_path, cwd, env: training_process.run_fresh(args, log_path, cwd, env))
    fresh = load_file(_trainer()(None, tmp_path / "train.extxyz", tmp_path / "fresh", seed=3))
    assert warm.keys() == fresh.keys() and all(np.array_equal(warm[k], fresh[k]) for k in warm)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the training")
def test_a_killed_warm_process_ends_its_training_and_the_next_one_starts_it_again(tmp_path):
    write_extxyz(tmp_path / "train.extxyz", _copper(12, 0))
    long = MACETrainer(mode="scratch", e0s={29: -0.1}, valid_fraction=0.25, scratch_epochs=100000, channels=8)
    outcome = {}

    def train():
        try:
            long(None, tmp_path / "train.extxyz", tmp_path / "long", seed=0)
        except RuntimeError as error:
            outcome["error"] = str(error)

    thread = threading.Thread(target=train)
    thread.start()
    log, deadline = tmp_path / "long" / "model.stdout", time.monotonic() + 120
    while not (log.exists() and "Epoch" in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Epoch" in log.read_text(), log.read_text()[-2000:]         # the training is under way
    first = training_process._WARM_PROCESS._process.pid
    os.kill(first, signal.SIGKILL)
    thread.join(timeout=60)
    assert "stopped during a training" in outcome["error"]
    time.sleep(1.0)
    assert not _processes_working_in(tmp_path / "long"), "the training outlived its warm process"
    with pytest.raises(RuntimeError, match="wrote no help.model"):      # --help: mace starts and exits 0
        training.run_mace_train(["--help"], tmp_path, "help")
    assert training_process._WARM_PROCESS._process.pid != first


def _processes_working_in(directory) -> list:
    """Process ids whose current directory is ``directory`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd") == str(directory):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_relative_paths_mean_what_they_mean_in_the_calling_process(tmp_path, monkeypatch):
    """The warm process keeps the directory it started in; a training's relative paths follow the caller's."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    warm = training_process.WarmTrainingProcess()
    monkeypatch.chdir(tmp_path / "a")
    assert warm.run(["--help"], Path("first.log"), Path("."), dict(os.environ)) == 0
    monkeypatch.chdir(tmp_path / "b")
    assert warm.run(["--help"], Path("second.log"), Path("."), dict(os.environ)) == 0
    warm.close()
    assert (tmp_path / "a" / "first.log").is_file() and (tmp_path / "b" / "second.log").is_file()
    assert "--train_file" in (tmp_path / "b" / "second.log").read_text()


def test_a_warm_process_that_cannot_import_mace_says_so(tmp_path, monkeypatch):
    fake = tmp_path / "fake" / "mace"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no mace here')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    warm = training_process.WarmTrainingProcess()
    with pytest.raises(RuntimeError, match=r"could not start \(ImportError: no mace here\); is mace-torch installed"):
        warm.run(["--help"], tmp_path / "log", tmp_path, dict(os.environ))
    warm.close()
