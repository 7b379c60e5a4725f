"""Scores of one model and one sampler in the alanine-dipeptide study.

* :func:`score` — test-set errors of a calculator: the total-energy RMSE (eV) and force-component
  RMSE (eV/Å) the study has always reported, and, when the test frames carry a ``basin`` label
  (the shipped independent set), the per-atom energy and force RMSEs on the whole set and per basin
  (``by_basin``, in meV/atom and meV/Å; see :func:`~skmd.studies.ala2_metrics.rmse_by_basin`), and
  the per-frame errors behind them (``per_frame``).
* :func:`compare_final` — every pair of models on those per-frame errors, with intervals and tests.
* :func:`score_model` — :func:`score` of a MACE model file, as a picklable task (the loop scores the
  fine-tuned models of an iteration side by side on its executor).
* :func:`coverage_summary` — Ramachandran coverage (fraction of 10° × 10° cells) of the (φ, ψ)
  a sampler's walks visited, per iteration and accumulated over iterations.
"""
from __future__ import annotations

import time

import numpy as np

from ..ala2_metrics import errors_by_basin, mace_calculator, predict, visited_cells


def score(calculator, test) -> dict:
    """{"energy_rmse" (eV, total energy), "force_rmse" (eV/Å), ["by_basin"]} of ``calculator`` on ``test``."""
    from ...tools.labels import reference_labels  # noqa: PLC0415
    energies, forces = predict(calculator, test)
    labels = [reference_labels(frame, index) for index, frame in enumerate(test)]
    reference = np.array([label.energy for label in labels])
    components = np.concatenate([(f - label.forces).ravel() for f, label in zip(forces, labels)])
    result = {"energy_rmse": float(np.sqrt(np.mean((energies - reference) ** 2))),
              "force_rmse": float(np.sqrt(np.mean(components ** 2))),
              "per_frame": {"energy": (1e3 * np.abs(energies - reference) / [len(f) for f in test]).tolist(),
                            "forces": [1e3 * float(np.sqrt(np.mean((f - label.forces) ** 2)))
                                       for f, label in zip(forces, labels)]}}
    if all("basin" in frame.info for frame in test):
        result["by_basin"] = errors_by_basin(test, energies, forces)
    return result


def score_model(model_path, test, threads: int = 1) -> dict:
    """:func:`score` of the MACE model at ``model_path`` (float64), with ``score_s``, its wall time (s)."""
    from ...tools.threads import set_threads  # noqa: PLC0415
    set_threads(threads)
    started = time.perf_counter()
    errors = score(mace_calculator(model_path), test)
    return {**errors, "score_s": time.perf_counter() - started}


def compare_final(per_frame: dict, test, seed: int = 0) -> dict:
    """Every pair of models on per-test-frame errors: ``per_frame`` maps a name to the ``per_frame`` of
    its :func:`score` (|energy error| per atom in meV/atom, force RMSE in meV/Å per frame).

    Per quantity (:func:`skmd.tools.stats.compare_models`): the median paired difference a − b with its
    95 % bootstrap interval over test frames (resampled within basins when the frames carry one),
    the Wilcoxon signed-rank p, Holm-adjusted over the pairs. One run, so the intervals speak to the
    test set's sampling error, not to run-to-run variation.
    """
    from ...tools.stats import compare_models  # noqa: PLC0415
    strata = np.array([f.info["basin"] for f in test]) if all("basin" in f.info for f in test) else None
    return compare_models(per_frame, seed=seed, strata=strata)


def coverage_summary(traces) -> dict:
    """Coverage of per-iteration (φ, ψ) traces (each a list of [φ, ψ] in degrees).

    Returns ``coverage`` (each iteration's own), ``coverage_cumulative`` (iterations 1..k together)
    and ``trace_frames`` (frames recorded per iteration).
    """
    maps = [visited_cells(np.asarray(trace, float).reshape(-1, 2)) for trace in traces]
    cumulative = np.zeros_like(maps[0]) if maps else None
    totals = []
    for cells in maps:
        cumulative = cumulative | cells
        totals.append(float(cumulative.mean()))
    return {"coverage": [float(cells.mean()) for cells in maps], "coverage_cumulative": totals,
            "trace_frames": [len(trace) for trace in traces]}
