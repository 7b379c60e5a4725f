"""Alanine dipeptide on the atomistic engine: samplers from config, schedule, the AL loop, kill and resume, CLI."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mace")
pytest.importorskip("tblite")

from skmd.atoms import Brownian, DivergenceWarning, IndependentWalkers  # noqa: E402
from skmd.atoms.alanine import alanine_dipeptide, ramachandran  # noqa: E402
from skmd.atoms.calculator import MACEDescriptorCalculator  # noqa: E402
from skmd.atoms.mace_models import build_mace, load_mace, save_mace  # noqa: E402
from skmd.atoms.oracle import ENERGY_KEY, FORCES_KEY  # noqa: E402
from skmd.studies.ala2 import Ala2Config, MDSampler, SKMDSampler, Study  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY = dict(iterations=1, n_particles=3, n_candidates=4, steps=5, n_select=4, burn_in=10, snapshot_interval=5,
            test_size=4, test_candidates=6, test_steps=5, surrogate_frames=12, surrogate_stride=5, surrogate_epochs=30,
            finetune_epochs=2, finetune_switch_epoch=1, valid_fraction=0.25, backend="numpy")


@pytest.fixture(scope="module")
def model():
    return build_mace(channels=8, max_L=0, seed=3)


@pytest.fixture(scope="module")
def calculator(model):
    return MACEDescriptorCalculator(model)


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


def test_samplers_are_built_from_config_with_its_temperatures():
    config = Ala2Config(md_temperatures=(250.0, 900.0), samplers=("skmd", "md900"), skmd_temperature=40.0,
                        amplitude=3.0, md_damping=50.0).validate()
    skmd_sampler, md = config.chosen_samplers()
    assert isinstance(skmd_sampler, SKMDSampler) and isinstance(md, MDSampler) and md.name == "md900"
    spec = skmd_sampler.spec(10, 7, seed=5)
    assert spec.driver == "round_robin" and spec.integrator == Brownian(40.0, 0.1, 75.0) and spec.steps == 7
    assert spec.bias.temperature_K == 40.0 and spec.bias.schedule.kernel.amplitude == 3.0
    assert (spec.bias.schedule.explore, spec.bias.schedule.total) == (round(10 * 250 / 300), 10)
    md_spec = md.spec(10, 7, seed=5)
    assert md_spec.driver == "independent" and md_spec.bias is None
    assert (md_spec.integrator.temperature_K, md_spec.integrator.damping_fs) == (900.0, 50.0)
    with pytest.raises(ValueError, match="unknown or repeated samplers"):
        Ala2Config(samplers=("md300",), md_temperatures=(350.0,)).validate()
    with pytest.raises(ValueError, match="twice"):
        Ala2Config(md_temperatures=(300.0, 300.0)).validate()


def test_one_model_call_per_step_and_the_two_phase_schedule_per_iteration(calculator, ensemble):
    sampler = SKMDSampler(amplitude=5.0, explore_fraction=0.5, backend="numpy")
    before = calculator.calls
    driver = sampler.spec(8, 4, seed=1).build(ensemble, calculator)
    frozen_calls = calculator.calls - before
    candidates = driver.run(8)
    assert frozen_calls == len(ensemble)
    assert calculator.calls - before - frozen_calls == 8 * (4 + 1)   # the start and every step, per move
    assert len(candidates) == 8 and [c.info["skmd_particle"] for c in candidates] == [0, 1, 2, 3, 0, 1, 2, 3]
    moves, amplitudes, bandwidths = np.array(driver.bias.history).T
    np.testing.assert_array_equal(moves, np.arange(8))
    np.testing.assert_allclose(amplitudes[:4], 5.0)
    np.testing.assert_allclose(amplitudes[4:], 5.0 * np.array([0.875, 0.75, 0.625, 0.5]))
    np.testing.assert_allclose(bandwidths[4:], bandwidths[3] * np.array([0.875, 0.75, 0.625, 0.5]))
    assert len(set(np.round(bandwidths[:4], 12))) > 1   # the median is re-evaluated every exploration move
    next_iteration = sampler.spec(8, 4, seed=2).build(driver.particles, calculator)
    next_iteration.run(1)   # each iteration's schedule starts again at the full amplitude
    assert next_iteration.bias.history[0][:2] == (0, 5.0)


def test_zero_amplitude_skmd_is_brownian_dynamics_on_the_same_noise(calculator, ensemble):
    skmd_run = SKMDSampler(temperature_K=300.0, amplitude=0.0, backend="numpy").spec(4, 6, seed=4)
    stein = skmd_run.build(ensemble, calculator).run(4)
    plain = IndependentWalkers(ensemble, calculator, skmd_run.integrator, steps=6, seed=4).run(4)
    for a, b in zip(plain, stein):
        np.testing.assert_array_equal(a.positions, b.positions)
    moved = np.linalg.norm(plain[0].positions - ensemble[0].positions)
    assert 0.0 < moved < 0.5


def test_stein_force_changes_the_path(calculator, ensemble):
    weak = SKMDSampler(amplitude=0.0, backend="numpy").spec(1, 6, seed=4).build(ensemble, calculator).run(1)[0]
    strong = SKMDSampler(amplitude=50.0, backend="numpy").spec(1, 6, seed=4).build(ensemble, calculator).run(1)[0]
    assert np.abs(weak.positions - strong.positions).max() > 1e-6


def test_langevin_baseline_keeps_momenta_between_moves(calculator, ensemble):
    driver = MDSampler(700.0).spec(4, 5, seed=2).build(ensemble, calculator)
    candidates = driver.run(4)
    assert len(candidates) == 4 and all(np.any(p.get_momenta()) for p in driver.particles)
    assert not np.allclose(candidates[0].positions, ensemble[0].positions)


@pytest.mark.slow
def test_diverging_moves_are_dropped_never_candidates(calculator, ensemble):
    driver = IndependentWalkers(ensemble, calculator, Brownian(300.0, 0.1, friction=1e-5), steps=20, seed=0,
                                restarts=1)
    with pytest.warns(DivergenceWarning, match="max_step|force_limit|min_distance"):
        candidates = driver.run(2)
    assert candidates == [] and [d["move"] for d in driver.dropped] == [0, 1]
    np.testing.assert_array_equal(driver.particles[0].positions, ensemble[0].positions)


def test_the_samplers_of_an_iteration_give_the_same_candidates_on_any_executor(tmp_path, model, ensemble):
    surrogate = save_mace(model, tmp_path / "tiny.safetensors")
    config = Ala2Config(**{**TINY, "n_candidates": 3, "steps": 3, "n_select": 3, "valid_fraction": 0.34})
    runs = {}
    for label, executor in (("serial", None), ("threads", ThreadPoolExecutor(1))):
        study = Study(config, tmp_path / label, executor=executor, log=lambda *_: None)
        seconds = study.sample(1, surrogate, ensemble)
        assert set(seconds) == {"skmd", "md300", "md700"} and study.sample(1, surrogate, ensemble) == {}
        runs[label] = {name: study.folder(name, 1) for name in seconds}
    from skmd.atoms.store import read_frames
    for name, folder in runs["serial"].items():
        serial = read_frames(folder / "candidates.extxyz")
        threaded = read_frames(runs["threads"][name] / "candidates.extxyz")
        assert len(serial) == 3 and len(read_frames(folder / "ensemble.extxyz")) == len(ensemble)
        for a, b in zip(serial, threaded):
            np.testing.assert_array_equal(a.positions, b.positions)


@pytest.mark.slow
def test_a_spawned_process_pool_gives_the_serial_candidates(tmp_path, model, ensemble):
    """What ``skmd ala2 --workers 2`` does in iteration 1: the three samplers on two processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from skmd.atoms.store import read_frames
    surrogate = save_mace(model, tmp_path / "tiny.safetensors")
    config = Ala2Config(**{**TINY, "n_candidates": 3, "steps": 3, "n_select": 3, "valid_fraction": 0.34})
    serial = Study(config, tmp_path / "serial", log=lambda *_: None)
    serial.sample(1, surrogate, ensemble)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        pooled = Study(config, tmp_path / "pool", executor=pool, log=lambda *_: None)
        pooled.sample(1, surrogate, ensemble)
    for name in config.samplers:
        a = read_frames(serial.folder(name, 1) / "candidates.extxyz")
        b = read_frames(pooled.folder(name, 1) / "candidates.extxyz")
        assert len(a) == len(b) == 3
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.positions, y.positions)


