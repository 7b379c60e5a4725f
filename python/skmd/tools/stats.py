"""Statistics for studies whose trials are paired: bootstrap intervals, paired tests, derived metrics.

In the Müller–Brown studies trial b of every sampler starts from the same initial data and reads the
same noise chain, so two samplers are compared trial by trial, on the paired differences
d_b = a_b − c_b (b = 0 … n−1).

* **Interval**: percentile bootstrap over trials (``n_boot`` resamples of the trial indices with
  replacement, seeded); a 95 % interval is the 2.5th and 97.5th percentile of the resampled statistic.
  With ``strata`` (e.g. the study seed of each trial when several runs are pooled) the trials are
  resampled within each stratum, so every resample keeps each run's share of the trials.
* **Paired test**: the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, two-sided, zero differences
  dropped; exact null distribution for n ≤ 50 without ties, the normal approximation with tie correction
  otherwise). Why this test: the RMSE of a trial is skewed and has outliers (a trial whose model misses a
  basin errs tenfold), so a rank test is robust where a t-test is not; it uses the pairing; and under the
  null hypothesis that the two samplers are exchangeable within a trial each d_b is symmetric about 0,
  which is exactly what the signed-rank test assumes. If every difference is 0 the p-value is 1.
* **Effect size**: the median of the paired differences, with its bootstrap interval (the test and the
  effect then speak about the same quantity, the location of d).
* **Multiple comparisons**: Holm–Bonferroni over the comparisons of one metric (e.g. the 6 pairs of 4
  samplers); a comparison is significant when its Holm-adjusted p-value is below 0.05.

Derived metrics of RMSE curves ``(trials, iterations + 1)`` (column 0 is the common initial model):

* final RMSE: the last column;
* iterations to reach a threshold: the first iteration whose RMSE is ≤ the threshold; a trial that never
  reaches it is censored at ``iterations + 1`` (ranks put it behind every trial that did);
* area under the curve: trapezoid rule over iterations 0 … I divided by I, i.e. the time-averaged RMSE
  (same units as the RMSE; low means low error early *and* late).
"""
from __future__ import annotations

import numpy as np

LEVEL = 0.95
ALPHA = 0.05
N_BOOT = 10_000


def _trials(name, values) -> np.ndarray:
    values = np.asarray(values, float)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 trials, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} holds non-finite values")
    return values


def _resample_indices(n, n_boot, rng, strata=None) -> np.ndarray:
    """(n_boot, n) trial indices drawn with replacement (within each stratum when given)."""
    if strata is None:
        return rng.integers(0, n, size=(n_boot, n))
    strata = np.asarray(strata)
    if strata.shape != (n,):
        raise ValueError(f"strata must have one label per trial ({n}), got shape {strata.shape}")
    columns = []
    for label in np.unique(strata):
        members = np.flatnonzero(strata == label)
        columns.append(members[rng.integers(0, members.size, size=(n_boot, members.size))])
    return np.concatenate(columns, axis=1)


