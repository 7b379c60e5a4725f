"""NumPy reference backend: the hot loops, vectorised over a batch of B independent chains.

Every function here has a twin of the same name in the Julia package SKMDCore
(``julia/src/SKMDCore.jl``) with the same semantics; the parity tests in ``tests/test_backends.py``
check them against each other to 1e-10 wherever Julia starts.

Array conventions (all float64):
    B chains, N frozen ensemble members, M descriptor dimensions, D configuration dimensions,
    K committee members (K = 1 for a single model), T steps.
Per-chain scalars (amplitude, bandwidth, kT, ...) are arrays of shape (B,).
"""
from __future__ import annotations

import numpy as np

# Rule codes shared with the Julia module.
RULE_FIXED, RULE_ADAPTIVE, RULE_PERIODIC, RULE_THRESHOLD = 0, 1, 2, 3
# Status codes shared with the Julia module.
STATUS_CAPPED, STATUS_STOPPED, STATUS_DIVERGED = 0, 1, 2


# --------------------------------------------------------------------------- kernel sums
def kernel_values(d_x, d_ens, amplitude, bandwidth):
    """Gaussian kernel k(x_j, x) = h exp(−‖d_j − d_x‖² / 2ℓ²).

    d_x (B, M), d_ens (B, N, M), amplitude (B,), bandwidth (B,) → (B, N).
    """
    squared = np.sum((d_ens - d_x[:, None, :]) ** 2, axis=-1)
    return amplitude[:, None] * np.exp(-squared / (2.0 * bandwidth[:, None] ** 2))


def stein_force(d_x, d_ens, f_ens, jac_ens, amplitude, bandwidth, kT, normalization):
    """SKMD biasing force b(x) = (1/norm) Σ_j [k(x_j, x) F_j + kT ∇_{x_j} k(x_j, x)],
    with ∇_{x_j} k(x_j, x) = −(k/ℓ²) J_jᵀ (d_j − d_x) (J = I when jac_ens is None).

    d_x (B, M), d_ens (B, N, M), f_ens (B, N, D), jac_ens (B, N, M, D) or None,
    amplitude, bandwidth, kT, normalization (B,) → (B, D).
    """
    diff = d_ens - d_x[:, None, :]
    k = amplitude[:, None] * np.exp(-np.sum(diff**2, axis=-1) / (2.0 * bandwidth[:, None] ** 2))
    weighted = (k / bandwidth[:, None] ** 2)[:, :, None] * diff            # (B, N, M)
    if jac_ens is None:
        repulsion = -weighted.sum(axis=1)
    else:  # Σ_j J_jᵀ w_j as one (N·M)-long contraction per chain (a BLAS matrix-vector product)
        B, N, M, D = jac_ens.shape
        repulsion = -np.matmul(weighted.reshape(B, 1, N * M), jac_ens.reshape(B, N * M, D))[:, 0]
    attraction = np.einsum("bn,bnd->bd", k, f_ens)
    return (attraction + kT[:, None] * repulsion) / normalization[:, None]


# --------------------------------------------------------------------------- potentials
def evaluate_spec(spec, x):
    """Energies (B, K) and forces (B, K, D) of an analytic potential spec at x (B, D)."""
    kind, p = spec
    if kind == "mueller_brown":
        dx = x[:, 0, None] - p["x0"]
        dy = x[:, 1, None] - p["y0"]
        terms = p["A"] * np.exp(p["a"] * dx**2 + p["b"] * dx * dy + p["c"] * dy**2)
        grad_x = np.sum(terms * (2 * p["a"] * dx + p["b"] * dy), axis=1)
        grad_y = np.sum(terms * (p["b"] * dx + 2 * p["c"] * dy), axis=1)
        forces = -np.stack([grad_x, grad_y], axis=1)
        return terms.sum(axis=1)[:, None], forces[:, None, :]
    if kind == "quadratic":
        r = x - p["mu"]
        grad = r @ p["precision"].T
        return 0.5 * np.sum(r * grad, axis=1)[:, None], -grad[:, None, :]
    if kind == "mlp":
        z = np.einsum("bkhd,bd->bkh", p["W1"], x) + p["b1"]
        t = np.tanh(z)
        r = x - p["center"]
        r2 = np.sum(r**2, axis=1)
        energy = np.einsum("bkh,bkh->bk", p["w2"], t) + p["b2"] + p["lam"] * r2[:, None] ** 2
        grad = np.einsum("bkh,bkhd->bkd", p["w2"] * (1 - t**2), p["W1"])
        grad = grad + (4 * p["lam"] * r2[:, None] * r)[:, None, :]
        return energy, -grad
    raise ValueError(f"unknown potential kind {kind!r}")


