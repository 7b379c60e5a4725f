"""skmd ubmd: the uncertainty-biased-MD presets of ``skmd al`` (``--system ala2|si|co2``), their shipped
structures and GFN1-xTB stress labels, bad settings refused in one line, and one NPT iteration end to end.

Kill-and-resume of a campaign is tested in test_al.py.
"""
import json

import numpy as np
import pytest

pytest.importorskip("mace")
pytest.importorskip("tblite")

from ase import units  # noqa: E402
from ase.io import read  # noqa: E402

from skmd.al.config import make_config  # noqa: E402
from skmd.al.presets import preset_names, read_preset  # noqa: E402
from skmd.atoms.crystals import co2_cell, silicon_cell  # noqa: E402
from skmd.atoms.oracle import STRESS_KEY, Oracle, gfn1_xtb  # noqa: E402
from skmd.atoms.training import stress_args  # noqa: E402
from skmd.cli.main import main  # noqa: E402

#: ``skmd ubmd --system`` → the preset it runs, and whether that preset is NPT
SYSTEMS = {"ala2": ("ubmd-ala2", False), "si": ("ubmd-si", True), "co2": ("ubmd-co2", True)}

TOY_ORACLE = """
from ase.calculators.emt import EMT
class NoStress(EMT):
    implemented_properties = ["energy", "forces"]
def no_stress_factory():
    return NoStress()
"""


# --- the presets and their structures ----------------------------------------------------------------------------


@pytest.mark.parametrize("system", list(SYSTEMS))
def test_each_system_is_a_valid_preset_that_picks_the_ensemble(system):
    name, npt = SYSTEMS[system]
    assert name in preset_names()
    config = make_config(read_preset(name))
    assert config.preset == name and config.npt == npt
    assert "ubmd" in config.samplers and any(s.startswith("md") for s in config.samplers)   # biased against plain MD
    assert config.trace == ("skmd.al.traces:CellVolume" if npt else "skmd.atoms.alanine:PhiPsi")
    assert config.oracle == ("skmd.atoms.oracle:gfn1_xtb" if npt else "skmd.atoms.oracle:gfn2_xtb")
    structures = read(config.structures, index=":")
    assert len(structures) == 1 and bool(structures[0].pbc.all()) == npt


