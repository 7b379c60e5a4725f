"""Inductive conformal calibration: finite-sample coverage on synthetic data, bad input."""
import math

import numpy as np
import pytest

from skmd.uncertainty.calibration import conformal_scale, coverage, energy_residuals, force_residuals


def synthetic(rng, n):
    """Heteroscedastic residuals whose spread is proportional to a noisy uncertainty."""
    u = rng.lognormal(mean=-3.0, sigma=0.7, size=n)
    residual = 2.5 * u * rng.standard_t(df=4, size=n) * rng.lognormal(0.0, 0.3, size=n)
    return residual, u


@pytest.mark.parametrize("n_calibration", [19, 59, 200])
def test_conformal_coverage_holds_on_held_out_data(n_calibration):
    alpha, n_seeds, n_test = 0.05, 1500, 400
    covered, naive = [], []
    for seed in range(n_seeds):
        rng = np.random.default_rng(seed)
        r_cal, u_cal = synthetic(rng, n_calibration)
        r_test, u_test = synthetic(rng, n_test)
        covered.append(coverage(r_test, u_test, conformal_scale(r_cal, u_cal, alpha)))
        naive.append(coverage(r_test, u_test, np.quantile(np.abs(r_cal) / u_cal, 1 - alpha)))
    mean = float(np.mean(covered))
    # the guarantee: E[coverage] = ceil((n+1)(1-α))/(n+1) >= 1 - α; 3 standard errors of slack
    expected = math.ceil((n_calibration + 1) * (1 - alpha)) / (n_calibration + 1)
    standard_error = np.std(covered) / np.sqrt(n_seeds)
    assert mean >= 1 - alpha - 3 * standard_error
    assert abs(mean - expected) < 4 * standard_error + 1e-3
    # the plain (1-α) quantile under-covers for small n: the test can tell the two apart
    if n_calibration == 19:
        assert np.mean(naive) < 1 - alpha - 5 * standard_error


def test_scale_is_the_ranked_score():
    scores = np.arange(1.0, 21.0)  # n = 20, alpha = 0.1 → rank ceil(21 * 0.9) = 19
    assert conformal_scale(scores, np.ones(20), alpha=0.1) == 19.0
    assert coverage(scores, np.ones(20), 19.0) == 0.95


def test_residual_helpers():
    assert np.allclose(energy_residuals([1.0, -2.0], [0.0, 0.0], [2, 4]), [0.5, 0.5])
    assert np.allclose(force_residuals(np.ones((2, 3)), np.zeros((2, 3))), [1.0, 1.0])


def test_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        conformal_scale(np.ones(30), np.ones(30), alpha=1.5)
    with pytest.raises(ValueError, match="too few"):
        conformal_scale(np.ones(10), np.ones(10), alpha=0.05)
    with pytest.raises(ValueError, match="> 0"):
        conformal_scale(np.ones(30), np.zeros(30))
    with pytest.raises(ValueError, match="shape mismatch"):
        coverage(np.ones(3), np.ones(4), 1.0)
