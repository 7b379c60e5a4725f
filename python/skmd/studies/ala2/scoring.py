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

from ..ala2_metrics import predict, rmse_by_basin, visited_cells


def score(calculator, test) -> dict:
    """{"energy_rmse" (eV, total energy), "force_rmse" (eV/Å), ["by_basin"]} of ``calculator`` on ``test``."""
    from ...atoms.oracle import ENERGY_KEY, FORCES_KEY  # noqa: PLC0415
    if all("basin" in frame.info for frame in test):
        by_basin = rmse_by_basin(calculator, test)
        n_atoms = {len(frame) for frame in test}
        if len(n_atoms) == 1:   # one molecule: the total-energy RMSE is the per-atom one times its size
            whole = by_basin["all"]
            return {"energy_rmse": whole["energy_rmse_meV_per_atom"] * n_atoms.pop() / 1000.0,
                    "force_rmse": whole["forces_rmse_meV_per_A"] / 1000.0, "by_basin": by_basin}
    energies, forces = predict(calculator, test)
    reference = np.array([frame.info[ENERGY_KEY] for frame in test])
    components = np.concatenate([(f - frame.arrays[FORCES_KEY]).ravel() for f, frame in zip(forces, test)])
    result = {"energy_rmse": float(np.sqrt(np.mean((energies - reference) ** 2))),
              "force_rmse": float(np.sqrt(np.mean(components ** 2)))}
    if all("basin" in frame.info for frame in test):
        result["by_basin"] = rmse_by_basin(calculator, test)
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
