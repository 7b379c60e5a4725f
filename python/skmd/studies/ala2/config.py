"""Settings of the alanine-dipeptide study and the samplers they build.

Units: K, fs, eV, Å; the Brownian friction γ in eV·fs/Å², the Langevin damping time in fs.
A sampler is an object built from these settings (:class:`SKMDSampler`, :class:`MDSampler`);
it turns one iteration's move count, steps and seed into a picklable
:class:`~skmd.atoms.parallel.SamplerSpec` for :func:`~skmd.atoms.parallel.run_samplers`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...tools.checks import non_negative, positive, positive_int

SKMD = "skmd"
INTEGER_FIELDS = ("iterations", "n_particles", "n_candidates", "steps", "n_select", "burn_in", "snapshot_interval",
                  "test_size", "test_candidates", "test_steps", "surrogate_frames", "surrogate_stride",
                  "surrogate_epochs", "finetune_epochs", "finetune_switch_epoch", "label_batch")
POSITIVE_FIELDS = ("skmd_temperature", "skmd_timestep", "friction", "md_timestep", "md_damping",
                   "surrogate_temperature")


def md_name(temperature_K: float) -> str:
    """The name of the Langevin-MD baseline at ``temperature_K``: 300.0 → "md300"."""
    return f"md{temperature_K:g}"


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

    def integrator(self):
        from ...atoms.integrators import Brownian  # noqa: PLC0415
        return Brownian(self.temperature_K, self.timestep_fs, self.friction)

    def spec(self, n_moves: int, steps: int, seed: int, descriptor=None):
        """The sampler of one iteration: ``n_moves`` moves of ``steps`` steps each.

        The E.2 schedule spans this iteration's ``n_moves`` and is built afresh for each
        iteration, as the study always did: the amplitude and bandwidth explore, then decay to
        half, within every iteration (the driver counts moves from 0 in each iteration).
        ``descriptor`` overrides the calculator's own (the oracle-driven test set uses the surrogate's).
        """
        from ...atoms.parallel import SamplerSpec  # noqa: PLC0415
        from ...atoms.stein_bias import Stein  # noqa: PLC0415
        from ...modules.kernels import GaussianKernel  # noqa: PLC0415
        from ...modules.schedules import KernelSchedule  # noqa: PLC0415
        schedule = KernelSchedule.two_phase(GaussianKernel(self.amplitude, "median"), total=n_moves,
                                            explore_fraction=self.explore_fraction)
        bias = Stein(schedule, self.temperature_K, descriptor=descriptor, backend=self.backend)
        return SamplerSpec(self.name, "round_robin", self.integrator(), n_moves, steps=steps, bias=bias, seed=seed)


@dataclass(frozen=True)
class MDSampler:
    """Independent walkers of underdamped Langevin MD (T, Δt, damping time), momenta kept between moves."""

    temperature_K: float = 300.0
    timestep_fs: float = 1.0
    damping_fs: float = 100.0

    @property
    def name(self) -> str:
        return md_name(self.temperature_K)

    def spec(self, n_moves: int, steps: int, seed: int):
        from ...atoms.integrators import Langevin  # noqa: PLC0415
        from ...atoms.parallel import SamplerSpec  # noqa: PLC0415
        integrator = Langevin(self.temperature_K, self.timestep_fs, self.damping_fs)
        return SamplerSpec(self.name, "independent", integrator, n_moves, steps=steps, seed=seed)


@dataclass
class Ala2Config:
    """Every setting of the study. Units: K, fs, eV, Å; friction in eV·fs/Å², damping in fs.

    ``samplers`` names the samplers to run: "skmd" and ``md<T>`` for each T of ``md_temperatures``.
    """

    iterations: int = 10
    n_particles: int = 30
    n_candidates: int = 300
    steps: int = 500
    n_select: int = 100
    samplers: tuple = (SKMD, "md300", "md700")
    skmd_temperature: float = 50.0
    skmd_timestep: float = 0.1
    friction: float = 75.0
    amplitude: float = 8.0
    explore_fraction: float = 250 / 300
    md_timestep: float = 1.0
    md_damping: float = 100.0
    md_temperatures: tuple = (300.0, 700.0)
    burn_in: int = 4000
    snapshot_interval: int = 200
    test_size: int = 300
    test_candidates: int = 600
    test_steps: int = 200
    surrogate_frames: int = 500
    surrogate_stride: int = 20
    surrogate_temperature: float = 300.0
    surrogate_epochs: int = 300
    finetune_mode: str = "lora"
    finetune_epochs: int = 100
    finetune_switch_epoch: int = 50
    valid_fraction: float = 0.1
    label_batch: int = 1
    seed: int = 0
    backend: str = "auto"

    def validate(self) -> "Ala2Config":
        """Raise ValueError on any setting out of range; return self."""
        for name in INTEGER_FIELDS:
            positive_int(name, getattr(self, name))
        positive_int("seed", self.seed, minimum=0)
        for name in POSITIVE_FIELDS:
            positive(name, getattr(self, name))
        for temperature in self.md_temperatures:
            positive("md_temperatures", temperature)
        non_negative("amplitude", self.amplitude)
        if not (math.isfinite(self.explore_fraction) and 0 <= self.explore_fraction <= 1):
            raise ValueError(f"explore_fraction must lie in [0, 1], got {self.explore_fraction}")
        if self.n_particles < 2:
            raise ValueError("SKMD needs at least 2 particles")
        if self.n_select > self.n_candidates:
            raise ValueError(f"cannot select {self.n_select} of {self.n_candidates} candidates per iteration")
        if self.test_size > self.test_candidates:
            raise ValueError(f"cannot select {self.test_size} test configurations of {self.test_candidates}")
        choices = self.sampler_choices()
        unknown = set(self.samplers) - set(choices)
        if unknown or not self.samplers or len(set(self.samplers)) != len(self.samplers):
            raise ValueError(f"unknown or repeated samplers {sorted(unknown) or list(self.samplers)}; "
                             f"choose from {', '.join(choices)}")
        if not 0 < self.valid_fraction < 1:
            raise ValueError(f"valid_fraction must lie in (0, 1), got {self.valid_fraction}")
        self.finetune_settings()
        return self

    def skmd_sampler(self) -> SKMDSampler:
        return SKMDSampler(self.skmd_temperature, self.skmd_timestep, self.friction, self.amplitude,
                           self.explore_fraction, self.backend)

    def sampler_choices(self) -> dict:
        """{name: sampler} of every sampler these settings define, SKMD first."""
        choices = {SKMD: self.skmd_sampler()}
        for temperature in self.md_temperatures:
            sampler = MDSampler(float(temperature), self.md_timestep, self.md_damping)
            if sampler.name in choices:
                raise ValueError(f"md_temperatures holds {temperature:g} K twice")
            choices[sampler.name] = sampler
        return choices

    def chosen_samplers(self) -> list:
        """The samplers named in ``samplers``, in that order."""
        choices = self.sampler_choices()
        return [choices[name] for name in self.samplers]

    def finetune_settings(self):
        from ...atoms.training import FinetuneSettings  # noqa: PLC0415
        return FinetuneSettings(mode=self.finetune_mode, epochs=self.finetune_epochs,
                                switch_epoch=self.finetune_switch_epoch, valid_fraction=self.valid_fraction)


#: Small settings that run end to end in minutes (``skmd ala2 --quick``).
QUICK = dict(iterations=2, n_particles=6, n_candidates=16, steps=20, n_select=8, burn_in=200, snapshot_interval=20,
             test_size=16, test_candidates=24, test_steps=20, surrogate_frames=60, surrogate_stride=10,
             surrogate_epochs=15, finetune_epochs=6, finetune_switch_epoch=3, valid_fraction=0.25)
