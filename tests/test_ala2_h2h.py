"""The ala2-h2h head-to-head's shipped starting point: every file matches its manifest, the thermal labels sit
in C7eq, the ideal-data pool spreads evenly over the test set's basins without repeating a test frame, and the
preset reads the shipped files."""
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mace")

from ase.io import read  # noqa: E402
from skmd.al import make_config  # noqa: E402
from skmd.al.presets import read_preset  # noqa: E402
from skmd.atoms.alanine import BASIN_CENTRES, classify_basin  # noqa: E402
from skmd.studies.ala2_h2h import ENSEMBLE, IDEAL, THERMAL, evenly  # noqa: E402
from skmd.studies.ala2_testset import SHIPPED_TESTSET  # noqa: E402
from skmd.tools.files import file_sha256  # noqa: E402
from skmd.tools.labels import reference_labels  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "python" / "skmd" / "data" / "ala2_h2h"
MANIFEST = json.loads((DATA / "manifest.json").read_text())


@pytest.mark.parametrize("stage", ["thermal", "surrogate", "ensemble", "ideal"])
def test_every_shipped_file_matches_its_manifest(stage):
    entry = MANIFEST[stage]
    assert file_sha256(DATA / entry["file"]) == entry["sha256"]
    settings = {"thermal": THERMAL, "ideal": IDEAL, "ensemble": ENSEMBLE}.get(stage)
    if settings is not None:            # the settings in the code are the ones the files were built with
        assert entry["settings"] == json.loads(json.dumps(settings, ensure_ascii=False))


def test_the_thermal_labels_sit_in_c7eq_and_the_ideal_pool_in_every_basin():
    thermal, ideal = read(DATA / "thermal.extxyz", index=":"), read(DATA / "ideal.extxyz", index=":")
    assert len(thermal) == THERMAL["frames_per_basin"]
    assert {classify_basin((f.info["phi"], f.info["psi"])) for f in thermal} == {"C7eq"}
    assert all(np.isfinite(reference_labels(f).forces).all() for f in thermal + ideal)
    counts = {name: sum(f.info["basin"] == name for f in ideal) for name in BASIN_CENTRES}
    assert counts == {name: IDEAL["frames_per_basin"] for name in BASIN_CENTRES}
    test_positions = {np.round(f.positions, 6).tobytes() for f in read(SHIPPED_TESTSET, index=":")}
    assert not any(np.round(f.positions, 6).tobytes() in test_positions for f in thermal + ideal)
    first = evenly(ideal, 10)       # taken in turn over the basins: two of each in the first ten
    assert sorted(f.info["target_basin"] for f in first) == sorted(list(BASIN_CENTRES) * 2)
    with pytest.raises(ValueError, match="pool holds 200"):
        evenly(ideal, 201)


def test_the_preset_starts_every_walker_from_its_own_burned_in_frame():
    config = make_config(read_preset("ala2-h2h"))
    ensemble = read(config.structures, index=":")
    assert len(ensemble) == config.walkers == ENSEMBLE["walkers"] and config.perturb_A == 0.0
    positions = np.array([atoms.positions for atoms in ensemble])
    assert min(np.abs(positions[i] - positions[j]).max() for i in range(len(ensemble))
               for j in range(i)) > 0.01                       # distinct walkers: SKMD's kernel needs them
    assert Path(config.model).name == "surrogate.safetensors" and Path(config.start_labels).name == "thermal.extxyz"
    assert config.walkers * config.moves == 3 * config.select    # the paper's 3 : 1


def test_the_presets_h_is_the_h_pilots_choice_in_the_exploration_regime():
    from skmd import kernel_regime
    pilot = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "ala2_h2h_pilot.json")
                       .read_text())["h"]
    config = make_config(read_preset("ala2-h2h"))
    assert config.skmd_amplitude == pilot["chosen_amplitude"] and pilot["admissible"][pilot["chosen"]]
    assert kernel_regime(config.skmd_amplitude, config.walkers) == "exploration"
    assert kernel_regime(1.5, config.walkers) == "boltzmann" and "skmd1.5" in config.samplers


def test_the_presets_fine_tuning_is_the_fine_tuning_pilots_choice():
    pilot = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "ala2_h2h_pilot.json")
                       .read_text())["finetune"]
    config = make_config(read_preset("ala2-h2h"))
    best = min(row["force_rmse_meV_A"] for row in pilot["epochs"].values())
    assert config.finetune_epochs == pilot["chosen_epochs"] == min(
        int(e) for e, row in pilot["epochs"].items() if row["force_rmse_meV_A"] <= 1.02 * best)
    assert config.finetune == "full" and "test" not in pilot["validation"].replace("no test frame", "")
