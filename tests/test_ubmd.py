"""skmd ubmd: settings refused before work, stress labels, one loop iteration per system, kill and resume."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("mace")
pytest.importorskip("tblite")

from ase import units  # noqa: E402
from ase.calculators.calculator import Calculator, all_changes  # noqa: E402

from skmd.atoms.oracle import STRESS_KEY, Oracle  # noqa: E402
from skmd.atoms.training import stress_args  # noqa: E402
from skmd.cli.main import main  # noqa: E402
from skmd.studies.ubmd import FULL, QUICK, Study, UBMDConfig, co2_cell, gfn1_xtb, silicon_cell  # noqa: E402

TINY = dict(iterations=1, initial_frames=20, test_frames=6, walkers=1, steps=12, interval=4, n_select=3,
            window=5, surrogate_epochs=4, finetune_epochs=2, n_features=32, valid_every=2, alpha=0.1)
TINY_PERIODIC = {**TINY, "timestep_fs": 2.0, "md_temperatures": (), "pressures_GPa": (-5.0, 5.0),
                 "atomic_threshold": 50.0}


class NoStress(Calculator):
    """A periodic-blind toy oracle: energy and forces only."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}


def no_stress_factory():
    return NoStress()


TOY_ORACLE = """
from ase.calculators.emt import EMT
class NoStress(EMT):
    implemented_properties = ["energy", "forces"]
def no_stress_factory():
    return NoStress()
"""


@pytest.mark.parametrize("field, value, message", [
    ("tau", 0.0, "tau"), ("tau", -1.0, "tau"), ("tau_stress", 0.0, "tau_stress"), ("sigma", 0.0, "sigma"),
    ("sigma", -0.01, "sigma"), ("n_features", 0, "n_features"), ("steps", 0, "steps"),
    ("atomic_threshold", 0.0, "atomic_threshold"), ("selection", "greedy", "selection"),
    ("uncertainty", "dropout", "uncertainty"), ("system", "water", "system"), ("alpha", 1.5, "alpha"),
    ("initial_frames", 20, "too few for alpha"), ("ensemble", "npt", "NPT needs a periodic system")])
