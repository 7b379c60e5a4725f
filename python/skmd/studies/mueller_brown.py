"""Shared pieces of the Müller–Brown studies: oracle, exact Boltzmann samples, initial data."""
from __future__ import annotations

import numpy as np

from ..modules.potentials import MuellerBrown
from ..tools.checks import positive, positive_int
from ..tools.stats import area_under_curve, compare_all, curve_statistics, final_value

# A box holding all but a negligible part of the Boltzmann mass for kT ≤ 20.
BOX_LOW = np.array([-1.8, -0.6])
BOX_HIGH = np.array([1.3, 2.3])
BASIN_B = MuellerBrown.minima[1]  # the metastable basin (0.623, 0.028) every study starts in
# Thresholds of "iterations to reach a fixed RMSE", fixed before any statistic was computed: an energy error
# of kT (Boltzmann weights off by at most a factor e) and a force error of kT per THRESHOLD_LENGTH (over that
# distance, about the kernel bandwidth and a tenth of the basin spacing, the energy error stays below kT).
THRESHOLD_LENGTH = 0.1


def boltzmann_samples(n: int, kT: float, rng, box=(BOX_LOW, BOX_HIGH)) -> np.ndarray:
    """Exact samples of π ∝ exp(−V/kT) on the Müller–Brown surface restricted to ``box``.

    Rejection sampling from the uniform distribution on the box with envelope exp(−V_min/kT),
    V_min a lower bound of V on the box: every accepted point is an exact draw. Returns (n, 2).
    """
    n = positive_int("n", n)
    kT = positive("kT", kT)
    rng = np.random.default_rng(rng)
    mb = MuellerBrown()
    low, high = box
    v_min = _lower_bound(mb, np.asarray(low, float), np.asarray(high, float))
    accepted = []
    count = 0
    while count < n:
        proposal = rng.uniform(low, high, size=(min(200_000, 2000 + 400 * n), 2))
        keep = rng.random(len(proposal)) < np.exp(-(mb.energy(proposal) - v_min) / kT)
        accepted.append(proposal[keep])
        count += int(keep.sum())
    return np.concatenate(accepted)[:n]


def _lower_bound(mb, low, high, n_grid=401) -> float:
    """A lower bound of V on the box: the smaller of the interior minima and, on a fine grid that
    includes the boundary, min_i (V_i − 2 ‖F_i‖ h) with grid spacing h (V changes by at most about
    ‖F‖ h/√2 inside a cell around node i; the factor 2 is a safety margin)."""
    gx, gy = np.meshgrid(np.linspace(low[0], high[0], n_grid), np.linspace(low[1], high[1], n_grid))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    energy, forces = mb.energy_forces(grid)
    spacing = float(np.max(high - low)) / (n_grid - 1)
    inside = [m for m in mb.minima if np.all(m >= low) and np.all(m <= high)]
    candidates = [float(np.min(energy - 2.0 * np.linalg.norm(forces, axis=1) * spacing))]
    if inside:
        candidates.append(float(mb.energy(np.array(inside)).min()) - 1e-9)
    return float(min(candidates))


def basin_samples(n: int, kT: float, rng, center=BASIN_B, radius: float = 0.15) -> np.ndarray:
    """Boltzmann samples restricted to the disk of ``radius`` around ``center`` (n, 2)."""
    rng = np.random.default_rng(rng)
    box = (np.asarray(center) - radius, np.asarray(center) + radius)
    out = []
    while sum(len(o) for o in out) < n:
        points = boltzmann_samples(4 * n, kT, rng, box=box)
        out.append(points[np.linalg.norm(points - center, axis=1) <= radius])
    return np.concatenate(out)[:n]


def label(points) -> tuple[np.ndarray, np.ndarray]:
    """Oracle labels: exact Müller–Brown energies (n,) and forces (n, 2)."""
    return MuellerBrown().energy_forces(np.asarray(points, float).reshape(-1, 2))


