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

#: a sampler "reached basin A" (where the test set lies) when at least this share of its points is nearest A
REACHED_A = 0.25


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


def held_out_curves(models, validation) -> dict:
    """Where each sampler went, scored after every iteration: the energy and force RMSE of the models of
    iterations 0 (the initial models) … K on each trial's final held-out points, as
    ``{"held_out_energy_rmse", "held_out_force_rmse"}``, each (trials, K + 1) lists; None for a trial
    without held-out points."""
    scores = [validation_rmse(model, validation) for model in models]
    as_lists = lambda rows: [[float(v) if np.isfinite(v) else None for v in trial] for trial in np.array(rows).T]  # noqa: E731
    return {"held_out_energy_rmse": as_lists([e for e, _ in scores]),
            "held_out_force_rmse": as_lists([f for _, f in scores])}


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


def learning_loop(results) -> dict:
    """Per sampler, the story of the run in medians over trials: the force RMSE of the initial and the final
    models where the sampler went (its held-out labels) and on the test set, and the share of its points
    nearest minimum A. ``{name: {"held_out": (initial, final), "test": (initial, final), "share_nearest_A",
    "reached_A", "learned_where_it_went", "test_improved"}}``; samplers without held-out curves are left out."""
    story = {}
    for name, r in results["samplers"].items():
        if "held_out_force_rmse" not in r:
            continue
        held_out = np.array(r["held_out_force_rmse"], dtype=float)
        test = np.array(r["force_rmse"], dtype=float)
        ends = lambda curves: (float(np.nanmedian(curves[:, 0])), float(np.nanmedian(curves[:, -1])))  # noqa: E731
        share = float(r["acquired_nearest_minimum"]["A"])
        story[name] = {"held_out": ends(held_out), "test": ends(test), "share_nearest_A": share,
                       "reached_A": share >= REACHED_A}
        story[name]["learned_where_it_went"] = story[name]["held_out"][1] < story[name]["held_out"][0]
        story[name]["test_improved"] = story[name]["test"][1] < story[name]["test"][0]
    return story
