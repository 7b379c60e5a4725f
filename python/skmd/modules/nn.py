"""The Müller–Brown neural-network potential: MLP 2 → H (tanh) → 1 plus a fixed confining quartic.

    E(x) = w2 · tanh(W1 x + b1) + b2 + λ ‖x − c‖⁴,   F = −∇E (analytic, in training too)

Many independent models (trials × committee members) are trained at once as one batched
NumPy problem; each has its own data (padded, with a mask) and its own loss

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
    """Full-batch Adam (PyTorch's update rule, in NumPy). ``schedule="cosine"``: the rate falls from
    ``learning_rate`` to a twentieth of it over ``epochs`` for warm starts, ``first_epochs`` from scratch.
    ``schedule="plateau"`` trains to convergence instead: the rate halves whenever the loss (summed over
    the models trained together) falls by less than ``plateau_min_fall`` over ``plateau_window`` epochs,
    and training stops once the rate is below ``learning_rate / plateau_floor`` (or at ``max_epochs``)."""

    hidden: int = 20
    lam: float = 5.0
    center: tuple = (-0.25, 0.75)
    epochs: int = 400
    first_epochs: int = 1500
    learning_rate: float = 0.01
    energy_weight: float = 1.0
    force_weight: float = 0.1
    schedule: str = "cosine"
    plateau_window: int = 100
    plateau_min_fall: float = 0.01
    plateau_floor: int = 64
    max_epochs: int = 20_000


def _quartic(x, lam, center):
    r = x - center
    r2 = np.sum(r**2, axis=-1)
    return lam * r2**2, -4 * lam * r2[..., None] * r


def train_mlps(points, energies, forces, mask, config: TrainingConfig, seed: int, init=None) -> MLPPotential:
    """Train G independent MLPs; returns one MLPPotential with weights of shape (G, 1, H, 2)
    (:func:`fit_mlps` without its epoch count)."""
    return fit_mlps(points, energies, forces, mask, config, seed, init)[0]


def fit_mlps(points, energies, forces, mask, config: TrainingConfig, seed: int, init=None) -> tuple:
    """Train G independent MLPs; returns (one MLPPotential with weights of shape (G, 1, H, 2), epochs run).

    Args:
        points (G, n, 2), energies (G, n), forces (G, n, 2): padded training data.
        mask (G, n): 1 for real points, 0 for padding.
        init: an MLPPotential with G model sets to warm-start from, or None (random init, from ``seed``).
    """
    if config.schedule not in ("cosine", "plateau"):
        raise ValueError(f"schedule is 'cosine' or 'plateau', got {config.schedule!r}")
    G, n, _ = points.shape
    center = np.asarray(config.center, float)
    quartic_e, quartic_f = _quartic(points, config.lam, center)
    target_e = energies - quartic_e
    target_f = forces - quartic_f
    counts = np.maximum(mask.sum(axis=1), 1.0)
    mean = (target_e * mask).sum(axis=1) / counts
    spread = np.sqrt(((target_e - mean[:, None]) ** 2 * mask).sum(axis=1) / counts)
    scale = np.maximum(spread, 1.0)
    data = (np.asarray(points, float), mask / counts[:, None], (target_e - mean[:, None]) / scale[:, None],
            target_f / scale[:, None, None])
    if init is None:
        params, epochs = _random_init(G, config.hidden, seed), config.first_epochs
    else:
        params = [init.W1[:, 0].copy(), init.b1[:, 0].copy(), init.w2[:, 0] / scale[:, None],
                  (init.b2[:, 0] - mean) / scale]
        epochs = config.epochs
    params = [np.array(p, float) for p in params]
    if config.schedule == "cosine":
        _adam_cosine(params, data, config, epochs)
    else:
        epochs = _adam_plateau(params, data, config)
    W1p, b1p, w2p, b2p = params
    return MLPPotential(W1p[:, None], b1p[:, None], (w2p * scale[:, None])[:, None],
                        (b2p * scale + mean)[:, None], lam=config.lam, center=center), epochs


def _random_init(G: int, H: int, seed: int) -> list:
    """W1 (G, H, 2), b1 (G, H), w2 (G, H), b2 (G,) drawn from torch's generator (the study's random stream)."""
    import torch  # noqa: PLC0415  lazy: torch is the ml extra

    generator = torch.Generator().manual_seed(int(seed))
    W1 = torch.randn(G, H, 2, generator=generator, dtype=torch.float64) * 1.5
    b1 = torch.randn(G, H, generator=generator, dtype=torch.float64) * 1.0
    w2 = torch.randn(G, H, generator=generator, dtype=torch.float64) / np.sqrt(H)
    return [W1.numpy(), b1.numpy(), w2.numpy(), np.zeros(G)]


BETAS, EPSILON = (0.9, 0.999), 1e-8


class _Adam:
    """PyTorch's Adam update (``BETAS``, ``EPSILON``, its defaults) on NumPy arrays, in place."""

    def __init__(self, params: list):
        self.params, self.step = params, 0
        self.first = [np.zeros_like(p) for p in params]
        self.second = [np.zeros_like(p) for p in params]

    def update(self, grads: list, rate: float) -> None:
        self.step += 1
        (beta1, beta2), epsilon = BETAS, EPSILON
        correction1, root_correction2 = 1 - beta1 ** self.step, np.sqrt(1 - beta2 ** self.step)
        for p, g, m, v in zip(self.params, grads, self.first, self.second):
            m += (1 - beta1) * (g - m)
            v *= beta2
            v += (1 - beta2) * g * g
            p -= (rate / correction1) * m / (np.sqrt(v) / root_correction2 + epsilon)


