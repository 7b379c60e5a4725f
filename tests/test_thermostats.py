"""Thermostats sample their stated temperature on molecule-sized systems with an exact answer.

A 16-atom chain of unequal masses in harmonic wells with springs between neighbours has a
quadratic energy ½ uᵀ K u (u: displacements, K: 3n×3n). At temperature T exactly:
position covariance kT K⁻¹, ⟨p²/m⟩ = kT per coordinate, internal kinetic energy (centre-of-mass
motion removed) (3n − 3) kT / 2. Intervals are batch means over blocks much longer than the
correlation time, checked per coordinate and pooled.
"""
import warnings

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes

from skmd.atoms.integrators import NPT, Brownian, Langevin

N_ATOMS = 16
T_K = 300.0
WELL, SPRING = 0.5, 2.0  # eV/Å²


class HarmonicChain(Calculator):
    """Energy ½ uᵀ K u of displacements u (Å) from the reference positions; K in eV/Å²."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, reference):
        super().__init__()
        self.reference = reference.copy()
        n = len(reference)
        laplacian = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
        laplacian[0, 0] = laplacian[-1, -1] = 1
        self.hessian = np.kron(WELL * np.eye(n) + SPRING * laplacian, np.eye(3))

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        u = (self.atoms.positions - self.reference).ravel()
        force = -self.hessian @ u
        self.results = {"energy": 0.5 * float(u @ -force), "forces": force.reshape(-1, 3)}


def chain():
    positions = np.column_stack([1.5 * np.arange(N_ATOMS), np.zeros(N_ATOMS), np.zeros(N_ATOMS)])
    atoms = Atoms("CH" * (N_ATOMS // 2), positions=positions)
    atoms.calc = HarmonicChain(positions)
    return atoms


def batch_means(samples, n_batches=20):
    """samples (n_samples, ...) → (mean, half-width of a ~4.5σ interval), both shaped like one sample."""
    batches = np.array_split(samples, n_batches)
    means = np.array([b.mean(axis=0) for b in batches])
    return means.mean(axis=0), 4.5 * means.std(axis=0, ddof=1) / np.sqrt(n_batches)


def run(dynamics, atoms, n_samples, stride, burn_in=500):
    dynamics.run(burn_in)
    positions, momenta = [], []
    for _ in range(n_samples):
        dynamics.run(stride)
        positions.append(atoms.positions.ravel().copy())
        momenta.append(atoms.get_momenta().ravel().copy())
    return np.array(positions), np.array(momenta)


def check_positions(positions, covariance, reference):
    """Per-coordinate mean and variance and the pooled variance agree with the exact values."""
    u = positions - reference
    mean, half = batch_means(u)
    assert np.all(np.abs(mean) < half + 1e-12), "some coordinate's mean is off its well"
    variance, half = batch_means(u**2)
    exact = np.diag(covariance)
    assert np.all(np.abs(variance - exact) < half), f"per-coordinate variance off: {variance / exact}"
    pooled, half = batch_means((u**2).sum(axis=1))
    assert abs(pooled - exact.sum()) < half, f"pooled variance {pooled / exact.sum():.4f} × exact"


def internal_temperature(momenta, masses):
    """Samples (n_samples, 3n) → internal kinetic temperature per sample in K (COM motion removed)."""
    m3 = np.repeat(masses, 3)
    p = momenta.reshape(len(momenta), -1, 3)
    total = p.sum(axis=1)
    kinetic = 0.5 * (momenta**2 / m3).sum(axis=1) - 0.5 * (total**2).sum(axis=1) / masses.sum()
    return 2 * kinetic / ((3 * len(masses) - 3) * units.kB)


def test_langevin_samples_its_temperature_per_coordinate():
    atoms = chain()
    kT = units.kB * T_K
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # ASE's fixcm warning means the defect is back
        dynamics = Langevin(T_K, timestep_fs=2.0, damping_fs=20.0)(atoms, np.random.default_rng(3))
    positions, momenta = run(dynamics, atoms, n_samples=2000, stride=20)
    masses = atoms.get_masses()
    kinetic, half = batch_means(momenta**2 / np.repeat(masses, 3) / kT)
    assert np.all(np.abs(kinetic - 1) < half), f"per-coordinate ⟨p²/m⟩/kT: {kinetic}"
    internal, half = batch_means(internal_temperature(momenta, masses) / T_K)
    # fixcm=True gave 16/15 = 1.067 here
    assert abs(internal - 1) < half and half < 0.03, f"internal T = {internal:.4f} ± {half:.4f} × set"
    covariance = kT * np.linalg.inv(atoms.calc.hessian)
    check_positions(positions, covariance, atoms.calc.reference.ravel())


def test_brownian_samples_its_temperature_per_coordinate():
    atoms = chain()
    kT = units.kB * T_K
    integrator = Brownian(T_K, timestep_fs=1.0, friction=10.0)
    dynamics = integrator(atoms, np.random.default_rng(4))
    positions, _ = run(dynamics, atoms, n_samples=2000, stride=10)
    # Euler–Maruyama's exact stationary covariance: kT (K − (Δt/γ) K²/2)⁻¹
    hessian = atoms.calc.hessian
    covariance = kT * np.linalg.inv(hessian - 0.5 * integrator.timestep_fs / integrator.friction * hessian @ hessian)
    check_positions(positions, covariance, atoms.calc.reference.ravel())


@pytest.mark.slow
def test_npt_kinetic_temperature_on_a_small_cell():
    """8-atom Cu cell under EMT: equipartition gives internal kinetic temperature T exactly."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    atoms = bulk("Cu", cubic=True).repeat((1, 1, 2))
    atoms.calc = EMT()
    dynamics = NPT(T_K, pressure_GPa=0.0, timestep_fs=2.0, tdamp_fs=50.0, pdamp_fs=500.0)(
        atoms, np.random.default_rng(5))
    _, momenta = run(dynamics, atoms, n_samples=1000, stride=10)
    masses = atoms.get_masses()
    assert np.allclose(momenta.reshape(len(momenta), -1, 3).sum(axis=1), 0, atol=1e-8)
    internal, half = batch_means(internal_temperature(momenta, masses) / T_K)
    # ASE's MTKNPT counting 3n degrees of freedom gave 8/7 = 1.14 here
    assert abs(internal - 1) < half and half < 0.08, f"internal T = {internal:.4f} ± {half:.4f} × set"
