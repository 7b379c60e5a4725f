"""Uncertainty of MACE models and uncertainty-biased MD (docs/method.md §9).

- :class:`GradientUncertainty`: ensemble-free u from sketched gradient features (of the readouts,
  optionally also the last interaction's scalar layers) and a Gaussian-process posterior; :class:`EnsembleUncertainty`: the spread of M models.
- :func:`conformal_scale` / :func:`coverage`: inductive conformal calibration.
- :class:`UncertaintyBias`: E − τu as an ASE calculator, with bias forces and stress.
- :mod:`skmd.uncertainty.selection`: batch selection on posterior features.

The members import torch and mace on first use, not with the package (:mod:`skmd.tools.lazy`).
"""
from ..tools.lazy import lazy_exports

_WHERE = {"UncertaintyCalculator": ".base", "UncertaintyBias": ".bias", "conformal_scale": ".calibration",
          "coverage": ".calibration", "EnsembleUncertainty": ".ensemble", "GradientFeatures": ".features",
          "GradientUncertainty": ".gradient", "FeaturePosterior": ".posterior"}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
__all__ = sorted(_WHERE)