def test_bad_settings_are_refused_before_any_work(tmp_path, field, value, message):
    with pytest.raises(ValueError, match=message):
        Study(replace(UBMDConfig(), **{field: value}), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_periodic_settings_and_an_oracle_without_stress_are_refused(tmp_path):
    with pytest.raises(ValueError, match="stress_weight"):
        UBMDConfig(system="periodic", stress_weight=0.0).validate()
    with pytest.raises(ValueError, match="finite"):
        UBMDConfig(system="periodic", pressures_GPa=(float("nan"),)).validate()
    with pytest.raises(ValueError, match="gives no stress"):
        Study(UBMDConfig(system="periodic"), tmp_path / "run", calculator_factory=no_stress_factory)
    assert not (tmp_path / "run").exists()


def test_quick_presets_are_valid_and_pick_the_ensemble():
    for system, preset in QUICK.items():
        config = replace(UBMDConfig(system=system), **preset).validate()
        assert config.dynamics() == ("nvt" if system == "ala2" else "npt") and config.periodic == (system != "ala2")
        assert config.chosen_samplers()[0].biased and not any(s.biased for s in config.chosen_samplers()[1:])


def test_co2_crystal_is_relaxed_under_gfn1_xtb_and_its_stress_matches_finite_differences():
    from ase.calculators.fd import calculate_numerical_stress
    cell = co2_cell()
    assert len(cell) == 12 and cell.pbc.all() and set(FULL) == set(QUICK)
    distances = cell.get_all_distances(mic=True)
    bonded = distances[0::3][:, [i for i in range(12) if i % 3]]   # each C to the 8 O atoms
    assert np.isclose(np.sort(bonded, axis=1)[:, :2], 1.141).all()  # two O at the C=O bond, the rest far
    assert np.sort(bonded, axis=1)[:, 2].min() > 2.5
    cell.calc = gfn1_xtb()
    assert abs(cell.get_stress()[:3].mean()) < 0.1 * units.GPa   # |p| < 0.1 GPa at the relaxed cell
    assert np.abs(cell.get_forces()).max() < 0.05
    strained = cell.copy()
    strained.rattle(0.05, seed=2)
    strained.set_cell(cell.cell.array @ (np.eye(3) + 0.03 * np.array([[1, .2, 0], [.2, -.5, .1], [0, .1, .3]])),
                      scale_atoms=True)
    strained.calc = gfn1_xtb()
    numerical = calculate_numerical_stress(strained, eps=1e-5, force_consistent=False)
    assert np.allclose(strained.get_stress(), numerical, atol=2e-5)


def test_stress_flags_of_mace_run_train():
    assert stress_args(0.0) == []
    flags = stress_args(10.0, stage_two=True)
    assert f"--stress_key={STRESS_KEY}" in flags and "--compute_stress=True" in flags
    assert "--swa_stress_weight=10.0" in flags and "--loss=stress" in flags


@pytest.mark.slow
def test_oracle_stores_stress_labels_for_periodic_frames_only():
    from skmd.atoms.alanine import alanine_dipeptide
    cell = silicon_cell()
    cell.positions[0] += 0.1
    batch = Oracle(gfn1_xtb).label([cell, alanine_dipeptide()])
    periodic, molecule = batch.labelled
    reference = cell.copy()
    reference.calc = gfn1_xtb()
    assert np.allclose(periodic.info[STRESS_KEY], reference.get_stress(), atol=1e-8)
    assert STRESS_KEY not in molecule.info


def test_cli_refuses_bad_input_in_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "toy_oracle.py").write_text(TOY_ORACLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    assert main(["ubmd", "--system", "ala2", "--out", str(out)]) == 2
    assert "--quick" in capsys.readouterr().err
    assert main(["ubmd", "--quick", "--tau", "-1", "--out", str(out)]) == 2
    assert "tau" in capsys.readouterr().err
    assert main(["ubmd", "--system", "periodic", "--quick", "--out", str(out),
                 "--calculator", "toy_oracle:no_stress_factory"]) == 2
    assert "no stress" in capsys.readouterr().err
    assert not out.exists()


def _check_run(out, results, system):
    keys = (out / "labels" / "oracle_calls.log").read_text().split()
    assert len(keys) == len(set(keys)) == results["oracle_calls"]
    for name, sampler in results["samplers"].items():
        metrics = sampler["iterations"][0]
        assert metrics["n_labelled"] >= 1 and metrics["energy_rmse_meV_atom"] > 0
        assert (out / "samplers" / name / "iter01" / "model0.safetensors").is_file()
        walkers = json.loads((out / "samplers" / name / "iter01" / "sampling.json").read_text())["walkers"]
        for walker in walkers:   # every walker ran through the engine: steps, stop, dropped moves, trace
            assert 1 <= walker["steps"] <= 12 and isinstance(walker["stopped"], bool)
            assert walker["dropped"] == [] and len(walker["visited"]) >= 1
        assert sampler["walker_runs"] == len(walkers) and sampler["dropped_walkers"] == 0
    comparisons = results["comparisons_final"]   # every pair, with intervals and Holm-adjusted tests
    assert set(comparisons) == ({"energy", "forces"} if system == "ala2" else {"energy", "forces", "stress"})
    for quantity, block in comparisons.items():
        assert set(block["per_sampler"]) == {"surrogate", *results["samplers"]}
        key = {"energy": "energy_rmse_meV_atom", "forces": "force_rmse_meV_A", "stress": "stress_rmse_meV_A3"}[quantity]
        for name, sampler in results["samplers"].items():   # per-frame errors reproduce the stored RMSE
            values = np.asarray(results["final_per_frame"][name][quantity])
            assert values.shape == (results["test_size"],)
            assert np.sqrt(np.mean(values ** 2)) == pytest.approx(sampler["iterations"][-1][key])
        for pair in block["pairs"].values():
            low, high = pair["median_difference"]["low"], pair["median_difference"]["high"]
            assert low <= pair["median_difference"]["estimate"] <= high and 0 <= pair["p_value"] <= pair["p_holm"] <= 1
    if system != "ala2":
        assert results["initial"]["stress_rmse_meV_A3"] > 0
        assert set(results["samplers"]["ubmd300"]["volume_range_A3"]) == {"-5", "5"}
        walks = results["samplers"]["ubmd300"]["walks"]   # the visited figure draws each walk on its own
        assert {(w["iteration"], w["pressure_GPa"]) for w in walks} == {(1, -5.0), (1, 5.0)}
    else:
        visits = results["samplers"]["ubmd300"]
        assert 0 < visits["ramachandran_coverage"] < 1
        assert set(visits["phi_psi_iteration"]) == {1} and len(visits["phi_psi_iteration"]) == len(visits["phi_psi"])
    for kind in ("rmse", "visited"):
        assert (out / f"ubmd_{system}_{kind}.png").stat().st_size > 10_000


@pytest.mark.parametrize("system", ["ala2", "periodic"])
def test_ubmd_figures_from_results(tmp_path, system):
    """Both figures draw from a results.json alone: walks by iteration (and pressure), RMSE per iteration."""
    from skmd.studies.ubmd.records import rmse_figure, visited_figure
    config = {**QUICK[system], "system": system, "tau": 0.2, "seed": 0, "timestep_fs": 2.0}
    config.setdefault("pressures_GPa", (-2.0, 2.0))
    errors = {"energy_rmse_meV_atom": 5.0, "force_rmse_meV_A": 200.0}
    if system == "periodic":
        errors["stress_rmse_meV_A3"] = 3.0
        visits = {"walks": [{"iteration": k, "pressure_GPa": p, "volumes_A3": [160.0 + k, 161.0 + p]}
                            for k in (1, 2) for p in (-2.0, 2.0)], "trace_every_fs": 6.0, "n_atoms": 8}
    else:
        visits = {"phi_psi": [[-80.0, 150.0], [-70.0, -40.0], [60.0, 40.0]], "phi_psi_iteration": [1, 1, 2],
                  "ramachandran_coverage": 3 / 1296, "trace_every_fs": 1.5, "n_atoms": 22}
    history = [{**errors, "iteration": k} for k in (1, 2)]
    results = {"config": config, "test_size": 30, "initial": errors,
               "samplers": {"ubmd300": {"biased": True, "temperature_K": 300.0, "iterations": history, **visits},
                            "md300": {"biased": False, "temperature_K": 300.0, "iterations": history, **visits}}}
    for draw, kind in ((rmse_figure, "rmse"), (visited_figure, "visited")):
        draw(tmp_path / f"ubmd_{system}_{kind}.png", results)
        assert (tmp_path / f"ubmd_{system}_{kind}.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.parametrize("system, choices", [("ala2", {}), ("periodic", {}),
                                             ("co2", dict(uncertainty="ensemble", ensemble_size=2,
                                                          selection="fps"))])
