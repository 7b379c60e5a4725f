"""Alanine dipeptide through ``skmd al``: the samplers of the ala2 presets (SKMD, MD at several temperatures),
their kernel schedule and executors, the ``skmd ala2`` alias (bad input refused, end to end and resumed), the
example notebook. The presets' settings themselves are checked in test_presets.py; kill-and-resume of a campaign
in test_al.py."""
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mace")

from skmd.atoms import Brownian, DivergenceWarning, IndependentWalkers  # noqa: E402
from skmd.atoms.alanine import PhiPsi, alanine_dipeptide, ramachandran, rattled_ensemble  # noqa: E402
from skmd.atoms.calculator import MACEDescriptorCalculator  # noqa: E402
from skmd.atoms.mace_models import build_mace, save_mace  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model():
    return build_mace(channels=8, max_L=0, seed=3)


@pytest.fixture(scope="module")
def calculator(model):
    return MACEDescriptorCalculator(model)


@pytest.fixture(scope="module")
def ensemble():
    return rattled_ensemble(4, scale=0.05, seed=0)


def ala2_config(tmp_path, **settings):
    """The ``ala2`` preset with ``settings`` over it, its run directory under ``tmp_path``."""
    from skmd.al.config import make_config
    from skmd.al.presets import read_preset
    return make_config(read_preset("ala2"), {"out": str(tmp_path / "run"), **settings})


def test_ramachandran_angles_of_the_stored_c7eq_structure():
    atoms = alanine_dipeptide()
    phi, psi = ramachandran(atoms)
    assert phi == pytest.approx(-80.6, abs=0.5) and psi == pytest.approx(78.1, abs=0.5)
    assert phi == pytest.approx(atoms.get_dihedral(1, 3, 4, 6) - 360.0, abs=1e-6)
    assert ramachandran([atoms, atoms]).shape == (2, 2)
    assert PhiPsi()(atoms) == pytest.approx([phi, psi])
    with pytest.raises(ValueError, match="22 atoms"):
        ramachandran(np.zeros((5, 3)))


def test_samplers_are_built_from_the_preset_with_its_temperatures(tmp_path):
    from skmd.al.samplers import MD, SKMD, Context, builtin_samplers
    from skmd.al.traces import Trace
    from skmd.atoms.parallel import MACEFactory
    config = ala2_config(tmp_path, samplers="skmd,md900", temperature_K=40.0, skmd_amplitude=3.0, damping_fs=50.0,
                         sampling_dtype="float32")
    assert config.samplers == ("md900", "skmd")               # one order, whatever order they were given in
    md, skmd_sampler = builtin_samplers(config)
    assert isinstance(skmd_sampler, SKMD) and type(md) is MD and md.name == "md900"
    spec = skmd_sampler.spec(10, 7, seed=5)
    assert spec.driver == "round_robin" and spec.integrator == Brownian(40.0, 0.1, 75.0) and spec.steps == 7
    assert spec.bias.temperature_K == 40.0 and spec.bias.schedule.kernel.amplitude == 3.0
    assert (spec.bias.schedule.explore, spec.bias.schedule.total) == (round(10 * 0.8333), 10)
    md_spec = md.spec(10, 7, seed=5)
    assert md_spec.driver == "independent" and md_spec.bias is None
    assert (md_spec.integrator.temperature_K, md_spec.integrator.damping_fs) == (900.0, 50.0)
    for sampler_spec in (spec, md_spec):                          # the preset's trace: (φ, ψ) every 5 steps
        trace = [o for o in sampler_spec.acquisition if isinstance(o, Trace)]
        assert len(trace) == 1 and isinstance(trace[0].cv, PhiPsi) and trace[0].interval == 5
    context = Context(("model.safetensors",), "train.extxyz", "calibration.extxyz", None, 0)
    assert md.factory(context) == skmd_sampler.factory(context) == MACEFactory("model.safetensors", "float32")