def trial_seeds(seed: int, n_trials: int) -> list[np.random.SeedSequence]:
    """One independent SeedSequence per trial, derived from the study seed."""
    return np.random.SeedSequence(seed).spawn(n_trials)


# --------------------------------------------------------------------------- statistics of the studies
def rmse_thresholds(kT: float) -> dict:
    """The fixed thresholds of ``iterations_to_threshold``: energy kT, force kT / THRESHOLD_LENGTH."""
    return {"energy_rmse": float(kT), "force_rmse": float(kT) / THRESHOLD_LENGTH}


def al_statistics(samplers: dict, kT: float, *, seed: int = 0, strata=None) -> dict:
    """Bootstrap intervals and paired tests of every sampler pair (see :mod:`skmd.tools.stats`).

    Args:
        samplers: ``results["samplers"]``: name → {"energy_rmse", "force_rmse": (trials, iterations + 1)}.
        kT: the study's kT (sets the thresholds). seed: bootstrap seed.
        strata: per-trial labels for resampling within groups (pooled runs of several seeds).
    """
    thresholds = rmse_thresholds(kT)
    out = {"method": "95 % percentile bootstrap over trials (10 000 resamples); Wilcoxon signed-rank test "
                     "on per-trial paired differences (a − b); Holm–Bonferroni over the sampler pairs of "
                     "each metric; significant: Holm-adjusted p < 0.05",
           "thresholds": thresholds,
           "metrics": "final: RMSE after the last iteration; iterations_to_threshold: first iteration with RMSE "
                      "≤ threshold (never ⇒ iterations + 1); area_under_curve: trapezoid area / iterations"}
    for key, threshold in thresholds.items():
        curves = {name: np.asarray(r[key], float) for name, r in samplers.items()}
        out[key] = curve_statistics(curves, threshold, seed=seed, strata=strata)
    return out


def w2_pairs(methods) -> list[tuple[str, str]]:
    """The W2 study's comparisons: every SKMD stopping time against Langevin, then neighbouring times."""
    skmd = [m for m in methods if m != "langevin"]
    return [(m, "langevin") for m in skmd if "langevin" in methods] + list(zip(skmd[:-1], skmd[1:]))


def w2_statistics(methods: dict, *, seed: int = 0, strata=None) -> dict:
    """Intervals and paired tests of the final and time-averaged W2 (see :mod:`skmd.tools.stats`).

    Args:
        methods: ``results["methods"]``: name → {"w2": (trials, evaluations)}; trials are paired.
    """
    curves = {name: np.asarray(r["w2"], float) for name, r in methods.items()}
    pairs = w2_pairs(list(curves))
    return {"method": "95 % percentile bootstrap over trials (10 000 resamples); Wilcoxon signed-rank test on "
                      "per-trial paired differences (a − b); Holm–Bonferroni over the listed pairs of each metric; "
                      "significant: Holm-adjusted p < 0.05",
            "final": compare_all({n: final_value(c) for n, c in curves.items()}, pairs, seed=seed, strata=strata),
            "area_under_curve": compare_all({n: area_under_curve(c) for n, c in curves.items()}, pairs,
                                            seed=seed, strata=strata)}


MINIMUM_NAMES = ("A", "B", "C")   # the order of MuellerBrown.minima: A deepest, B metastable (the start), C


def nearest_minimum_fractions(points) -> dict:
    """Fraction of ``points`` (n, 2) nearest to each named minimum: {"A": …, "B": …, "C": …} (sums to 1;
    all 0 for no points). A coarse basin assignment for the figures and results.json."""
    points = np.asarray(points, float).reshape(-1, 2)
    if not len(points):
        return {name: 0.0 for name in MINIMUM_NAMES}
    nearest = np.argmin(np.linalg.norm(points[:, None] - MuellerBrown.minima[None], axis=2), axis=1)
    counts = np.bincount(nearest, minlength=len(MINIMUM_NAMES))
    return {name: float(c / len(points)) for name, c in zip(MINIMUM_NAMES, counts)}
