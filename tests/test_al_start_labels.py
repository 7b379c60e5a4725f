"""A campaign that starts from the user's own labelled frames (``start_labels``), with several moves per
walker and iteration (``moves``) and an SKMD sampler at its own amplitude (``skmd<h>``), and the controls
trained beside it (:mod:`skmd.al.controls`): the settings the ala2-h2h head-to-head runs with, on a tiny Cu
cell with EMT."""
import json

import numpy as np
import pytest

pytest.importorskip("mace")

from al_user_parts import ORACLE_LOG, oracle_calls  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402
from ase.calculators.singlepoint import SinglePointCalculator  # noqa: E402
from ase.io import read, write  # noqa: E402
from skmd.al import Campaign, make_config  # noqa: E402
from skmd.al.controls import labels_chain, retrained  # noqa: E402
from skmd.al.run_dir import RunDir  # noqa: E402
from skmd.al.sampler_names import sampler_kind, skmd_amplitude  # noqa: E402
from skmd.al.samplers import builtin_samplers  # noqa: E402

TINY = {"iterations": 1, "walkers": 2, "moves": 3, "steps": 10, "select": 4, "valid_fraction": 0.15,
        "finetune_epochs": 2, "temperature_K": 500.0, "samplers": "md,skmd0.5", "perturb_A": 0.0}


