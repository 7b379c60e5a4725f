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
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from ..tools.checks import MAX_PRESSURE_GPA, non_negative, positive
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
    atoms carry none, and otherwise kept (a walker continues its trajectory). The noise acts on
    every atom, the centre of mass included (ASE's ``fixcm=False``): ASE's ``fixcm=True`` freezes
    the centre of mass and heats the other 3n − 3 degrees of freedom to T·n/(n − 1), 5 % too hot
    for a 22-atom molecule. The free centre of mass diffuses, which changes no internal coordinate.
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
                           friction=1.0 / (self.damping_fs * units.fs), fixcm=False, rng=rng)


class _MomentumConservingMTKNPT(MTKNPT):
    """ASE's ``MTKNPT`` for a translation-invariant system whose total momentum is zero.

    Forces that sum to zero keep the total momentum at zero, so only 3n − 3 momenta fluctuate.
    ASE's MTKNPT counts 3n: its thermostat then heats those 3n − 3 to T·n/(n − 1). Here the
    thermostat, the barostat and the kinetic pressure count N_f = 3n − 3 (MTK 1994 with
    d/N_f = 1/(n − 1)), which ASE's classes express as n − 1 atoms.
    """

    def __init__(self, atoms, timestep, temperature_K, pressure_au, tdamp, pdamp, **kwargs):
        super().__init__(atoms, timestep, temperature_K=temperature_K, pressure_au=pressure_au,
                         tdamp=tdamp, pdamp=pdamp, **kwargs)
        moving = self.atoms.get_global_number_of_atoms() - 1
        thermostat, barostat = type(self._thermostat), type(self._barostat)
        self._num_atoms_global = moving
        self._thermostat = thermostat(num_atoms_global=moving, masses=self.masses, temperature_K=temperature_K,
                                      tdamp=tdamp, tchain=3, tloop=1)
        self._barostat = barostat(num_atoms_global=moving, temperature_K=temperature_K, pdamp=pdamp,
                                  pchain=3, ploop=1, mask=self.mask)


@dataclass(frozen=True)
class NPT:
    """NPT MD with a fully flexible cell (ASE's MTK barostat, ``MTKNPT``).

    The total momentum is set to zero at the start of each walk and stays zero (forces of a
    periodic system sum to zero); the thermostat counts the 3n − 3 degrees of freedom left, so
    the kinetic temperature is T for small cells too (see :class:`_MomentumConservingMTKNPT`).

    Args:
        temperature_K: T in K. pressure_GPa: external pressure in GPa (may be negative; |p| ≤ 1000 GPa).
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
        if not np.isfinite(self.pressure_GPa) or abs(self.pressure_GPa) > MAX_PRESSURE_GPA:
            raise ValueError(f"pressure_GPa must lie within ±{MAX_PRESSURE_GPA:g} GPa, got {self.pressure_GPa!r}: "
                             "1 TPa is about three times the pressure at the Earth's centre; beyond it the barostat "
                             "crushes or tears the cell within a few steps, far outside any training data")

    def __call__(self, atoms, rng):
        if _needs_momenta(atoms):
            thermalize_momenta(atoms, temperature_K=self.temperature_K, rng=rng)
        Stationary(atoms, preserve_temperature=False)
        return _MomentumConservingMTKNPT(atoms, self.timestep_fs * units.fs, temperature_K=self.temperature_K,
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
