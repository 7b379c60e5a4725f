"""The Müller–Brown neural-network potential: MLP 2 → H (tanh) → 1 plus a fixed confining quartic.

    E(x) = w2 · tanh(W1 x + b1) + b2 + λ ‖x − c‖⁴,   F = −∇E (autograd in training)

Many independent models (trials × committee members) are trained at once as one batched
torch problem; each has its own data (padded, with a mask) and its own loss

    L_g = (1/n_g) Σ_i [ w_E (E_i − Ê_i)² + w_F ‖F_i − F̂_i‖² ]      (paper eq. 1)

evaluated in units scaled by the spread s_g of each model's target energies. λ and c are not
trained: they make the model's Boltzmann distribution well defined outside the data.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .potentials import MLPPotential


@dataclass(frozen=True)
class TrainingConfig:
    """Adam on the full batch, cosine schedule from ``learning_rate`` to a twentieth of it: ``epochs`` for
    warm starts, ``first_epochs`` from scratch."""

    hidden: int = 20
    lam: float = 5.0
    center: tuple = (-0.25, 0.75)
    epochs: int = 400
    first_epochs: int = 1500
    learning_rate: float = 0.01
    energy_weight: float = 1.0
    force_weight: float = 0.1


def _quartic(x, lam, center):
    r = x - center
    r2 = np.sum(r**2, axis=-1)
    return lam * r2**2, -4 * lam * r2[..., None] * r


def train_mlps(points, energies, forces, mask, config: TrainingConfig, seed: int, init=None) -> MLPPotential:
    """Train G independent MLPs; returns one MLPPotential with weights of shape (G, 1, H, 2).

    Args:
        points (G, n, 2), energies (G, n), forces (G, n, 2): padded training data.
        mask (G, n): 1 for real points, 0 for padding.
        init: an MLPPotential with G model sets to warm-start from, or None (random init).
    """
    import torch  # noqa: PLC0415  lazy: torch is the ml extra

    G, n, _ = points.shape
    center = np.asarray(config.center, float)
    quartic_e, quartic_f = _quartic(points, config.lam, center)
    target_e = energies - quartic_e
    target_f = forces - quartic_f
    counts = np.maximum(mask.sum(axis=1), 1.0)
    mean = (target_e * mask).sum(axis=1) / counts
    spread = np.sqrt(((target_e - mean[:, None]) ** 2 * mask).sum(axis=1) / counts)
    scale = np.maximum(spread, 1.0)

    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)  # noqa: E731
    X, M = t(points), t(mask / counts[:, None])
    TE = t((target_e - mean[:, None]) / scale[:, None])
    TF = t(target_f / scale[:, None, None])
    generator = torch.Generator().manual_seed(int(seed))
    H = config.hidden
    if init is None:
        W1 = torch.randn(G, H, 2, generator=generator, dtype=torch.float64) * 1.5
        b1 = torch.randn(G, H, generator=generator, dtype=torch.float64) * 1.0
        w2 = torch.randn(G, H, generator=generator, dtype=torch.float64) / np.sqrt(H)
        b2 = torch.zeros(G, dtype=torch.float64)
        epochs = config.first_epochs
    else:
        W1, b1 = t(init.W1[:, 0]), t(init.b1[:, 0])
        w2 = t(init.w2[:, 0] / scale[:, None])
        b2 = t((init.b2[:, 0] - mean) / scale)
        epochs = config.epochs
    params = [p.clone().requires_grad_(True) for p in (W1, b1, w2, b2)]
    optimizer = torch.optim.Adam(params, lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=config.learning_rate / 20)
    for _ in range(epochs):
        optimizer.zero_grad()
        _loss(params, X, M, TE, TF, config).backward()
        optimizer.step()
        scheduler.step()
    W1p, b1p, w2p, b2p = (p.detach().numpy() for p in params)
    return MLPPotential(W1p[:, None], b1p[:, None], (w2p * scale[:, None])[:, None],
                        (b2p * scale + mean)[:, None], lam=config.lam, center=center)


def _loss(params, X, M, TE, TF, config):
    """The summed per-model loss (paper eq. 1, scaled units); forces from the analytic gradient of E."""
    W1, b1, w2, b2 = params
    hidden = (X @ W1.transpose(1, 2) + b1[:, None, :]).tanh()                  # (G, n, H)
    energy = (hidden @ w2[:, :, None])[..., 0] + b2[:, None]
    grad = (((1 - hidden ** 2) * w2[:, None, :]) @ W1)                       # dE/dx (G, n, 2)
    loss_points = config.energy_weight * (energy - TE) ** 2 + config.force_weight * ((-grad - TF) ** 2).sum(-1)
    return (loss_points * M).sum()


def committee_potential(models: MLPPotential, n_chains: int) -> MLPPotential:
    """Regroup G = n_chains × K single models (chain-major) into per-chain committees (B, K, H, D)."""
    G = models.n_chains
    K = G // n_chains
    reshape = lambda a: a[:, 0].reshape((n_chains, K) + a.shape[2:])  # noqa: E731
    return MLPPotential(reshape(models.W1), reshape(models.b1), reshape(models.w2), reshape(models.b2),
                        lam=models.lam, center=models.center)
