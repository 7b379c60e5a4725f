"""The Stein biasing force as an ASE calculator (docs/method.md §2 and §8).

    b(x) = (1/N) Σ_{j≠i} [ k(x_j, x) F(x_j) + k_B T ∇_{x_j} k(x_j, x) ]

b has no potential. :class:`SteinBias` therefore reports the base energy and the base stress
unchanged, adds b(x) to the base forces and exposes ‖b(x)‖ (eV/Å) as ``results["stein_norm"]``
for the adaptive stop. The frozen members' forces, descriptors and descriptor Jacobians are
computed once, when a member is frozen (:func:`freeze`).
"""
from __future__ import annotations

import time

from dataclasses import dataclass

import numpy as np
from ase import units
from ase.calculators.calculator import CalculationFailed

from ..backends import get_backend
from ..modules.kernels import GaussianKernel
from ..modules.schedules import KernelSchedule
from ..tools.checks import non_negative, positive
from .batching import evaluate_many
from .bias import BiasCalculator


@dataclass(frozen=True)
class FrozenMember:
    """A frozen ensemble member: forces (3n,) eV/Å, descriptor (M,), Jacobian ∂d/∂x (M, 3n) 1/Å.

    ``admissible=False`` (set by :class:`~skmd.atoms.RoundRobin` while a force component exceeds its
    ``force_limit``) leaves the member out of the others' Stein sum; it still counts in N and in the
    median bandwidth."""

    forces: np.ndarray
    descriptor: np.ndarray
    jacobian: np.ndarray
    admissible: bool = True


def descriptor_of(calculator, descriptor=None):
    """The descriptor map to use with ``calculator``: the given one, or the calculator's own."""
    if descriptor is not None:
        return descriptor
    if hasattr(calculator, "descriptor"):
        return calculator.descriptor
    raise ValueError("pass a descriptor (e.g. skmd.atoms.MACEDescriptor) for a calculator without descriptors")


def freeze(atoms, calculator, descriptor=None) -> FrozenMember:
    """Forces, descriptor and Jacobian of ``atoms`` under ``calculator`` (its own cell and pbc)."""
    return freeze_many([atoms], calculator, descriptor)[0]


def freeze_many(frames, calculator, descriptor=None) -> list:
    """:func:`freeze` of every frame: their forces from one batched call where the calculator allows it
    (:func:`~skmd.atoms.batching.evaluate_many`), their Jacobians collated where the descriptor has
    ``jacobian_many``."""
    frames = list(frames)
    try:
        if len(frames) == 1:        # through the calculator's cache: a walk's end state was just evaluated
            single = frames[0].copy()
            single.calc = calculator
            forces = [np.array(single.get_forces(), float).ravel()]
        else:
            forces = [np.array(result["forces"], float).ravel()
                      for result in evaluate_many(calculator, frames, ["energy", "forces"])]
    except CalculationFailed as error:
        raise ValueError(f"the calculator failed on an ensemble member: {error}") from error
    description = descriptor_of(calculator, descriptor)
    if hasattr(description, "jacobian_many"):
        jacobians = description.jacobian_many(frames)
    else:
        jacobians = [description.jacobian(atoms) for atoms in frames]
    members = []
    for force, (values, jacobian) in zip(forces, jacobians):
        if not (np.all(np.isfinite(force)) and np.all(np.isfinite(jacobian)) and np.all(np.isfinite(values))):
            raise ValueError("the forces, descriptor or descriptor Jacobian of an ensemble member are not finite")
        members.append(FrozenMember(force, np.asarray(values, float), np.asarray(jacobian, float)))
    return members


