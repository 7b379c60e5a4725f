"""Metrics of the alanine-dipeptide head-to-head: test-set errors per basin, Ramachandran coverage.

Errors follow MACE's conventions: the energy RMSE is of the per-atom energy error (meV/atom), the
force RMSE runs over every Cartesian component of every atom (meV/Å). Any ASE calculator can be
scored; :func:`mace_calculator` wraps a saved MACE model.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms

from ..atoms import alanine
from ..atoms.alanine import ramachandran
from ..tools.labels import has_labels, reference_labels
from .ala2_testset import BASIN_CENTRES

ALL = "all"


def mace_calculator(path, device: str = "cpu"):
    """An ASE calculator for the MACE model file at ``path`` (loaded by ``load_mace``)."""
    from ..atoms.calculator import MACEDescriptorCalculator  # noqa: PLC0415  (torch only when asked)
    from ..atoms.mace_models import load_mace  # noqa: PLC0415
    return MACEDescriptorCalculator(load_mace(path, device=device))


def predict(calculator, frames) -> tuple:
    """Energies (n,) in eV and forces, a list of (n_atoms, 3) arrays in eV/Å, of ``calculator`` on ``frames``."""
    energies, forces = [], []
    for frame in frames:
        atoms = frame.copy()
        atoms.calc = calculator
        energies.append(float(atoms.get_potential_energy()))
        forces.append(np.array(atoms.get_forces(), float))
    return np.array(energies), forces


def _errors(frames, energies, forces) -> dict:
    """RMSEs of the per-atom energy (meV/atom) and of the force components (meV/Å) over ``frames``."""
    labels = [reference_labels(f) for f in frames]
    per_atom = np.array([(e - label.energy) / len(f) for f, e, label in zip(frames, energies, labels)])
    components = np.concatenate([(p - label.forces).ravel() for p, label in zip(forces, labels)])
    return {"frames": len(frames),
            "energy_rmse_meV_per_atom": 1000.0 * float(np.sqrt(np.mean(per_atom ** 2))),
            "forces_rmse_meV_per_A": 1000.0 * float(np.sqrt(np.mean(components ** 2)))}


def rmse_by_basin(calculator, frames, basin_key: str = "basin") -> dict:
    """Energy and force RMSEs of ``calculator`` against the labels of ``frames``, overall and per basin.

    ``frames`` carry ``info[REF_energy]`` (eV), ``arrays[REF_forces]`` (eV/Å) and
    ``info[basin_key]``. Returns ``{"all": {...}, basin: {...}}`` with ``frames``,
    ``energy_rmse_meV_per_atom`` and ``forces_rmse_meV_per_A``; basins in the order of
    :data:`BASIN_CENTRES`, then any other label found.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to score")
    for index, frame in enumerate(frames):
        missing = ([] if has_labels(frame) else ["reference labels"]) + ([] if basin_key in frame.info else [basin_key])
        if missing:
            raise ValueError(f"frame {index} lacks {missing}")
    return errors_by_basin(frames, *predict(calculator, frames), basin_key)


def errors_by_basin(frames, energies, forces, basin_key: str = "basin") -> dict:
    """:func:`rmse_by_basin` from predictions already made: ``energies`` (n,) in eV and ``forces``,
    a list of (n_atoms, 3) arrays in eV/Å, of the labelled ``frames``."""
    energies = np.asarray(energies, float)
    labels = [frame.info[basin_key] for frame in frames]
    order = [name for name in BASIN_CENTRES if name in labels] + sorted(set(labels) - set(BASIN_CENTRES))
    result = {ALL: _errors(frames, energies, forces)}
    for name in order:
        keep = [i for i, label in enumerate(labels) if label == name]
        result[name] = _errors([frames[i] for i in keep], energies[keep], [forces[i] for i in keep])
    return result


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
