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
from .samplers import SKMD, UBMD, UDD, MDSampler, SKMDSampler, UBMDSampler, UDDSampler, md_name

INTEGER_FIELDS = ("iterations", "n_particles", "n_candidates", "steps", "n_select", "burn_in", "snapshot_interval",
                  "test_size", "test_candidates", "test_steps", "surrogate_frames", "surrogate_stride",
                  "surrogate_epochs", "finetune_epochs", "finetune_switch_epoch", "label_batch", "trace_interval",
                  "n_features", "committee_size")
POSITIVE_FIELDS = ("skmd_temperature", "skmd_timestep", "friction", "md_timestep", "md_damping",
                   "surrogate_temperature", "biased_md_temperature", "ubmd_tau", "ubmd_threshold", "udd_B")


@dataclass
class Ala2Config:
    """Every setting of the study. Units: K, fs, eV, Å; friction in eV·fs/Å², damping in fs.

    ``samplers`` names the samplers to run: "skmd", ``md<T>`` for each T of ``md_temperatures``,
    "ubmd" (uncertainty-biased MD at ``biased_md_temperature``) and "udd" (UDD on a committee of
    ``committee_size`` MACE models, bias height ``udd_A`` and width ``udd_B`` in eV). ``testset``
    names a labelled extxyz file to score on instead of building the oracle-driven test set
    (``testset_sha256``, if given, must match it).
    """

    iterations: int = 10
    n_particles: int = 30
    n_candidates: int = 300
    steps: int = 500
    n_select: int = 100
    samplers: tuple = (SKMD, "md300", "md700")
    skmd_temperature: float = 300.0   # T and h: the exploration sweep's choice (h/N = 0.1 at N = 30)
    skmd_timestep: float = 0.1
    friction: float = 75.0
    amplitude: float = 3.0
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
    trace_interval: int = 10
    biased_md_temperature: float = 300.0
    ubmd_tau: float = 0.2
    ubmd_threshold: float = 3.0
    ubmd_alpha: float = 0.05
    n_features: int = 512
    committee_size: int = 3
    udd_A: float = 0.57
    udd_B: float = 0.005
    testset: str = ""
    testset_sha256: str = ""

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
        non_negative("udd_A", self.udd_A)
        if self.committee_size < 2:
            raise ValueError(f"a UDD committee needs at least 2 models, got committee_size={self.committee_size}")
        if not 0 < self.ubmd_alpha < 1:
            raise ValueError(f"ubmd_alpha must lie in (0, 1), got {self.ubmd_alpha}")
        n_calibration = len(range(0, self.surrogate_frames, 3))   # every third surrogate frame calibrates u
        if UBMD in self.samplers and n_calibration < math.ceil(1.0 / self.ubmd_alpha) - 1:
            raise ValueError(f"ubmd calibrates on every third of the {self.surrogate_frames} surrogate frames: "
                             f"{n_calibration} are too few for ubmd_alpha={self.ubmd_alpha}")
        if self.testset:
            from pathlib import Path  # noqa: PLC0415
            if not Path(self.testset).is_file():
                raise ValueError(f"no test set file at {self.testset}")
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
        if int(self.valid_fraction * self.n_select) < 1:
            raise ValueError(f"the first fine-tuning of {self.n_select} labels keeps no validation frame with "
                             f"valid_fraction={self.valid_fraction}; raise n_select or valid_fraction")
        self.finetune_settings()
        return self

    def skmd_sampler(self) -> SKMDSampler:
        return SKMDSampler(self.skmd_temperature, self.skmd_timestep, self.friction, self.amplitude,
                           self.explore_fraction, self.backend, trace_interval=self.trace_interval)

    def sampler_choices(self) -> dict:
        """{name: sampler} of every sampler these settings define, SKMD first."""
        choices = {SKMD: self.skmd_sampler()}
        for temperature in self.md_temperatures:
            sampler = MDSampler(float(temperature), self.md_timestep, self.md_damping, self.trace_interval)
            if sampler.name in choices:
                raise ValueError(f"md_temperatures holds {temperature:g} K twice")
            choices[sampler.name] = sampler
        biased = (self.biased_md_temperature, self.md_timestep, self.md_damping, self.trace_interval)
        choices[UBMD] = UBMDSampler(*biased, atomic_threshold=self.ubmd_threshold)
        choices[UDD] = UDDSampler(*biased)
        return choices

    def chosen_samplers(self) -> list:
        """The samplers named in ``samplers``, in that order."""
        choices = self.sampler_choices()
        return [choices[name] for name in self.samplers]

    def finetune_settings(self):
        from ...atoms.training import FinetuneSettings  # noqa: PLC0415
        return FinetuneSettings(mode=self.finetune_mode, epochs=self.finetune_epochs,
                                switch_epoch=self.finetune_switch_epoch, valid_fraction=self.valid_fraction)


#: The samplers of the default settings.
SAMPLERS = Ala2Config.samplers

#: Small settings that run end to end in minutes (``skmd ala2 --quick``).
#: It keeps the pilot's SKMD setting (50 K, h = 8) its recorded results were made with.
QUICK = dict(iterations=2, n_particles=6, n_candidates=16, steps=20, n_select=8, burn_in=200, snapshot_interval=20,
             skmd_temperature=50.0, amplitude=8.0,
             test_size=16, test_candidates=24, test_steps=20, surrogate_frames=60, surrogate_stride=10,
             surrogate_epochs=15, finetune_epochs=6, finetune_switch_epoch=3, valid_fraction=0.25)

#: The head-to-head that runs end to end in under an hour on 2 cores (``skmd ala2 --medium``), scored
#: on the shipped independent test set. Fixed before any of its results were seen: SKMD at the
#: exploration sweep's choice (γ = 75 eV·fs/Å², h = 3, 300 K) with N = 30 (h/N = 0.1, the Gaussian
#: fidelity rule); every sampler 40 moves × 100 steps per iteration, one candidate per move;
#: 20 labels per iteration by the same furthest-point selection; 3 iterations.
MEDIUM = dict(iterations=3, n_particles=30, n_candidates=40, steps=100, n_select=20, skmd_temperature=300.0,
              amplitude=3.0, burn_in=500, snapshot_interval=50, surrogate_frames=120, surrogate_stride=25,
              surrogate_epochs=50, finetune_epochs=30, finetune_switch_epoch=15, valid_fraction=0.15,
              samplers=(SKMD, "md300", "md700", UBMD, UDD))
