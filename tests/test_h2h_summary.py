"""benchmarks/ala2_h2h.py --summary: the seed-level tests, the ideal-data ratios, the training noise and the
data-efficiency readings over the seeds written, as JSON and as the Markdown the docs quote."""
import copy
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("mace")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import ala2_h2h  # noqa: E402

SEED0 = ROOT / "benchmarks" / "results" / "ala2_h2h" / "seed0.json"


def shifted(record: dict, seed: int, by: dict) -> dict:
    """``record`` as seed ``seed`` with every force RMSE of arm ``name`` raised by ``by[name]`` meV/Å."""
    out = copy.deepcopy(record)
    out["seed"] = seed
    for part in ("samplers", "controls"):
        for name, rows in out[part].items():
            for row in rows:
                row["force_rmse_meV_A"] += by.get(name, 0.0)
    return out


def test_the_summary_compares_at_the_seed_level_and_reads_every_number_from_the_seeds(tmp_path, monkeypatch):
    if not SEED0.is_file():
        pytest.skip(f"{SEED0} is written by the head-to-head's first seed")
    monkeypatch.setattr(ala2_h2h, "RESULTS", tmp_path)
    monkeypatch.setattr(ala2_h2h, "FIGURE", tmp_path / "efficiency.png")
    record = json.loads(SEED0.read_text())
    (tmp_path / "seed0.json").write_text(json.dumps(record))
    with pytest.raises(SystemExit, match="at least 2"):
        ala2_h2h.summary()
    offsets = [{"md700": 3.0, "skmd": -2.0}, {"md700": -1.0, "ideal": 4.0}]
    for seed, by in enumerate(offsets, start=1):
        (tmp_path / f"seed{seed}.json").write_text(json.dumps(shifted(record, seed, by)))
    result = ala2_h2h.summary()
    final = record["samplers"]["md700"][-1]["force_rmse_meV_A"]
    assert result["seeds"] == [0, 1, 2]
    assert result["final_force_rmse_meV_A"]["md700"] == pytest.approx([final, final + 3, final - 1])
    assert set(result["primary"]) == {"skmd vs md300", "skmd vs md700", "skmd1.5 vs md300", "skmd1.5 vs md700"}
    ideal = [record["controls"]["ideal"][-1]["force_rmse_meV_A"] + d for d in (0, 0, 4)]
    assert result["ratio_to_ideal"]["md700"]["values"] == pytest.approx(
        [f / i for f, i in zip([final, final + 3, final - 1], ideal)])
    none = [record["controls"]["no_new_labels"][-1]["force_rmse_meV_A"]] * 3
    assert result["share_of_ideal_gain"]["md700"]["values"] == pytest.approx(
        [(n - f) / (n - i) for n, f, i in zip(none, [final, final + 3, final - 1], ideal)])
    noise = final - record["retrained_second_seed"]["md700"]["force_rmse_meV_A"]
    assert result["training_noise"]["md700"]["values"] == pytest.approx([noise, noise + 3, noise - 1])
    report = (tmp_path / "summary.md").read_text()
    assert report.startswith("# ala2-h2h over 3 seeds (0, 1, 2)")
    assert f"{final + 3:.1f}" in report and "Holm" in report and "1.5×" in report and "gain" in report
    assert (tmp_path / "efficiency.png").read_bytes()[:4] == b"\x89PNG"
    best = min(result["ratio_to_ideal"], key=lambda name: result["ratio_to_ideal"][name]["mean"])
    bar = result["ideal_bar"]
    assert bar["best"] == best and bar["met"] == (result["ratio_to_ideal"][best]["mean"] <= 1.5)
    assert bar["interval_below_bar"] == (result["ratio_to_ideal"][best]["high"] < 1.5)
    needed = result["seeds_needed"]
    assert needed["per_comparison"] == {pair: entry.get("seeds_to_detect_target", 2)     # SD 0 (shifted copies): 2
                                        for pair, entry in result["primary"].items()}
    assert needed["n"] == max(5, *needed["per_comparison"].values())
    assert f"The best sampler (lowest mean ratio) is {best}" in report and "asks for, max(5" in report
    failed = sum(row["n_failed"] for row in record["samplers"]["skmd"])
    assert result["oracle_failures"]["skmd"] == {"failed": 3 * failed, "labelled": 3 * 200,
                                                 "rate": 3 * failed / (3 * failed + 600)}
    assert f"skmd {3 * failed} of {3 * failed + 600}" in report


def test_the_bar_and_the_seed_count_are_read_as_the_protocol_fixes_them():
    from h2h_report import ideal_bar, seeds_needed
    ratios = {"a": {"mean": 1.4, "low": 1.2, "high": 1.6}, "b": {"mean": 1.9, "low": 1.8, "high": 2.0}}
    assert ideal_bar(ratios) == {"bar": 1.5, "best": "a", "ratio": ratios["a"], "met": True, "interval_below_bar": False}
    assert ideal_bar({"b": ratios["b"]})["met"] is False
    assert ideal_bar({"a": {"mean": 1.4, "low": None, "high": None}})["interval_below_bar"] is None
    assert seeds_needed({"x": {"seeds_to_detect_target": 3}, "y": {"seeds_to_detect_target": 9}})["n"] == 9
    assert seeds_needed({"x": {"seeds_to_detect_target": 3}})["n"] == 5
    assert seeds_needed({"x": {"seeds_to_detect_target": None, "sd_of_differences": 40.0}})["n"] is None
    assert seeds_needed({"x": {"sd_of_differences": 0.0}})["per_comparison"] == {"x": 2}