def test_bad_settings_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="cannot select"):
        Ala2Config(n_select=400).validate()
    with pytest.raises(ValueError, match="too few for ubmd_alpha"):
        Ala2Config(samplers=("ubmd",), surrogate_frames=20).validate()
    with pytest.raises(ValueError, match="no validation frame"):
        Ala2Config(n_select=3, valid_fraction=0.25).validate()
    with pytest.raises(ValueError, match="committee needs at least 2"):
        Ala2Config(committee_size=1).validate()
    with pytest.raises(ValueError, match="no test set file"):
        Ala2Config(testset=str(tmp_path / "missing.extxyz")).validate()
    with pytest.raises(ValueError, match="amplitude"):
        Study(Ala2Config(amplitude=-3.0), tmp_path / "a")
    with pytest.raises(ValueError, match="explore_fraction"):
        Ala2Config(explore_fraction=float("nan")).validate()
    with pytest.raises(ValueError, match="seed"):
        Ala2Config(seed=-1).validate()
    with pytest.raises(ValueError, match="md_temperatures"):
        Ala2Config(md_temperatures=(-5.0,)).validate()
    assert not (tmp_path / "a").exists()


@pytest.mark.slow
def test_end_to_end_head_to_head_of_five_samplers_on_a_fixed_test_set(tmp_path):
    """xTB-labelled surrogate, a 2-model UDD committee, one iteration of skmd, md300, md700, ubmd and
    udd with LoRA fine-tuning, scored per basin on a given test set; a finished run is not redone."""
    from ase.io import read, write
    from skmd.studies.ala2_testset import SHIPPED_TESTSET, file_sha256, load_testset
    test_file = tmp_path / "test.extxyz"
    write(test_file, load_testset(SHIPPED_TESTSET)[::50], format="extxyz")
    config = Ala2Config(**{**TINY, "n_particles": 4, "n_candidates": 4, "ubmd_threshold": 50.0},
                        samplers=("skmd", "md300", "md700", "ubmd", "udd"), committee_size=2, n_features=32,
                        ubmd_alpha=0.25, testset=str(test_file), testset_sha256=file_sha256(test_file),
                        trace_interval=2)
    out = tmp_path / "run"
    results = Study(config, out, log=lambda *_: None, jobs=2).run()
    # the test set is given, not labelled: the surrogate's frames and one batch per sampler
    assert results["test_size"] == 6 and results["oracle_calls"] == TINY["surrogate_frames"] + 5 * 4
    for name, result in results["samplers"].items():
        metrics = result["iterations"][0]
        assert set(metrics["by_basin"]) >= {"all", "C7eq"} and metrics["n_labelled"] == metrics["n_train"] == 4
        assert np.isfinite(metrics["energy_rmse"]) and np.isfinite(metrics["force_rmse"])
        assert metrics["finetune_s"] > 0 and metrics["sample_s"] > 0 and metrics["label_s"] >= 0
        assert metrics["score_s"] > 0
        assert result["trace_frames"] == [4 * 2] and 0 < result["coverage"][0] == result["coverage_cumulative"][0]
        assert len(result["phi_psi"]) == 4
        log = (out / "samplers" / name / "iter01" / "finetune" / "finetuned.stdout").read_text()
        assert "Injecting LoRA layers with rank=4" in log and "train=3, valid=1" in log
        frames = read(out / "samplers" / name / "iter01" / "train.extxyz", ":")
        assert all(ENERGY_KEY in f.info and FORCES_KEY in f.arrays for f in frames)
    assert results["samplers"]["skmd"]["iterations"][0]["freeze_s"] > 0
    for name, result in results["samplers"].items():   # per-frame errors reproduce the reported RMSEs
        per_frame = result["iterations"][-1]["per_frame"]
        assert 1e-3 * np.sqrt(np.mean(np.square(per_frame["forces"]))) == pytest.approx(result["force_rmse"][-1])
        assert len(per_frame["energy"]) == results["test_size"]
    for quantity, block in results["comparisons_final"].items():   # surrogate and 5 samplers: 15 pairs
        assert len(block["pairs"]) == 15 and set(block["per_sampler"]) == {"surrogate", *results["samplers"]}
        assert all(0 <= c["p_value"] <= c["p_holm"] <= 1 for c in block["pairs"].values())
    assert (out / "samplers" / "udd" / "iter01" / "committee1.safetensors").is_file()
    assert (out / "surrogate" / "committee1.safetensors").is_file()
    assert set(results["timing"]) == {"surrogate_s", "committee_s", "initial_ensemble_s", "test_set_s"}
    assert (out / "ramachandran.png").stat().st_size > 10_000 and (out / "coverage.png").is_file()
    again = Study(config, out, log=lambda *_: None).run()   # a finished run is not redone
    assert again["oracle_calls"] == results["oracle_calls"]
    with pytest.raises(ValueError, match="other settings"):
        Study(replace(config, steps=6), out)
    with pytest.raises(ValueError, match="not the fixed test set"):
        Study(replace(config, testset_sha256="0" * 64), tmp_path / "other", log=lambda *_: None).test_set(None, None)


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
    before_loop = TINY["surrogate_frames"] + 6        # surrogate data and test set, then part of iteration 1
    assert before_loop + 2 <= killed_at < before_loop + 12
    finished = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    keys = (out / "labels" / "oracle_calls.log").read_text().split()
    assert len(keys) == len(set(keys)), "a configuration went to the oracle twice"
    results = json.loads((out / "results.json").read_text())
    assert results["oracle_calls"] == len(keys) <= before_loop + 12
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
    assert "choose one of --quick" in errors and "cannot import" in errors and "no surrogate model file" in errors


