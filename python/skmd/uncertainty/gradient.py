"""Ensemble-free uncertainty of one MACE model from sketched gradient features (docs/method.md §9).

One forward pass gives the energy, the node features, the structure and atomic features and the
posterior uncertainty u; two backward passes through the same graph give forces and stress (from
E) and ∂u/∂x, ∂u/∂ε (from u), so the uncertainty and its derivatives cost well under a second model call.
"""
from __future__ import annotations

import numpy as np
import torch

from .base import UncertaintyCalculator
from .feature_layers import DEFAULT_FEATURE_LAYERS
from .features import GradientFeatures
from .graph import gradients, is_periodic
from .posterior import FeaturePosterior


class GradientUncertainty(UncertaintyCalculator):
    """Energy, forces, stress and gradient-feature uncertainties of one MACE model.

    Args:
        model: a MACE model (float64).
        n_features: K, sketch size (default 512).
        sigma: σ of both posteriors (default 0.01).
        seed: seed of the sketch.
        layers: which weights the features cover, ``"readout"`` or ``"readout+interactions"``
            (:mod:`skmd.uncertainty.features`; default :data:`~.feature_layers.DEFAULT_FEATURE_LAYERS`).

    Call :meth:`add_training` with the training frames (and again when the set grows), then
    optionally :meth:`calibrate` with labelled validation frames.
    """

    def __init__(self, model, n_features: int = 512, sigma: float = 0.01, seed: int = 0,
                 layers: str = DEFAULT_FEATURE_LAYERS, **kwargs):
        self.features = GradientFeatures(model, n_features=n_features, seed=seed, layers=layers)
        self.structure_posterior = FeaturePosterior(sigma)
        self.atomic_posterior = FeaturePosterior(sigma)
        super().__init__(**kwargs)
        self.model = model

    def add_training(self, frames) -> np.ndarray:
        """Add training structures (a list of ``Atoms``) to both posteriors; returns their structure
        features (S, K) (the training centres of :func:`skmd.uncertainty.selection.select_batch`)."""
        frames = list(frames)
        if not frames:
            raise ValueError("add_training needs at least one frame")
        structures, atomic = self.features.compute(frames)
        self.structure_posterior.add(structures)
        self.atomic_posterior.add(np.concatenate(atomic))
        self.reset()
        return structures

    def check_ready(self) -> None:
        if self.structure_posterior.count == 0:
            raise ValueError("GradientUncertainty has no training features; call add_training(frames) first")

    def raw(self, atoms, derivatives: bool) -> dict:
        periodic = is_periodic(atoms)
        run, taps = self.features.evaluate(atoms, with_strain=periodic)
        phi_atoms = self.features.atomic(run, taps, create_graph=derivatives)
        u = torch.sqrt(self.structure_posterior.variance_torch(phi_atoms.mean(dim=0))[0])
        atomic_u = np.sqrt(self.atomic_posterior.variance(phi_atoms.detach().numpy()))
        d_pos, stress = gradients(run.energy, run, retain=derivatives)
        values = {"energy": float(run.energy.detach()), "forces": -d_pos, "u": float(u.detach()),
                  "atomic_u": atomic_u}
        if periodic:
            values["stress"] = stress
        if derivatives:
            values["grad_u"], stress_u = gradients(u, run, retain=False)
            if periodic:
                values["stress_u"] = stress_u
        return values
