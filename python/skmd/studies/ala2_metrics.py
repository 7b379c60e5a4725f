"""Metrics of the alanine-dipeptide head-to-head: test-set errors per basin, Ramachandran coverage.

Errors are those of a campaign's test score (:mod:`skmd.atoms.scoring`, one convention): the energy
RMSE is of the per-atom energy error (meV/atom), the force RMSE runs over every Cartesian component of
every atom (meV/Å). Any ASE calculator can be
scored; :func:`mace_calculator` wraps a saved MACE model.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms

from ..atoms import alanine
from ..atoms.alanine import ramachandran
from ..atoms.calculator import MACEDescriptorCalculator
from ..atoms.mace_models import load_mace
from ..atoms.scoring import by_basin, frame_errors
from ..tools.labels import has_labels
from .ala2_testset import BASIN_CENTRES

ALL = "all"


def mace_calculator(path, device: str = "cpu"):
    """An ASE calculator for the MACE model file at ``path`` (loaded by ``load_mace``)."""
    return MACEDescriptorCalculator(load_mace(path, device=device))


def rmse_by_basin(calculator, frames, basin_key: str = "basin") -> dict:
    """Energy and force RMSEs of ``calculator`` against the labels of ``frames``, overall and per basin.

    ``frames`` carry reference labels (``REF_energy`` in eV, ``REF_forces`` in eV/Å) and
    ``info[basin_key]``. Returns ``{"all": {...}, basin: {...}}``, each entry with ``n_frames`` and the
    campaign's error keys (:data:`skmd.tools.error_units.BASIN_KEYS`: ``energy_rmse_meV_atom``,
    ``force_rmse_meV_A``), computed as a campaign's test score computes them; basins in the order of
    :data:`BASIN_CENTRES`, then any other label found.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to score")
    for index, frame in enumerate(frames):
        missing = ([] if has_labels(frame) else ["reference labels"]) + ([] if basin_key in frame.info else [basin_key])
        if missing:
            raise ValueError(f"frame {index} lacks {missing}")
        if str(frame.info[basin_key]) == ALL:
            raise ValueError(f"frame {index}: the basin name {ALL!r} is taken by the whole set's entry")
    errors = frame_errors(calculator, frames)
    errors.pop("_pooled")
    n_atoms = [len(frame) for frame in frames]
    table = by_basin(errors, [str(frame.info[basin_key]) for frame in frames], n_atoms)["per_basin"]
    order = [name for name in BASIN_CENTRES if name in table] + sorted(set(table) - set(BASIN_CENTRES))
    whole = by_basin(errors, [ALL] * len(frames), n_atoms)["per_basin"][ALL]
    return {ALL: whole, **{name: table[name] for name in order}}


def visited_cells(frames_or_angles, cell_deg: float = 10.0) -> np.ndarray:
    """:func:`skmd.atoms.alanine.visited_cells` of ASE frames, positions (n, 22, 3) or (φ, ψ) angles (n, 2)."""
    return alanine.visited_cells(_angles(frames_or_angles), cell_deg)


def ramachandran_coverage(frames_or_angles, cell_deg: float = 10.0) -> float:
    """Fraction of the φ/ψ plane's ``cell_deg`` × ``cell_deg`` cells visited by the frames (0 to 1)."""
    return float(visited_cells(frames_or_angles, cell_deg).mean())


def _angles(frames_or_angles) -> np.ndarray:
    """(φ, ψ) in degrees, shape (n, 2), of ASE frames, positions (..., 22, 3) or angles (2,) / (n, 2)."""
    value = frames_or_angles
    if isinstance(value, Atoms) or (isinstance(value, (list, tuple)) and value and isinstance(value[0], Atoms)):
        return ramachandran(value).reshape(-1, 2)
    array = np.asarray(value, float)
    if array.size == 0:
        return np.zeros((0, 2))
    if array.shape[-2:] == (22, 3):
        return ramachandran(array).reshape(-1, 2)
    if array.shape[-1:] == (2,) and array.ndim <= 2:
        return array.reshape(-1, 2)
    raise ValueError(f"expected frames, positions (n, 22, 3) or angles (n, 2); got shape {array.shape}")
