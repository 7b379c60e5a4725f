"""Ensemble-free uncertainty of one MACE model from sketched gradient features (docs/method.md §9).

One forward pass gives the energy, the node features, the structure and atomic features and the
posterior uncertainty u; two backward passes through the same graph give forces and stress (from
E) and ∂u/∂x, ∂u/∂ε (from u), so the uncertainty and its derivatives cost well under a second model call.
Many frames go through one collated pass (:meth:`GradientUncertainty.raw_many`): the backward passes of
Σ_g E_g and Σ_g u_g give each frame its own derivatives, since frames share no atoms.
"""
from __future__ import annotations

import numpy as np
import torch

from ..atoms.descriptors import MAX_BATCH_ATOMS
from .base import UncertaintyCalculator
from .feature_layers import DEFAULT_FEATURE_LAYERS
from .features import GradientFeatures
from .graph import batch_gradients, batch_groups
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
        max_atoms: the most atoms collated into one model pass (default
            :data:`~skmd.atoms.descriptors.MAX_BATCH_ATOMS`; a larger frame goes alone).

    Call :meth:`add_training` with the training frames (and again when the set grows), then
    optionally :meth:`calibrate` with labelled validation frames.
    """

    def __init__(self, model, n_features: int = 512, sigma: float = 0.01, seed: int = 0,
                 layers: str = DEFAULT_FEATURE_LAYERS, max_atoms: int = MAX_BATCH_ATOMS, **kwargs):
        self.features = GradientFeatures(model, n_features=n_features, seed=seed, layers=layers, max_atoms=max_atoms)
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
        return self.raw_many([atoms], derivatives)[0]

    def raw_many(self, frames, derivatives: bool) -> list:
        """:meth:`raw` of every frame, from collated passes (:func:`~.graph.batch_groups`: one per periodicity
        and ``max_atoms`` atoms), in frame order."""
        frames = list(frames)
        values = [None] * len(frames)
        for group in batch_groups(frames, self.features.max_atoms):
            for index, value in zip(group, self._raw_pass([frames[i] for i in group], derivatives)):
                values[index] = value
        return values

    def _raw_pass(self, frames, derivatives: bool) -> list:
        """Raw values of ``frames`` (all periodic or all not) from one model pass over G graphs: structure
        features (G, K) are the means of each graph's per-atom features (N, K); forces, ∂u/∂x and the strain
        derivatives come from the gradients of Σ_g E_g and Σ_g u_g."""
        run, taps = self.features.evaluate_many(frames)
        phi_atoms = self.features.atomic(run, taps, create_graph=derivatives)
        u = torch.sqrt(self.structure_posterior.variance_torch(run.graph_means(phi_atoms)))       # (G,)
        atomic_u = np.sqrt(self.atomic_posterior.variance(phi_atoms.detach().numpy()))            # (N,)
        d_pos, stress = batch_gradients(run.energy, run, retain=derivatives)
        if derivatives:
            grad_u, stress_u = batch_gradients(u.sum(), run, retain=False)
        energies, u = run.energies.detach().numpy(), u.detach().numpy()
        values = []
        for g in range(run.n_graphs):
            rows = run.atoms_of(g)
            value = {"energy": float(energies[g]), "forces": -d_pos[rows], "u": float(u[g]),
                     "atomic_u": atomic_u[rows].copy()}
            if stress is not None:
                value["stress"] = stress[g].copy()
            if derivatives:
                value["grad_u"] = grad_u[rows].copy()
                if stress_u is not None:
                    value["stress_u"] = stress_u[g].copy()
            values.append(value)
        return values
