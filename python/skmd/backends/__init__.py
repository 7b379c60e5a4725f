"""Backend selection: ``backend="auto" | "numpy" | "julia"`` or the ``SKMD_BACKEND`` variable.

* ``"numpy"``: the vectorised reference implementation (always available).
* ``"julia"``: the Julia package SKMDCore through juliacall; a clear ``RuntimeError`` if
  Julia cannot start (never a hang: the start is probed with a time limit).
* ``"auto"`` (default): Julia when juliacall starts, otherwise NumPy with one short warning, once
  per process (:func:`julia_available` gives the reason).
"""
from __future__ import annotations

import os
import warnings

from . import numpy_backend
from .julia_bridge import JuliaUnavailable

BACKENDS = ("auto", "numpy", "julia")


class NumpyBackend:
    """The NumPy reference backend (see numpy_backend for array shapes)."""

    name = "numpy"

    def kernel_values(self, d_x, d_ens, amplitude, bandwidth):
        return numpy_backend.kernel_values(d_x, d_ens, amplitude, bandwidth)

    def stein_force(self, d_x, d_ens, f_ens, jac_ens, amplitude, bandwidth, kT, normalization):
        return numpy_backend.stein_force(d_x, d_ens, f_ens, jac_ens, amplitude, bandwidth, kT, normalization)

    def committee_forces(self, energies, forces, udd_a, udd_b, n_atoms):
        return numpy_backend.committee_forces(energies, forces, udd_a, udd_b, n_atoms)

    def evaluate(self, potential, x):
        spec = potential.spec(n_chains=len(x))
        if spec is None:
            return potential.evaluate_batch(x)
        return numpy_backend.evaluate_spec(spec, x)

    def simulate(self, potential, x0, noise, **params):
        return numpy_backend.simulate(lambda x: self.evaluate(potential, x), x0, noise, **params)

    def w2(self, x, y):
        return numpy_backend.w2_exact(*numpy_backend.w2_samples(x, y))


NUMPY = NumpyBackend()
_JULIA = None
_WARNED = False


def get_backend(backend=None):
    """Return a backend object for ``backend`` (a name, a backend object, or None = $SKMD_BACKEND or "auto")."""
    global _JULIA, _WARNED
    if backend is not None and not isinstance(backend, str):
        return backend
    name = (backend or os.environ.get("SKMD_BACKEND") or "auto").strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "numpy":
        return NUMPY
    try:
        if _JULIA is None:
            from .julia_bridge import JuliaBackend  # noqa: PLC0415
            _JULIA = JuliaBackend()
        return _JULIA
    except JuliaUnavailable as error:
        if name == "julia":
            raise RuntimeError(f"backend 'julia' was requested but Julia cannot start: {error}") from error
        if not _WARNED:
            warnings.warn("skmd: Julia is not available here, so the NumPy backend runs (same results; "
                          "'skmd info' or skmd.julia_available() says why)", RuntimeWarning, stacklevel=2)
            _WARNED = True
        return NUMPY


def julia_available() -> tuple[bool, str]:
    """(True, "") when the Julia backend starts, else (False, reason). Never raises."""
    try:
        get_backend("julia")
        return True, ""
    except RuntimeError as error:
        return False, str(error)
