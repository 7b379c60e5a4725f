"""Overdamped Langevin (Brownian) dynamics as an ASE ``MolecularDynamics`` (docs/method.md §2).

    x ← x + (Δt/γ) F(x) + sqrt(2 σ² Δt/γ) ξ,      σ² = k_B T by default,

with F the forces of the attached calculator (so under a :class:`~skmd.atoms.SteinBias` it is
α = 1 times the base force plus the Stein force b). γ is an isotropic friction in eV·fs/Å², the same
for every atom and independent of mass. ``run``/``irun``/``attach`` and trajectory writing are
ASE's own.
"""
from __future__ import annotations

import numpy as np
from ase import units
from ase.md.md import MolecularDynamics

from ..tools.checks import non_negative, positive


class BrownianDynamics(MolecularDynamics):
    """Euler–Maruyama integration of overdamped Langevin dynamics.

    Args:
        atoms: the ASE Atoms (with a calculator).
        timestep: Δt in ASE time units (e.g. ``0.1 * ase.units.fs``).
        temperature_K: T in K.
        friction: γ in eV·fs/Å².
        rng: a ``numpy.random.Generator`` (required: every stochastic path takes a seed).
        sigma2: noise variance σ² in eV (default k_B T).
        **kwargs: ``trajectory``, ``logfile``, ``loginterval`` as for any ASE dynamics.
    """

    def __init__(self, atoms, timestep: float, temperature_K: float, friction: float, rng,
                 sigma2: float | None = None, **kwargs):
        if not isinstance(rng, np.random.Generator):
            raise ValueError("rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed))")
        super().__init__(atoms, positive("timestep", timestep), **kwargs)
        self.temperature_K = positive("temperature_K", temperature_K)
        self.friction = positive("friction", friction)
        self.sigma2 = self.temperature_K * units.kB if sigma2 is None else non_negative("sigma2", sigma2)
        self.rng = rng

    @property
    def timestep_fs(self) -> float:
        return self.dt / units.fs

    def step(self, forces=None):
        """One Euler–Maruyama step; returns the forces (n, 3) it used."""
        if forces is None:
            forces = self.atoms.get_forces()
        mobility = self.timestep_fs / self.friction
        noise = self.rng.standard_normal(forces.shape)
        displacement = mobility * forces + np.sqrt(2.0 * self.sigma2 * mobility) * noise
        self.atoms.set_positions(self.atoms.get_positions() + displacement)
        return forces

    def todict(self):
        return {**super().todict(), "temperature_K": self.temperature_K, "friction": self.friction,
                "sigma2": self.sigma2}
