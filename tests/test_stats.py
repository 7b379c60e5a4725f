"""skmd.tools.stats: bootstrap intervals, the paired signed-rank test, Holm, derived curve metrics."""
import numpy as np
import pytest

from skmd.studies import mueller_brown as mbs
from skmd.tools import stats


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate():
    values = np.random.default_rng(0).lognormal(size=40)
    a = stats.bootstrap_interval(values, seed=3)
    assert a == stats.bootstrap_interval(values, seed=3)
    assert stats.bootstrap_interval(values, np.mean, seed=3) != stats.bootstrap_interval(values, np.mean, seed=4)
    assert a["low"] < a["estimate"] < a["high"]
    assert a["estimate"] == pytest.approx(np.median(values))


def test_bootstrap_interval_covers_the_true_median_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    covered = []
    for k in range(200):
        sample = rng.standard_normal(50)  # true median 0
        ci = stats.bootstrap_interval(sample, n_boot=1000, seed=k)
        covered.append(ci["low"] <= 0.0 <= ci["high"])
    assert 0.88 <= np.mean(covered) <= 0.99


def test_stratified_bootstrap_keeps_each_stratum_size():
    rng = np.random.default_rng(2)
    strata = np.repeat([0, 1, 2], [5, 10, 15])
    idx = stats._resample_indices(30, 500, rng, strata)
    for label, size in ((0, 5), (1, 10), (2, 15)):
        assert np.all(np.sum(strata[idx] == label, axis=1) == size)


def test_signed_rank_test_detects_a_paired_shift_that_an_unpaired_view_hides():
    rng = np.random.default_rng(3)
    trial_effect = 10.0 * rng.standard_normal(30)          # shared initial data: large spread between trials
    a = trial_effect + 0.3 + 0.1 * rng.standard_normal(30)
    b = trial_effect + 0.1 * rng.standard_normal(30)
    assert stats.signed_rank_p(a - b) < 1e-4
    null = stats.signed_rank_p(rng.standard_normal(30))
    assert null > 0.05
    assert stats.signed_rank_p(np.zeros(10)) == 1.0


def test_holm_matches_the_step_down_rule():
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(adjusted, [0.04, 0.09, 0.09, 0.5])
    assert np.all(stats.holm([0.9, 0.8]) <= 1.0)


def test_curve_metrics():
    curves = np.array([[10.0, 8.0, 4.0, 2.0],
                       [10.0, 9.0, 9.0, 9.0]])
    np.testing.assert_array_equal(stats.final_value(curves), [2.0, 9.0])
    np.testing.assert_array_equal(stats.iterations_to_threshold(curves, 4.0), [2, 4])  # never ⇒ iterations + 1
    np.testing.assert_allclose(stats.area_under_curve(curves), [(5 + 8 + 4 + 1) / 3, (5 + 9 + 9 + 4.5) / 3])


def test_compare_all_flags_only_real_differences():
    rng = np.random.default_rng(4)
    base = rng.lognormal(size=50)
    values = {"good": base * 0.5, "same_a": base * (1 + 0.05 * rng.standard_normal(50)), "same_b": base.copy()}
    result = stats.compare_all(values, stats.all_pairs(values), seed=0)
    assert result["pairs"]["good vs same_a"]["significant"]
    assert result["pairs"]["good vs same_a"]["median_difference"]["high"] < 0
    assert result["pairs"]["good vs same_a"]["fraction_a_lower"] == 1.0
    assert not result["pairs"]["same_a vs same_b"]["significant"]
    for c in result["pairs"].values():
        assert c["p_holm"] >= c["p_value"]


