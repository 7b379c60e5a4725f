"""Asynchronous SKMD: the round-robin driver (docs/method.md §2).

Move m moves particle ``m mod N`` under the bias the bias factory builds from the other members,
frozen (e.g. :class:`~skmd.atoms.Stein`); its accepted end state is frozen in turn. The members are
frozen together at the start (one collated model call for all their forces and descriptor Jacobians
where the bias factory has ``freeze_many``) and one at a time afterwards, as the method requires.
"""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from ..tools.divergence import DivergenceWarning
from .drivers import Driver
from .stein_bias import FrozenMember


class RoundRobin(Driver):
    """Asynchronous SKMD: particle ``m mod N`` moves under ``bias.build(calculator, frozen, i, m)``.

    Args:
        bias: a bias factory with ``freeze(atoms, calculator)`` and ``build(calculator, frozen,
            particle, move)``, e.g. :class:`~skmd.atoms.Stein` (optionally ``freeze_many(frames,
            calculator)``, used for the start). The frozen state of every member is computed once at
            the start (after checking no two members coincide) and again only when its move is accepted.
        Other arguments: see :class:`Driver`.

    A frozen :class:`~skmd.atoms.FrozenMember` (what :class:`~skmd.atoms.Stein` freezes) whose
    forces have a component above the divergence check's ``force_limit`` is marked inadmissible
    (``admissible=False``) until its own move is accepted: :class:`~skmd.atoms.Stein` leaves it out
    of the others' Stein sum (it still counts in N and in the median bandwidth), so a start the
    dynamics cannot move from does not push every other walker with its forces. With no admissible
    other the Stein force is 0. ``excluded`` is the set of members marked now, ``left_out`` every
    member marked at some point of the run; each marking raises a DivergenceWarning. A bias factory
    of your own gets the marked members and decides for itself.
    """

    minimum_members = 2

    def __init__(self, ensemble, calculator, integrator, *, bias, **kwargs):
        if not (hasattr(bias, "freeze") and hasattr(bias, "build")):
            raise ValueError("bias must be a bias factory with freeze() and build(), e.g. skmd.atoms.Stein")
        self.bias = bias
        super().__init__(ensemble, calculator, integrator, **kwargs)
        _refuse_duplicates(self.particles)
        if hasattr(bias, "freeze_many"):
            self.frozen = list(bias.freeze_many(self.particles, calculator))
        else:
            self.frozen = [bias.freeze(atoms, calculator) for atoms in self.particles]
        self.left_out = set()
        for particle in range(self.n_particles):
            self._update_admissible(particle)

    def _update_admissible(self, particle: int) -> None:
        """Mark member ``particle`` inadmissible while its frozen forces exceed force_limit (FrozenMember only)."""
        member = self.frozen[particle]
        if not isinstance(member, FrozenMember):
            return
        largest = float(np.max(np.abs(member.forces))) if np.size(member.forces) else 0.0
        admissible = largest <= self.divergence.force_limit
        self.frozen[particle] = replace(member, admissible=admissible)
        if admissible:
            return
        self.left_out.add(particle)
        warnings.warn(f"ensemble member {particle} is left out of the others' bias (a force component of "
                      f"{largest:.3g} eV/Å > force_limit {self.divergence.force_limit:g}) until its own move "
                      "is accepted", DivergenceWarning, stacklevel=3)

    @property
    def excluded(self) -> set:
        """The members marked inadmissible now (left out of the others' Stein sum)."""
        return {j for j, member in enumerate(self.frozen) if not getattr(member, "admissible", True)}

    def _calculator_for_checks(self):
        if not getattr(self.bias, "provides_stress", True):
            raise ValueError(f"{type(self.bias).__name__} cannot give stress")
        return self.calculator

    def _calculator_for(self, particle, move):
        return self.bias.build(self.calculator, self.frozen, particle, move)

    def _accept(self, particle, walk):
        super()._accept(particle, walk)
        self.frozen[particle] = self.bias.freeze(self.particles[particle], self.calculator)
        self._update_admissible(particle)


def _refuse_duplicates(particles) -> None:
    for i, first in enumerate(particles):
        for j in range(i + 1, len(particles)):
            second = particles[j]
            if np.array_equal(first.positions, second.positions) and np.array_equal(first.cell, second.cell):
                raise ValueError(f"ensemble members {i} and {j} are identical; the Stein kernel needs "
                                 "distinct configurations (perturb them or burn them in first)")
