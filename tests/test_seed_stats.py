"""Tests and power over seeds (skmd.tools.seed_stats): the paired t-test as scipy gives it, and its power
checked against a simulation of the test itself."""
import numpy as np
import pytest
from scipy.stats import t as student
from scipy.stats import ttest_rel

from skmd.tools.seed_stats import detectable_difference, paired_t_p, seeds_to_detect, t_power


def test_paired_t_p_is_scipys_and_handles_the_edge_cases():
    rng = np.random.default_rng(0)
    a, b = rng.normal(10.0, 2.0, 6), rng.normal(11.0, 2.0, 6)
    assert paired_t_p(a - b) == pytest.approx(ttest_rel(a, b).pvalue)
    assert paired_t_p([3.0]) is None                       # one seed: no spread, no test
    assert paired_t_p([0.0, 0.0, 0.0]) == 1.0 and paired_t_p([2.0, 2.0]) == 0.0


def test_power_matches_a_simulation_of_the_paired_t_test():
    """20,000 simulated campaigns of n = 4 seeds with differences N(12, 10²): the share the test calls
    significant at 0.05 is the computed power (within 3 binomial SDs)."""
    n, effect, sd, runs = 4, 12.0, 10.0, 20_000
    d = np.random.default_rng(1).normal(effect, sd, (runs, n))
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / np.sqrt(n))
    share = np.mean(np.abs(t) > student.ppf(0.975, n - 1))
    power = t_power(effect, sd, n)
    assert abs(share - power) < 3 * np.sqrt(power * (1 - power) / runs)
    assert 0.3 < power < 0.7                                # a regime where a wrong formula would show


def test_seeds_to_detect_and_the_detectable_difference_are_inverse_readings_of_the_power():
    sd = 10.0
    n = seeds_to_detect(15.0, sd)
    assert t_power(15.0, sd, n) >= 0.8 > t_power(15.0, sd, n - 1)
    assert seeds_to_detect(15.0, sd, comparisons=6) > n                   # Holm's first step is stricter
    assert t_power(detectable_difference(sd, 3), sd, 3) == pytest.approx(0.8, abs=1e-6)
    assert detectable_difference(sd, 3) > detectable_difference(sd, 8)    # more seeds detect less
    assert seeds_to_detect(0.01, sd) is None                              # beyond 1000 seeds
    with pytest.raises(ValueError, match="n >= 2"):
        t_power(1.0, sd, 1)
