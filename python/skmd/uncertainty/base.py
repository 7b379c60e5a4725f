"""ASE calculators that return a model's energy, forces and stress with calibrated uncertainties.

Every :class:`UncertaintyCalculator` fills, from one evaluation:

- ``energy`` (eV), ``forces`` (n, 3) eV/Å and, for periodic cells, ``stress`` (6,) eV/Å³;
- ``uncertainty``: the calibrated structure uncertainty u (eV/atom, a bound on |ΔE|/N);
- ``atomic_uncertainties`` (n,): calibrated per-atom uncertainties (eV/Å, a bound on the atom's
  force RMSE);
- ``uncertainty_gradient`` (n, 3) ∂u/∂x in eV/(atom·Å) and, for periodic cells,
  ``uncertainty_stress`` (6,) = (1/V) ∂u/∂ε (Voigt), which :class:`~skmd.uncertainty.bias.UncertaintyBias`
  turns into bias forces and stress.

Subclasses implement :meth:`UncertaintyCalculator.raw` (uncalibrated values of one frame); one that also
implements :meth:`~UncertaintyCalculator.raw_many` (many frames from collated model passes) is *batchable*
(:mod:`skmd.atoms.batching`): :meth:`~UncertaintyCalculator.calculate_batch` then serves many walkers in one
pass. Calibration (:meth:`calibrate`) sets the conformal scales of both kinds from labelled validation frames.
"""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from ..tools.checks import finite_structure
from ..tools.labels import reference_labels as frame_labels
from .calibration import DEFAULT_ALPHA, conformal_scale, coverage, energy_residuals, force_residuals

UNCERTAINTY_KEYS = ("uncertainty", "atomic_uncertainties", "uncertainty_gradient", "uncertainty_stress")


def reference_labels(frames) -> tuple[np.ndarray, list]:
    """Reference energies (S,) eV and forces [(n_s, 3), ...] eV/Å of labelled ``Atoms``: their REF_
    keys (as :class:`~skmd.atoms.Oracle` writes them) or their SinglePointCalculator results."""
    labels = [frame_labels(atoms, index) for index, atoms in enumerate(frames)]
    return np.array([label.energy for label in labels]), [label.forces for label in labels]


class UncertaintyCalculator(Calculator):
    """Base class: energy, forces, stress and calibrated uncertainties (see the module docstring)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", *UNCERTAINTY_KEYS]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.structure_scale = 1.0
        self.atomic_scale = 1.0

    def raw(self, atoms, derivatives: bool) -> dict:
        """Uncalibrated values: energy, forces, stress (periodic only), u, atomic_u (n,) and, with
        ``derivatives``, grad_u (n, 3) and stress_u (6,) (periodic only)."""
        raise NotImplementedError

    def raw_many(self, frames, derivatives: bool) -> list:
        """:meth:`raw` of every frame of ``frames``, in order; here one by one. A subclass that overrides it with
        collated model passes is batchable."""
        return [self.raw(atoms, derivatives) for atoms in frames]

    @property
    def batchable(self) -> bool:
        """True when this class evaluates many frames in one pass (it overrides :meth:`raw_many`)."""
        return type(self).raw_many is not UncertaintyCalculator.raw_many

    def check_ready(self) -> None:
        """Raise ``ValueError`` if the calculator cannot yet give uncertainties."""

    def check_stress(self, atoms) -> None:
        """Raise ``ValueError`` unless ``atoms`` is periodic with a full 3D cell."""
        if not atoms.pbc.all() or atoms.cell.rank < 3:
            raise ValueError("stress needs a periodic system with a full 3D cell (atoms.pbc all True)")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = self.calculate_batch([self.atoms], [list(properties)])[0]

    def calculate_batch(self, frames, properties) -> list:
        """Results of ``frames`` (one dict each, as :meth:`calculate` sets them: every key of the module docstring
        whatever ``properties``, one list of names per frame, asks) from :meth:`raw_many`; leaves this
        calculator's own cache alone."""
        frames = list(frames)
        for atoms in frames:
            finite_structure(atoms)
        self.check_ready()
        return [self._calibrated(values) for values in self.raw_many(frames, derivatives=True)]

    def _calibrated(self, values: dict) -> dict:
        """The results of one frame from its raw values (with derivatives), the conformal scales applied."""
        results = {"energy": values["energy"], "free_energy": values["energy"], "forces": values["forces"],
                   "uncertainty": self.structure_scale * values["u"],
                   "atomic_uncertainties": self.atomic_scale * values["atomic_u"],
                   "uncertainty_gradient": self.structure_scale * values["grad_u"]}
        if "stress" in values:
            results["stress"] = values["stress"]
            results["uncertainty_stress"] = self.structure_scale * values["stress_u"]
        return results

    def predict(self, frames) -> dict:
        """Energies (S,), forces [(n_s, 3)], calibrated u (S,) and atomic u [(n_s,)] of ``frames``."""
        self.check_ready()
        values = self.raw_many(frames, derivatives=False)
        return {"energies": np.array([v["energy"] for v in values]),
                "forces": [v["forces"] for v in values],
                "uncertainties": self.structure_scale * np.array([v["u"] for v in values]),
                "atomic_uncertainties": [self.atomic_scale * v["atomic_u"] for v in values]}

    def _scores_inputs(self, frames) -> tuple:
        energies, forces = reference_labels(frames)
        raw = self.raw_many(frames, derivatives=False)
        e_res = energy_residuals(np.array([v["energy"] for v in raw]), energies, [len(a) for a in frames])
        f_res = np.concatenate([force_residuals(v["forces"], f) for v, f in zip(raw, forces)])
        return e_res, np.array([v["u"] for v in raw]), f_res, np.concatenate([v["atomic_u"] for v in raw])

    def calibrate(self, frames, alpha: float = DEFAULT_ALPHA) -> dict:
        """Set both conformal scales from labelled validation ``frames``; returns them."""
        self.check_ready()
        e_res, u, f_res, atomic_u = self._scores_inputs(frames)
        self.structure_scale = conformal_scale(e_res, u, alpha)
        self.atomic_scale = conformal_scale(f_res, atomic_u, alpha)
        self.reset()
        return {"structure_scale": self.structure_scale, "atomic_scale": self.atomic_scale}

    def coverage(self, frames) -> dict:
        """Empirical coverage of the calibrated u on labelled held-out ``frames`` (structures and atoms)."""
        self.check_ready()
        e_res, u, f_res, atomic_u = self._scores_inputs(frames)
        return {"structure": coverage(e_res, u, self.structure_scale),
                "atomic": coverage(f_res, atomic_u, self.atomic_scale)}