def bootstrap_interval(values, statistic=np.median, *, n_boot: int = N_BOOT, level: float = LEVEL, seed: int = 0,
                       strata=None) -> dict:
    """Percentile-bootstrap interval of ``statistic`` over trials.

    Args:
        values: (n,) one value per trial. statistic: reduces along ``axis=1`` (np.median, np.mean).
        n_boot: resamples. level: coverage (0 < level < 1). seed: bootstrap seed (same seed ⇒ same interval).
        strata: optional (n,) labels; resampling stays within each label.
    Returns:
        {"estimate", "low", "high"} (floats, the units of ``values``).
    """
    values = _trials("values", values)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if int(n_boot) < 100:
        raise ValueError(f"n_boot must be at least 100, got {n_boot}")
    rng = np.random.default_rng(seed)
    resampled = statistic(values[_resample_indices(values.size, int(n_boot), rng, strata)], axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(resampled, [tail, 100.0 - tail])
    return {"estimate": float(statistic(values[None], axis=1)[0]), "low": float(low), "high": float(high)}


def signed_rank_p(differences) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (n,); 1.0 if every difference is 0."""
    from scipy.stats import wilcoxon  # noqa: PLC0415  lazy: scipy.stats takes ~0.7 s; the summaries here need only numpy
    differences = _trials("differences", differences)
    if not np.any(differences != 0.0):
        return 1.0
    return float(wilcoxon(differences, zero_method="wilcox", alternative="two-sided").pvalue)


def smallest_significant_n(comparisons: int = 1, alpha: float = ALPHA) -> int:
    """The fewest paired values with which a two-sided Wilcoxon signed-rank test can reach p < ``alpha``
    after a Holm adjustment over ``comparisons`` tests: its smallest exact p is 2 / 2ⁿ (every difference
    of one sign), which Holm multiplies by the number of comparisons."""
    n = 1
    while comparisons * 2.0 ** (1 - n) >= alpha:
        n += 1
    return n


def holm(p_values) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (same order as given, capped at 1)."""
    p = np.asarray(p_values, float)
    if p.ndim != 1 or np.any((p < 0) | (p > 1)):
        raise ValueError("p_values must be a 1-D array of probabilities")
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (p.size - rank) * p[i])
        adjusted[i] = min(running, 1.0)
    return adjusted


