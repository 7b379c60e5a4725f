"""The SKMD biasing force b(x) (method.md §2, paper eq. 5b)."""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from ..tools.checks import finite_array, positive
from .kernels import GaussianKernel


def stein_force(d_x, d_ens, f_ens, jac_ens, kernel: GaussianKernel, kT: float,
                normalization: float | None = None, backend=None) -> np.ndarray:
    """SKMD biasing force on one moving configuration from a frozen ensemble.

        b(x) = (1/N) Σ_j [ k(x_j, x) F(x_j) + kT ∇_{x_j} k(x_j, x) ]

    Args:
        d_x: descriptor of the moving configuration, shape (M,).
        d_ens: descriptors of the N frozen members, shape (N, M).
        f_ens: forces of the frozen members, shape (N, D), in energy/length units.
        jac_ens: descriptor Jacobians ∂d/∂x of the frozen members, shape (N, M, D), or None
            for identity descriptors (then D = M).
        kernel: a :class:`GaussianKernel` with a fixed bandwidth.
        kT: k_B T in energy units (> 0).
        normalization: the N of 1/N; defaults to the number of members given. SKMD passes the
            ensemble size so that the sum over the N − 1 others is divided by N (method.md §2).
        backend: "auto", "numpy", "julia" or a backend object.

    Returns:
        b(x), shape (D,), in force units.
    """
    d_x = finite_array("d_x", d_x, ndim=1)
    d_ens = finite_array("d_ens", d_ens, ndim=2)
    f_ens = finite_array("f_ens", f_ens, ndim=2)
    kT = positive("kT", kT)
    if d_ens.shape[1] != d_x.shape[0]:
        raise ValueError(f"shape mismatch: d_x has {d_x.shape[0]} features, d_ens has shape {d_ens.shape}")
    if f_ens.shape[0] != d_ens.shape[0]:
        raise ValueError(f"shape mismatch: d_ens has {d_ens.shape[0]} members, f_ens has shape {f_ens.shape}")
    if jac_ens is None:
        if f_ens.shape[1] != d_x.shape[0]:
            raise ValueError(f"identity descriptors need D == M; f_ens has shape {f_ens.shape}, d_x {d_x.shape}")
    else:
        jac_ens = finite_array("jac_ens", jac_ens, ndim=3)
        expected = (d_ens.shape[0], d_ens.shape[1], f_ens.shape[1])
        if jac_ens.shape != expected:
            raise ValueError(f"shape mismatch: jac_ens has shape {jac_ens.shape}, expected {expected}")
    if not isinstance(kernel, GaussianKernel):
        raise ValueError(f"kernel must be a GaussianKernel, got {type(kernel).__name__}")
    bandwidth = kernel._fixed_bandwidth()
    norm = float(d_ens.shape[0]) if normalization is None else positive("normalization", normalization)
    one = np.ones(1)
    result = get_backend(backend).stein_force(
        d_x[None], d_ens[None], f_ens[None], None if jac_ens is None else jac_ens[None],
        kernel.amplitude * one, bandwidth * one, kT * one, norm * one)
    return np.asarray(result)[0]
