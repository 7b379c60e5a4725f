"""Biases as ASE calculators: a calculator that wraps a base calculator and adds its own term.

A bias is the one seam of skmd's atomistic layer (docs/method.md §8). Any ASE dynamics runs
under it, and a user's own bias is a subclass that implements :meth:`BiasCalculator.bias`:

    class Wall(BiasCalculator):
        def bias(self, atoms, base):            # base: the base calculator's results
            return {"energy": ..., "forces": ...}   # eV, eV/Å (n, 3); "stress" (6,) eV/Å³ if any

Units: energy eV, forces eV/Å, stress eV/Å³ in ASE's Voigt order (xx, yy, zz, yz, xz, xy) and
sign convention (the strain derivative of the energy divided by the volume). A *conservative* bias
returns its energy and the matching −∇ forces and strain-derivative stress. A *non-conservative*
bias (the Stein force) returns forces only, with ``conservative = False``: the reported energy is
the base energy and the stress is the base stress. A bias that cannot give its stress term sets
``provides_stress = False``; asking such a calculator for stress raises, so NPT is refused.
"""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from ..tools.checks import finite_structure
from .batching import is_batchable

BASE_PROPERTIES = ("energy", "forces")


class BiasCalculator(Calculator):
    """Base results plus a bias term; subclasses implement :meth:`bias`.

    Args:
        base: any ASE calculator (the potential being sampled).

    Results: ``energy``/``free_energy`` (eV), ``forces`` (n, 3) eV/Å, ``stress`` (6,) eV/Å³ when
    asked for on a periodic cell, plus every extra key the bias returns (e.g. ``stein_norm``), and
    ``base_energy``, ``base_forces`` (and ``base_stress``) for observers.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]
    #: the bias returns its own stress term (or has none because it is not conservative)
    provides_stress = True
    #: the bias returns an energy whose −∇ is its force
    conservative = True

    def __init__(self, base, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(base, Calculator) and not hasattr(base, "get_forces"):
            raise ValueError(f"base must be an ASE calculator, got {type(base).__name__}")
        self.base = base
        if hasattr(base, "descriptor"):     # a Stein bias stacked on this bias reads the base's descriptor
            self.descriptor = base.descriptor

    def bias(self, atoms, base: dict) -> dict:
        """The bias term at ``atoms``: a dict with any of energy, forces, stress and extra keys."""
        raise NotImplementedError

    def check_stress(self, atoms) -> None:
        """Raise a clear error when stress cannot be given for ``atoms`` (called before NPT)."""
        if not atoms.pbc.all() or atoms.cell.rank < 3:
            raise ValueError("stress needs a periodic system with a full 3D cell (atoms.pbc all True)")
        if not self.provides_stress:
            raise ValueError(f"{type(self).__name__} cannot give a stress term, so it cannot drive NPT")
        check = getattr(self.base, "check_stress", None)
        if check is not None:
            check(atoms)
        elif "stress" not in getattr(self.base, "implemented_properties", ()):
            raise ValueError(f"the base calculator {type(self.base).__name__} gives no stress")

    def _base_results(self, atoms, want_stress: bool) -> dict:
        stress = np.array(self.base.get_stress(atoms), dtype=float) if want_stress else None
        base = {"energy": float(self.base.get_potential_energy(atoms)),
                "forces": np.array(self.base.get_forces(atoms), dtype=float)}
        if want_stress:
            base["stress"] = stress
        for key, value in getattr(self.base, "results", {}).items():
            base.setdefault(key, value)
        return base

    @property
    def batchable(self) -> bool:
        """True when the base is batchable and this bias reads it the standard way (:mod:`.batching`)."""
        return is_batchable(self.base) and type(self)._base_results is BiasCalculator._base_results

    def _wants_stress(self, atoms, properties) -> bool:
        finite_structure(atoms)
        want_stress = "stress" in properties
        if want_stress:
            try:
                self.check_stress(atoms)
            except ValueError as error:
                raise PropertyNotImplementedError(str(error)) from error
        return want_stress

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        want_stress = self._wants_stress(self.atoms, properties)
        self.results = self._combine(self.atoms, self._base_results(self.atoms, want_stress), want_stress)

    def calculate_batch(self, frames, properties) -> list:
        """Results of ``frames`` (one dict each, as :meth:`calculate` sets them): the base's from its own
        ``calculate_batch``, then the bias term frame by frame, in frame order."""
        wants = [self._wants_stress(atoms, names) for atoms, names in zip(frames, properties)]
        bases = self.base.calculate_batch(frames, [[*BASE_PROPERTIES, *(["stress"] if want else [])]
                                                   for want in wants])
        results = []
        for atoms, base, want in zip(frames, bases, wants):
            base = dict(base, energy=float(base["energy"]), forces=np.array(base["forces"], dtype=float))
            if want:
                base["stress"] = np.array(base["stress"], dtype=float)
            results.append(self._combine(atoms, base, want))
        return results

    def _combine(self, atoms, base: dict, want_stress: bool) -> dict:
        """The results at ``atoms``: the base's results plus the bias term (see the class docstring)."""
        term = self.bias(atoms, base)
        results = {key: value for key, value in term.items() if key not in ("energy", "forces", "stress")}
        energy = base["energy"] + (float(term.get("energy", 0.0)) if self.conservative else 0.0)
        forces = base["forces"] + np.asarray(term.get("forces", 0.0), float).reshape(base["forces"].shape)
        results.update(energy=energy, free_energy=energy, forces=forces,
                       base_energy=base["energy"], base_forces=base["forces"])
        if want_stress:
            results["stress"] = base["stress"] + np.asarray(term.get("stress", 0.0), float)
            results["base_stress"] = base["stress"]
        for key, value in base.items():     # the base's extra results (descriptor, uncertainty, ...) pass through
            if key not in results and key not in ("energy", "free_energy", "forces", "stress"):
                results[key] = value
        return results
