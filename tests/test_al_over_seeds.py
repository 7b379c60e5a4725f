"""Campaigns of one config over seeds (skmd.al.over_seeds, ``skmd al-compare``): the refusal of runs that differ
in more than the seed (fast), the alanine-dipeptide study's verdicts' criteria on given numbers
(skmd.studies.ala2_claims, fast), and two real tiny ala2 campaigns compared end to end, with the study and
without (slow)."""
import json

import numpy as np
import pytest

from skmd.al.config import make_config
from skmd.al.over_seeds import compare_runs, read_runs, render_markdown
from skmd.al.over_seeds_claims import FAILS, HOLDS, UNKNOWN
from skmd.al.presets import read_preset
from skmd.studies.ala2_claims import claims
from skmd.studies.ala2_over_seeds import ALA2
from skmd.tools.rundir import as_json
from skmd.tools.stats import t_interval

TINY = ["--samplers", "md700,skmd", "--iterations", "1", "--walkers", "3", "--steps", "5", "--select", "2",
        "--start-frames", "16", "--surrogate-epochs", "2", "--finetune-epochs", "3", "--valid-fraction", "0.2"]


def _results_file(folder, **settings):
    """A run directory whose results.json holds the config of the ala2 preset with ``settings`` (nothing run)."""
    folder.mkdir()
    config = make_config(read_preset("ala2"), {"out": str(folder), **settings})
    (folder / "results.json").write_text(json.dumps({"config": as_json(config), "samplers": {}}))
    return folder


