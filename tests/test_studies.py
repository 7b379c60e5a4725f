"""The Müller–Brown study commands end to end at tiny sizes, and the example notebook."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from skmd.cli.main import main
from skmd.studies import mueller_brown as mbs

ROOT = Path(__file__).resolve().parents[1]


def test_exact_boltzmann_sampler_matches_grid_quadrature():
    kT = 10.0
    samples = mbs.boltzmann_samples(20000, kT, 0)
    gx, gy = np.meshgrid(np.linspace(mbs.BOX_LOW[0], mbs.BOX_HIGH[0], 600),
                         np.linspace(mbs.BOX_LOW[1], mbs.BOX_HIGH[1], 600))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    from skmd import MuellerBrown
    weights = np.exp(-(MuellerBrown().energy(grid) + 146.7) / kT)
    mean = (weights[:, None] * grid).sum(0) / weights.sum()
    np.testing.assert_allclose(samples.mean(axis=0), mean, atol=0.02)


def test_nearest_minimum_fractions_name_the_basins():
    from skmd import MuellerBrown
    minima = MuellerBrown.minima
    assert mbs.nearest_minimum_fractions(minima) == pytest.approx({"A": 1 / 3, "B": 1 / 3, "C": 1 / 3})
    assert mbs.nearest_minimum_fractions(minima[[1, 1, 1, 0]] + 0.05) == pytest.approx({"A": 0.25, "B": 0.75, "C": 0})
    assert mbs.nearest_minimum_fractions(np.zeros((0, 2))) == {"A": 0.0, "B": 0.0, "C": 0.0}


def test_rmse_note_says_when_the_test_set_lies_where_no_data_went():
    from skmd.studies.plots import test_set_note
    config = {"test_size": 500, "kT": 4.0, "training": {"epochs": 400}}
    in_a = {"A": 1.0, "B": 0.0, "C": 0.0}
    results = {"config": config, "test_set": {"nearest_minimum": in_a},
               "samplers": {"langevin": {"acquired_nearest_minimum": {"A": 0.0, "B": 1.0, "C": 0.0}},
                            "udd": {"acquired_nearest_minimum": {"A": 0.4, "B": 0.3, "C": 0.3}}}}
    text = test_set_note(results)
    assert "nearest minimum A/B/C: 100/0/0 %" in text and "langevin 0 %, udd 40 %" in text
    assert "extrapolation into A" in text and "epochs" not in text
    results["samplers"]["langevin"]["acquired_nearest_minimum"] = in_a
    assert "extrapolation" not in test_set_note(results)
    config["training"]["epochs"] = 200   # the --quick preset retrains less than the full study
    assert "retrains 200 epochs per iteration (the full study 400)" in test_set_note(results)
    assert test_set_note({"config": config, "samplers": {}}) == ""   # results written before these records


@pytest.mark.slow
def test_mb_al_cli_writes_every_output(tmp_path, capsys):
    out = tmp_path / "al"
    assert main(["mb-al", "--trials", "2", "--iterations", "2", "--quick", "--seed", "3", "--backend", "numpy",
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert set(results["samplers"]) == {"langevin", "skmd", "a-skmd", "udd"}
    for name, r in results["samplers"].items():
        assert np.array(r["energy_rmse"]).shape == (2, 3)
        assert np.array(r["force_rmse"]).shape == (2, 3)
        assert np.array(r["held_out_force_rmse"], float).shape == (2, 3) == np.array(r["held_out_energy_rmse"]).shape
        assert r["wall_s"] > 0
        data = np.load(out / "points" / name / "trial_001.npz")
        assert data["points"].shape[1] == 2 and data["points"].shape[0] == data["iteration"].shape[0]
        assert np.all(np.isfinite(data["points"])) and np.all(np.abs(data["points"]) <= results["config"]["bound"])
        assert (out / "models" / name / "trial_000.npz").exists()
    first = {name: r["energy_rmse"][0][0] for name, r in results["samplers"].items()}
    assert len(set(first.values())) == 1, "iteration 0 must be the same initial model for every sampler"
    for fig in ("mb_al_landscape.png", "mb_al_rmse.png", "mb_al_acquisition.png"):
        assert (out / fig).stat().st_size > 10_000
    assert not list(out.glob("fig*.png"))
    assert sum(results["test_set"]["nearest_minimum"].values()) == pytest.approx(1.0)
    for name, r in results["samplers"].items():   # where the acquired points went, for the RMSE figure's note
        assert sum(r["acquired_nearest_minimum"].values()) == pytest.approx(1.0)
        assert len(r["learning_check"]) == 2 and all(n >= 1 for n in r["n_validation"])
        data = np.load(out / "points" / name / "trial_000.npz")   # held-out points are kept, marked, never trained
        assert data["validation"].sum() == r["n_validation"][0] and not data["validation"][:32].any()
    assert results["config"]["regime"] == "exploration"
    stats = results["statistics"]
    assert stats["thresholds"] == mbs.rmse_thresholds(results["config"]["kT"])
    assert len(stats["force_rmse"]["final"]["pairs"]) == 6
    # anyone can recompute the statistics from the curves in results.json
    recomputed = json.loads(json.dumps(mbs.al_statistics(results["samplers"], results["config"]["kT"],
                                                         seed=results["config"]["seed"])))
    assert recomputed == stats
    # what it prints: that 2 trials cannot give a significant difference, and each sampler's story in one line
    assert "With 2 trials no comparison here can be significant: the smallest Holm-adjusted p needs at least " \
           f"{stats['force_rmse']['final']['smallest_significant_n']} trials" in printed
    for name, r in results["samplers"].items():
        held = np.nanmedian(np.array(r["held_out_force_rmse"], float), axis=0)
        assert f"{name}: force RMSE where its points went (held-out labels) {held[0]:.3g} → {held[-1]:.3g}" in printed


def test_held_out_curves_score_every_iterations_models_on_the_final_held_out_labels():
    from skmd.modules.nn import TrainingConfig, train_mlps
    from skmd.studies.mb_al import padded
    from skmd.studies.mb_learning import held_out_curves, learning_loop
    rng = np.random.default_rng(0)
    data = [(x, *mbs.label(x)) for x in (mbs.basin_samples(24, 4.0, rng) for _ in range(3))]
    valid = [(x[:4], e[:4], f[:4]) for x, e, f in data]
    valid[2] = (np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)))          # a trial that held nothing out
    short = TrainingConfig(epochs=50, first_epochs=50)
    first = train_mlps(*padded([(x[4:], e[4:], f[4:]) for x, e, f in data]), short, seed=0)
    second = train_mlps(*padded([(x[4:], e[4:], f[4:]) for x, e, f in data]), short, seed=0, init=first)
    curves = held_out_curves([first, second], valid)
    assert curves["held_out_force_rmse"][2] == [None, None]
    b1_rmse = np.sqrt(np.mean((second.member(1).energy_forces(valid[1][0])[1] - valid[1][2]) ** 2))
    assert curves["held_out_force_rmse"][1][1] == pytest.approx(b1_rmse)
    results = {"samplers": {"s": {"held_out_force_rmse": curves["held_out_force_rmse"], "force_rmse": [[3, 2]] * 3,
                                  "acquired_nearest_minimum": {"A": 0.3, "B": 0.7, "C": 0.0}}}}
    story = learning_loop(results)["s"]
    assert story["test"] == (3.0, 2.0) and story["test_improved"] and story["reached_A"]
    assert story["learned_where_it_went"] == (story["held_out"][1] < story["held_out"][0])


def test_mb_al_is_deterministic_for_a_seed(tmp_path):
    args = ["mb-al", "--trials", "1", "--iterations", "1", "--quick", "--samplers", "a-skmd,udd", "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    assert main(args + ["--out", str(tmp_path / "b")]) == 0
    for name in ("a-skmd", "udd"):
        a = np.load(tmp_path / "a" / "points" / name / "trial_000.npz")["points"]
        b = np.load(tmp_path / "b" / "points" / name / "trial_000.npz")["points"]
        np.testing.assert_array_equal(a, b)


def test_mb_reruns_with_other_settings_are_refused(tmp_path, capsys):
    """A rerun into an existing --out with other settings used to leave old figures and points/ next
    to a results.json of the new run; now it is refused before any work, naming the differing keys."""
    al = ["mb-al", "--trials", "1", "--iterations", "1", "--quick", "--samplers", "udd", "--no-progress", "--backend", "numpy",
          "--out", str(tmp_path / "al")]
    assert main(al) == 0
    before = (tmp_path / "al" / "results.json").read_text()
    assert main(al + ["--seed", "5", "--tau", "0.5"]) == 2
    error = capsys.readouterr().err
    assert "other settings (seed, tau)" in error and len(error.strip().splitlines()) == 1
    assert (tmp_path / "al" / "results.json").read_text() == before
    assert main(al) == 0   # the same settings rewrite the run consistently
    again = json.loads((tmp_path / "al" / "results.json").read_text())["samplers"]["udd"]
    assert again["energy_rmse"] == json.loads(before)["samplers"]["udd"]["energy_rmse"]
    w2 = ["mb-w2", "--trials", "2", "--steps", "4000", "--no-progress", "--backend", "numpy", "--out", str(tmp_path / "w2")]
    assert main(w2) == 0
    assert main(w2 + ["--trials", "3"]) == 2
    assert "other settings (trials)" in capsys.readouterr().err


def test_a_run_saved_before_a_nested_setting_grew_a_field_resumes_with_its_default(tmp_path):
    """mb-al's ``training`` gained fields (schedule, plateau_*): a config.json written before them holds the
    old fields only; those missing count as their defaults, so the same settings resume and others are named."""
    from dataclasses import replace
    from skmd.modules.nn import TrainingConfig
    from skmd.studies.mb_al import ALConfig
    from skmd.tools.rundir import check_config
    check_config(tmp_path, ALConfig())
    saved = json.loads((tmp_path / "config.json").read_text())
    for field in ("schedule", "plateau_window", "plateau_min_fall", "plateau_floor", "max_epochs"):
        del saved["training"][field]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    check_config(tmp_path, ALConfig())                     # the defaults: the same settings
    with pytest.raises(ValueError, match=r"other settings \(training\)"):
        check_config(tmp_path, replace(ALConfig(), training=TrainingConfig(schedule="plateau")))


def test_mb_al_rejects_bad_flags(tmp_path, capsys):
    assert main(["mb-al", "--samplers", "langevin,metadynamics", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "unknown samplers" in capsys.readouterr().err
    assert main(["mb-al", "--trials", "0", "--out", str(tmp_path), "--no-progress"]) == 2


def test_skmd_regimes_are_named_and_each_study_states_its_own():
    """h/N ≤ 0.1 is the Boltzmann regime (docs/mueller-brown.md, "Boltzmann fidelity against an exact answer"):
    mb-w2, which measures fidelity, defaults to it; mb-al, which explores, defaults to the exploration regime
    of the coverage pilot and offers the Boltzmann one by name."""
    from skmd import FIDELITY_AMPLITUDE_PER_PARTICLE, fidelity_amplitude, kernel_regime
    from skmd.studies.mb_al import ALConfig, regime_settings
    from skmd.studies.mb_defaults import EXPLORATION_AMPLITUDE
    from skmd.studies.mb_w2 import W2Config
    assert FIDELITY_AMPLITUDE_PER_PARTICLE == 0.1 and fidelity_amplitude(32) == pytest.approx(3.2)
    assert kernel_regime(W2Config().amplitude, W2Config().n_particles) == "boltzmann"
    assert kernel_regime(ALConfig().amplitude, ALConfig().n_initial) == "exploration"
    assert ALConfig().amplitude == EXPLORATION_AMPLITUDE == regime_settings("exploration")["amplitude"]
    boltzmann = ALConfig(**regime_settings("boltzmann"))
    assert kernel_regime(boltzmann.amplitude, boltzmann.n_initial) == "boltzmann" and boltzmann.tau != ALConfig().tau
    assert kernel_regime(3.3, 32) == "exploration"
    with pytest.raises(ValueError, match="regime"):
        regime_settings("fast")
    with pytest.raises(ValueError, match="n_particles"):
        fidelity_amplitude(1)


def test_mb_al_learning_check_flags_a_model_that_got_worse():
    """The check compares each trial's old and new model on that trial's held-out points: a model with a
    shifted energy is worse, the same model is 'no clear change'."""
    from skmd.studies.mb_learning import held_out, learning_check, validation_rmse
    mask = held_out(32, seed=0, trial=1, iteration=2)
    assert mask.sum() == 4 and np.array_equal(mask, held_out(32, 0, 1, 2)) and held_out(7, 0, 0, 1).sum() == 0
    rng = np.random.default_rng(0)
    validation = []
    for _ in range(6):
        x = mbs.boltzmann_samples(5, 4.0, rng)
        validation.append((x, *mbs.label(x)))

    class Exact:                                       # the exact surface, per trial, shifted by `offset`
        def __init__(self, offset):
            self.offset = offset

        def member(self, b):
            return self

        def energy_forces(self, x):
            e, f = mbs.label(x)
            return e + self.offset * (1 + rng.random()), f

    exact, shifted = validation_rmse(Exact(0.0), validation), validation_rmse(Exact(5.0), validation)
    assert np.allclose(exact[0], 0) and np.all(shifted[0] > 4)
    check = learning_check(exact, shifted, n_points=30)
    assert check["energy"]["verdict"] == "worse" and check["forces"]["verdict"] == "no clear change"
    assert learning_check(shifted, exact, n_points=30)["energy"]["verdict"] == "better"


def test_mb_w2_cli(tmp_path):
    out = tmp_path / "w2"
    assert main(["mb-w2", "--trials", "3", "--steps", "4000", "--out", str(out), "--no-progress",
                 "--amplitude", "300"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["amplitude"] == 300.0
    assert set(results["methods"]) == {"langevin", "skmd_T1", "skmd_T10", "skmd_T100", "skmd_T1000"}
    for name, r in results["methods"].items():
        w2 = np.array(r["w2"])
        assert w2.shape == (3, len(r["steps"])) and np.all(w2 >= 0)
        assert np.load(out / "ensembles" / f"{name}.npz")["final"].shape == (3, 32, 2)
    same_start = {r["w2"][0][0] for r in results["methods"].values()}
    assert len(same_start) == 1
    pairs = results["statistics"]["final"]["pairs"]
    assert set(pairs) == {"skmd_T1 vs langevin", "skmd_T10 vs langevin", "skmd_T100 vs langevin",
                          "skmd_T1000 vs langevin", "skmd_T1 vs skmd_T10", "skmd_T10 vs skmd_T100",
                          "skmd_T100 vs skmd_T1000"}
    assert all(0.0 <= c["p_value"] <= c["p_holm"] <= 1.0 for c in pairs.values())
    assert json.loads(json.dumps(mbs.w2_statistics(results["methods"], seed=0))) == results["statistics"]
    assert (out / "mb_w2.png").stat().st_size > 10_000


@pytest.mark.slow
def test_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(ROOT / "examples" / "mueller_brown.ipynb", as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    os.environ.setdefault("SKMD_BACKEND", "numpy")
    client.execute()
    assert (tmp_path / "notebook_mb_al" / "results.json").exists()
