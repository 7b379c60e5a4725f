"""The integrator of an uncertainty-biased MD run, for the engine's drivers.

:func:`integrator_for` turns an ensemble name (``"nvt"`` or ``"npt"``) and its settings into one of
the engine's integrator factories (:class:`~skmd.atoms.integrators.Langevin` or
:class:`~skmd.atoms.integrators.NPT`, ASE's fully flexible MTK barostat). The walk itself runs in
:class:`~skmd.atoms.drivers.IndependentWalkers` with the
:class:`~skmd.atoms.observers.UncertaintyStop` observer, so it gets the engine's divergence checks,
restarts and per-move random streams. Units: K, fs, GPa.
"""
from __future__ import annotations

from ..atoms.integrators import NPT, Langevin, check_integrator
from ..tools.checks import positive

ENSEMBLES = ("nvt", "npt")


def integrator_for(ensemble: str = "nvt", temperature_K: float = 300.0, timestep_fs: float = 0.5,
                   pressure_GPa: float = 0.0, friction_per_fs: float = 0.01, tdamp_fs: float = 50.0,
                   pdamp_fs: float = 500.0, atoms=None, calculator=None):
    """The integrator factory of a UB-MD walk: Langevin (``"nvt"``) or MTK NPT with a fully
    flexible cell (``"npt"``).

    Args:
        ensemble: "nvt" or "npt".
        temperature_K: T in K (> 0). timestep_fs: Δt in fs (> 0).
        pressure_GPa: external pressure of NPT in GPa (may be negative; ignored by NVT).
        friction_per_fs: Langevin friction in 1/fs (damping time 1/friction).
        tdamp_fs, pdamp_fs: NPT thermostat and barostat time scales in fs.
        atoms, calculator: when given, the run is checked now (NPT needs a periodic 3D cell and a
            calculator that gives stress); the drivers check again before any force call.

    Raises ``ValueError`` on an unknown ensemble, non-positive T, Δt, friction or damping, or a
    run that cannot work.
    """
    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {ENSEMBLES}, got {ensemble!r}")
    if ensemble == "nvt":
        integrator = Langevin(temperature_K=temperature_K, timestep_fs=timestep_fs,
                              damping_fs=1.0 / positive("friction_per_fs", friction_per_fs))
    else:
        integrator = NPT(temperature_K=temperature_K, pressure_GPa=pressure_GPa, timestep_fs=timestep_fs,
                         tdamp_fs=tdamp_fs, pdamp_fs=pdamp_fs)
    if atoms is not None:
        calculator = calculator if calculator is not None else atoms.calc
        if calculator is None:
            raise ValueError("give a calculator (or atoms with one) to check the run")
        check_integrator(integrator, atoms, calculator)
    return integrator
