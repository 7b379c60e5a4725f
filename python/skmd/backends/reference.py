"""The NumPy reference backend as an object with the backend interface (see :mod:`.numpy_backend` for
the array shapes). The Julia bridge falls back to it for what SKMDCore does not run."""
from __future__ import annotations

from . import numpy_backend


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