class SteinBias(BiasCalculator):
    """Base forces plus the Stein force of a frozen ensemble.

    Args:
        base: the ASE calculator of the potential (e.g. :class:`~skmd.atoms.MACEDescriptorCalculator`,
            whose descriptor comes from the same model call as its forces).
        frozen: the frozen others, a list of :class:`FrozenMember` (N − 1 of them, or fewer where some
            are left out; an empty list gives b = 0).
        amplitude: kernel amplitude h ≥ 0 (h = 0 gives exactly the base forces).
        bandwidth: kernel bandwidth ℓ > 0 in descriptor units.
        temperature_K: T in K of the k_B T ∇k term.
        n_particles: the N of 1/N (default len(frozen) + 1: the sum over N − 1 others is divided by N).
        descriptor: the descriptor map (``compute(atoms)``), default the base calculator's.
        backend: "auto", "numpy", "julia" or a backend object.
    """

    conservative = False
    provides_stress = True   # b contributes no stress: the base stress passes through

    def __init__(self, base, frozen, *, amplitude: float, bandwidth: float, temperature_K: float,
                 n_particles: int | None = None, descriptor=None, backend=None, **kwargs):
        super().__init__(base, **kwargs)
        frozen = list(frozen)
        if not all(isinstance(member, FrozenMember) for member in frozen):
            raise ValueError("frozen must be a list of FrozenMember")
        if not frozen and n_particles is None:
            raise ValueError("give n_particles with an empty frozen list")
        self.descriptor = descriptor_of(base, descriptor)
        self._reads_base_descriptor = descriptor is None
        self.amplitude = non_negative("amplitude", amplitude)
        self.bandwidth = positive("bandwidth", bandwidth)
        self.kT = positive("temperature_K", temperature_K) * units.kB
        self.normalization = float(len(frozen) + 1 if n_particles is None else positive("n_particles", n_particles))
        self._empty = not frozen
        if frozen:
            self._descriptors = np.stack([member.descriptor for member in frozen])[None]
            self._forces = np.stack([member.forces for member in frozen])[None]
            self._jacobians = np.stack([member.jacobian for member in frozen])[None]
        self.backend = get_backend(backend)

    def stein_force(self, descriptor, n_coordinates: int | None = None) -> np.ndarray:
        """b (3n,) in eV/Å at a configuration with descriptor (M,); zeros (``n_coordinates``,) with no others."""
        if self._empty:
            return np.zeros(int(n_coordinates))
        result = self.backend.stein_force(
            np.asarray(descriptor, float)[None], self._descriptors, self._forces, self._jacobians,
            np.array([self.amplitude]), np.array([self.bandwidth]), np.array([self.kT]),
            np.array([self.normalization]))
        return np.asarray(result)[0]

    def bias(self, atoms, base):
        if self._reads_base_descriptor and "descriptor" in base:
            descriptor = base["descriptor"]
        else:
            descriptor = self.descriptor.compute(atoms)
        b = self.stein_force(descriptor, 3 * len(atoms))
        return {"forces": b.reshape(-1, 3), "stein_norm": float(np.linalg.norm(b))}


class Stein:
    """The bias factory of round-robin SKMD: freezes members and builds :class:`SteinBias`.

    Args:
        kernel: :class:`GaussianKernel` or :class:`KernelSchedule` (indexed by move; see
            :meth:`KernelSchedule.two_phase` for the alanine-dipeptide schedule).
        temperature_K: T in K of the k_B T ∇k term (the sampling temperature).
        descriptor: the descriptor map, default the base calculator's own.
        backend: "auto", "numpy", "julia" or a backend object.
    """

    needs_others = True

    def __init__(self, kernel, temperature_K: float, descriptor=None, backend=None):
        if isinstance(kernel, GaussianKernel):
            kernel = KernelSchedule(kernel)
        if not isinstance(kernel, KernelSchedule):
            raise ValueError(f"kernel must be a GaussianKernel or KernelSchedule, got {type(kernel).__name__}")
        self.schedule = kernel
        self.temperature_K = positive("temperature_K", temperature_K)
        self.descriptor = descriptor
        get_backend(backend)            # fail early on a bad name; kept as given so the factory pickles
        self.backend = backend
        self.history = []
        self.freeze_seconds = 0.0   # wall time spent freezing members (forces + descriptor Jacobians)

    def freeze(self, atoms, calculator) -> FrozenMember:
        return self.freeze_many([atoms], calculator)[0]

    def freeze_many(self, frames, calculator) -> list:
        """The :class:`FrozenMember` of each frame (see :func:`freeze_many`); the time goes into ``freeze_seconds``."""
        started = time.perf_counter()
        members = freeze_many(frames, calculator, self.descriptor)
        self.freeze_seconds += time.perf_counter() - started
        return members

    def build(self, calculator, frozen: list, particle: int, move: int) -> SteinBias:
        """The bias on ``particle`` at move ``move`` from every other admissible frozen member (normalised
        by N = len(frozen), the bandwidth's median over all members)."""
        descriptors = np.stack([member.descriptor for member in frozen])
        amplitude, bandwidth = self.schedule.parameters(move, descriptors)
        self.history.append((move, amplitude, bandwidth))
        others = [member for j, member in enumerate(frozen) if j != particle and member.admissible]
        return SteinBias(calculator, others, amplitude=amplitude, bandwidth=bandwidth,
                         temperature_K=self.temperature_K, n_particles=len(frozen),
                         descriptor=self.descriptor, backend=self.backend)
