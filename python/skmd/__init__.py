"""skmd: Stein kernelized molecular dynamics for active learning of interatomic potentials.

Public API::

    from skmd import GaussianKernel, stein_force, SKMD, OverdampedLangevin, UDD
    from skmd import FixedSteps, AdaptiveStop, Periodic, UncertaintyThreshold
    from skmd import MuellerBrown, Quadratic, MLPPotential, NoiseStream
    from skmd import furthest_point_sampling, w2_distance, get_backend

Names are imported from their modules on first use (:mod:`skmd.tools.lazy`), so ``import skmd`` and
``skmd --help`` cost next to nothing; the atomistic API (torch, mace) is :mod:`skmd.atoms`.
"""
from .tools.lazy import lazy_exports

__version__ = "0.1.0"

_WHERE = {
    "get_backend": ".backends", "julia_available": ".backends",
    "Acquisition": ".md.base", "DivergenceWarning": ".md.base", "Sampler": ".md.base",
    "OverdampedLangevin": ".md.langevin", "SKMD": ".md.skmd", "UDD": ".md.udd", "udd_bias": ".md.udd",
    "AdaptiveStop": ".md.rules", "FixedSteps": ".md.rules", "Periodic": ".md.rules", "UncertaintyThreshold": ".md.rules",
    "FunctionDescriptor": ".modules.descriptors", "IdentityDescriptor": ".modules.descriptors",
    "FIDELITY_AMPLITUDE_PER_PARTICLE": ".modules.kernels", "GaussianKernel": ".modules.kernels",
    "fidelity_amplitude": ".modules.kernels", "kernel_regime": ".modules.kernels", "median_bandwidth": ".modules.kernels",
    "FunctionPotential": ".modules.potentials", "MLPPotential": ".modules.potentials",
    "MuellerBrown": ".modules.potentials", "Potential": ".modules.potentials", "Quadratic": ".modules.potentials",
    "stein_force": ".modules.stein", "ExplicitNoise": ".tools.noise", "NoiseStream": ".tools.noise",
    "furthest_point_sampling": ".tools.selection", "w2_distance": ".tools.wasserstein",
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
__all__ = sorted(_WHERE)
