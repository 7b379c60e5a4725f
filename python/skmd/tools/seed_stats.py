"""Tests and power over seeds: the unit that varies between independent campaigns is the seed.

Two samplers run with the same seeds are compared on one number per seed (e.g. the final force RMSE on
the test set), through the paired differences d_s = a_s − b_s (s = 1 … n):

* **paired t-test** (two-sided): t = mean(d) / (sd(d)/√n) on n − 1 degrees of freedom. It assumes the d_s
  are roughly normal; with few seeds it is the test that can reach significance at all.
* **Wilcoxon signed-rank test** (two-sided, exact for small n; :func:`skmd.tools.stats.signed_rank_p`): no
  normality assumed, but its smallest p with n seeds is 2/2ⁿ (0.25 at n = 3, 0.0625 at n = 5), so it
  needs at least 6 seeds to reach 0.05 alone.
* **Power** of the paired t-test, from the noncentral t distribution: the smallest |mean d| it detects
  at level α (Holm over m comparisons makes the first test's level α/m) with the asked power, given the
  SD of d and n; and the fewest seeds that detect a given difference.

Per-test-frame comparisons within one seed measure the test set, not the runs (its frames are
correlated and shared), so they are descriptive only; claims rest on these seed-level tests.
"""
from __future__ import annotations

import numpy as np

ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 1000


def paired_t_p(differences) -> float | None:
    """Two-sided paired t-test p-value of per-seed differences (n,); None with fewer than 2 values;
    1.0 if every difference is 0; 0.0 if they are equal and nonzero (no spread)."""
    from scipy.stats import t  # noqa: PLC0415  lazy: scipy.stats takes ~0.7 s; reading results needs only numpy
    d = np.asarray(differences, float).ravel()
    if d.size < 2:
        return None
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return 1.0 if float(d.mean()) == 0.0 else 0.0
    statistic = float(d.mean()) / (sd / np.sqrt(d.size))
    return float(2.0 * t.sf(abs(statistic), d.size - 1))


def t_power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test at level ``alpha`` to detect a true mean difference
    ``effect`` when the per-seed differences have SD ``sd`` (same units), with ``n`` seeds."""
    from scipy.stats import nct, t  # noqa: PLC0415  lazy: as above
    if n < 2 or sd <= 0.0:
        raise ValueError(f"power needs n >= 2 seeds and a positive SD, got n = {n}, sd = {sd}")
    critical = float(t.ppf(1.0 - alpha / 2.0, n - 1))
    shift = abs(effect) / (sd / np.sqrt(n))
    return float(nct.sf(critical, n - 1, shift) + nct.cdf(-critical, n - 1, shift))


def seeds_to_detect(effect: float, sd: float, power: float = POWER, alpha: float = ALPHA,
                    comparisons: int = 1) -> int | None:
    """The fewest seeds with which the paired t-test detects ``effect`` (SD of differences ``sd``) with
    ``power`` at level ``alpha``/``comparisons`` (Holm's first step); None if more than 1000 are needed."""
    for n in range(2, MAX_SEEDS + 1):
        if t_power(effect, sd, n, alpha / comparisons) >= power:
            return n
    return None


def detectable_difference(sd: float, n: int, power: float = POWER, alpha: float = ALPHA,
                          comparisons: int = 1) -> float:
    """The smallest true mean difference (units of ``sd``) that ``n`` seeds detect with ``power`` at level
    ``alpha``/``comparisons``: the root of :func:`t_power` in the effect, by bisection."""
    level = alpha / comparisons
    low, high = 0.0, sd
    while t_power(high, sd, n, level) < power:
        high *= 2.0
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if t_power(middle, sd, n, level) < power else (low, middle)
    return high
