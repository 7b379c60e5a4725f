"""The samplers of the alanine-dipeptide study, and the picklable calculator factories they need.

Every sampler turns one iteration's move count, steps and seed into a
:class:`~skmd.atoms.parallel.SamplerSpec`; all acquire one candidate per move (the end point, or
for UB-MD the frame whose uncertainty crossed the threshold), and all record (φ, ψ) every
``trace_interval`` steps of every walk with :class:`PhiPsiTrace`, which is what the Ramachandran
coverage counts. Units: K, fs, eV, Å; the Brownian friction γ in eV·fs/Å², damping times in fs.

* :class:`SKMDSampler` — round-robin SKMD: Brownian dynamics under the Stein bias.
* :class:`MDSampler` — independent Langevin walkers (momenta kept between moves).
* :class:`UBMDSampler` — uncertainty-biased Langevin MD (E − τu, ensemble-free u), stopping at a
  calibrated atomic-uncertainty threshold; its calculator comes from :class:`UBMDFactory`.
* :class:`UDDSampler` — Langevin MD on a MACE committee with the UDD bias; its calculator comes
  from :class:`CommitteeFactory`.
"""
from __future__ import annotations

from dataclasses import dataclass


SKMD, UBMD, UDD = "skmd", "ubmd", "udd"


def md_name(temperature_K: float) -> str:
    """The name of the Langevin-MD baseline at ``temperature_K``: 300.0 → "md300"."""
    return f"md{temperature_K:g}"


class PhiPsiTrace:
    """Observer: (φ, ψ) in degrees every ``interval`` steps of every walk, kept in ``records``."""

    def __init__(self, interval: int):
        from ...tools.checks import positive_int  # noqa: PLC0415
        self.interval = positive_int("interval", interval)
        self.records = []

    def __call__(self, walk):
        if walk.step % self.interval == 0:
            from ...atoms.alanine import ramachandran  # noqa: PLC0415
            self.records.append(ramachandran([walk.atoms])[0].tolist())


def _observers(steps: int, trace_interval: int, acquisition=None) -> list:
    from ...atoms.observers import EndPoint  # noqa: PLC0415
    return [acquisition or EndPoint(steps), PhiPsiTrace(trace_interval)]


@dataclass(frozen=True)
class SKMDSampler:
    """Round-robin SKMD: Brownian dynamics (T, Δt, γ) under the Stein bias with the E.2 kernel schedule."""

    temperature_K: float = 50.0
    timestep_fs: float = 0.1
    friction: float = 75.0
    amplitude: float = 8.0
    explore_fraction: float = 250 / 300
    backend: str = "auto"
    name: str = SKMD
    trace_interval: int = 10

    def integrator(self):
        from ...atoms.integrators import Brownian  # noqa: PLC0415
        return Brownian(self.temperature_K, self.timestep_fs, self.friction)

    def spec(self, n_moves: int, steps: int, seed: int, descriptor=None):
        """The sampler of one iteration: ``n_moves`` moves of ``steps`` steps each.

        The E.2 schedule spans this iteration's ``n_moves`` and is built afresh for each
        iteration: the amplitude and bandwidth explore, then decay to half, within every
        iteration (the driver counts moves from 0 in each iteration). ``descriptor`` overrides
        the calculator's own (the oracle-driven test set uses the surrogate's).
        """
        from ...atoms.parallel import SamplerSpec  # noqa: PLC0415
        from ...atoms.stein_bias import Stein  # noqa: PLC0415
        from ...modules.kernels import GaussianKernel  # noqa: PLC0415
        from ...modules.schedules import KernelSchedule  # noqa: PLC0415
        schedule = KernelSchedule.two_phase(GaussianKernel(self.amplitude, "median"), total=n_moves,
                                            explore_fraction=self.explore_fraction)
        bias = Stein(schedule, self.temperature_K, descriptor=descriptor, backend=self.backend)
        return SamplerSpec(self.name, "round_robin", self.integrator(), n_moves, steps=steps, bias=bias, seed=seed,
                           acquisition=_observers(steps, self.trace_interval))


@dataclass(frozen=True)
class MDSampler:
    """Independent walkers of underdamped Langevin MD (T, Δt, damping time), momenta kept between moves."""

    temperature_K: float = 300.0
    timestep_fs: float = 1.0
    damping_fs: float = 100.0
    trace_interval: int = 10

    @property
    def name(self) -> str:
        return md_name(self.temperature_K)

    def integrator(self):
        from ...atoms.integrators import Langevin  # noqa: PLC0415
        return Langevin(self.temperature_K, self.timestep_fs, self.damping_fs)

    def spec(self, n_moves: int, steps: int, seed: int):
        from ...atoms.parallel import SamplerSpec  # noqa: PLC0415
        return SamplerSpec(self.name, "independent", self.integrator(), n_moves, steps=steps, seed=seed,
                           acquisition=_observers(steps, self.trace_interval))


@dataclass(frozen=True)
class UBMDSampler(MDSampler):
    """Uncertainty-biased Langevin MD: a walk stops at the first frame whose calibrated atomic
    uncertainty exceeds ``atomic_threshold`` (eV/Å), which is its candidate; else its end point."""

    atomic_threshold: float = 3.0

    @property
    def name(self) -> str:
        return UBMD

    def spec(self, n_moves: int, steps: int, seed: int):
        from ...atoms.observers import UncertaintyStop  # noqa: PLC0415
        from ...atoms.parallel import SamplerSpec  # noqa: PLC0415
        stop = UncertaintyStop(steps, atomic_threshold=self.atomic_threshold)
        return SamplerSpec(self.name, "independent", self.integrator(), n_moves, steps=steps, seed=seed,
                           acquisition=_observers(steps, self.trace_interval, stop))


@dataclass(frozen=True)
class UDDSampler(MDSampler):
    """Langevin MD on a MACE committee under the UDD bias (see :class:`CommitteeFactory`)."""

    @property
    def name(self) -> str:
        return UDD


def split_calibration(frames, every: int = 3) -> tuple[list, list]:
    """(training, calibration): every ``every``-th frame calibrates the uncertainty, the rest fit it."""
    frames = list(frames)
    picks = [index % every == 0 for index in range(len(frames))]
    return [f for f, p in zip(frames, picks) if not p], [f for f, p in zip(frames, picks) if p]
