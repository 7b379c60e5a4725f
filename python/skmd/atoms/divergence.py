"""Divergence checks of an atomistic trajectory, one step at a time (docs/method.md §2).

The causes (see :data:`skmd.tools.divergence.CAUSES`): non-finite energy, forces or positions;
a force component above ``force_limit`` (eV/Å); two atoms closer than ``min_distance`` (Å) under
the minimum-image convention on periodic cells (ASE's neighbour list); one step that moved an
atom further than ``max_step`` (Å); a periodic cell (NPT) whose volume grew or shrank by more than
the factor ``max_volume_ratio`` since the start of the move, or is not finite. ``max_step`` is the largest displacement of any atom in
one step that is still taken as physical: Brownian steps of 0.1 fs move atoms by ~0.01 Å, so a
displacement of 0.5 Å in one step means the forces have blown up.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.neighborlist import neighbor_list

from ..tools.checks import non_negative, positive
from ..tools.divergence import Diverged


@dataclass(frozen=True)
class DivergenceCheck:
    """Raise :class:`~skmd.tools.divergence.Diverged` with its cause when a configuration diverged.

    Args:
        force_limit: largest allowed |force component| in eV/Å.
        min_distance: smallest allowed interatomic distance in Å (minimum image); 0 switches it off.
        max_step: largest allowed displacement of one atom in one step, in Å.
        max_volume_ratio: largest allowed factor (> 1) between a cell's volume and its volume at the
            start of the move, either way (a barostat that blows the cell up or crushes it).
    """

    force_limit: float = 50.0
    min_distance: float = 0.5
    max_step: float = 0.5
    max_volume_ratio: float = 3.0

    def __post_init__(self):
        positive("force_limit", self.force_limit)
        non_negative("min_distance", self.min_distance)
        positive("max_step", self.max_step)
        if not positive("max_volume_ratio", self.max_volume_ratio) > 1:
            raise ValueError(f"max_volume_ratio must be > 1, got {self.max_volume_ratio!r}")

    def closest_pair(self, atoms) -> float:
        """The smallest interatomic distance below ``min_distance`` (minimum image), else inf."""
        if self.min_distance == 0 or len(atoms) < 2:
            return np.inf
        if not atoms.pbc.any():
            gaps = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)
            gaps[np.diag_indices(len(atoms))] = np.inf
            return float(gaps.min())
        distances = neighbor_list("d", atoms, self.min_distance)
        return float(distances.min()) if distances.size else np.inf

    def check_configuration(self, atoms, energy, forces) -> None:
        """Check energy (eV), forces (n, 3) and positions of ``atoms``."""
        if not (np.isfinite(energy) and np.all(np.isfinite(forces)) and np.all(np.isfinite(atoms.positions))):
            raise Diverged("non_finite")
        largest = float(np.max(np.abs(forces)))
        if largest > self.force_limit:
            raise Diverged("force_limit", f"{largest:.3g} eV/Å > {self.force_limit:g}")
        closest = self.closest_pair(atoms)
        if closest < self.min_distance:
            raise Diverged("min_distance", f"{closest:.3g} Å < {self.min_distance:g}")

    def check_cell(self, start_cell, cell) -> None:
        """Check a periodic cell (3, 3) in Å against the cell at the start of the move (skipped
        when either has no volume, e.g. a molecule)."""
        cell = np.asarray(cell, float)
        if not np.all(np.isfinite(cell)):
            raise Diverged("cell", "the cell has NaN or infinite entries")
        start_volume = abs(float(np.linalg.det(np.asarray(start_cell, float))))
        if start_volume == 0:
            return
        ratio = abs(float(np.linalg.det(cell))) / start_volume
        if not np.isfinite(ratio) or ratio > self.max_volume_ratio or ratio < 1 / self.max_volume_ratio:
            raise Diverged("cell", f"V/V0 = {ratio:.3g}, outside [1/{self.max_volume_ratio:g}, "
                                   f"{self.max_volume_ratio:g}]")

    def check_step(self, previous_positions, positions) -> None:
        """Check the displacement (n, 3) of one step against ``max_step``."""
        moved = float(np.max(np.linalg.norm(np.asarray(positions) - np.asarray(previous_positions), axis=1)))
        if not np.isfinite(moved):
            raise Diverged("non_finite")
        if moved > self.max_step:
            raise Diverged("max_step", f"{moved:.3g} Å > {self.max_step:g}")
