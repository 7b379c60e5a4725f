"""Uncertainty-driven dynamics (UDD) on the calculator seam (docs/method.md §4 and §8).

A committee of K calculators (e.g. K MACE models) gives energies E_k, forces F_k and, on
periodic cells, stresses S_k. :class:`CommitteeBias` samples the committee mean plus the UDD bias

    E = Ē + A [exp(−σ_E² / (K N_A B²)) − 1],    σ_E² = ½ Σ_k (E_k − Ē)²,

a conservative bias: its forces are −∇E and its stress is (1/V) ∂E/∂ε, both from the members'
forces and stresses through the same function as the 2D sampler (``committee_forces``).
``results["uncertainty"]`` holds ρ = sqrt(2/(K N_A)) σ_E (eV), which UDD's threshold
acquisition reads.
"""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from ..backends.numpy_backend import committee_forces
from ..tools.checks import finite_structure, non_negative, positive
from .batching import is_batchable
from .bias import BiasCalculator


class CommitteeMean(Calculator):
    """The mean of a committee of ASE calculators; keeps every member's energy, forces and stress."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        members = list(members)
        if len(members) < 2:
            raise ValueError(f"a committee needs at least 2 calculators, got {len(members)}")
        self.members = members

    def check_stress(self, atoms) -> None:
        for member in self.members:
            check = getattr(member, "check_stress", None)
            if check is not None:
                check(atoms)
            elif "stress" not in getattr(member, "implemented_properties", ()):
                raise ValueError(f"committee member {type(member).__name__} gives no stress")

    @property
    def batchable(self) -> bool:
        """True when every member is batchable (:mod:`.batching`): one collated call per member."""
        return all(is_batchable(member) for member in self.members)

    def _wants_stress(self, atoms, properties) -> bool:
        finite_structure(atoms)
        periodic = atoms.pbc.all() and atoms.cell.rank == 3
        return "stress" in properties or bool(periodic and all(
            "stress" in getattr(member, "implemented_properties", ()) for member in self.members))

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        want_stress = self._wants_stress(self.atoms, properties)
        names = ["energy", "forces", *(["stress"] if want_stress else [])]
        per_member = [{name: member.get_property(name, self.atoms) for name in names} for member in self.members]
        self.results = self._mean(per_member, want_stress)

    def calculate_batch(self, frames, properties) -> list:
        """Results of ``frames`` (one dict each, as :meth:`calculate` sets them), one batched call per member."""
        wants = [self._wants_stress(atoms, names) for atoms, names in zip(frames, properties)]
        names = [["energy", "forces", *(["stress"] if want else [])] for want in wants]
        by_member = [member.calculate_batch(frames, names) for member in self.members]
        return [self._mean([results[f] for results in by_member], want) for f, want in enumerate(wants)]

    @staticmethod
    def _mean(per_member: list, want_stress: bool) -> dict:
        """The committee's results from each member's energy, forces (and stress) at one structure."""
        energies = np.array([float(results["energy"]) for results in per_member])
        forces = np.stack([np.asarray(results["forces"], float) for results in per_member])
        results = {"energy": float(energies.mean()), "free_energy": float(energies.mean()),
                   "forces": forces.mean(axis=0), "committee_energies": energies, "committee_forces": forces}
        if want_stress:
            stresses = np.stack([np.asarray(results["stress"], float) for results in per_member])
            results.update(stress=stresses.mean(axis=0), committee_stresses=stresses)
        return results


class CommitteeBias(BiasCalculator):
    """The UDD bias on a :class:`CommitteeMean` (or a list of calculators, wrapped in one).

    Args:
        committee: a :class:`CommitteeMean` or a list of ≥ 2 ASE calculators.
        A: bias height in eV (≥ 0; 0 gives the committee mean).
        B: bias width in eV (> 0).
    """

    def __init__(self, committee, *, A: float, B: float, **kwargs):
        if not isinstance(committee, CommitteeMean):
            committee = CommitteeMean(committee)
        super().__init__(committee, **kwargs)
        self.A = non_negative("A", A)
        self.B = positive("B", B)

    def _committee(self, energies, generalized_forces, n_atoms):
        energy, force, rho, bias = committee_forces(
            energies[None], generalized_forces[None], np.array([self.A]), np.array([self.B]), n_atoms)
        return force[0], float(rho[0]), float(bias[0])

    def bias(self, atoms, base):
        energies, forces = base["committee_energies"], base["committee_forces"]
        n_atoms = len(atoms)
        total, rho, bias_energy = self._committee(energies, forces.reshape(len(energies), -1), n_atoms)
        term = {"energy": bias_energy, "forces": total.reshape(-1, 3) - base["forces"], "uncertainty": rho}
        if "committee_stresses" in base:
            # −S_k plays the role of a force for the strain coordinate (S_k V = ∂E_k/∂ε).
            minus_stress, _, _ = self._committee(energies, -base["committee_stresses"], n_atoms)
            term["stress"] = -minus_stress - base["stress"]
        return term
