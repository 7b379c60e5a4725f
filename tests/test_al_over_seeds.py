"""Campaigns of one config over seeds (skmd.al.over_seeds, ``skmd al-compare``): the refusal of runs that differ
in more than the seed (fast), the alanine-dipeptide study's verdicts' criteria on given numbers
(skmd.studies.ala2_claims, fast), and two real tiny ala2 campaigns compared end to end, with the study and
without (slow)."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ttest_rel, wilcoxon

from skmd.al.config import make_config
from skmd.al.over_seeds import compare_runs, read_runs, render_markdown
from skmd.al.over_seeds_claims import FAILS, HOLDS, UNKNOWN, seed_test, significantly_lower
from skmd.al.presets import read_preset
from skmd.al.publish import portable_path, publish_models
from skmd.al.seed_tests import seed_tests
from skmd.studies.ala2_claims import claims
from skmd.studies.ala2_over_seeds import ALA2
from skmd.tools.rundir import as_json
from skmd.tools.seed_stats import t_power
from skmd.tools.stats import holm, t_interval

TINY = ["--samplers", "md700,skmd", "--iterations", "1", "--walkers", "3", "--steps", "5", "--select", "2",
        "--start-frames", "16", "--surrogate-epochs", "1", "--finetune-epochs", "1", "--valid-fraction", "0.2"]


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
    """(c) decided by seed-level paired t-tests (Holm over the pairs), (d) counted per seed; a missing
    sampler or a single seed makes a claim not assessable."""
    worst = {"ubmd": [40.0, 50.0, 45.0, 42.0], "md300": [60.0, 72.0, 66.0, 61.0], "md700": [41.0, 49.0, 47.0, 44.0]}
    result = {"n_seeds": 4, "config": {"temperature_K": 300.0}, "pairs": {},
              "samplers": {name: _sampler({"worst_basin_force_rmse_meV_A": t_interval(values)})
                           for name, values in worst.items()},
              "basins_reached": {"ubmd": [["C5", "C7eq"], ["C7eq", "αR"], ["C5"], ["αL"]],
                                 "md300": [["C7eq"]] * 4, "md700": [["C7eq"]] * 4}}
    result["seed_tests"] = seed_tests(result)
    verdicts = claims(result)
    assert verdicts["c"]["verdict"] == FAILS                                  # below md300, not clearly below md700
    tests = verdicts["c"]["numbers"]["tests"]
    assert tests["md300"]["difference"]["mean"] == pytest.approx(-20.5)      # oriented ubmd − md300
    assert tests["md300"]["significant"] and not tests["md700"]["significant"]
    assert tests["md300"]["p_t_holm"] == pytest.approx(min(1.0, 3 * ttest_rel(worst["ubmd"], worst["md300"]).pvalue))
    assert verdicts["d"]["verdict"] == HOLDS and verdicts["d"]["numbers"]["basins_only_ubmd"][:2] == [["C5"], ["αR"]]
    assert verdicts["a"]["verdict"] == verdicts["b"]["verdict"] == UNKNOWN           # no skmd
    result["samplers"]["md700"]["iterations"][0]["worst_basin_force_rmse_meV_A"] = t_interval([55.0, 66.0, 60.0, 58.0])
    result["basins_reached"]["ubmd"][1] = ["C7eq"]
    result["seed_tests"] = seed_tests(result)
    verdicts = claims(result)
    assert verdicts["c"]["verdict"] == HOLDS and verdicts["d"]["verdict"] == FAILS
    one_seed = {**result, "n_seeds": 1}
    assert claims(one_seed)["c"]["verdict"] == UNKNOWN
    del result["samplers"]["md300"]
    assert claims(result)["c"]["verdict"] == claims(result)["d"]["verdict"] == UNKNOWN


def test_seed_tests_orient_each_pair_and_adjust_over_the_pairs():
    """The final force RMSEs of three samplers over five seeds: every pair's paired t and Wilcoxon p as
    scipy gives them, Holm over the three pairs, and the claims' reading in either order."""
    forces = {"skmd": [150.0, 160.0, 155.0, 149.0, 158.0], "md300": [170.0, 181.0, 171.0, 168.0, 180.0],
              "md700": [152.0, 158.0, 160.0, 147.0, 161.0]}
    result = {"n_seeds": 5, "samplers": {name: _sampler({"force_rmse_meV_A": t_interval(v)})
                                         for name, v in forces.items()}}
    block = seed_tests(result)["force_rmse_meV_A"]
    assert list(block["pairs"]) == ["skmd vs md300", "skmd vs md700", "md300 vs md700"] and block["target"] == 15.0
    raw = [ttest_rel(forces[a], forces[b]).pvalue for a, b in (("skmd", "md300"), ("skmd", "md700"), ("md300", "md700"))]
    assert [e["p_t"] for e in block["pairs"].values()] == pytest.approx(raw)
    assert [e["p_t_holm"] for e in block["pairs"].values()] == pytest.approx(list(holm(raw)))
    assert [e["p_wilcoxon"] for e in block["pairs"].values()] == pytest.approx(
        [wilcoxon(np.subtract(forces[a], forces[b])).pvalue for a, b in (("skmd", "md300"), ("skmd", "md700"),
                                                                         ("md300", "md700"))])
    assert block["pairs"]["skmd vs md300"]["significant"] and not block["pairs"]["skmd vs md700"]["significant"]
    result["seed_tests"] = {"force_rmse_meV_A": block}
    assert significantly_lower(seed_test(result, "force_rmse_meV_A", "skmd", "md300"))
    assert not significantly_lower(seed_test(result, "force_rmse_meV_A", "md300", "skmd"))   # flipped: md300 higher
    assert seed_test(result, "force_rmse_meV_A", "md300", "skmd")["difference"]["mean"] == pytest.approx(19.6)
    verdict = claims(result)["b"]
    assert verdict["verdict"] == FAILS and "below that of 1 of 2" in verdict["summary"]
    assert set(verdict["numbers"]["tests"]) == {"skmd"}              # per arm, as with several arms
    assert set(verdict["numbers"]["tests"]["skmd"]) == {"md300", "md700"}
    entry = block["pairs"]["skmd vs md300"]
    assert t_power(entry["detectable_at_80pct_power"], entry["sd_of_differences"], 5, 0.05 / 3) == pytest.approx(0.8)


