"""Reference labels on ASE ``Atoms``: the one place that names where they are kept.

skmd's oracle stores labels in the keys MACE's training reads: ``info["REF_energy"]`` (eV),
``arrays["REF_forces"]`` (n, 3) eV/Å and, for periodic frames, ``info["REF_stress"]`` (6,) eV/Å³
(ASE's Voigt order). Every consumer reads labels through :func:`reference_labels`, which also
accepts frames that carry their labels in a ``SinglePointCalculator`` (as ``ase.io.read`` returns
an extxyz file with ``energy=``/``forces=`` columns).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

ENERGY_KEY = "REF_energy"
FORCES_KEY = "REF_forces"
STRESS_KEY = "REF_stress"


class Labels(NamedTuple):
    """One frame's reference labels: energy (eV), forces (n, 3) eV/Å, stress (6,) eV/Å³ or None."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None


def _stored(atoms) -> dict:
    """Results a SinglePointCalculator holds (labels, not a live model's last call)."""
    return atoms.calc.results if isinstance(atoms.calc, SinglePointCalculator) else {}


def has_labels(atoms) -> bool:
    """Whether ``atoms`` carries an energy and forces (REF_ keys or a calculator's stored results)."""
    if ENERGY_KEY in atoms.info and FORCES_KEY in atoms.arrays:
        return True
    results = _stored(atoms)
    return "energy" in results and "forces" in results


def reference_labels(atoms, index: int | None = None) -> Labels:
    """The reference labels of ``atoms``: its REF_ keys, else its SinglePointCalculator's results.

    ``index`` (the frame's position in a list) only makes the error message point at the frame.
    Raises ValueError when neither holds an energy and forces.
    """
    if ENERGY_KEY in atoms.info and FORCES_KEY in atoms.arrays:
        stress = atoms.info.get(STRESS_KEY)
        return Labels(float(atoms.info[ENERGY_KEY]), np.asarray(atoms.arrays[FORCES_KEY], float),
                      None if stress is None else np.asarray(stress, float).ravel()[:6])
    results = _stored(atoms)
    if "energy" in results and "forces" in results:
        stress = results.get("stress")
        return Labels(float(results["energy"]), np.asarray(results["forces"], float),
                      None if stress is None else np.asarray(stress, float).ravel()[:6])
    where = "a frame" if index is None else f"frame {index}"
    raise ValueError(f"{where} has no reference labels: neither info[{ENERGY_KEY!r}] with arrays[{FORCES_KEY!r}] "
                     "nor a SinglePointCalculator holding energy and forces")


def strip_labels(atoms) -> None:
    """Remove the REF_ labels and any calculator from ``atoms`` (in place)."""
    atoms.calc = None
    for key in (ENERGY_KEY, STRESS_KEY):
        atoms.info.pop(key, None)
    if FORCES_KEY in atoms.arrays:
        del atoms.arrays[FORCES_KEY]


def with_reference_labels(atoms, index: int | None = None):
    """A copy of ``atoms`` holding its reference labels (:func:`reference_labels`) in the REF_ keys MACE's
    training reads, without a calculator; ValueError (pointing at ``index``) when it has none."""
    label = reference_labels(atoms, index)
    copy = atoms.copy()
    strip_labels(copy)
    copy.info[ENERGY_KEY] = label.energy
    copy.arrays[FORCES_KEY] = label.forces
    if label.stress is not None:
        copy.info[STRESS_KEY] = label.stress
    return copy