def test_one_model_call_per_step_and_the_two_phase_schedule_per_iteration(calculator, ensemble):
    from skmd.al.samplers import SKMD
    sampler = SKMD(amplitude=5.0, explore_fraction=0.5)
    before = calculator.calls
    driver = sampler.spec(8, 4, seed=1).build(ensemble, calculator)
    frozen_calls = calculator.calls - before
    candidates = driver.run(8)
    assert frozen_calls == 1                                        # the members' forces in one collated call
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
    fixed = SKMD(amplitude=5.0).spec(8, 4, seed=1).build(ensemble, calculator)   # no schedule: h stays
    fixed.run(6)
    np.testing.assert_allclose(np.array(fixed.bias.history)[:, 1], 5.0)


def test_zero_amplitude_skmd_is_brownian_dynamics_on_the_same_noise(calculator, ensemble):
    from skmd.al.samplers import SKMD
    skmd_run = SKMD(temperature_K=300.0, amplitude=0.0).spec(4, 6, seed=4)
    stein = skmd_run.build(ensemble, calculator).run(4)
    plain = IndependentWalkers(ensemble, calculator, skmd_run.integrator, steps=6, seed=4).run(4)
    for a, b in zip(plain, stein):
        np.testing.assert_array_equal(a.positions, b.positions)
    moved = np.linalg.norm(plain[0].positions - ensemble[0].positions)
    assert 0.0 < moved < 0.5


def test_stein_force_changes_the_path(calculator, ensemble):
    from skmd.al.samplers import SKMD
    weak = SKMD(amplitude=0.0).spec(1, 6, seed=4).build(ensemble, calculator).run(1)[0]
    strong = SKMD(amplitude=50.0).spec(1, 6, seed=4).build(ensemble, calculator).run(1)[0]
    assert np.abs(weak.positions - strong.positions).max() > 1e-6


def test_langevin_baseline_keeps_momenta_between_moves(calculator, ensemble):
    from skmd.al.samplers import MD
    driver = MD(700.0, name="md700").spec(4, 5, seed=2).build(ensemble, calculator)
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


def _sample_the_preset(tmp_path, model, ensemble, executor):
    """One iteration of the ala2 preset's samplers (skmd, md300, md700; 3 walks of 3 steps) on ``model``,
    as :class:`skmd.al.iteration.IterationStages` runs them: {name: result of run_sampler}."""
    from skmd.al.samplers import Context, builtin_samplers
    from skmd.atoms.parallel import run_samplers
    path = tmp_path / "tiny.safetensors"
    if not path.exists():
        save_mace(model, path)
    config = ala2_config(tmp_path, walkers=3, steps=3, trace_interval=1)
    samplers = builtin_samplers(config)
    context = Context((str(path),), "", "", None, 1)
    return run_samplers([s.spec(config.walkers, config.steps, seed=1) for s in samplers], ensemble,
                        {s.name: s.factory(context) for s in samplers}, executor=executor)


def _assert_same_samples(first, second):
    assert set(first) == set(second) == {"skmd", "md300", "md700"}
    for name in first:
        assert len(first[name]["candidates"]) == len(second[name]["candidates"]) == 3
        for a, b in zip(first[name]["candidates"], second[name]["candidates"]):
            np.testing.assert_array_equal(a.positions, b.positions)
        for a, b in zip(first[name]["ensemble"], second[name]["ensemble"]):
            np.testing.assert_array_equal(a.positions, b.positions)
        assert first[name]["records"] == second[name]["records"] and len(first[name]["records"][0]) == 3 * 3
        assert first[name]["kernel_history"] == second[name]["kernel_history"]


def test_the_samplers_of_an_iteration_give_the_same_candidates_on_any_executor(tmp_path, model, ensemble):
    serial = _sample_the_preset(tmp_path, model, ensemble, None)
    with ThreadPoolExecutor(1) as pool:
        threaded = _sample_the_preset(tmp_path, model, ensemble, pool)
    _assert_same_samples(serial, threaded)
    assert len(serial["skmd"]["kernel_history"]) == 3 and serial["md300"]["kernel_history"] == []
    assert not np.allclose(serial["md300"]["candidates"][0].positions, serial["md700"]["candidates"][0].positions)


