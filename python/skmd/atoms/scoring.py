"""Test errors of a model against reference labels, in one convention for every campaign.

Energy: error per atom in meV/atom. Forces: over Cartesian components, in meV/Å. Stress: over the six
Voigt components, in meV/Å³ (periodic frames whose labels carry a stress). Per frame, ``energy`` is
the absolute error per atom and ``forces``/``stress`` the frame's RMSE over its components; the
summary RMSEs pool every component of every frame. Labels are read through
:func:`skmd.tools.labels.reference_labels` (REF_ keys, or a SinglePointCalculator's results).

When every frame carries ``info["basin"]`` (the shipped alanine-dipeptide test set does), the score
also holds ``per_basin`` (basin → ``n_frames`` and the RMSEs of :data:`~skmd.tools.error_units.BASIN_KEYS`, pooled as above
over that basin's frames) and ``worst_basin``, the basin of the largest :data:`~skmd.tools.error_units.WORST_BASIN_KEY`: the
"uniformly accurate" measure of uncertainty-biased MD (an error bound over every region, not an average).
"""
from __future__ import annotations

import numpy as np

from ..tools.error_units import BASIN_INFO, WORST_BASIN_KEY
from ..tools.labels import reference_labels
from ..tools.threads import task_threads
from .batching import evaluate_many
from .parallel import MACEFactory


def frame_errors(calculator, frames) -> dict:
    """{"energy": (n,), "forces": (n,), "stress": (n,) if labelled} per-frame errors (see the module).
    The frames go through the calculator in collated batches where it allows (:mod:`.batching`)."""
    per_frame = {"energy": [], "forces": [], "stress": []}
    squares = {"forces": [0.0, 0], "stress": [0.0, 0]}
    labels = [reference_labels(frame) for frame in frames]
    stressed = [label.stress is not None and bool(frame.pbc.all()) for frame, label in zip(frames, labels)]
    predictions = evaluate_many(calculator, frames, [["energy", "forces", *(["stress"] if want else [])]
                                                     for want in stressed])
    for frame, label, predicted, want_stress in zip(frames, labels, predictions, stressed):
        energy_error = float(predicted["energy"]) - label.energy
        force_error = np.asarray(predicted["forces"], float) - label.forces
        per_frame["energy"].append(1e3 * abs(energy_error) / len(frame))
        per_frame["forces"].append(1e3 * float(np.sqrt(np.mean(force_error ** 2))))
        squares["forces"][0] += float(np.sum(force_error ** 2)) * 1e6
        squares["forces"][1] += force_error.size
        if want_stress:
            stress_error = np.asarray(predicted["stress"], float) - np.asarray(label.stress, float).ravel()[:6]
            per_frame["stress"].append(1e3 * float(np.sqrt(np.mean(stress_error ** 2))))
            squares["stress"][0] += float(np.sum(stress_error ** 2)) * 1e6
            squares["stress"][1] += 6
    result = {key: np.asarray(values, float) for key, values in per_frame.items() if values}
    result["_pooled"] = {key: float(np.sqrt(total / count)) for key, (total, count) in squares.items() if count}
    return result


def score(calculator, frames) -> dict:
    """The summary RMSEs (keys of :data:`skmd.tools.error_units.UNITS`), ``n_frames`` and ``per_frame`` (lists) on labelled ``frames``."""
    if not frames:
        raise ValueError("no labelled frames to score on")
    errors = frame_errors(calculator, frames)
    pooled = errors.pop("_pooled")
    result = {"n_frames": len(frames),
              "energy_rmse_meV_atom": float(np.sqrt(np.mean(errors["energy"] ** 2))),
              "force_rmse_meV_A": pooled["forces"]}
    if "stress" in pooled:
        result["stress_rmse_meV_A3"] = pooled["stress"]
    if all(BASIN_INFO in frame.info for frame in frames):
        result.update(by_basin(errors, [str(frame.info[BASIN_INFO]) for frame in frames], [len(f) for f in frames]))
    result["per_frame"] = {key: values.tolist() for key, values in errors.items()}
    return result


def by_basin(per_frame: dict, basins: list, n_atoms: list) -> dict:
    """{"per_basin": {basin: {"n_frames", *BASIN_KEYS}}, "worst_basin": {"basin", WORST_BASIN_KEY}}.

    ``per_frame``: {"energy": (n,) meV/atom, "forces": (n,) meV/Å} per-frame errors (see the module);
    ``basins``: (n,) basin names; ``n_atoms``: (n,) atoms per frame. A basin's force RMSE pools its
    frames' Cartesian components (each frame's mean square weighted by its 3 × n_atoms components), its
    energy RMSE the per-atom errors of its frames, as the summary RMSEs do over all frames. Basins in the
    order they first appear.
    """
    basins, weights = np.asarray(basins, object), np.asarray(n_atoms, float)
    if not (len(basins) == len(weights) == len(per_frame["energy"]) == len(per_frame["forces"])):
        raise ValueError("per-frame errors, basins and atom counts must have one entry per frame")
    energy, forces = np.asarray(per_frame["energy"], float), np.asarray(per_frame["forces"], float)
    table = {}
    for name in dict.fromkeys(basins.tolist()):
        keep = basins == name
        table[name] = {"n_frames": int(keep.sum()),
                       "energy_rmse_meV_atom": float(np.sqrt(np.mean(energy[keep] ** 2))),
                       "force_rmse_meV_A": float(np.sqrt(np.sum(weights[keep] * forces[keep] ** 2)
                                                         / np.sum(weights[keep])))}
    worst = max(table, key=lambda name: table[name][WORST_BASIN_KEY])
    return {"per_basin": table, "worst_basin": {"basin": worst, WORST_BASIN_KEY: table[worst][WORST_BASIN_KEY]}}


def score_model_file(model_path, frames, threads: int = 1, device: str = "cpu") -> dict:
    """:func:`score` of the model stored at ``model_path`` (skmd's safe format) on ``device`` ("cpu" or
    "cuda"), with ``threads`` torch threads for its duration (``os.environ`` untouched); a task for any executor."""
    with task_threads(threads):
        return score(MACEFactory(str(model_path), device=device)(), frames)