def labelled_cells(path, n: int, seed: int = 0):
    """``n`` rattled 8-atom Cu cells with EMT energy and forces held as a SinglePointCalculator (as
    ``energy=``/``forces=`` columns, the way DFT data usually come), written to ``path``."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
        atoms.positions += 0.05 * rng.standard_normal(atoms.positions.shape)
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


@pytest.fixture
def counted(tmp_path, monkeypatch):
    path = tmp_path / "oracle_calls.txt"
    monkeypatch.setenv(ORACLE_LOG, str(path))
    return path


def test_skmd_h_names_an_skmd_sampler_at_amplitude_h():
    assert sampler_kind("skmd1.5") == "skmd" and skmd_amplitude("skmd1.5", 3.0) == 1.5
    assert skmd_amplitude("skmd", 3.0) == 3.0 and sampler_kind("skmd-ud") == "skmd-ud"
    assert sampler_kind("skmd-1") is None and sampler_kind("skmdx") is None and sampler_kind("skmd0") is None
    from skmd.al import make_config
    config = make_config({"structures": "x.xyz", "samplers": "skmd11.25,md700,skmd1.5,md"})
    assert config.samplers == ("md", "md700", "skmd1.5", "skmd11.25")
    amplitudes = {s.name: s.amplitude for s in builtin_samplers(config) if hasattr(s, "amplitude")}
    assert amplitudes == {"skmd1.5": 1.5, "skmd11.25": 11.25}
    assert "skmd1.5:" in config.skmd_regime() and "skmd11.25:" in config.skmd_regime()


@pytest.mark.slow
def test_a_campaign_from_the_users_labels_and_its_controls(tmp_path, counted):
    """No starting label goes to the oracle; the given labels (SinglePointCalculator columns) train the
    surrogate and reach the training set unchanged; every walker makes ``moves`` walks, a candidate each.
    Then the controls: no new labels, ideal labels at equal counts, and a final model retrained with another
    seed, each a real fine-tuning with the campaign's trainer, resumed (not retrained) on a second call,
    with no oracle call."""
    given = labelled_cells(tmp_path / "mine.extxyz", 24)
    write(tmp_path / "cu.extxyz", read(given, index=":2"))
    config = make_config(TINY, {"structures": str(tmp_path / "cu.extxyz"), "start_labels": str(given),
                                "oracle": "al_user_parts:counted_emt", "out": str(tmp_path / "run"),
                                "surrogate_epochs": 5, "model_channels": 8})
    lines = []
    campaign = Campaign(config, log=lines.append)
    results = campaign.run()
    assert results["config"]["start_frames"] == 24
    assert any("the 24 labelled frames of" in line and "no oracle calls" in line for line in lines), lines
    calls = oracle_calls(counted)
    assert len(calls) == results["oracle_calls"] + 1 == 2 * TINY["select"] + 1   # the selected frames, the Cu atom
    out = tmp_path / "run"
    for name in ("md", "skmd0.5"):
        sampling = json.loads((out / "samplers" / name / "iter01" / "sampling.json").read_text())
        assert sampling["n_candidates"] == TINY["walkers"] * TINY["moves"]
    frames = read(out / "training_set.extxyz", index=":")
    starting = [f for f in frames if f.info["skmd_source"].startswith("start/")]
    assert len(starting) == 24 - round(0.25 * 24)            # the test part held out (no test file given)
    mine = {round(float(f.get_potential_energy()), 8) for f in read(given, index=":")}
    assert {round(float(f.info["REF_energy"]), 8) for f in starting} <= mine

    # the controls
    calls = len(oracle_calls(counted))
    run, test = RunDir(campaign.out), read(tmp_path / "run" / "start" / "test.extxyz", index=":")
    ideal = read(labelled_cells(tmp_path / "ideal.extxyz", 4, seed=9), index=":")
    none = labels_chain(run, campaign.config, campaign.trainer, "no-new-labels", [], test, log=lambda line: None)
    best = labels_chain(run, campaign.config, campaign.trainer, "ideal", [ideal], test, log=lambda line: None)
    n_start = len(read(tmp_path / "run" / "start" / "train.extxyz", index=":"))
    held = round(campaign.config.calibration_fraction * 4)
    assert none[0]["n_train"] == n_start and none[0]["n_new_labels"] == 0
    assert best[0]["n_train"] == n_start + 4 - held and best[0]["n_new_labels"] == 4
    sampler_train = read(tmp_path / "run" / "samplers" / "md" / "iter01" / "train.extxyz", index=":")
    assert best[0]["n_train"] == len(sampler_train)          # equal labels: the same split rule as the sampler's
    noise = retrained(run, campaign.config, campaign.trainer, "md", test, log=lambda line: None)
    models = {path: path.read_bytes() for path in [tmp_path / "run" / "model0" / "model.safetensors",
              tmp_path / "run" / "samplers" / "md" / "iter01" / "model0.safetensors",
              *sorted((tmp_path / "run" / "controls").glob("*/*model.safetensors")),
              *sorted((tmp_path / "run" / "controls").glob("*/iter01/model.safetensors"))]}
    assert len(set(models.values())) == len(models) == 5, list(models)      # every control trained a new model
    assert np.isfinite(noise["force_rmse_meV_A"]) and noise["seed_offset"] == 1
    stamps = {p: p.stat().st_mtime_ns for p in models}
    assert labels_chain(run, campaign.config, campaign.trainer, "ideal", [ideal], test) == best
    assert retrained(run, campaign.config, campaign.trainer, "md", test) == noise
    assert {p: p.stat().st_mtime_ns for p in models} == stamps and len(oracle_calls(counted)) == calls


@pytest.mark.parametrize("problem, message", [
    ("unlabelled", "the start-labels file"),
    ("other element", "holds Ag, which no starting structure has"),
])
def test_a_bad_start_labels_file_is_refused_before_any_oracle_call(tmp_path, counted, problem, message):
    given = labelled_cells(tmp_path / "mine.extxyz", 12)
    write(tmp_path / "cu.extxyz", read(given, index=":1"))
    frames = read(given, index=":")
    if problem == "unlabelled":
        frames[3].calc = None
    else:
        frames[5][0].symbol = "Ag"
    write(given, frames, format="extxyz")
    config = make_config(TINY, {"structures": str(tmp_path / "cu.extxyz"), "start_labels": str(given),
                                "oracle": "al_user_parts:counted_emt", "out": str(tmp_path / "run")})
    with pytest.raises(ValueError, match=message) as refused:
        Campaign(config, log=lambda line: None)
    assert "\n" not in str(refused.value)
    assert not counted.exists() or not oracle_calls(counted)