def t_interval(values, level: float = LEVEL) -> dict:
    """Mean of independent runs' values (n,) (e.g. one per seed) and its Student-t interval over them.

    Returns {"n", "mean", "low", "high", "values"} in the units of ``values``; with one value (or none)
    ``low`` and ``high`` are None (no spread to estimate). mean ± t(1 − (1 − level)/2; n − 1) · s/√n.
    """
    values = np.asarray(values, float).ravel()
    if values.size and not np.all(np.isfinite(values)):
        raise ValueError("values holds non-finite values")
    mean = float(values.mean()) if values.size else None
    low = high = None
    if values.size > 1:
        from scipy.stats import t  # noqa: PLC0415  lazy: scipy.stats takes ~0.7 s; the summaries here need only numpy
        half = float(t.ppf(0.5 + level / 2.0, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
        low, high = mean - half, mean + half
    return {"n": int(values.size), "mean": mean, "low": low, "high": high, "values": values.tolist()}


# --------------------------------------------------------------------------- derived metrics of curves
def _curves(curves) -> np.ndarray:
    curves = np.asarray(curves, float)
    if curves.ndim != 2 or curves.shape[1] < 2 or not np.all(np.isfinite(curves)):
        raise ValueError(f"curves must be finite (trials, iterations + 1) with ≥ 1 iteration, got {curves.shape}")
    return curves


def final_value(curves) -> np.ndarray:
    """The last column of (trials, iterations + 1) curves → (trials,)."""
    return _curves(curves)[:, -1]


def iterations_to_threshold(curves, threshold: float) -> np.ndarray:
    """First iteration with RMSE ≤ ``threshold`` per trial (trials,); never reached ⇒ iterations + 1."""
    curves = _curves(curves)
    if not np.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"threshold must be a positive number, got {threshold}")
    below = curves <= threshold
    return np.where(below.any(axis=1), below.argmax(axis=1), curves.shape[1]).astype(float)


def area_under_curve(curves) -> np.ndarray:
    """Trapezoid area over iterations 0 … I divided by I (the time-averaged RMSE) → (trials,)."""
    curves = _curves(curves)
    inner = curves[:, 1:-1].sum(axis=1) + 0.5 * (curves[:, 0] + curves[:, -1])
    return inner / (curves.shape[1] - 1)


# --------------------------------------------------------------------------- comparisons
def summarize(values, *, seed: int = 0, strata=None) -> dict:
    """Median and mean of one sampler's per-trial values, each with its bootstrap interval."""
    return {"n": int(np.size(values)),
            "median": bootstrap_interval(values, np.median, seed=seed, strata=strata),
            "mean": bootstrap_interval(values, np.mean, seed=seed, strata=strata)}


def paired_comparison(a, b, *, seed: int = 0, strata=None) -> dict:
    """Compare paired per-trial values a (n,) and b (n,): d = a − b.

    Returns the median of d with its bootstrap interval, the difference of the two medians, the
    Wilcoxon signed-rank p-value, and the share of trials with a < b.
    """
    a, b = _trials("a", a), _trials("b", b)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same trials, got {a.shape} and {b.shape}")
    d = a - b
    return {"median_difference": bootstrap_interval(d, np.median, seed=seed, strata=strata),
            "difference_of_medians": float(np.median(a) - np.median(b)),
            "fraction_a_lower": float(np.mean(a < b)), "p_value": signed_rank_p(d)}


def compare_all(values_by_name: dict, pairs, *, seed: int = 0, strata=None) -> dict:
    """Per-name summaries and the given (a, b) pairwise comparisons of one metric, Holm-adjusted.

    Args:
        values_by_name: name → (n,) per-trial values, the same trials for every name.
        pairs: [(a, b), ...] names to compare (difference a − b).
    Returns:
        {"per_sampler": {name: summary}, "pairs": {"a vs b": comparison + p_holm + significant}}.
    """
    out = {"per_sampler": {name: summarize(v, seed=seed, strata=strata) for name, v in values_by_name.items()},
           "pairs": {}}
    for a, b in pairs:
        if a not in values_by_name or b not in values_by_name:
            raise ValueError(f"cannot compare {a!r} with {b!r}: known names are {sorted(values_by_name)}")
        out["pairs"][f"{a} vs {b}"] = paired_comparison(values_by_name[a], values_by_name[b], seed=seed, strata=strata)
    if out["pairs"]:
        adjusted = holm([c["p_value"] for c in out["pairs"].values()])
        for comparison, p in zip(out["pairs"].values(), adjusted):
            comparison["p_holm"] = float(p)
            comparison["significant"] = bool(p < ALPHA)
        out["smallest_significant_n"] = smallest_significant_n(len(out["pairs"]))
    return out


def compare_models(per_quantity: dict, *, seed: int = 0, strata=None) -> dict:
    """Every pair of models on several per-item metrics at once (e.g. per-test-frame errors).

    Args:
        per_quantity: model name → {quantity: (n,) values}, the same items and quantities for every model.
    Returns:
        {quantity: :func:`compare_all` over :func:`all_pairs` of the models}, Holm within each quantity.
    """
    quantities = next(iter(per_quantity.values()), {})
    return {quantity: compare_all({name: np.asarray(values[quantity], float) for name, values in per_quantity.items()},
                                  all_pairs(per_quantity), seed=seed, strata=strata)
            for quantity in quantities}


def all_pairs(names) -> list[tuple[str, str]]:
    """Every unordered pair of ``names`` in the given order."""
    names = list(names)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def curve_statistics(curves_by_name: dict, threshold: float, *, seed: int = 0, strata=None) -> dict:
    """The three derived metrics of RMSE curves, each compared over every pair of names.

    Args:
        curves_by_name: name → (trials, iterations + 1) curves, the same trials for every name.
        threshold: the RMSE for ``iterations_to_threshold`` (fixed in advance by the caller).
    Returns:
        {"final": ..., "iterations_to_threshold": ..., "area_under_curve": ...}, each as :func:`compare_all`.
    """
    metrics = {"final": final_value,
               "iterations_to_threshold": lambda c: iterations_to_threshold(c, threshold),
               "area_under_curve": area_under_curve}
    pairs = all_pairs(curves_by_name)
    return {metric: compare_all({name: f(c) for name, c in curves_by_name.items()}, pairs, seed=seed, strata=strata)
            for metric, f in metrics.items()}