@pytest.mark.slow
def test_a_spawned_process_pool_gives_the_serial_candidates(tmp_path, model, ensemble):
    """What ``skmd ala2 --quick --workers 2`` does in iteration 1: the three samplers on two processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    serial = _sample_the_preset(tmp_path, model, ensemble, None)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        pooled = _sample_the_preset(tmp_path, model, ensemble, pool)
    _assert_same_samples(serial, pooled)


# --- the skmd ala2 alias --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, words", [
    (["ala2"], "one of the arguments --quick --medium --full is required"),
    (["ala2", "--quick", "--full"], "not allowed with argument"),
    (["ala2", "--quick", "--walkers", "many"], "invalid int value"),
])
def test_the_alias_refuses_a_missing_or_double_scale(tmp_path, capsys, argv, words):
    from skmd.cli.main import main
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--out", str(out)])
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("skmd ala2: error: ") and words in last
    assert not out.exists()


@pytest.mark.parametrize("flags, words", [
    (["--skmd-amplitude", "-3"], "skmd_amplitude"), (["--skmd-amplitude", "nan"], "skmd_amplitude"),
    (["--skmd-amplitude", "inf"], "skmd_amplitude"), (["--iterations", "0"], "iterations"),
    (["--iterations=-2"], "iterations"), (["--walkers", "0"], "walkers"), (["--steps", "0"], "steps"),
    (["--threads", "0"], "threads"), (["--threads=-4"], "threads"), (["--workers", "0"], "workers"),
    (["--workers=-2"], "workers"), (["--temperature=-300"], "temperature_K"),
    (["--samplers", "skmd,metadynamics"], "samplers"), (["--samplers", "md0"], "samplers"),
    (["--samplers", "mdhot"], "samplers"), (["--samplers", "md300,md300"], "samplers"),
    (["--sampling-dtype", "float16"], "sampling_dtype"), (["--skmd-explore-fraction", "1.5"], "explore_fraction"),
    (["--trace", "phi_psi"], "trace"), (["--trace", "no_such_module:PhiPsi"], "cannot import trace"),
    (["--oracle", "no_such_module:factory"], "cannot import the oracle"), (["--start-frames", "3"], "start_frames"),
    (["--seed=-1"], "seed"),
])
def test_the_alias_refuses_every_bad_setting_in_one_line_before_any_work(tmp_path, capsys, flags, words):
    from skmd.cli.main import main
    out = tmp_path / "run"
    assert main(["ala2", "--quick", "--out", str(out), *flags]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("skmd ala2: error: ") and "\n" not in error and "Traceback" not in error
    assert words in error, error
    assert not out.exists()


def test_the_alias_reports_an_unwritable_out_in_one_line(tmp_path, capsys):
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
    for name in ("mb-al", "mb-w2"):
        assert "default: $SKMD_THREADS, else 1" in commands[name].format_help().replace("\n", " ").replace("  ", " ")
    for name in ("al", "ala2", "ubmd"):               # a campaign shares the cores among its jobs
        assert "default: $SKMD_THREADS, else the machine's cores shared among the jobs that run at once: all of " \
               "them without --workers" in " ".join(commands[name].format_help().split())
    for argv in (["al"], ["ala2", "--quick"], ["ubmd"], ["mb-al"], ["mb-w2"]):
        assert parser.parse_args([*argv, "--threads", "3"]).threads == 3


def _label_files(out) -> list:
    return sorted(str(p.relative_to(out)) for p in (out / "labels").rglob("*") if p.is_file())


@pytest.mark.slow
def test_skmd_ala2_quick_end_to_end_and_resumed_without_new_oracle_calls(tmp_path, capsys):
    """The quick preset at tiny sizes: GFN2-xTB labels, a surrogate, one iteration of skmd, md300 and md700
    scored on the 300 shipped test frames; the same command again reads everything back."""
    pytest.importorskip("tblite")
    from skmd.cli.main import main
    from skmd.al.presets import read_preset
    out = tmp_path / "run"
    argv = ["ala2", "--quick", "--out", str(out), "--iterations", "1", "--walkers", "3", "--steps", "5",
            "--select", "2", "--start-frames", "24", "--surrogate-epochs", "1", "--finetune-epochs", "1",
            "--valid-fraction", "0.2"]
    assert main(argv) == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["preset"] == "ala2" and results["config"]["test"] == read_preset("ala2")["test"]
    assert set(results["samplers"]) == {"skmd", "md300", "md700"} and results["test_frames"] == 300
    # the starting labels (no test frames held out: the test set is shipped) and one batch of 2 per sampler
    assert results["oracle_calls"] == 24 + 3 * 2 and results["training_set"]["frames"] == 24 + 3 * 2
    for name, sampler in results["samplers"].items():
        metrics = sampler["iterations"][0]
        assert metrics["n_labelled"] == 2 and metrics["n_candidates"] == 3
        assert np.isfinite(metrics["energy_rmse_meV_atom"]) and np.isfinite(metrics["force_rmse_meV_A"])
        per_basin = metrics["per_basin"]                    # the shipped test set's five basins, 60 frames each
        assert {b: e["n_frames"] for b, e in per_basin.items()} == dict.fromkeys(["C7eq", "C5", "αR", "C7ax", "αL"], 60)
        pooled = np.sqrt(np.mean([e["force_rmse_meV_A"] ** 2 for e in per_basin.values()]))
        assert pooled == pytest.approx(metrics["force_rmse_meV_A"], rel=1e-9)    # equal sizes: basins pool to all
        worst = metrics["worst_basin"]
        assert worst["force_rmse_meV_A"] == max(e["force_rmse_meV_A"] for e in per_basin.values())
        assert per_basin[worst["basin"]]["force_rmse_meV_A"] == worst["force_rmse_meV_A"]
        visited = sampler["visited"]                        # (φ, ψ) every 5 steps: the end of each of 3 walks
        assert visited["trace_frames"] == [3] and len(visited["coverage"]) == 1
        assert 0 < visited["coverage"][0] == visited["coverage_cumulative"][0] < 1
        assert visited["coverage_per_walk"]["n"] == 3
        sampling = json.loads((out / "samplers" / name / "iter01" / "sampling.json").read_text())
        assert all(0 <= walker < 3 for walker in sampling["left_out"])   # walkers out of the Stein sum (SKMD only)
        assert name == "skmd" or sampling["left_out"] == []
    for quantity, block in results["comparisons_final"].items():   # the starting model and 3 samplers: 6 pairs
        assert set(block["per_sampler"]) == {"start", "skmd", "md300", "md700"} and len(block["pairs"]) == 6
        for pair in block["pairs"].values():
            interval = pair["median_difference"]
            assert interval["low"] <= interval["estimate"] <= interval["high"]
            assert 0 <= pair["p_value"] <= pair["p_holm"] <= 1
    report = (out / "report.md").read_text()
    assert "| skmd | 1 |" in report and "| md700 | 1 |" in report
    assert "## Errors per basin" in report
    assert "| model | C7eq (60) | C5 (60) | αR (60) | C7ax (60) | αL (60) | worst basin |" in report
    assert f"* md300: 0 {results['initial']['worst_basin']['basin']} (" in report
    from skmd.atoms.store import read_frames
    frames = read_frames(out / "training_set.extxyz")
    assert len(frames) == 30 and all("REF_energy" in f.info and "REF_forces" in f.arrays for f in frames)
    assert {f.info["skmd_source"] for f in frames} == {"start/train", "start/calibration", "skmd/iter01",
                                                       "md300/iter01", "md700/iter01"}
    labels = _label_files(out)

    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err                # the same command: nothing is redone
    again = json.loads((out / "results.json").read_text())
    assert again["oracle_calls"] == results["oracle_calls"] and again["invocations"] == 2
    assert _label_files(out) == labels
    for name in results["samplers"]:
        assert again["samplers"][name]["iterations"] == results["samplers"][name]["iterations"]


def test_example_notebook_cells_compile_and_its_setup_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(REPO / "examples" / "alanine_dipeptide.ipynb", as_version=4)
    cells = [c.source for c in notebook.cells if c.cell_type == "code"]
    for source in cells:
        compile(source, "<notebook cell>", "exec")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(cells[0], namespace)
    config = namespace["config"]
    assert config.preset == "ala2" and config.samplers == ("md300", "md700", "skmd")
    assert (tmp_path / "runs" / "ala2-notebook" / "config.json").exists()
