"""``skmd al``: an active-learning campaign on a user's own structures, model and oracle, end to end.

Every campaign here is tiny (an 8-atom Cu cell with EMT, or water with xTB; one or two iterations of
two 20-step walks) so that the file stays within a few CPU minutes; what it checks is the plumbing: the
command line and its YAML file, the outputs, resuming after a SIGKILL without a second oracle call, a
user's own sampler and selector, Dask against a process pool, bad inputs refused before any oracle
call, and the same seed giving the same training set. The user-style parts live in ``al_user_parts``.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mace")

from ase.build import bulk, molecule  # noqa: E402
from ase.io import read, write  # noqa: E402

import al_user_parts  # noqa: E402
from al_user_parts import ORACLE_LOG, oracle_calls  # noqa: E402
from conftest import processes_where  # noqa: E402
from skmd.cli.main import main  # noqa: E402

TESTS = Path(__file__).resolve().parent
PYTHON_DIR = TESTS.parent / "python"
#: the tiny campaign of every Cu test (settings by their CampaignConfig names)
TINY = {"iterations": 1, "walkers": 2, "steps": 20, "select": 3, "start_frames": 20, "valid_fraction": 0.15,
        "ubmd_alpha": 0.2, "ubmd_window": 5, "surrogate_epochs": 5, "finetune_epochs": 2, "model_channels": 8, "temperature_K": 500.0}
UNITS = {"energy_rmse_meV_atom": "meV/atom", "force_rmse_meV_A": "meV/Å", "stress_rmse_meV_A3": "meV/Å³"}


def copper_cell(path):
    """An 8-atom fcc Cu cell (two cubic cells), rattled, written to ``path`` (extxyz); returns the path."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.02, seed=1)
    write(path, atoms)
    return path


def tiny_model(path, numbers, seed=0):
    """A freshly initialised 4-channel MACE knowing ``numbers``, saved in skmd's safe format at ``path``."""
    from skmd.atoms.mace_models import build_mace, save_mace
    return save_mace(build_mace(channels=4, atomic_numbers=numbers, seed=seed), path)


def flags_by_field() -> dict:
    """CampaignConfig field → (flag, type, help) of ``skmd al``."""
    from skmd.cli.al import FLAGS, remaining_flags
    return {field: (flag, kind, text) for flag, (field, kind, text) in {**FLAGS, **remaining_flags()}.items()}


def flags(settings: dict) -> list:
    """CampaignConfig settings → ``skmd al`` flags."""
    by_field = {field: flag for field, (flag, _, _) in flags_by_field().items()}
    argv = []
    for key, value in settings.items():
        argv += [by_field[key], str(value)]
    return argv


def yaml_file(path, settings: dict):
    path.write_text("".join(f"{key}: {value}\n" for key, value in settings.items()))
    return path


@pytest.fixture(scope="module")
def cu_model(tmp_path_factory):
    """A tiny MACE knowing Cu (one per test module and worker: building one takes seconds)."""
    return tiny_model(tmp_path_factory.mktemp("model") / "cu.safetensors", [29])


@pytest.fixture
def oracle_log(tmp_path, monkeypatch):
    """The file that ``al_user_parts.counted_emt`` appends one line to per calculation (this and child processes)."""
    path = tmp_path / "oracle_calls.txt"
    monkeypatch.setenv(ORACLE_LOG, str(path))
    return path


def read_training_set(out) -> list:
    return read(str(Path(out) / "training_set.extxyz"), index=":")


def assert_same_frames(first, second):
    """Same positions, cells, sources and REF_ labels, in the same order."""
    assert len(first) == len(second) > 0
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.cell.array, b.cell.array)
        assert a.info["skmd_source"] == b.info["skmd_source"]
        assert a.info["REF_energy"] == b.info["REF_energy"]
        np.testing.assert_array_equal(a.arrays["REF_forces"], b.arrays["REF_forces"])
        np.testing.assert_array_equal(a.info.get("REF_stress"), b.info.get("REF_stress"))


# --- bad inputs: one line each, before any oracle call ------------------------------------------------------------