def committee_forces(energies, forces, udd_a, udd_b, n_atoms):
    """Committee mean plus the uncertainty-driven (UDD) bias of every chain.

    With committee variance σ² = ½ Σ_k (E_k − Ē)², the bias energy is
    A (exp(−σ² / (K n_atoms B²)) − 1) and the uncertainty is rho = sqrt(2σ² / (K n_atoms)).

    energies (B, K), forces (B, K, D), udd_a (A), udd_b (B) per chain (B,), n_atoms int →
    energy (B,), force (B, D), rho (B,), bias_energy (B,). With K = 1 or udd_a = 0 no bias.
    Twin: ``SKMDCore.committee_forces`` (same batched shapes).
    """
    n_models = energies.shape[1]
    mean_energy = energies.mean(axis=1)
    mean_force = forces.mean(axis=1)
    deviation = energies - mean_energy[:, None]
    variance = 0.5 * np.sum(deviation**2, axis=1)
    minus_grad_variance = np.einsum("bk,bkd->bd", deviation, forces - mean_force[:, None, :])
    scale = n_models * n_atoms * udd_b**2
    decay = np.exp(-variance / scale)
    bias_energy = udd_a * (decay - 1.0)
    d_bias_d_variance = -udd_a / scale * decay
    force = mean_force + d_bias_d_variance[:, None] * minus_grad_variance
    rho = np.sqrt(2.0 / (n_models * n_atoms)) * np.sqrt(variance)
    return mean_energy + bias_energy, force, rho, bias_energy


