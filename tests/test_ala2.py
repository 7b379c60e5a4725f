"""Atomistic SKMD on alanine dipeptide: dynamics, schedule, the AL loop with xTB, kill and resume."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mace")
pytest.importorskip("tblite")

from skmd.atoms.alanine import alanine_dipeptide, ramachandran  # noqa: E402
from skmd.atoms.calculator import MACEDescriptorCalculator  # noqa: E402
from skmd.atoms.dynamics import AtomsSKMD, BrownianDynamics, LangevinDynamics  # noqa: E402
from skmd.atoms.mace_models import build_mace, load_mace  # noqa: E402
from skmd.atoms.oracle import ENERGY_KEY, FORCES_KEY  # noqa: E402
from skmd.md.base import DivergenceWarning  # noqa: E402
from skmd.studies.ala2 import Ala2Config, Study  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY = dict(iterations=1, n_particles=3, n_candidates=4, steps=5, n_select=4, burn_in=10, snapshot_interval=5,
            test_size=4, test_candidates=6, test_steps=5, surrogate_frames=8, surrogate_stride=5, surrogate_epochs=10,
            finetune_epochs=2, finetune_switch_epoch=1, valid_fraction=0.25, backend="numpy")


@pytest.fixture(scope="module")
def calculator():
    return MACEDescriptorCalculator(build_mace(channels=8, max_L=0, seed=3))


@pytest.fixture(scope="module")
def ensemble():
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(4):
        atoms = alanine_dipeptide()
        atoms.positions += 0.05 * rng.standard_normal(atoms.positions.shape)
        frames.append(atoms)
    return frames


def test_ramachandran_angles_of_the_stored_c7eq_structure():
    atoms = alanine_dipeptide()
    phi, psi = ramachandran(atoms)
    assert phi == pytest.approx(-80.6, abs=0.5) and psi == pytest.approx(78.1, abs=0.5)
    assert phi == pytest.approx(atoms.get_dihedral(1, 3, 4, 6) - 360.0, abs=1e-6)
    assert ramachandran([atoms, atoms]).shape == (2, 2)
    with pytest.raises(ValueError, match="22 atoms"):
        ramachandran(np.zeros((5, 3)))


def test_one_model_call_per_step_and_the_two_phase_schedule(calculator, ensemble):
    before = calculator.calls
    sampler = AtomsSKMD(ensemble, calculator, amplitude=5.0, steps=4, explore_fraction=0.5, seed=1, backend="numpy")
    frozen_calls = calculator.calls - before
    candidates = sampler.run(8)
    assert frozen_calls == len(ensemble)
    assert calculator.calls - before - frozen_calls == 8 * (4 + 1)   # steps + the end point, per move
    assert len(candidates) == 8 and [c.info["skmd_particle"] for c in candidates] == [0, 1, 2, 3, 0, 1, 2, 3]
    amplitudes, bandwidths = np.array(sampler.kernel_history).T
    np.testing.assert_allclose(amplitudes[:4], 5.0)
    np.testing.assert_allclose(amplitudes[4:], 5.0 * np.array([0.875, 0.75, 0.625, 0.5]))
    np.testing.assert_allclose(bandwidths[4:], bandwidths[3] * np.array([0.875, 0.75, 0.625, 0.5]))
    assert len(set(np.round(bandwidths[:4], 12))) > 1   # the median is re-evaluated every exploration move


def test_zero_amplitude_skmd_is_brownian_dynamics_on_the_same_noise(calculator, ensemble):
    kwargs = dict(temperature_K=300.0, timestep=0.1, friction=75.0, steps=6, seed=4)
    plain = BrownianDynamics(ensemble, calculator, **kwargs).run(4)
    stein = AtomsSKMD(ensemble, calculator, amplitude=0.0, backend="numpy", **kwargs).run(4)
    for a, b in zip(plain, stein):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-12)
    again = BrownianDynamics(ensemble, calculator, **kwargs).run(4)
    np.testing.assert_array_equal(again[-1].positions, plain[-1].positions)
    moved = np.linalg.norm(plain[0].positions - ensemble[0].positions)
    assert 0.0 < moved < 0.5


def test_stein_force_changes_the_path(calculator, ensemble):
    kwargs = dict(temperature_K=50.0, steps=6, seed=4, backend="numpy")
    weak = AtomsSKMD(ensemble, calculator, amplitude=0.0, **kwargs).run(1)[0]
    strong = AtomsSKMD(ensemble, calculator, amplitude=50.0, **kwargs).run(1)[0]
    assert np.abs(weak.positions - strong.positions).max() > 1e-6


def test_langevin_baseline_keeps_momenta_between_moves(calculator, ensemble):
    sampler = LangevinDynamics(ensemble, calculator, temperature_K=700.0, steps=5, seed=2)
    candidates = sampler.run(4)
    assert len(candidates) == 4 and all(np.any(p.get_momenta()) for p in sampler.particles)
    assert not np.allclose(candidates[0].positions, ensemble[0].positions)


def test_diverging_moves_are_dropped_never_candidates(calculator, ensemble):
    sampler = BrownianDynamics(ensemble, calculator, temperature_K=300.0, friction=1e-5, steps=20, seed=0,
                               max_restarts=1)
    with pytest.warns(DivergenceWarning, match="dropped"):
        candidates = sampler.run(2)
    assert candidates == [] and sampler.dropped_moves == [0, 1]
    np.testing.assert_array_equal(sampler.particles[0].positions, ensemble[0].positions)


def test_bad_input_is_refused_before_any_work(calculator, ensemble):
    with pytest.raises(ValueError, match="at least 2"):
        AtomsSKMD(ensemble[:1], calculator)
    with pytest.raises(ValueError, match="same atoms"):
        BrownianDynamics([ensemble[0], ensemble[0][:-1]], calculator, steps=1)
    with pytest.raises(ValueError, match="descriptor"):
        from skmd.atoms.oracle import gfn2_xtb
        AtomsSKMD(ensemble, gfn2_xtb())
    with pytest.raises(ValueError, match="cannot select"):
        Ala2Config(n_select=400).validate()
    with pytest.raises(ValueError, match="unknown samplers"):
        Ala2Config(samplers=("md900",)).validate()


@pytest.mark.slow
def test_end_to_end_iteration_with_xtb_labels_and_mace_training(tmp_path):
    """Surrogate built from xTB labels, test set, one SKMD and one MD iteration, LoRA fine-tuning."""
    config = Ala2Config(samplers=("skmd", "md300"), **TINY)
    results = Study(config, tmp_path, log=lambda *_: None).run()
    assert (tmp_path / "surrogate" / "surrogate.model").is_file()
    assert results["test_size"] == 4 and results["oracle_calls"] == 8 + 4 + 2 * 4
    for name in ("skmd", "md300"):
        metrics = results["samplers"][name]["iterations"][0]
        assert metrics["n_train"] == 4 and np.isfinite(metrics["energy_rmse"]) and np.isfinite(metrics["force_rmse"])
        train = tmp_path / "samplers" / name / "iter01" / "train.extxyz"
        log = (tmp_path / "samplers" / name / "iter01" / "finetune" / "finetuned.stdout").read_text()
        assert "Injecting LoRA layers with rank=4" in log and "train=3, valid=1" in log
        from ase.io import read
        frames = read(train, ":")
        assert all(ENERGY_KEY in f.info and FORCES_KEY in f.arrays for f in frames)
        model = load_mace(tmp_path / "samplers" / name / "iter01" / "model.model")
        assert sum(p.numel() for p in model.parameters()) > 0
        assert len(results["samplers"][name]["phi_psi"]) == 4
    assert (tmp_path / "ramachandran.png").stat().st_size > 10_000 and (tmp_path / "rmse.png").is_file()
    again = Study(config, tmp_path, log=lambda *_: None).run()   # a finished run is not redone
    assert again["oracle_calls"] == results["oracle_calls"]
    with pytest.raises(ValueError, match="other settings"):
        Study(replace(config, steps=6), tmp_path)


SLOW_ORACLE = '''
import time
from tblite.ase import TBLite

class SlowTBLite(TBLite):
    """GFN2-xTB that takes 0.08 s longer per call, so that a kill lands mid-labelling."""
    def calculate(self, *args, **kwargs):
        time.sleep(0.08)
        super().calculate(*args, **kwargs)

def factory():
    return SlowTBLite(method="GFN2-xTB", verbosity=0)
'''


def _run_script(config, out):
    return textwrap.dedent(f"""
        import json, slow_oracle
        from skmd.studies.ala2 import Ala2Config, Study
        config = Ala2Config(**json.loads({json.dumps(json.dumps(config))!s}))
        Study(config, {str(out)!r}, calculator_factory=slow_oracle.factory).run()
        """)


@pytest.mark.slow
def test_kill_and_resume_loses_no_label_and_sends_nothing_twice(tmp_path):
    (tmp_path / "slow_oracle.py").write_text(SLOW_ORACLE)
    settings = {**TINY, "iterations": 2, "samplers": ["skmd"], "test_size": 6, "test_candidates": 6,
                "n_candidates": 6, "n_select": 6}
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    script = _run_script(settings, out)
    process = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    labels = out / "labels" / "skmd" / "iter01"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(labels.glob("*.extxyz"))) < 2 and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = len((out / "labels" / "oracle_calls.log").read_text().splitlines())
    assert 8 + 6 + 2 <= killed_at < 8 + 6 + 12   # surrogate data, test set, part of iteration 1
    finished = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    keys = (out / "labels" / "oracle_calls.log").read_text().split()
    assert len(keys) == len(set(keys)), "a configuration went to the oracle twice"
    results = json.loads((out / "results.json").read_text())
    assert results["oracle_calls"] == len(keys) <= 8 + 6 + 12
    history = results["samplers"]["skmd"]["iterations"]
    interrupted = [r for h in history for r in h["failures"].values() if r.startswith("interrupted")]
    assert len(interrupted) <= 1
    assert sum(h["n_labelled"] for h in history) + len(interrupted) == 12
    assert history[-1]["n_train"] == 12 - len(interrupted)


@pytest.mark.slow
def test_example_notebook_cells_compile_and_its_setup_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(REPO / "examples" / "alanine_dipeptide.ipynb", as_version=4)
    cells = [c.source for c in notebook.cells if c.cell_type == "code"]
    for source in cells:
        compile(source, "<notebook cell>", "exec")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(cells[0], namespace)
    assert namespace["config"].n_particles == 6 and (tmp_path / "runs" / "ala2-notebook" / "config.json").exists()


def test_cli_refuses_bad_choices_before_any_work(tmp_path, capsys):
    from skmd.cli.main import main
    assert main(["ala2", "--out", str(tmp_path / "a")]) == 2
    assert main(["ala2", "--quick", "--full", "--out", str(tmp_path / "b")]) == 2
    assert main(["ala2", "--quick", "--calculator", "no_such_module:factory", "--out", str(tmp_path / "c")]) == 2
    assert main(["ala2", "--quick", "--surrogate", str(tmp_path / "missing.model"), "--out", str(tmp_path / "d")]) == 2
    errors = capsys.readouterr().err
    assert "choose --quick" in errors and "cannot import" in errors and "no surrogate model file" in errors