def _pickled_model(tmp_path):
    import torch
    from skmd.atoms.mace_models import build_mace
    path = tmp_path / "cu.model"
    torch.save(build_mace(channels=4, atomic_numbers=[29]), path)
    return path


def _unlabelled(tmp_path):
    path = tmp_path / "unlabelled.extxyz"
    write(path, bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1)))
    return path


def _water(tmp_path):
    write(tmp_path / "water.xyz", molecule("H2O"))
    return tmp_path / "water.xyz"


def _garbage(tmp_path):
    (tmp_path / "garbage.xyz").write_text("this is not\na structure file\n")
    return tmp_path / "garbage.xyz"


def _test_file_with_nickel(tmp_path):
    from ase.calculators.emt import EMT
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
    atoms.symbols[0] = "Ni"
    atoms.calc = EMT()
    atoms.get_stress()
    write(tmp_path / "nickel.extxyz", atoms)          # energy, forces and stress as the calculator's results
    return tmp_path / "nickel.extxyz"


#: case → (tmp_path → extra argv, words the one-line message must hold)
BAD_INPUTS = {
    "missing structure file": (lambda t: ["--structures", str(t / "nowhere.extxyz")], ["no structure file", "nowhere"]),
    "unreadable structure file": (lambda t: ["--structures", str(_garbage(t))], ["cannot read structures", "garbage"]),
    "model misses an element": (lambda t: ["--model", str(tiny_model(t / "ho.safetensors", [1, 8]))],
                                ["does not know Cu", "H, O"]),
    "pressure on a molecule": (lambda t: ["--structures", str(_water(t)), "--pressure", "1"],
                               ["--pressure", "periodic"]),
    "oracle without stress under NPT": (lambda t: ["--oracle", "al_user_parts:emt_without_stress", "--pressure", "0"],
                                        ["EMTWithoutStress", "stress"]),
    "test file without labels": (lambda t: ["--test", str(_unlabelled(t))],
                                 ["unlabelled.extxyz", "no reference labels"]),
    "test file with another element": (lambda t: ["--test", str(_test_file_with_nickel(t))],
                                       ["nickel.extxyz", "holds Ni", "they hold Cu"]),
    "pickled model without trust": (lambda t: ["--model", str(_pickled_model(t))],
                                    ["cu.model", "pickle", "--trust-model"]),
    "unknown key in the YAML file": (lambda t: ["--config", str(yaml_file(t / "typo.yaml", {"temprature_K": 400}))],
                                     ["unknown settings", "temprature_K"]),
    "ubmd with too few calibration frames": (
        lambda t: ["--samplers", "md,ubmd", "--config", str(yaml_file(t / "alpha.yaml", {"ubmd_alpha": 0.05}))],
        ["ubmd_alpha 0.05", "calibration"]),
    "ubmd with a zero posterior noise": (lambda t: ["--samplers", "md,ubmd", "--ubmd-sigma", "0"], ["ubmd_sigma", "> 0"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_in_one_line_before_any_oracle_call(case, tmp_path, oracle_log, capsys):
    make_argv, words = BAD_INPUTS[case]
    argv = make_argv(tmp_path)
    base = ["al", "--structures", str(copper_cell(tmp_path / "cu.extxyz")), "--oracle", "al_user_parts:counted_emt",
            "--out", str(tmp_path / "run"),
            "--config", str(yaml_file(tmp_path / "tiny.yaml", {"start_frames": 20, "ubmd_alpha": 0.2}))]
    capsys.readouterr()
    assert main(base + argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("skmd al: error: ") and error.count("\n") == 1, error
    for word in words:
        assert word in error, (word, error)
    assert "Traceback" not in error
    assert oracle_calls(oracle_log) == []
    assert not (tmp_path / "run" / "labels").exists()


def test_a_bad_input_raises_value_error_from_the_python_interface(tmp_path, oracle_log):
    from skmd.al import Campaign, make_config
    water = tmp_path / "water.xyz"
    write(water, molecule("H2O"))
    config = make_config({"structures": str(water), "oracle": "al_user_parts:counted_emt", "pressure_GPa": 0.0,
                          "out": str(tmp_path / "run"), "start_frames": 20})
    with pytest.raises(ValueError, match="periodic") as error:
        Campaign(config)
    assert "\n" not in str(error.value)
    assert oracle_calls(oracle_log) == []


def test_every_setting_is_a_flag_and_flags_win_over_the_yaml_file(tmp_path):
    from dataclasses import fields
    from skmd.al.config import CampaignConfig
    from skmd.cli.al import config_from_args
    from skmd.cli.main import build_parser
    numbers = [f.name for f in fields(CampaignConfig) if type(getattr(CampaignConfig(), f.name)) in (int, float)]
    assert set(numbers) <= set(flags_by_field())
    config_file = yaml_file(tmp_path / "c.yaml", {"start_frames": 30, "ubmd_alpha": 0.1, "udd_A": 0.3, "steps": 7})
    args = build_parser().parse_args(["al", "--structures", "x.extxyz", "--config", str(config_file),
                                      "--start-frames", "40", "--udd-A", "0.2", "--samplers", "md,udd"])
    config = config_from_args(args)
    assert (config.start_frames, config.udd_A, config.ubmd_alpha, config.steps) == (40, 0.2, 0.1, 7)
    assert config.samplers == ("md", "udd")


def test_reading_models_of_one_architecture_builds_it_once(tmp_path, monkeypatch, cu_model):
    """A campaign reads models many times; a read of an architecture read before copies its first build."""
    import torch
    from safetensors.torch import load_file
    from skmd.atoms import model_files
    from skmd.atoms.mace_models import load_mace, save_mace
    builds = []
    monkeypatch.setattr(model_files, "_quietly", lambda cls, config: builds.append(1) or cls(**config))
    monkeypatch.setattr(model_files, "_BUILT", {})
    changed = load_mace(cu_model)
    with torch.no_grad():
        for parameter in changed.parameters():
            parameter.mul_(1.5)
    other = save_mace(changed, tmp_path / "other.safetensors")
    first, second, first_again = load_mace(cu_model), load_mace(other), load_mace(cu_model)
    assert len(builds) == 1
    for model, path in ((first, cu_model), (second, other), (first_again, cu_model)):
        for name, tensor in load_file(str(path)).items():
            assert torch.equal(model.state_dict()[name], tensor), name
    with torch.no_grad():
        next(first.parameters()).add_(1.0)          # each read is a copy of its own
    assert not torch.equal(next(first.parameters()), next(first_again.parameters()))


def test_importing_skmd_al_and_its_help_import_no_torch():
    code = ("import sys, skmd.al, skmd.al.config\nfrom skmd.cli.main import main\n"
            "try:\n    main(['al', '--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = {'torch', 'mace', 'e3nn', 'numpy', 'ase'}\n"
            "print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(PYTHON_DIR)})
    assert result.returncode == 0, result.stderr
    assert "--structures" in result.stdout and "--pressure" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "HEAVY []", result.stdout


# --- end to end ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_user_system_through_the_command_line_with_a_yaml_file(tmp_path, oracle_log, capsys):
    """NPT Cu with EMT, md and ubmd from a surrogate: the YAML file sets options, flags override some of them."""
    out = tmp_path / "run"
    in_file = {**TINY, "temperature_K": 300.0, "iterations": 3, "samplers": "md"}      # the flags below win
    argv = ["al", "--config", str(yaml_file(tmp_path / "campaign.yaml", in_file)),
            "--structures", str(copper_cell(tmp_path / "cu.extxyz")), "--oracle", "al_user_parts:counted_emt",
            "--out", str(out), "--samplers", "md,ubmd", "--pressure", "0", "--temperature", "500", "--iterations", "1"]
    assert main(argv) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert f"final model (ubmd): {out}/samplers/ubmd/iter01/model0.safetensors" in printed
    saved = json.loads((out / "config.json").read_text())
    assert saved["temperature_K"] == 500.0 and saved["iterations"] == 1 and saved["samplers"] == ["md", "ubmd"]
    assert saved["pressure_GPa"] == 0
    assert (saved["start_frames"], saved["finetune_epochs"], saved["model_channels"]) == (20, 2, 8)  # from the file

    results = json.loads((out / "results.json").read_text())
    assert results["units"] == UNITS
    assert set(results["samplers"]) == {"md", "ubmd"}
    for name, sampler in results["samplers"].items():
        assert [m["iteration"] for m in sampler["iterations"]] == [1]
        for metrics in sampler["iterations"]:
            for key in UNITS:
                assert np.isfinite(metrics[key]) and metrics[key] > 0, (name, key, metrics)
            assert metrics["n_labelled"] == metrics["n_selected"] == 2      # two walks, two candidates
    from skmd.atoms.mace_models import load_mace
    assert set(results["final_model"]) == {"md", "ubmd"}
    for path in results["final_model"].values():
        assert Path(path).is_file()
        assert sorted(int(z) for z in load_mace(path).atomic_numbers) == [29]

    frames = read_training_set(out)
    assert len(frames) == results["training_set"]["frames"] == 20 - 5 + 2 + 2     # start (test held out) + labels
    sources = [frame.info["skmd_source"] for frame in frames]
    assert set(sources) == {"start/train", "start/calibration", "md/iter01", "ubmd/iter01"}
    for frame in frames:
        assert np.isfinite(frame.info["REF_energy"]) and frame.arrays["REF_forces"].shape == (8, 3)
        assert np.asarray(frame.info["REF_stress"]).shape == (6,)
    # every label came from one oracle call; one more call gave the isolated Cu atom's energy
    assert results["oracle_calls"] == 20 + 4 and len(oracle_calls(oracle_log)) == 20 + 4 + 1
    report = (out / "report.md").read_text()
    assert "NPT at 0.0 GPa" in report and "| md | 1 |" in report and "| ubmd | 1 |" in report
    assert "1 iteration of 2 walkers of 20 steps each" in report
    assert (out / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # lean: the safetensors models (one copy each) and what resume needs; mace's pickles and checkpoints are gone
    assert not list(out.rglob("*.model")) and not list(out.rglob("checkpoints"))
    assert sum(path.stat().st_size for path in out.rglob("*") if path.is_file()) <= 20e6


def _trainings_of(out) -> list:
    """Process ids of the mace_run_train runs working in ``out`` (their cwd, or their command line, names it):
    a training forked from the warm process has that process's command line but its own cwd."""
    return processes_where(lambda argv, cwd: "run_train" in " ".join(argv)
                           and (str(out) in " ".join(argv) or cwd.startswith(str(out))))


def _warm_processes_of(pid: int) -> list:
    """Process ids of the warm training processes (skmd.atoms.training_process) started by process ``pid``."""
    return processes_where(lambda argv, cwd: argv[3:5] == ["warm", str(pid)] and "def serve" in argv[2])


def _al_command(out, structures, **settings):
    return [sys.executable, "-m", "skmd.cli.main", "al", "--structures", str(structures),
            "--oracle", "al_user_parts:counted_emt", "--out", str(out), *flags(settings)]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the training processes")
def test_a_killed_campaign_resumes_without_a_second_oracle_call(tmp_path, oracle_log, capsys):
    """Killed while its surrogate trains (the starting labels on disk), the campaign resumes from the same command."""
    out = tmp_path / "run"
    command = _al_command(out, copper_cell(tmp_path / "cu.extxyz"),
                          **{**TINY, "pressure_GPa": 0.0, "samplers": "md"})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PYTHON_DIR), str(TESTS)])}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    training = out / "model0" / "training" / "model.stdout"     # the surrogate's mace_run_train is running
    try:
        deadline = time.monotonic() + 300
        while not training.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()
        assert _warm_processes_of(process.pid), "no warm training process found"
        os.kill(process.pid, signal.SIGKILL)      # the campaign's process only, as the OOM killer or kill -9 does
        process.wait(timeout=60)
        time.sleep(1.0)         # the training, just started, takes seconds more; killed with its parent, it is gone
        assert _trainings_of(out) == [], "a mace_run_train outlived the killed campaign"
        assert _warm_processes_of(process.pid) == [], "the warm training process outlived the killed campaign"
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not (out / "results.json").exists()
    assert len(oracle_calls(oracle_log)) == 20 + 1        # the starting labels and the isolated Cu atom

    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    results = json.loads((out / "results.json").read_text())
    calls = oracle_calls(oracle_log)
    configurations = [line.split(" ", 1)[1] for line in calls]
    assert len(set(configurations)) == len(configurations), "a configuration went to the oracle twice"
    assert len(calls) == results["oracle_calls"] + 1 == 20 + 2 + 1
    assert len(read_training_set(out)) == 20 - 5 + 2

    capsys.readouterr()
    assert main(command[3:] + ["--temperature", "600", "--steps", "30"]) == 2
    refused = capsys.readouterr().err
    assert "other settings (steps, temperature_K);" in refused and refused.count("\n") == 1, refused
    assert len(oracle_calls(oracle_log)) == len(calls)


def test_a_users_own_sampler_and_selector_plug_in(tmp_path, oracle_log, cu_model):
    from skmd.al import Campaign, make_config
    from skmd.atoms.parallel import MACEFactory
    out = tmp_path / "run"
    model = cu_model
    config = make_config(TINY, {"structures": str(copper_cell(tmp_path / "cu.extxyz")), "out": str(out),
                                "model": str(model), "walkers": 3, "select": 2})
    results = Campaign(config, oracle=al_user_parts.counted_emt, samplers=[al_user_parts.HotVerlet()],
                       selector=al_user_parts.highest_energy, trainer=al_user_parts.unchanged_model,
                       log=lambda line: None).run()
    assert list(results["samplers"]) == ["hot_verlet"]
    recorded = json.loads((out / "config.json").read_text())
    assert recorded["sampler_parts"][0]["kind"] == "al_user_parts.HotVerlet"
    assert recorded["selector"]["kind"] == "al_user_parts.highest_energy"
    assert recorded["oracle"] == "al_user_parts:counted_emt"
    assert recorded["trainer"]["kind"] == "al_user_parts.unchanged_model"
    final = Path(results["final_model"]["hot_verlet"])
    assert final.read_bytes() == (out / "model0" / "model.safetensors").read_bytes()    # the user trainer kept it

    folder = out / "samplers" / "hot_verlet" / "iter01"
    candidates = read(str(folder / "candidates.extxyz"), index=":")
    calculator = MACEFactory(str(out / "model0" / "model.safetensors"))()
    energies = []
    for frame in candidates:
        frame.calc = calculator
        energies.append(frame.get_potential_energy())
    chosen = np.argsort(energies)[::-1][:2]
    selected = read(str(folder / "selected.extxyz"), index=":")
    assert len(candidates) == 3 and len(selected) == 2
    for index, frame in zip(chosen, selected):
        np.testing.assert_allclose(frame.positions, candidates[index].positions, atol=1e-12)
    labelled = [f for f in read_training_set(out) if f.info["skmd_source"] == "hot_verlet/iter01"]
    assert [f.positions.tolist() for f in labelled] == [f.positions.tolist() for f in selected]
    assert results["samplers"]["hot_verlet"]["iterations"][0]["n_labelled"] == 2


def _cu_campaign(tmp_path, name, model, executor=None, trainer=None, **settings):
    """A tiny Cu campaign from ``model`` into ``tmp_path/name``, run; returns (its out, its results)."""
    from skmd.al import Campaign, make_config
    structures = tmp_path / "cu.extxyz"
    if not structures.exists():
        copper_cell(structures)
    config = make_config(TINY, {"structures": str(structures), "oracle": "ase.calculators.emt:EMT",
                                "out": str(tmp_path / name), "model": str(model), **settings})
    return tmp_path / name, Campaign(config, executor=executor, trainer=trainer, log=lambda line: None).run()


@pytest.mark.slow
def test_the_same_seed_gives_the_same_training_set_and_models(tmp_path, cu_model):
    """Once with one job at a time in this process, once with the samplers' chains side by side on two
    workers: the same labels and the same models, whatever order the jobs ran in."""
    from skmd.tools.pool import process_pool
    settings = {"samplers": "md,md900", "pressure_GPa": 0.0, "seed": 3}
    first_out, first = _cu_campaign(tmp_path, "first", cu_model, **settings)
    pool = process_pool(2)
    try:
        second_out, second = _cu_campaign(tmp_path, "second", cu_model, executor=pool, workers=2, **settings)
    finally:
        pool.shutdown()
    frames = read_training_set(first_out)
    assert [f.info["skmd_source"] for f in frames].count("md/iter01") == 2
    assert_same_frames(frames, read_training_set(second_out))
    # the fine-tuned models score the same: training is seeded too
    for name in ("md", "md900"):
        for a, b in zip(first["samplers"][name]["iterations"], second["samplers"][name]["iterations"]):
            assert {k: a[k] for k in UNITS} == {k: b[k] for k in UNITS}


@pytest.mark.slow
def test_dask_and_a_process_pool_give_the_same_training_set(tmp_path, cu_model):
    distributed = pytest.importorskip("distributed")
    from skmd.tools.pool import process_pool
    model = cu_model
    # one iteration's training set does not depend on the training, so the models are kept as they are
    settings = {"samplers": "md,ubmd", "pressure_GPa": 0.0, "workers": 2, "trainer": al_user_parts.unchanged_model}
    pool = process_pool(2)
    try:
        pool_out, pool_results = _cu_campaign(tmp_path, "pool", model, executor=pool, **settings)
    finally:
        pool.shutdown()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        dask_out, dask_results = _cu_campaign(tmp_path, "dask", model, executor=client.get_executor(), **settings)
    frames = read_training_set(pool_out)
    assert {"md/iter01", "ubmd/iter01"} <= {f.info["skmd_source"] for f in frames}
    assert_same_frames(frames, read_training_set(dask_out))
    for name in ("md", "ubmd"):          # scored on the executors: the same numbers
        pool_errors, dask_errors = (r["samplers"][name]["iterations"][0] for r in (pool_results, dask_results))
        assert {k: pool_errors[k] for k in UNITS} == {k: dask_errors[k] for k in UNITS}


@pytest.mark.slow
def test_a_molecule_with_xtb_under_nvt(tmp_path, capsys):
    """Water with GFN2-xTB: plain MD and underdamped SKMD (the Stein bias on Langevin) side by side."""
    pytest.importorskip("tblite")
    water = tmp_path / "water.xyz"
    write(water, molecule("H2O"))
    out = tmp_path / "run"
    settings = {**TINY, "samplers": "md,skmd-ud", "temperature_K": 300.0}
    argv = ["al", "--structures", str(water), "--oracle", "skmd.atoms.oracle:gfn2_xtb", "--out", str(out),
            *flags({key: value for key, value in settings.items() if key != "ubmd_alpha"})]
    assert main(argv) == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    metrics = results["samplers"]["md"]["iterations"][0]
    assert "stress_rmse_meV_A3" not in metrics and "stress_rmse_meV_A3" not in results["initial"]
    assert np.isfinite(metrics["energy_rmse_meV_atom"]) and np.isfinite(metrics["force_rmse_meV_A"])
    e0s = json.loads((out / "start" / "e0s.json").read_text())
    assert set(e0s) == {"1", "8"} and all(np.isfinite(list(e0s.values())))
    underdamped = results["samplers"]["skmd-ud"]["iterations"][0]
    assert underdamped["dropped"] == [] and np.isfinite(underdamped["force_rmse_meV_A"])
    ensemble = read(out / "samplers" / "skmd-ud" / "iter01" / "ensemble.extxyz", ":")
    assert all(np.abs(f.get_momenta()).max() > 0 for f in ensemble)      # Langevin, not Brownian: momenta kept
    frames = read_training_set(out)
    assert len(frames) == 20 - 5 + 2 + 2 and all("REF_stress" not in f.info for f in frames)
    assert all(not f.pbc.any() for f in frames)
    assert "NVT, 300 K" in (out / "report.md").read_text()