# --------------------------------------------------------------------------- dynamics
def simulate(evaluate, x0, noise, *, dt, gamma, alpha, sigma2, kT, bound,
             ens_d=None, ens_f=None, ens_jac=None, descriptor=None,
             amplitude=None, bandwidth=None, normalization=None,
             udd_a=None, udd_b=None, udd_atoms=1,
             rule=RULE_FIXED, t_min=0, tau=0.0, period=1, threshold=np.inf, min_gap=0, max_acquire=0):
    """Euler–Maruyama loop of B independent chains with optional Stein and UDD bias.

    Args:
        evaluate: x (B, D) → (energies (B, K), forces (B, K, D)).
        x0: start points (B, D). noise: increments (T, B, D); T is the step cap.
        dt, gamma, alpha, sigma2, kT, bound: per-chain arrays (B,).
            x_{t+1} = x_t + (dt/γ)(α F + b) + sqrt(2 σ² dt/γ) ξ_t.
        ens_d, ens_f, ens_jac: frozen ensemble descriptors (B, N, M), forces (B, N, D),
            Jacobians (B, N, M, D) or None (identity descriptors); None for no Stein bias.
        descriptor: x (B, D) → d (B, M); None means identity.
        amplitude, bandwidth, normalization: kernel amplitude h, bandwidth ℓ, and the 1/N
            normalisation of b (B,).
        udd_a, udd_b, udd_atoms: UDD bias parameters (see :func:`committee_forces`); None for no bias.
        rule: 0 fixed (run T steps), 1 adaptive (stop at the first t ≥ t_min with ‖b(x_t)‖ < tau),
            2 periodic (record x after every ``period`` steps), 3 threshold (record x_t when
            rho(x_t) > threshold and t − t_last ≥ min_gap). Rules 2 and 3 stop after
            ``max_acquire`` records.

    Returns a dict with x_end (B, D), steps (B,) noise increments consumed, status (B,)
    (0 capped, 1 stopped by the rule, 2 diverged: x_end is then the last good point),
    acq_x (B, P, D), acq_step (B, P), n_acq (B,), values (T, B): ‖b‖ (rule 1) or rho (rule 3)
    at each step start, NaN elsewhere.
    """
    n_steps, n_chains, dim = noise.shape
    x = np.array(x0, dtype=float, copy=True)
    drift_scale = dt / gamma
    noise_scale = np.sqrt(2.0 * sigma2 * dt / gamma)
    active = np.ones(n_chains, dtype=bool)
    steps = np.full(n_chains, n_steps, dtype=np.int64)
    status = np.full(n_chains, STATUS_CAPPED, dtype=np.int64)
    n_record = max(int(max_acquire), 1)
    acq_x = np.full((n_chains, n_record, dim), np.nan)
    acq_step = np.full((n_chains, n_record), -1, dtype=np.int64)
    n_acq = np.zeros(n_chains, dtype=np.int64)
    last_acq = np.zeros(n_chains, dtype=np.int64)
    values = np.full((n_steps, n_chains), np.nan)
    rows = np.arange(n_chains)

    def finish(mask, code, step_count):
        status[mask] = code
        steps[mask] = step_count
        active[mask] = False

    def record(mask, t):
        idx = rows[mask]
        acq_x[idx, n_acq[idx]] = x[idx]
        acq_step[idx, n_acq[idx]] = t
        n_acq[idx] += 1

    for t in range(n_steps):
        energies, forces = evaluate(x)
        if udd_a is None:
            energy, force = energies.mean(axis=1), forces.mean(axis=1)
            rho = np.zeros(n_chains)
        else:
            energy, force, rho, _ = committee_forces(energies, forces, udd_a, udd_b, udd_atoms)
        if ens_d is None:
            bias = np.zeros_like(x)
        else:
            d_x = x if descriptor is None else descriptor(x)
            bias = stein_force(d_x, ens_d, ens_f, ens_jac, amplitude, bandwidth, kT, normalization)
        if rule == RULE_ADAPTIVE:
            values[t, active] = np.linalg.norm(bias, axis=1)[active]
        elif rule == RULE_THRESHOLD:
            values[t, active] = rho[active]
        bad = active & ~(np.isfinite(energy) & np.all(np.isfinite(force), axis=1))
        finish(bad, STATUS_DIVERGED, t)
        if rule == RULE_ADAPTIVE and t >= t_min:
            finish(active & (values[t] < tau), STATUS_STOPPED, t)
        if rule == RULE_THRESHOLD:
            take = active & (rho > threshold) & (t - last_acq >= min_gap)
            record(take, t)
            last_acq[take] = t
            finish(take & (n_acq >= max_acquire), STATUS_STOPPED, t)
        x_new = x + drift_scale[:, None] * (alpha[:, None] * force + bias) + noise_scale[:, None] * noise[t]
        escaped = active & ~np.all(np.isfinite(x_new) & (np.abs(x_new) <= bound[:, None]), axis=1)
        finish(escaped, STATUS_DIVERGED, t + 1)
        x[active] = x_new[active]
        if rule == RULE_PERIODIC and (t + 1) % period == 0:
            take = active.copy()
            record(take, t + 1)
            finish(take & (n_acq >= max_acquire), STATUS_STOPPED, t + 1)
        if not active.any():
            break
    return {"x_end": x, "steps": steps, "status": status, "acq_x": acq_x,
            "acq_step": acq_step, "n_acq": n_acq, "values": values}


# --------------------------------------------------------------------------- Wasserstein
def w2_samples(x, y):
    """x, y as float64 arrays of one shape (n, D), checked before any optimal-assignment solver.

    Raises ValueError on other ranks, unequal shapes, NaN/inf entries, or coordinates so large that
    a squared distance would overflow (the assignment solvers need finite costs).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape != y.shape or x.size == 0:
        raise ValueError("exact W2 needs two non-empty, equal-size (n, D) samples of one shape, "
                         f"got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("exact W2 samples contain NaN or infinite values")
    with np.errstate(over="ignore"):
        largest_cost = x.shape[1] * (np.max(np.abs(x)) + np.max(np.abs(y))) ** 2
    if not np.isfinite(largest_cost):
        raise ValueError("exact W2 samples are too large: squared distances overflow float64")
    return x, y


def w2_exact(x, y):
    """Exact 2-Wasserstein distance between equal-size empirical samples x, y of shape (n, D)."""
    cost = np.sum((x[:, None, :] - y[None, :, :]) ** 2, axis=-1)
    from scipy.optimize import linear_sum_assignment  # noqa: PLC0415  lazy: scipy.optimize takes ~0.3 s; only w2 needs it
    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols].mean()))