def test_with_two_skmd_arms_claim_b_holds_when_one_arm_is_below_every_other_sampler():
    """ala2-h2h runs skmd and skmd1.5: (b) asks whether one of them beats both MDs; the other SKMD arm is
    no rival. skmd1.5 below md300 and md700 in every seed by 20–30 meV/Å; skmd above both."""
    forces = {"skmd": [180.0, 191.0, 185.0, 179.0, 188.0], "skmd1.5": [140.0, 150.0, 146.0, 139.0, 149.0],
              "md300": [170.0, 181.0, 171.0, 168.0, 180.0], "md700": [165.0, 176.0, 168.0, 161.0, 175.0]}
    result = {"n_seeds": 5, "samplers": {name: _sampler({"force_rmse_meV_A": t_interval(v)})
                                         for name, v in forces.items()}}
    result["seed_tests"] = seed_tests(result)
    verdict = claims(result)["b"]
    assert verdict["verdict"] == HOLDS, verdict["summary"]
    assert "skmd1.5's final force RMSE significantly below that of 2 of 2" in verdict["summary"]
    tests = verdict["numbers"]["tests"]
    assert set(tests) == {"skmd", "skmd1.5"} and set(tests["skmd"]) == {"md300", "md700"}
    forces["skmd1.5"] = [v + 60.0 for v in forces["skmd1.5"]]          # now both arms sit above both MDs
    result = {"n_seeds": 5, "samplers": {name: _sampler({"force_rmse_meV_A": t_interval(v)})
                                         for name, v in forces.items()}}
    result["seed_tests"] = seed_tests(result)
    assert claims(result)["b"]["verdict"] == FAILS


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
def test_two_real_campaigns_compared_over_seeds(two_seeds, tmp_path, capsys, monkeypatch):
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
    gap = np.subtract(skmd_cells, md700_cells)
    above = gap.mean() > 0 and (gap.std() > 0 and ttest_rel(skmd_cells, md700_cells).pvalue < 0.05)
    assert verdicts["a"]["verdict"] == (HOLDS if above else FAILS)
    tested = result["seed_tests"]["force_rmse_meV_A"]["pairs"]["md700 vs skmd"]
    skmd_forces = result["samplers"]["skmd"]["iterations"][-1]["force_rmse_meV_A"]["values"]
    md700_forces = result["samplers"]["md700"]["iterations"][-1]["force_rmse_meV_A"]["values"]
    assert tested["difference"]["values"] == pytest.approx(np.subtract(md700_forces, skmd_forces).tolist())
    assert tested["p_t"] == pytest.approx(ttest_rel(md700_forces, skmd_forces).pvalue)
    assert verdicts["b"]["verdict"] == (HOLDS if tested["significant"] and tested["difference"]["mean"] > 0 else FAILS)
    assert "compared over seeds: force_rmse_meV_A" in render_markdown(result, ALA2)
    text = render_markdown(result, ALA2)
    assert "# Campaigns over 2 seeds (0, 1)" in text and "| skmd | 1 |" in text and "(a) SKMD explores more" in text
    import torch
    from safetensors.torch import load_file
    from skmd.cli.main import main
    capsys.readouterr()
    assert main(["al-compare", *map(str, two_seeds), "--out", str(tmp_path / "over.json"),
                 "--publish", str(tmp_path / "models")]) == 0
    printed = capsys.readouterr()
    assert printed.out == text and "published 4 final models" in printed.err
    manifest = json.loads((tmp_path / "models" / "manifest.json").read_text())
    # no folder of this machine in it: each input file by its name, with its sha256
    test_file = Path(runs[0]["config"]["test"])
    assert manifest["config"]["test"] == test_file.name == manifest["inputs"]["test"]["path"]
    assert manifest["inputs"]["test"]["sha256"] == hashlib.sha256(test_file.read_bytes()).hexdigest()
    assert str(tmp_path) not in json.dumps(manifest) and "/tmp" not in json.dumps(manifest)
    assert sorted((m["seed"], m["sampler"]) for m in manifest["models"]) == [
        (0, "md700"), (0, "skmd"), (1, "md700"), (1, "skmd")]
    for model, run in ((m, runs[m["seed"]]) for m in manifest["models"]):
        original = run["samplers"][model["sampler"]]["final_model"]
        published = tmp_path / "models" / model["file"]
        assert model["sha256"] == hashlib.sha256(published.read_bytes()).hexdigest()
        same, copied = load_file(original), load_file(published)        # the same numbers, float32 where exact
        as64 = lambda t: t.double() if t.is_floating_point() else t  # noqa: E731
        assert same.keys() == copied.keys() and all(torch.equal(as64(same[k]), as64(copied[k])) for k in same)
        assert model["dtypes"] and model["new_labels"] == 2 and len(model["commits"]) == 1
        assert model["test_force_rmse_meV_A"] == run["samplers"][model["sampler"]]["iterations"][-1]["force_rmse_meV_A"]
    assert json.loads((tmp_path / "over.json").read_text()) == json.loads(json.dumps(result))
    general = compare_runs(two_seeds)                  # no study: the same numbers, no coverage and no claim
    assert general["claims"] == {} and general["basins_reached"] is None and general["pairs"] == result["pairs"]
    final = general["samplers"]["skmd"]["iterations"][-1]
    assert "coverage_cells" not in final and final["force_rmse_meV_A"] == \
        result["samplers"]["skmd"]["iterations"][-1]["force_rmse_meV_A"]
    text = render_markdown(general)
    assert "| cells visited (cumulative) |" in text and "claims" not in text and "φ/ψ" not in text
    # runs moved elsewhere (kept in git, restored in another folder) publish their own final models, not the
    # files at the absolute paths their results.json recorded
    moved = [tmp_path / "moved" / d.name for d in two_seeds]
    moved[0].parent.mkdir()
    for source, target in zip(two_seeds, moved):
        source.rename(target)
    monkeypatch.chdir(tmp_path)                       # run folders under the working folder: named relative to it
    try:
        again = publish_models(moved, tmp_path / "from-moved")
    finally:
        for source, target in zip(two_seeds, moved):
            target.rename(source)
    assert [m["run_dir"] for m in again["models"]] == [f"moved/seed{m['seed']}" for m in again["models"]]
    for before, after in zip(manifest["models"], again["models"]):      # the same numbers, from the moved files
        first, second = load_file(tmp_path / "models" / before["file"]), load_file(tmp_path / "from-moved" / after["file"])
        assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_published_paths_name_no_folder_of_this_machine(tmp_path, monkeypatch):
    from skmd.studies.ala2_testset import SHIPPED_TESTSET
    assert portable_path(SHIPPED_TESTSET) == "skmd/data/ala2_testset.extxyz"      # shipped with skmd
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert portable_path(Path("runs/seed0")) == portable_path(tmp_path / "runs" / "seed0") == "runs/seed0"
    assert portable_path(Path("/elsewhere/structures.extxyz")) == "structures.extxyz"


def test_the_sampling_per_iteration_is_said_with_its_moves():
    from skmd.al.report import walks_text
    assert walks_text({"walkers": 15, "moves": 10, "steps": 100}) == "15 walkers × 10 moves of 100 steps each"
    assert walks_text({"walkers": 3, "steps": 5}) == "3 walkers of 5 steps each"       # a run made before moves
    config = make_config(read_preset("ala2-h2h"), {"out": "unused"})
    assert walks_text(config) == "15 walkers × 10 moves of 100 steps each"
