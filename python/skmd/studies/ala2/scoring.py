"""Scores of one model and one sampler in the alanine-dipeptide study.

* :func:`score` — test-set errors of a calculator: the total-energy RMSE (eV) and force-component
  RMSE (eV/Å) the study has always reported, and, when the test frames carry a ``basin`` label
  (the shipped independent set), the per-atom energy and force RMSEs on the whole set and per basin
  (``by_basin``, in meV/atom and meV/Å; see :func:`~skmd.studies.ala2_metrics.rmse_by_basin`).
* :func:`coverage_summary` — Ramachandran coverage (fraction of 10° × 10° cells) of the (φ, ψ)
  a sampler's walks visited, per iteration and accumulated over iterations.
"""
from __future__ import annotations

import numpy as np

from ..ala2_metrics import errors_by_basin, predict, visited_cells


def score(calculator, test) -> dict:
    """{"energy_rmse" (eV, total energy), "force_rmse" (eV/Å), ["by_basin"]} of ``calculator`` on ``test``."""
    from ...atoms.oracle import ENERGY_KEY, FORCES_KEY  # noqa: PLC0415
    energies, forces = predict(calculator, test)
    reference = np.array([frame.info[ENERGY_KEY] for frame in test])
    components = np.concatenate([(f - frame.arrays[FORCES_KEY]).ravel() for f, frame in zip(forces, test)])
    result = {"energy_rmse": float(np.sqrt(np.mean((energies - reference) ** 2))),
              "force_rmse": float(np.sqrt(np.mean(components ** 2)))}
    if all("basin" in frame.info for frame in test):
        result["by_basin"] = errors_by_basin(test, energies, forces)
    return result


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
