"""Integrator factories: picklable settings that build an ASE dynamics for one walk.

A factory is any callable ``factory(atoms, rng) -> ase.md.md.MolecularDynamics``; the drivers
call it once per walk with the walk's own random stream. An optional attribute
``needs_stress = True`` makes the drivers check, before any work, that the system is periodic
and the calculator gives stress. Units: T in K, time steps in fs, pressure in GPa.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import units
from ase.md.langevin import Langevin as ASELangevin
from ase.md.nose_hoover_chain import MTKNPT
from ase.md.velocitydistribution import thermalize_momenta

from ..tools.checks import non_negative, positive
from .brownian import BrownianDynamics


def _needs_momenta(atoms) -> bool:
    return not atoms.has("momenta") or not np.any(atoms.get_momenta())


@dataclass(frozen=True)
class Brownian:
    """Overdamped Langevin dynamics (:class:`BrownianDynamics`); friction γ in eV·fs/Å²."""

    temperature_K: float = 50.0
    timestep_fs: float = 0.1
    friction: float = 75.0
    sigma2: float | None = None
    needs_stress = False

    def __post_init__(self):
        positive("temperature_K", self.temperature_K)
        positive("timestep_fs", self.timestep_fs)
        positive("friction", self.friction)
        if self.sigma2 is not None:
            non_negative("sigma2", self.sigma2)

    def __call__(self, atoms, rng):
        return BrownianDynamics(atoms, self.timestep_fs * units.fs, self.temperature_K, self.friction, rng,
                                sigma2=self.sigma2)


@dataclass(frozen=True)
class Langevin:
    """Underdamped Langevin MD (ASE's ``Langevin``); damping time in fs (friction = 1/damping).

    Momenta are drawn from the Maxwell–Boltzmann distribution at the start of a walk whose
    atoms carry none, and otherwise kept (a walker continues its trajectory).
    """

    temperature_K: float = 300.0
    timestep_fs: float = 1.0
    damping_fs: float = 100.0
    needs_stress = False

    def __post_init__(self):
        positive("temperature_K", self.temperature_K)
        positive("timestep_fs", self.timestep_fs)
        positive("damping_fs", self.damping_fs)

    def __call__(self, atoms, rng):
        if _needs_momenta(atoms):
            thermalize_momenta(atoms, temperature_K=self.temperature_K, rng=rng)
        return ASELangevin(atoms, self.timestep_fs * units.fs, temperature_K=self.temperature_K,
                           friction=1.0 / (self.damping_fs * units.fs), rng=rng)


@dataclass(frozen=True)
class NPT:
    """NPT MD with a fully flexible cell (ASE's MTK barostat, ``MTKNPT``).

    Args:
        temperature_K: T in K. pressure_GPa: external pressure in GPa (may be negative).
        timestep_fs: Δt in fs. tdamp_fs, pdamp_fs: thermostat and barostat time scales in fs
            (ASE suggests about 100 and 1000 time steps).
    """

    temperature_K: float = 300.0
    pressure_GPa: float = 0.0
    timestep_fs: float = 1.0
    tdamp_fs: float = 100.0
    pdamp_fs: float = 1000.0
    needs_stress = True

    def __post_init__(self):
        positive("temperature_K", self.temperature_K)
        positive("timestep_fs", self.timestep_fs)
        positive("tdamp_fs", self.tdamp_fs)
        positive("pdamp_fs", self.pdamp_fs)
        if not np.isfinite(self.pressure_GPa):
            raise ValueError(f"pressure_GPa must be finite, got {self.pressure_GPa!r}")

    def __call__(self, atoms, rng):
        if _needs_momenta(atoms):
            thermalize_momenta(atoms, temperature_K=self.temperature_K, rng=rng)
        return MTKNPT(atoms, self.timestep_fs * units.fs, temperature_K=self.temperature_K,
                      pressure_au=self.pressure_GPa * units.GPa, tdamp=self.tdamp_fs * units.fs,
                      pdamp=self.pdamp_fs * units.fs)


def check_integrator(integrator, atoms, calculator) -> None:
    """Refuse, before any work, an integrator the system or calculator cannot serve."""
    if not callable(integrator):
        raise ValueError(f"integrator must be a callable (atoms, rng) -> ASE dynamics, got {integrator!r}")
    if getattr(integrator, "needs_stress", False):
        if not atoms.pbc.all() or atoms.cell.rank < 3:
            raise ValueError(f"{type(integrator).__name__} needs a periodic system with a full 3D cell; "
                             f"got pbc={atoms.pbc.tolist()} and a cell of rank {atoms.cell.rank}")
        check = getattr(calculator, "check_stress", None)
        if check is not None:
            check(atoms)
        elif "stress" not in getattr(calculator, "implemented_properties", ()):
            raise ValueError(f"{type(integrator).__name__} needs stress, and {type(calculator).__name__} gives none")
