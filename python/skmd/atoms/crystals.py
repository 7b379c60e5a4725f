"""The periodic cells of the presets, at their GFN1-xTB equilibrium (see docs/ubmd.md, "The systems").

The presets read these structures from the files shipped in ``skmd/data/structures/``; the builders
here are how those files were made (a test checks that they agree). Lengths in Å.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk

#: GFN1-xTB lattice constant of diamond silicon (Å): the stress vanishes there.
SI_LATTICE = 5.70
#: GFN1-xTB lattice constant (Å) and C=O bond (Å) of the Pa-3 CO2 crystal, from a cell relaxation:
#: residual pressure 0.08 GPa, largest force 0.015 eV/Å.
CO2_LATTICE, CO2_BOND = 5.47, 1.141


def silicon_cell() -> Atoms:
    """Diamond silicon, the 8-atom cubic cell at :data:`SI_LATTICE` (periodic in 3D)."""
    return bulk("Si", "diamond", a=SI_LATTICE, cubic=True)


def co2_cell(lattice: float = CO2_LATTICE, bond: float = CO2_BOND) -> Atoms:
    """Dry ice (CO2-I, space group Pa-3): 4 linear molecules on the fcc sites of a cubic cell of
    ``lattice`` Å, each along a different body diagonal, C=O ``bond`` Å; 12 atoms, periodic in 3D."""
    x = bond / (lattice * np.sqrt(3.0))
    centres = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    axes = np.array([[1, 1, 1], [-1, 1, -1], [-1, -1, 1], [1, -1, -1]])
    scaled = [site for centre, axis in zip(centres, axes) for site in (centre, centre + x * axis, centre - x * axis)]
    return Atoms("COO" * 4, scaled_positions=scaled, cell=[lattice] * 3, pbc=True)