def test_compare_models_runs_holm_within_each_quantity():
    rng = np.random.default_rng(5)
    base = rng.lognormal(size=40)
    models = {"a": {"energy": base, "forces": base * 3}, "b": {"energy": base * 0.5, "forces": base * 3 + 1e-9},
              "c": {"energy": base * 1.01, "forces": base * 3.3}}
    result = stats.compare_models(models, seed=0)
    assert set(result) == {"energy", "forces"}
    energy_only = stats.compare_all({n: m["energy"] for n, m in models.items()}, stats.all_pairs(models), seed=0)
    assert result["energy"] == energy_only   # the same test and the same Holm family as one compare_all
    assert result["energy"]["pairs"]["a vs b"]["significant"] and result["forces"]["pairs"]["a vs c"]["significant"]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        stats.bootstrap_interval([1.0])
    with pytest.raises(ValueError, match="non-finite"):
        stats.bootstrap_interval([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap_interval([1.0, 2.0], level=1.5)
    with pytest.raises(ValueError, match="same trials"):
        stats.paired_comparison([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="threshold"):
        stats.iterations_to_threshold(np.ones((2, 3)), -1.0)
    with pytest.raises(ValueError, match="cannot compare"):
        stats.compare_all({"a": [1.0, 2.0]}, [("a", "b")])
    with pytest.raises(ValueError, match="strata"):
        stats.bootstrap_interval([1.0, 2.0, 3.0], strata=[0, 1])


def test_al_statistics_on_synthetic_curves():
    rng = np.random.default_rng(5)
    trials, iterations = 20, 6
    decay = np.exp(-np.arange(iterations + 1) / 2.0)
    samplers = {"fast": {"energy_rmse": 50 * decay ** 2 * rng.lognormal(0, 0.1, (trials, 1)),
                         "force_rmse": 400 * decay ** 2 * rng.lognormal(0, 0.1, (trials, 1))},
                "slow": {"energy_rmse": 50 * decay * rng.lognormal(0, 0.1, (trials, 1)),
                         "force_rmse": 400 * decay * rng.lognormal(0, 0.1, (trials, 1))}}
    result = mbs.al_statistics(samplers, kT=4.0)
    assert result["thresholds"] == {"energy_rmse": 4.0, "force_rmse": 40.0}
    for key in ("energy_rmse", "force_rmse"):
        for metric in ("final", "iterations_to_threshold", "area_under_curve"):
            comparison = result[key][metric]["pairs"]["fast vs slow"]
            assert comparison["significant"] and comparison["median_difference"]["estimate"] < 0


def test_too_few_paired_values_can_never_be_significant_and_the_smallest_enough_is_named():
    from skmd.tools.stats import compare_all, holm, signed_rank_p, smallest_significant_n
    assert smallest_significant_n(1) == 6 and smallest_significant_n(3) == 7 and smallest_significant_n(10) == 9
    for comparisons in (1, 3, 6):
        needed = smallest_significant_n(comparisons)
        for n, reachable in ((needed - 1, False), (needed, True)):
            best = holm([signed_rank_p(np.arange(1.0, n + 1))] * comparisons).min()   # every difference one sign
            assert bool(best < 0.05) is reachable, (comparisons, n, best)
    values = {name: np.arange(6.0) + shift for name, shift in (("a", 0.0), ("b", 1.0), ("c", 2.0))}
    result = compare_all(values, [("a", "b"), ("a", "c"), ("b", "c")])
    assert result["smallest_significant_n"] == 7
    assert not any(c["significant"] for c in result["pairs"].values())       # 6 < 7: as the note says


def test_the_learning_check_says_when_its_frames_are_too_few_and_reports_the_test_change():
    from skmd.al.learning import compare, sentence, test_change
    old = {"per_frame": {"forces": [10.0, 20.0, 30.0, 40.0, 50.0]}}
    new = {"per_frame": {"forces": [12.0, 19.0, 35.0, 41.0, 52.0]}}
    change = test_change({"force_rmse_meV_A": 810.0}, {"force_rmse_meV_A": 1968.0})
    text = sentence("md", 2, compare(old, new), change)
    assert "5 frames are too few for a signed-rank test to reach p < 0.05 (it needs 6)" in text
    assert "too few held-out labels to tell" in text and "WORSE" not in text and "forces worse" not in text
    assert "forces (+2.00 [" in text                          # the interval is still shown, without a verdict
    assert text.endswith("Test set: forces 810 → 1968 meV/Å.")
    six = {"per_frame": {"forces": [1.0] * 6}}
    assert "too few" not in sentence("md", 2, compare(six, six))