def test_runs_differing_in_more_than_the_seed_are_refused_in_one_line(tmp_path, capsys):
    first = _results_file(tmp_path / "a", seed=0, workers=2)
    second = _results_file(tmp_path / "b", seed=1, workers=1)          # where it ran may differ
    assert [r["config"]["seed"] for r in read_runs([second, first])] == [0, 1]
    hotter = _results_file(tmp_path / "c", seed=2, temperature_K=500.0)
    with pytest.raises(ValueError, match="differ in more than the seed: temperature_K is 500.0 and 300"):
        read_runs([first, hotter])
    again = _results_file(tmp_path / "d", seed=0)
    with pytest.raises(ValueError, match="distinct seeds"):
        read_runs([first, again])
    with pytest.raises(ValueError, match="no finished campaign"):
        read_runs([first, tmp_path])
    with pytest.raises(ValueError, match="at least 2"):
        read_runs([first])
    from skmd.cli.main import main
    assert main(["al-compare", str(first), str(hotter)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skmd al-compare: error:") and "temperature_K" in err and err.count("\n") == 1


def _sampler(final: dict) -> dict:
    return {"iterations": [final]}


def test_the_claims_criteria_on_given_numbers():
    """(c) and (d) decided from per-seed numbers; a missing sampler makes a claim not assessable."""
    worst = {"ubmd": [40.0, 50.0], "md300": [45.0, 60.0], "md700": [41.0, 49.0]}
    result = {"n_seeds": 2, "config": {"temperature_K": 300.0}, "pairs": {},
              "samplers": {name: _sampler({"worst_basin_force_rmse_meV_A": t_interval(values)})
                           for name, values in worst.items()},
              "basins_reached": {"ubmd": [["C5", "C7eq"], ["C7eq", "αR"]], "md300": [["C7eq"], ["C7eq"]],
                                 "md700": [["C7eq"], ["C7eq"]]}}
    verdicts = claims(result)
    assert verdicts["c"]["verdict"] == FAILS and "in 1 of 2 seeds" in verdicts["c"]["summary"]   # seed 1: 50 > 49
    assert verdicts["c"]["numbers"]["differences_meV_A"]["ubmd - md300"]["mean"] == pytest.approx(-7.5)
    assert verdicts["d"]["verdict"] == HOLDS and verdicts["d"]["numbers"]["basins_only_ubmd"] == [["C5"], ["αR"]]
    assert verdicts["a"]["verdict"] == verdicts["b"]["verdict"] == UNKNOWN           # no skmd
    result["samplers"]["md700"]["iterations"][0]["worst_basin_force_rmse_meV_A"] = t_interval([41.0, 51.0])
    result["basins_reached"]["ubmd"][1] = ["C7eq"]
    verdicts = claims(result)
    assert verdicts["c"]["verdict"] == HOLDS and verdicts["d"]["verdict"] == FAILS
    del result["samplers"]["md300"]
    assert claims(result)["c"]["verdict"] == claims(result)["d"]["verdict"] == UNKNOWN


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    """Two tiny campaigns of the ala2 preset with skmd and md700 (GFN2-xTB), seeds 0 and 1."""
    pytest.importorskip("tblite")
    pytest.importorskip("mace")
    from skmd.cli.main import main
    from ase.io import read, write
    from skmd.studies.ala2_testset import shipped_testset
    root = tmp_path_factory.mktemp("seeds")
    test = root / "test.extxyz"      # every 10th shipped test frame: every basin, a tenth of the scoring cost
    write(test, read(shipped_testset()[0], index="::10"), format="extxyz")
    for seed in (0, 1):
        assert main(["al", "--preset", "ala2", "--seed", str(seed), "--out", str(root / f"seed{seed}"),
                     "--test", str(test), *TINY]) == 0
    return [root / "seed0", root / "seed1"]


@pytest.mark.slow
def test_two_real_campaigns_compared_over_seeds(two_seeds, tmp_path, capsys):
    runs = [json.loads((d / "results.json").read_text()) for d in two_seeds]
    result = compare_runs(two_seeds[::-1], ALA2)
    assert result["seeds"] == [0, 1] and result["n_seeds"] == 2 and list(result["samplers"]) == ["md700", "skmd"]
    for name, sampler in result["samplers"].items():
        final = sampler["iterations"][-1]
        forces = [r["samplers"][name]["iterations"][-1]["force_rmse_meV_A"] for r in runs]
        assert final["force_rmse_meV_A"]["values"] == forces and final["force_rmse_meV_A"]["mean"] == np.mean(forces)
        half = 12.706204736174707 * np.std(forces, ddof=1) / np.sqrt(2)                 # t(0.975; 1)
        assert final["force_rmse_meV_A"]["high"] - final["force_rmse_meV_A"]["mean"] == pytest.approx(half)
        assert set(final["per_basin_force_rmse_meV_A"]) == {"C7eq", "C5", "αR", "C7ax", "αL"}
        assert final["worst_basin_force_rmse_meV_A"]["values"] == [
            max(r["samplers"][name]["iterations"][-1]["per_basin"][b]["force_rmse_meV_A"]
                for b in final["per_basin_force_rmse_meV_A"]) for r in runs]
        cells = [round(r["samplers"][name]["visited"]["coverage_cumulative"][-1] * 36 * 36) for r in runs]
        assert final["coverage_cells"]["values"] == cells and min(cells) > 0   # the traces agree with PhiPsi's summary
        assert final["n_labelled"]["values"] == [2, 2] and sum(sum(c.values()) for c in
                                                                final["learning_check"].values()) <= 2 * 2
    forces = result["pairs"]["forces"]
    assert set(forces) == {"md700 vs skmd"}
    p = [row["p_value"] for row in forces["md700 vs skmd"]["per_seed"]]
    adjusted = [row["p_holm_over_seeds"] for row in forces["md700 vs skmd"]["per_seed"]]
    assert len(p) == 2 and all(a >= b for a, b in zip(adjusted, p))
    assert min(adjusted) == pytest.approx(min(1.0, 2 * min(p)))                     # Holm over 1 pair × 2 seeds
    for pair, entry in forces.items():
        a, b = pair.split(" vs ")
        assert entry["line"] == (f"{a} < {b} significant in {entry['a_lower']} of 2 seeds, "
                                 f"opposite in {entry['b_lower']}")
    verdicts = result["claims"]
    assert verdicts["c"]["verdict"] == verdicts["d"]["verdict"] == UNKNOWN              # no ubmd, no md300
    skmd_cells = result["samplers"]["skmd"]["iterations"][-1]["coverage_cells"]["values"]
    md700_cells = result["samplers"]["md700"]["iterations"][-1]["coverage_cells"]["values"]
    assert verdicts["a"]["verdict"] == (HOLDS if all(s > m for s, m in zip(skmd_cells, md700_cells)) else FAILS)
    assert verdicts["b"]["verdict"] == (HOLDS if forces["md700 vs skmd"]["b_lower"] == 2 else FAILS)
    text = render_markdown(result, ALA2)
    assert "# Campaigns over 2 seeds (0, 1)" in text and "| skmd | 1 |" in text and "(a) SKMD explores more" in text
    from skmd.cli.main import main
    capsys.readouterr()
    assert main(["al-compare", *map(str, two_seeds), "--out", str(tmp_path / "over.json")]) == 0
    assert capsys.readouterr().out == text
    assert json.loads((tmp_path / "over.json").read_text()) == json.loads(json.dumps(result))
    general = compare_runs(two_seeds)                  # no study: the same numbers, no coverage and no claim
    assert general["claims"] == {} and general["basins_reached"] is None and general["pairs"] == result["pairs"]
    final = general["samplers"]["skmd"]["iterations"][-1]
    assert "coverage_cells" not in final and final["force_rmse_meV_A"] == \
        result["samplers"]["skmd"]["iterations"][-1]["force_rmse_meV_A"]
    text = render_markdown(general)
    assert "| cells visited (cumulative) |" in text and "claims" not in text and "φ/ψ" not in text