@pytest.mark.parametrize("flags", [
    ["--amplitude", "-3"], ["--amplitude", "nan"], ["--amplitude", "inf"], ["--iterations", "0"],
    ["--iterations", "-2"], ["--seed", "-1"], ["--threads", "0"], ["--threads", "-4"], ["--workers", "0"],
    ["--workers", "-2"], ["--md-temperatures=-300,700"], ["--md-temperatures", "0"],
    ["--md-temperatures", "hot"], ["--md-temperatures", "300,300"], ["--samplers", "skmd,md900"],
])
def test_cli_refuses_every_bad_number_before_any_work(tmp_path, capsys, flags):
    from skmd.cli.main import main
    out = tmp_path / "run"
    assert main(["ala2", "--quick", "--out", str(out), *flags]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("skmd ala2: error: ") and "\n" not in error and "Traceback" not in error
    assert not out.exists()


def test_cli_reports_an_unwritable_out_in_one_line(tmp_path, capsys):
    from skmd.cli.main import main
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["ala2", "--quick", "--out", str(blocker / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"skmd ala2: error: cannot write the output directory {blocker / 'run'}: Not a directory"


def test_every_command_takes_threads_and_documents_the_default():
    from skmd.cli.main import build_parser
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in ("ala2", "mb-al", "mb-w2"):
        assert "default: $SKMD_THREADS, else 1" in commands[name].format_help().replace("\n", " ").replace("  ", " ")
        assert parser.parse_args([name, "--threads", "3"]).threads == 3
