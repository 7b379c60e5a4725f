"""Held-out validation labels of ``skmd mb-al`` and its learning check.

Every iteration, one in ``VALIDATION_EVERY`` of the points a sampler acquired in a trial is held out
(chosen at random, seeded by the study seed, trial and iteration): labelled, never trained on. After
retraining, the previous model (k − 1) and the new one (k) of each trial are scored on that trial's
held-out points so far (energy and force-component RMSE, in the surface's units). The paired
differences new − old over trials get their median with a 95 % bootstrap interval and a Wilcoxon
p-value; the verdict per quantity is :func:`skmd.al.learning.verdict` (``worse`` where the interval lies
above 0), the same rule the atomistic campaign applies.
"""
from __future__ import annotations

import numpy as np

from ..al.learning import verdict
from ..tools.stats import paired_comparison
from .figure_tools import MB_ENERGY, MB_FORCE
from .mb_defaults import VALIDATION_EVERY


def held_out(n_points: int, seed: int, trial: int, iteration: int) -> np.ndarray:
    """Boolean mask (n_points,): the acquired points kept for validation (n_points // VALIDATION_EVERY)."""
    mask = np.zeros(n_points, dtype=bool)
    rng = np.random.default_rng([seed, 11, trial, iteration])
    mask[rng.permutation(n_points)[:n_points // VALIDATION_EVERY]] = True
    return mask


def validation_rmse(model, validation) -> tuple[np.ndarray, np.ndarray]:
    """Energy and force-component RMSE (B,), (B,) of each trial's model on its own held-out points
    ``validation[b] = (x (n, 2), energy (n,), forces (n, 2))``; NaN for a trial without any."""
    energy, force = np.full(len(validation), np.nan), np.full(len(validation), np.nan)
    for b, (x, e, f) in enumerate(validation):
        if len(x):
            e_model, f_model = model.member(b).energy_forces(x)
            energy[b] = np.sqrt(np.mean((e_model - e) ** 2))
            force[b] = np.sqrt(np.mean((f_model - f) ** 2))
    return energy, force


def learning_check(old: tuple, new: tuple, n_points: int, seed: int = 0) -> dict:
    """{quantity: paired comparison + verdict} of the new models against the old on the validation points;
    ``old``/``new``: (energy (B,), force (B,)) from :func:`validation_rmse`; empty with fewer than 3 trials
    holding validation points."""
    result = {}
    for quantity, unit, a, b in (("energy", MB_ENERGY, new[0], old[0]), ("forces", MB_FORCE, new[1], old[1])):
        keep = np.isfinite(a) & np.isfinite(b)
        if keep.sum() < 3:
            return {}
        comparison = paired_comparison(a[keep], b[keep], seed=seed)
        result[quantity] = {**comparison, "unit": unit, "verdict": verdict(comparison["median_difference"]),
                            "n_frames": int(n_points), "n_trials": int(keep.sum())}
    return result


def worse_iterations(checks: list) -> list[int]:
    """The iterations (1-based) whose check found the new models worse in any quantity."""
    return [k for k, check in enumerate(checks, start=1) if any(c["verdict"] == "worse" for c in check.values())]