def test_one_iteration_end_to_end_with_xtb(tmp_path, system, choices):
    settings = {**TINY, "md_temperatures": ()} if system == "ala2" else TINY_PERIODIC
    config = replace(UBMDConfig(system=system), **settings, **choices)
    out = tmp_path / system
    results = Study(config, out, log=lambda *_: None).run()
    _check_run(out, results, system)
    calls = results["oracle_calls"]
    again = Study(config, out, log=lambda *_: None).run()   # a rerun resumes: nothing new goes to the oracle
    assert again["oracle_calls"] == calls
    assert again["samplers"]["ubmd300"]["iterations"] == results["samplers"]["ubmd300"]["iterations"]


SCRIPT = """
import time
from dataclasses import replace
import skmd.atoms.oracle as oracle
from skmd.studies.ubmd import Study, UBMDConfig
def slow(charge=None, multiplicity=None):
    time.sleep(0.3)
    return oracle.gfn2_xtb(charge, multiplicity)
Study(replace(UBMDConfig(), **{settings}), {out!r}, calculator_factory=slow, log=lambda *_: None).run()
"""


@pytest.mark.slow
def test_kill_and_resume_sends_no_configuration_twice(tmp_path):
    out = tmp_path / "run"
    settings = {**TINY, "md_temperatures": (), "initial_frames": 24}   # a lost label still leaves 10 to train
    script = SCRIPT.format(settings=repr(settings), out=str(out))
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    labels = out / "labels" / "init"   # killed while the starting data are being labelled
    deadline = time.time() + 300
    while time.time() < deadline and len(list(labels.glob("*.extxyz"))) < 3 and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    keys = (out / "labels" / "oracle_calls.log").read_text().split()
    assert len(keys) == len(set(keys)), "a configuration went to the oracle twice"
    assert sum(key.startswith("init/") for key in keys) == settings["initial_frames"]
    results = json.loads((out / "results.json").read_text())
    assert results["oracle_calls"] == len(keys)
    assert os.path.exists(out / "samplers" / "ubmd300" / "iter01" / "model0.safetensors")
