"""Uncertainty of MACE models and uncertainty-biased MD (docs/method.md §9).

- :class:`GradientUncertainty`: ensemble-free u from sketched readout-gradient features and a
  Gaussian-process posterior; :class:`EnsembleUncertainty`: the spread of M models.
- :func:`conformal_scale` / :func:`coverage`: inductive conformal calibration.
- :class:`UncertaintyBias`: E − τu as an ASE calculator, with bias forces and stress.
- :mod:`skmd.uncertainty.selection`: batch selection on posterior features.
"""
from .base import UncertaintyCalculator
from .bias import UncertaintyBias
from .calibration import conformal_scale, coverage
from .ensemble import EnsembleUncertainty
from .features import GradientFeatures
from .gradient import GradientUncertainty
from .posterior import FeaturePosterior

__all__ = ["EnsembleUncertainty", "FeaturePosterior", "GradientFeatures", "GradientUncertainty", "UncertaintyBias",
           "UncertaintyCalculator", "conformal_scale", "coverage"]
