"""skmd: Stein kernelized molecular dynamics for active learning of interatomic potentials.

Public API::

    from skmd import GaussianKernel, stein_force, SKMD, OverdampedLangevin, UDD
    from skmd import FixedSteps, AdaptiveStop, Periodic, UncertaintyThreshold
    from skmd import MuellerBrown, Quadratic, MLPPotential, NoiseStream
    from skmd import furthest_point_sampling, w2_distance, get_backend
"""
from .backends import get_backend, julia_available
from .md.base import Acquisition, DivergenceWarning, Sampler
from .md.langevin import OverdampedLangevin
from .md.rules import AdaptiveStop, FixedSteps, Periodic, UncertaintyThreshold
from .md.skmd import SKMD
from .md.udd import UDD, udd_bias
from .modules.descriptors import FunctionDescriptor, IdentityDescriptor
from .modules.kernels import FIDELITY_AMPLITUDE_PER_PARTICLE, GaussianKernel, fidelity_amplitude, median_bandwidth
from .modules.potentials import FunctionPotential, MLPPotential, MuellerBrown, Potential, Quadratic
from .modules.stein import stein_force
from .tools.noise import ExplicitNoise, NoiseStream
from .tools.selection import furthest_point_sampling
from .tools.wasserstein import w2_distance

__version__ = "0.1.0"

__all__ = [
    "AdaptiveStop", "Acquisition", "DivergenceWarning", "ExplicitNoise", "FixedSteps", "FunctionDescriptor",
    "FunctionPotential", "GaussianKernel", "IdentityDescriptor", "MLPPotential", "MuellerBrown", "NoiseStream",
    "OverdampedLangevin", "Periodic", "Potential", "Quadratic", "SKMD", "Sampler", "UDD", "UncertaintyThreshold",
    "furthest_point_sampling", "get_backend", "julia_available", "median_bandwidth", "stein_force", "udd_bias",
    "w2_distance",
]
