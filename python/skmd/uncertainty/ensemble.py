"""The ensemble alternative: M MACE models, their spread as the uncertainty (docs/method.md §9).

With member energies E_m (eV), forces F_m (n, 3) and N atoms:

    E = mean_m E_m,  u = std_m(E_m) / N,  u_i = sqrt(mean_m mean_c (F_m,ic − F̄_ic)²),
    ∂u/∂x = −Σ_m (E_m − E) F_m / (M N² u),   (1/V) ∂u/∂ε = Σ_m (E_m − E) σ_m / (M N² u),

so u and its derivatives need only the members' forces and stresses (first derivatives).
"""
from __future__ import annotations

import numpy as np

from .base import UncertaintyCalculator
from .graph import check_elements, forward, gradients, is_periodic


class EnsembleUncertainty(UncertaintyCalculator):
    """Mean energy, forces and stress of an ensemble of MACE models, with their spread as u.

    Args:
        models: two or more MACE models (float64) for the same elements.
    """

    def __init__(self, models, **kwargs):
        models = list(models)
        if len(models) < 2:
            raise ValueError(f"an ensemble needs at least 2 models, got {len(models)}")
        super().__init__(**kwargs)
        self.models = models

    def _member(self, model, atoms, periodic: bool) -> tuple:
        run = forward(model, atoms, with_strain=periodic)
        d_pos, stress = gradients(run.energy, run, retain=False)
        return float(run.energy.detach()), -d_pos, stress

    def raw(self, atoms, derivatives: bool) -> dict:
        for model in self.models:
            check_elements(model, atoms)
        periodic = is_periodic(atoms)
        members = [self._member(model, atoms, periodic) for model in self.models]
        energies = np.array([m[0] for m in members])
        forces = np.stack([m[1] for m in members])
        n_atoms, n_models = len(atoms), len(members)
        spread = energies - energies.mean()
        u = float(np.sqrt(np.mean(spread ** 2)) / n_atoms)
        force_dev = forces - forces.mean(axis=0)
        values = {"energy": float(energies.mean()), "forces": forces.mean(axis=0), "u": u,
                  "atomic_u": np.sqrt(np.mean(force_dev ** 2, axis=(0, 2)))}
        weight = spread / (n_models * n_atoms ** 2 * max(u, 1e-300))
        if periodic:
            stresses = np.stack([m[2] for m in members])
            values["stress"] = stresses.mean(axis=0)
        if derivatives:
            values["grad_u"] = -np.einsum("m,mic->ic", weight, forces)
            if periodic:
                values["stress_u"] = np.einsum("m,mv->v", weight, stresses)
        return values
