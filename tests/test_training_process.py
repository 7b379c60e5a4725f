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
from conftest import processes_where  # noqa: E402
from test_training_dtype import _copper  # noqa: E402


def _trainer():
    return MACETrainer(mode="scratch", e0s=training.isolated_atom_energies(EMT, [29]), valid_fraction=0.25,
                       scratch_epochs=2, channels=8)


@pytest.mark.slow
def test_a_warm_training_gives_the_model_a_fresh_process_gives(tmp_path, monkeypatch):
    write_extxyz(tmp_path / "train.extxyz", _copper(12, 0))
    warm = load_file(_trainer()(None, tmp_path / "train.extxyz", tmp_path / "warm", seed=3))
    assert training_process._WARM_PROCESS._warm is not None and training_process._WARM_PROCESS.unusable is None
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

    def train(name):
        try:
            long(None, tmp_path / "train.extxyz", tmp_path / name, seed=0)
        except RuntimeError as error:
            outcome[name] = str(error)

    threads = [threading.Thread(target=train, args=(name,)) for name in ("one", "two")]   # two at once
    for thread in threads:
        thread.start()
    logs, deadline = [tmp_path / name / "model.stdout" for name in ("one", "two")], time.monotonic() + 180
    while not all(log.exists() and "Epoch" in log.read_text() for log in logs) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all("Epoch" in log.read_text() for log in logs)          # both trainings are under way
    first = training_process._WARM_PROCESS._warm.process.pid
    os.kill(first, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=60)
    assert all("stopped during a training" in outcome[name] for name in ("one", "two")), outcome
    time.sleep(1.0)
    for name in ("one", "two"):
        assert not processes_where(lambda argv, cwd: cwd == str(tmp_path / name)), "a training outlived its warm process"
    with pytest.raises(RuntimeError, match="wrote no help.model"):      # --help: mace starts and exits 0
        training.run_mace_train(["--help"], tmp_path, "help")
    assert training_process._WARM_PROCESS._warm.process.pid != first


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


@pytest.mark.slow
def test_a_warm_process_whose_imports_start_threads_is_not_forked_from(tmp_path, monkeypatch):
    """Forking a process with threads is unsafe: then every training starts fresh."""
    fake = tmp_path / "fake" / "mace"
    (fake / "cli").mkdir(parents=True)
    (fake / "__init__.py").write_text("import threading, time\n"
                                      "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n")
    (fake / "cli" / "__init__.py").write_text("")
    (fake / "cli" / "run_train.py").write_text("import sys\ndef main():\n    print('fake mace', sys.argv[1:])\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    warm = training_process.WarmTrainingProcess()
    assert warm.run(["--flag"], tmp_path / "log", tmp_path, dict(os.environ)) == 0
    assert warm.unusable == "the imports started 1 threads" and warm._warm is None
    assert "fake mace ['--flag']" in (tmp_path / "log").read_text()        # it ran, in a fresh process


@pytest.mark.slow
def test_a_warm_process_that_cannot_import_mace_says_so(tmp_path, monkeypatch):
    fake = tmp_path / "fake" / "mace"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no mace here')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    warm = training_process.WarmTrainingProcess()
    with pytest.raises(RuntimeError, match=r"could not start \(ImportError: no mace here\); is mace-torch installed"):
        warm.run(["--help"], tmp_path / "log", tmp_path, dict(os.environ))
    warm.close()
