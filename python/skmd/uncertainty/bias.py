"""Uncertainty-biased MD as an ASE calculator (docs/method.md §9).

    E_b = E − τ_F u,   F_b = F + τ_F w ⊙ ∇u,   σ_b = σ − τ_S (1/V) ∂u/∂ε

with u the calibrated structure uncertainty (eV/atom) of an :class:`~skmd.uncertainty.base.UncertaintyCalculator`
and w optional per-element weights on the bias forces (e.g. 0 on hydrogen). With ``adaptive=True``
(default) the effective strengths follow the last ``window`` evaluations:

    τ_F = τ · sqrt(Σ_W ‖F‖²) / sqrt(Σ_W ‖w ⊙ ∇u‖²),   τ_S = τ_stress · sqrt(Σ_W ‖σ‖²) / sqrt(Σ_W ‖(1/V)∂u/∂ε‖²),

and both are 0 until the window is full; with ``adaptive=False`` they are τ and τ_stress as given
(then τ has units of atoms: τ·u is in eV). When the base calculator is the uncertainty calculator
itself, energy, forces, stress and u come from one model pass, and the bias is batchable
(:mod:`skmd.atoms.batching`) when that calculator is: many walkers then share one collated pass per
step, and the bias terms (and the adaptive window) follow frame by frame, in frame order.
"""
from __future__ import annotations

from collections import deque

import numpy as np
from ase.calculators.calculator import all_changes
from ase.data import atomic_numbers as symbol_numbers

from ..atoms.batching import is_batchable
from ..atoms.bias import BiasCalculator
from ..tools.checks import non_negative, positive, positive_int
from .base import UNCERTAINTY_KEYS, UncertaintyCalculator
from .graph import is_periodic


def _element_weights(weights) -> dict:
    """{atomic number: weight ≥ 0} from a dict keyed by symbols or numbers."""
    table = {}
    for key, value in dict(weights or {}).items():
        number = symbol_numbers.get(key) if isinstance(key, str) else int(key)
        if number is None:
            raise ValueError(f"unknown element {key!r} in element_weights")
        table[number] = non_negative(f"element_weights[{key!r}]", value)
    return table


class AdaptiveStrength:
    """τ_eff = τ · sqrt(Σ_W a²) / sqrt(Σ_W b²) over the last ``window`` pushes; 0 until the window is full."""

    def __init__(self, tau: float, window: int):
        self.tau = tau
        self.base_sq = deque(maxlen=window)
        self.bias_sq = deque(maxlen=window)

    def push(self, base_norm_sq: float, bias_norm_sq: float) -> float:
        """Record one step's ‖base‖² and ‖bias gradient‖²; return the current τ_eff."""
        self.base_sq.append(float(base_norm_sq))
        self.bias_sq.append(float(bias_norm_sq))
        if len(self.base_sq) < self.base_sq.maxlen or sum(self.bias_sq) <= 0.0:
            return 0.0
        return self.tau * float(np.sqrt(sum(self.base_sq) / sum(self.bias_sq)))


class UncertaintyBias(BiasCalculator):
    """Bias E − τu on a base calculator; see the module docstring.

    Args:
        base: the potential. If it is an :class:`UncertaintyCalculator`, u comes from it (one pass).
        uncertainty: an :class:`UncertaintyCalculator` when ``base`` is another calculator (two passes).
        tau: τ > 0 for the forces (and energy); tau_stress: τ_S > 0 (default ``tau``).
        window: steps in the adaptive window (default 100); adaptive: follow the window rule.
        element_weights: {symbol or Z: weight ≥ 0} on the bias forces; missing elements weigh 1.

    Results add ``uncertainty``, ``atomic_uncertainties`` (n,), ``tau_forces``, ``tau_stress``
    and ``bias_energy`` (eV) to those of :class:`~skmd.atoms.bias.BiasCalculator`.
    """

    implemented_properties = [*BiasCalculator.implemented_properties, "uncertainty", "atomic_uncertainties"]

    def __init__(self, base, uncertainty=None, tau: float = 0.2, tau_stress: float | None = None,
                 window: int = 100, adaptive: bool = True, element_weights=None, **kwargs):
        tau = positive("tau", tau)
        tau_stress = tau if tau_stress is None else positive("tau_stress", tau_stress)
        window = positive_int("window", window)
        source = base if uncertainty is None else uncertainty
        if not isinstance(source, UncertaintyCalculator):
            raise ValueError("UncertaintyBias needs an UncertaintyCalculator as base or as uncertainty=, "
                             f"got {type(source).__name__}")
        source.check_ready()
        super().__init__(base, **kwargs)
        self.source = source
        self.adaptive = bool(adaptive)
        self.weights = _element_weights(element_weights)
        self.force_strength = AdaptiveStrength(tau, window)
        self.stress_strength = AdaptiveStrength(tau_stress, window)

    def check_stress(self, atoms) -> None:
        super().check_stress(atoms)
        if self.source is not self.base:
            self.source.check_stress(atoms)

    def _base_results(self, atoms, want_stress: bool) -> dict:
        base = super()._base_results(atoms, want_stress)
        if self.source is not self.base:
            self.source.get_potential_energy(atoms)
            base.update({key: self.source.results[key] for key in UNCERTAINTY_KEYS if key in self.source.results})
        return base

    @property
    def batchable(self) -> bool:
        """True when the base is the uncertainty calculator and is batchable (the two-pass case is not)."""
        return self.source is self.base and is_batchable(self.base)

    def _with_stress(self, atoms, properties) -> list:
        """``properties`` plus "stress" on a periodic cell that can give it: one evaluation per step, also under NPT."""
        properties = list(properties)
        if "stress" not in properties and atoms is not None and is_periodic(atoms):
            try:
                self.check_stress(atoms)
                properties.append("stress")
            except ValueError:
                pass
        return properties

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, self._with_stress(atoms, properties), system_changes)

    def calculate_batch(self, frames, properties) -> list:
        frames = list(frames)
        return super().calculate_batch(frames, [self._with_stress(atoms, names)
                                                for atoms, names in zip(frames, properties)])

    def _weighted(self, atoms, grad_u: np.ndarray) -> np.ndarray:
        if not self.weights:
            return grad_u
        factors = np.array([self.weights.get(int(z), 1.0) for z in atoms.numbers])
        return grad_u * factors[:, None]

    def bias(self, atoms, base: dict) -> dict:
        grad_u = self._weighted(atoms, np.asarray(base["uncertainty_gradient"], float))
        if self.adaptive:
            tau_f = self.force_strength.push(np.sum(base["forces"] ** 2), np.sum(grad_u ** 2))
        else:
            tau_f = self.force_strength.tau
        u = float(base["uncertainty"])
        term = {"energy": -tau_f * u, "forces": tau_f * grad_u, "bias_energy": -tau_f * u, "uncertainty": u,
                "atomic_uncertainties": np.asarray(base["atomic_uncertainties"], float), "tau_forces": tau_f}
        if "stress" in base:
            stress_u = np.asarray(base["uncertainty_stress"], float)
            if self.adaptive:
                tau_s = self.stress_strength.push(np.sum(base["stress"] ** 2), np.sum(stress_u ** 2))
            else:
                tau_s = self.stress_strength.tau
            term.update(stress=-tau_s * stress_u, tau_stress=tau_s)
        return term
