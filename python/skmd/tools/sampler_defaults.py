"""The default settings of a campaign's samplers, in one place. :class:`~skmd.al.config.CampaignConfig`
(``ubmd_alpha``, ``skmd_friction``, ...), the sampler dataclasses of :mod:`skmd.al.samplers`
(:class:`~skmd.al.samplers.UBMD`, ...) and the calculator factories built in the workers
(:class:`~skmd.uncertainty.factory.UBMDFactory`) all take their defaults from here, so a campaign, a sampler
built in Python and a factory built by hand run the same values (``tests/test_sampler_defaults.py`` checks
that they agree). Light on purpose (no numpy, ase or torch): the command line reads it. Units: K, fs, eV, Å;
friction in eV·fs/Å²; uncertainties in eV/Å.

The values are the ones campaigns have always run (those of ``CampaignConfig``); UB-MD's ``sigma`` is the
value its factory always used. The feature layers' default is
:data:`skmd.uncertainty.feature_layers.DEFAULT_FEATURE_LAYERS`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MDDefaults:
    """Langevin MD (and what every sampler shares): T, Δt, damping time, the float type of sampling, how often a
    trace records its collective variable (steps), and the cell-volume factor of the divergence check."""

    temperature_K: float = 300.0
    timestep_fs: float = 1.0
    damping_fs: float = 100.0
    dtype: str = "float64"
    trace_interval: int = 10
    max_volume_ratio: float = 3.0


@dataclass(frozen=True)
class SKMDDefaults:
    """Brownian SKMD: Δt, friction γ (eV·fs/Å²) and the kernel amplitude h."""

    timestep_fs: float = 0.1
    friction: float = 75.0
    amplitude: float = 3.0


@dataclass(frozen=True)
class UBMDDefaults:
    """Uncertainty-biased MD: bias strength τ, stop threshold (eV/Å), feature sketch K, the Gaussian-process
    noise σ of the feature posterior, conformal α, and the unbiased first steps that set the bias strength."""

    tau: float = 0.2
    threshold: float = 1.5
    n_features: int = 512
    sigma: float = 0.01
    alpha: float = 0.1
    window: int = 50


@dataclass(frozen=True)
class UDDDefaults:
    """Uncertainty-driven dynamics: bias height A and width B (eV), committee size."""

    A: float = 0.57
    B: float = 0.005
    members: int = 3


MD_DEFAULTS = MDDefaults()
SKMD_DEFAULTS = SKMDDefaults()
UBMD_DEFAULTS = UBMDDefaults()
UDD_DEFAULTS = UDDDefaults()
