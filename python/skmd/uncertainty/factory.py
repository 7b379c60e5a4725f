"""The picklable recipe of the uncertainty-biased MD calculator, built in each worker (a campaign's UB-MD
sampler hands it to :func:`skmd.atoms.parallel.run_samplers` as its calculator factory). It lives here,
beside what it builds, so that :mod:`skmd.atoms` needs nothing from :mod:`skmd.uncertainty`."""
from __future__ import annotations

from dataclasses import dataclass

from ..tools.files import read_frames
from ..tools.sampler_defaults import UBMD_DEFAULTS
from .feature_layers import DEFAULT_FEATURE_LAYERS, check_feature_layers


@dataclass(frozen=True)
class UBMDFactory:
    """Builds the uncertainty-biased MD calculator in the worker: E − τu on one MACE model, with u from its sketched
    gradient features fitted on ``train_path`` and conformally calibrated on ``calibration_path``
    (extxyz files with REF_ labels). ``element_weights``: ((symbol, weight), ...) on the bias forces.
    ``feature_layers``: the weights the features cover, ``"readout"`` or ``"readout+interactions"``
    (:mod:`skmd.uncertainty.features`). ``device``: "cpu" only; the gradient features are computed on
    the CPU (:mod:`skmd.uncertainty` reads them as numpy arrays): a campaign on cuda samples UB-MD on the CPU.
    Defaults: the UB-MD sampler's and the campaign's (:data:`skmd.tools.sampler_defaults.UBMD_DEFAULTS`)."""

    model_path: str
    train_path: str
    calibration_path: str
    n_features: int = UBMD_DEFAULTS.n_features
    sigma: float = UBMD_DEFAULTS.sigma
    alpha: float = UBMD_DEFAULTS.alpha
    tau: float = UBMD_DEFAULTS.tau
    window: int = UBMD_DEFAULTS.window
    seed: int = 0
    tau_stress: float | None = None
    element_weights: tuple = ()
    feature_layers: str = DEFAULT_FEATURE_LAYERS
    device: str = "cpu"

    def __post_init__(self):
        check_feature_layers(self.feature_layers, "feature_layers")
        if self.device != "cpu":
            raise ValueError(f"UB-MD runs on the CPU only (its gradient features are numpy arrays), "
                             f"got device {self.device!r}")

    def __call__(self):
        from ..atoms.mace_models import load_mace  # noqa: PLC0415  lazy: torch and mace, in the worker only
        from .bias import UncertaintyBias  # noqa: PLC0415  lazy: imports skmd.atoms (torch, mace), in the worker only
        from .gradient import GradientUncertainty  # noqa: PLC0415  lazy: torch, in the worker only
        gradient = GradientUncertainty(load_mace(self.model_path), n_features=self.n_features, sigma=self.sigma,
                                       seed=self.seed, layers=self.feature_layers)
        gradient.add_training(read_frames(self.train_path))
        gradient.calibrate(read_frames(self.calibration_path), alpha=self.alpha)
        return UncertaintyBias(gradient, tau=self.tau, tau_stress=self.tau_stress, window=self.window,
                               element_weights=dict(self.element_weights) or None)
