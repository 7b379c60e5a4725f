"""Atomistic skmd on ASE's calculator seam: MACE descriptors, biases as calculators, ASE dynamics,
ensemble drivers, acquisition observers, oracles and crash-safe labelling (docs/method.md §8).

Import order matters with mace-torch 0.3.16 / e3nn 0.4.4 / torch 2.13: ``mace`` is imported
before ``e3nn`` (the modules below do it), otherwise e3nn fails to load its constants under
torch's ``weights_only`` default.
"""
from ..md.rules import AdaptiveStop, FixedSteps, Periodic, UncertaintyThreshold
from ..modules.kernels import GaussianKernel
from ..modules.schedules import KernelSchedule
from ..tools.divergence import DivergenceWarning, RestartPolicy
from .bias import BiasCalculator
from .brownian import BrownianDynamics
from .calculator import MACEDescriptorCalculator
from .committee_bias import CommitteeBias, CommitteeMean
from .descriptors import MACEDescriptor
from .divergence import DivergenceCheck
from .drivers import IndependentWalkers
from .round_robin import RoundRobin
from .integrators import NPT, Brownian, Langevin
from .mace_models import build_mace, export_mace, load_mace, save_mace
from .observers import EndPoint, Every, EveryK, SteinStop, UncertaintyCross, UncertaintyStop, Walk, as_observer
from .oracle import Oracle, gfn2_xtb
from .stein_bias import FrozenMember, Stein, SteinBias, freeze
from .store import LabelStore

__all__ = [
    "AdaptiveStop", "BiasCalculator", "Brownian", "BrownianDynamics", "CommitteeBias", "CommitteeMean",
    "DivergenceCheck", "DivergenceWarning", "EndPoint", "Every", "EveryK", "FixedSteps", "FrozenMember", "GaussianKernel",
    "IndependentWalkers", "KernelSchedule", "LabelStore", "Langevin", "MACEDescriptor", "MACEDescriptorCalculator",
    "NPT", "Oracle", "Periodic", "RestartPolicy", "RoundRobin", "Stein", "SteinBias", "SteinStop",
    "UncertaintyCross", "UncertaintyStop", "UncertaintyThreshold", "Walk", "as_observer", "build_mace", "freeze",
    "gfn2_xtb", "load_mace", "save_mace", "export_mace",
]