def _adam_cosine(params: list, data: tuple, config: TrainingConfig, epochs: int) -> None:
    adam, top, low = _Adam(params), config.learning_rate, config.learning_rate / 20
    for epoch in range(epochs):
        rate = low + (top - low) * (1 + np.cos(np.pi * epoch / epochs)) / 2
        adam.update(loss_and_gradients(params, *data, config)[1], rate)


class PlateauRate:
    """The "plateau" schedule's learning rate: every ``window`` epochs the loss is compared with the last one
    that counted as a fall; less than ``min_fall`` (relative) below it halves the rate, and a rate below
    ``start / floor`` ends training (:meth:`after` returns None)."""

    def __init__(self, start: float, window: int, min_fall: float, floor: int):
        self.rate, self.start, self.window, self.min_fall, self.floor = start, start, window, min_fall, floor
        self.best = np.inf

    def after(self, epoch: int, loss: float) -> float | None:
        """The rate for the next epoch, given epoch ``epoch`` (from 1) and its loss; None: stop."""
        if epoch % self.window == 0:
            if loss < self.best * (1 - self.min_fall):
                self.best = loss
            else:
                self.rate /= 2
                if self.rate < self.start / self.floor:
                    return None
        return self.rate


def _adam_plateau(params: list, data: tuple, config: TrainingConfig) -> int:
    """Adam until the loss stops falling (see :class:`TrainingConfig`); returns the epochs run."""
    adam = _Adam(params)
    schedule = PlateauRate(config.learning_rate, config.plateau_window, config.plateau_min_fall, config.plateau_floor)
    rate = config.learning_rate
    for epoch in range(1, config.max_epochs + 1):
        loss, grads = loss_and_gradients(params, *data, config)
        adam.update(grads, rate)
        rate = schedule.after(epoch, loss)
        if rate is None:
            return epoch
    return config.max_epochs


def loss_and_gradients(params: list, X, M, TE, TF, config: TrainingConfig) -> tuple:
    """The summed per-model loss (paper eq. 1, scaled units; forces from the analytic gradient of E) and its
    gradients with respect to ``params`` = [W1 (G, H, 2), b1 (G, H), w2 (G, H), b2 (G,)].

    X (G, n, 2) points, M (G, n) per-point weights (mask / count), TE (G, n), TF (G, n, 2) targets."""
    W1, b1, w2, b2 = params
    hidden = np.tanh(X @ W1.transpose(0, 2, 1) + b1[:, None, :])             # (G, n, H)
    slope = 1.0 - hidden * hidden
    energy = (hidden @ w2[:, :, None])[..., 0] + b2[:, None]
    weighted = slope * w2[:, None, :]
    grad = weighted @ W1                                                       # dE/dx (G, n, 2)
    energy_error, force_error = energy - TE, -grad - TF
    loss = float((M * (config.energy_weight * energy_error ** 2 + config.force_weight * (force_error ** 2).sum(-1))).sum())
    d_energy = (2 * config.energy_weight) * M * energy_error                   # dL/dE (G, n)
    d_grad = (-2 * config.force_weight) * M[..., None] * force_error           # dL/d(dE/dx) (G, n, 2)
    d_weighted = d_grad @ W1.transpose(0, 2, 1)                                # (G, n, H)
    d_hidden = d_energy[..., None] * w2[:, None, :] - 2 * hidden * d_weighted * w2[:, None, :]
    d_pre = d_hidden * slope
    d_W1 = weighted.transpose(0, 2, 1) @ d_grad + d_pre.transpose(0, 2, 1) @ X
    d_w2 = (d_weighted * slope).sum(1) + (hidden * d_energy[..., None]).sum(1)
    return loss, [d_W1, d_pre.sum(1), d_w2, d_energy.sum(1)]


def committee_potential(models: MLPPotential, n_chains: int) -> MLPPotential:
    """Regroup G = n_chains × K single models (chain-major) into per-chain committees (B, K, H, D)."""
    G = models.n_chains
    K = G // n_chains
    reshape = lambda a: a[:, 0].reshape((n_chains, K) + a.shape[2:])  # noqa: E731
    return MLPPotential(reshape(models.W1), reshape(models.b1), reshape(models.w2), reshape(models.b2),
                        lam=models.lam, center=models.center)