def test_the_shipped_structures_are_what_the_builders_make():
    from skmd.atoms.alanine import alanine_dipeptide
    builders = {"ubmd-si": silicon_cell, "ubmd-co2": co2_cell, "ubmd-ala2": alanine_dipeptide}
    for name, build in builders.items():
        (shipped,) = read(read_preset(name)["structures"], index=":")
        built = build()
        assert list(shipped.numbers) == list(built.numbers), name
        np.testing.assert_allclose(shipped.positions, built.positions, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(shipped.cell.array, built.cell.array, atol=1e-6, err_msg=name)
        assert list(shipped.pbc) == list(built.pbc), name


@pytest.mark.parametrize("system", list(SYSTEMS))
def test_the_alias_runs_the_preset_and_flags_override_it(system, monkeypatch):
    """``skmd ubmd --system X --walkers 3`` is ``skmd al --preset ubmd-X --walkers 3``, into runs/ubmd-X."""
    import skmd.cli.ubmd
    from skmd.cli.al import config_from_args
    seen = {}

    def instead_of_running(args):
        seen["config"], seen["out"] = config_from_args(args), args.out
        return 0

    monkeypatch.setattr(skmd.cli.ubmd, "run", instead_of_running)
    assert main(["ubmd", "--system", system, "--walkers", "3"]) == 0
    name, _ = SYSTEMS[system]
    expected = make_config(read_preset(name), {"walkers": 3, "out": f"runs/{name}"})
    assert seen["config"] == expected and seen["out"] == f"runs/{name}"
    assert seen["config"].walkers == 3 != make_config(read_preset(name)).walkers


def test_the_volume_limit_reaches_the_divergence_check_of_every_sampler(tmp_path):
    """``max_volume_ratio`` (flag, YAML or preset) is the limit of every built-in sampler's DivergenceCheck."""
    from skmd.al.samplers import builtin_samplers
    from skmd.cli.al import config_from_args
    from skmd.cli.main import build_parser
    samplers = "md,md700,ubmd,udd,skmd,skmd-ud"
    (tmp_path / "limit.yaml").write_text("max_volume_ratio: 40\n")
    argv = ["al", "--preset", "ubmd-co2", "--samplers", samplers]
    for extra, expected in (([], 3.0), (["--config", str(tmp_path / "limit.yaml")], 40.0),
                            (["--config", str(tmp_path / "limit.yaml"), "--max-volume-ratio", "7.5"], 7.5)):
        config = config_from_args(build_parser().parse_args(argv + extra))
        assert config.max_volume_ratio == expected
        specs = [s.spec(2, 10, seed=0) for s in builtin_samplers(config)]
        assert len(specs) == 6
        assert all(spec.divergence.max_volume_ratio == expected for spec in specs), [s.name for s in specs]


def test_the_finetune_learning_rate_reaches_both_stages_of_the_finetuning(monkeypatch, tmp_path):
    """``finetune_lr`` is the first stage's learning rate of every fine-tuning, the second stage's a tenth of it."""
    import skmd.al.training
    from skmd.al.training import builtin_trainer
    seen = []
    monkeypatch.setattr(skmd.al.training, "finetune", lambda base, train, work, settings, **kw: seen.append(settings))
    for lr in (None, 0.002):
        config = make_config(read_preset("ubmd-co2"), {"finetune_lr": lr})
        builtin_trainer(config, {6: -1.0, 8: -2.0})("base.safetensors", "train.extxyz", tmp_path, seed=0)
    assert [(s.lr, s.stage_two_lr) for s in seen] == [(0.01, 0.001), (0.002, 0.0002)]


# --- bad settings: one line each, before anything is written --------------------------------------------------------


#: extra argv of ``skmd ubmd --system si`` → words the one-line error must hold
BAD_SETTINGS = {
    "alpha above 1": (["--ubmd-alpha", "2"], ["ubmd_alpha must be in (0, 1)"]),
    "no walkers": (["--walkers", "0"], ["walkers"]),
    "zero tau": (["--ubmd-tau", "0"], ["ubmd_tau"]),
    "no features": (["--ubmd-features", "0"], ["ubmd_features"]),
    "unknown selection": (["--selection", "greedy"], ["selection must be one of", "greedy"]),
    "window as long as the walk": (["--ubmd-window", "300"], ["ubmd_window 300 must be below steps 300"]),
    "too few calibration frames for alpha": (["--start-frames", "20"], ["ubmd_alpha 0.1 needs at least 9"]),
    "pressure not finite": (["--pressure", "nan"], ["pressure_GPa must be finite"]),
    "zero fine-tuning learning rate": (["--finetune-lr", "0"], ["finetune_lr"]),
    "volume limit of 1": (["--max-volume-ratio", "1"], ["max_volume_ratio must be > 1"]),
    "negative volume limit": (["--max-volume-ratio", "-2"], ["max_volume_ratio"]),
    "oracle without stress on an NPT preset": (["--oracle", "toy_oracle:no_stress_factory"],
                                               ["NoStress gives no stress", "NPT"]),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_settings_are_refused_in_one_line_before_anything_is_written(case, tmp_path, capsys, monkeypatch):
    (tmp_path / "toy_oracle.py").write_text(TOY_ORACLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    extra, words = BAD_SETTINGS[case]
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(["ubmd", "--system", "si", "--out", str(out), *extra]) == 2
    error = capsys.readouterr().err
    assert error.startswith("skmd ubmd: error: ") and error.count("\n") == 1, error
    for word in words:
        assert word in error, (word, error)
    assert not out.exists()


def test_an_unknown_system_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["ubmd", "--system", "water", "--out", str(tmp_path / "run")])
    assert exited.value.code == 2 and "invalid choice: 'water'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_learning_curves_of_an_npt_campaign_have_a_stress_panel(tmp_path):
    """The report's figure draws from results alone: a panel per quantity, stress only under NPT."""
    import matplotlib.image
    from skmd.al.figures import learning_curves
    errors = {"energy_rmse_meV_atom": 5.0, "force_rmse_meV_A": 200.0, "stress_rmse_meV_A3": 3.0}
    history = [{**errors, "iteration": k} for k in (1, 2)]
    widths = {}
    for ensemble, initial in (("npt", errors), ("nvt", {k: v for k, v in errors.items() if "stress" not in k})):
        results = {"config": {"structures": "/x/si_diamond.extxyz", "select": 4}, "test_frames": 30,
                   "initial": initial, "samplers": {"md": {"iterations": history}, "ubmd": {"iterations": history}}}
        path = tmp_path / f"{ensemble}.png"
        learning_curves(path, results)
        widths[ensemble] = matplotlib.image.imread(path).shape[1]
    assert widths["npt"] / widths["nvt"] == pytest.approx(3 / 2, rel=0.02)


def test_an_iteration_without_trace_rows_is_summarized():
    """Walks shorter than trace_interval, or UB-MD walks that all stop before it, record no volume."""
    from skmd.al.traces import CellVolume, summarize
    summary = summarize(CellVolume(), [[], [[0.0, 160.0], [1.0, 161.5]]])
    assert summary["trace_frames"] == [0, 2] and summary["volume_range_A3"] == [160.0, 161.5]


# --- the oracle and the stress labels -----------------------------------------------------------------------------


def test_co2_crystal_is_relaxed_under_gfn1_xtb_and_its_stress_matches_finite_differences():
    from ase.calculators.fd import calculate_numerical_stress
    cell = co2_cell()
    assert len(cell) == 12 and cell.pbc.all()
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


# --- end to end ---------------------------------------------------------------------------------------------------


TINY = ["--iterations", "1", "--walkers", "2", "--steps", "20", "--select", "2", "--start-frames", "40",
        "--surrogate-epochs", "3", "--finetune-epochs", "2", "--model-channels", "8", "--ubmd-window", "5",
        "--ubmd-alpha", "0.2", "--trace-interval", "5"]


@pytest.mark.slow
def test_one_npt_iteration_of_ubmd_si_with_gfn1_xtb(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["ubmd", "--system", "si", "--out", str(out), *TINY]) == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["preset"] == "ubmd-si" and results["config"]["pressure_GPa"] == 2.0
    assert results["units"]["stress_rmse_meV_A3"] == "meV/Å³"
    assert set(results["samplers"]) == {"md", "ubmd"}
    assert np.isfinite(results["initial"]["stress_rmse_meV_A3"]) and results["initial"]["stress_rmse_meV_A3"] > 0
    start_volume = silicon_cell().get_volume()
    for name, sampler in results["samplers"].items():
        (metrics,) = sampler["iterations"]
        assert np.isfinite(metrics["stress_rmse_meV_A3"]) and metrics["stress_rmse_meV_A3"] > 0, name
        assert metrics["n_labelled"] == 2 and metrics["n_candidates"] == 2, name
        visited = sampler["visited"]
        (traced,) = visited["trace_frames"]     # two walks, a volume every 5 steps (ubmd's may stop early)
        assert traced == 2 * 20 // 5 if name == "md" else 2 <= traced <= 2 * 20 // 5, (name, traced)
        low, high = visited["volume_range_A3"]
        assert 0.8 * start_volume < low < high < 1.2 * start_volume, (name, visited)
        assert high - low > 1e-3, f"{name}: the NPT cell kept its volume ({visited})"
        ends = read(str(out / "samplers" / name / "iter01" / "ensemble.extxyz"), index=":")
        assert len(ends) == 2 and all(abs(atoms.get_volume() - start_volume) > 1e-4 for atoms in ends), name
    ubmd = results["samplers"]["ubmd"]["iterations"][0]      # the calibrated uncertainty of every candidate
    assert len(ubmd["max_atomic_uncertainty"]) == ubmd["n_candidates"] == 2
    assert all(np.isfinite(u) and u > 0 for u in ubmd["max_atomic_uncertainty"])
    assert 0 <= ubmd["threshold_stops"] == len(ubmd["threshold_stop_steps"]) <= 2
    assert all(1 <= step <= 20 for step in ubmd["threshold_stop_steps"])
    assert results["samplers"]["md"]["iterations"][0]["max_atomic_uncertainty"] == []
    frames = read(str(out / "training_set.extxyz"), index=":")
    assert all(np.asarray(frame.info["REF_stress"]).shape == (6,) for frame in frames)
    assert "stress" in results["comparisons_final"]
    report = (out / "report.md").read_text()
    assert "NPT at 2.0 GPa" in report and "volume_range_A3" in report
