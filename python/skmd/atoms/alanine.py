"""Alanine dipeptide (Ace-Ala-NMe, 22 atoms) and its Ramachandran angles.

The C7eq geometry below was built once with RDKit (ETKDG embedding, MMFF94 minimisation with
φ, ψ restrained near (−83°, 73°), then unrestrained) and is stored here so that skmd needs no
cheminformatics dependency. Atom order: the backbone C(0) C(1) O(2) N(3) Cα(4) Cβ(5) C(6) O(7)
N(8) C(9), then hydrogens. The N–H(18)···O(2) hydrogen bond closes the C7 ring.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms

from ..tools.stats import summarize
from .observers import per_walk

_C7EQ = (
    ("C", 2.9184, 1.2181, -0.1341),
    ("C", 2.0272, 0.0567, -0.4789),
    ("O", 2.2158, -0.6502, -1.4650),
    ("N", 0.9663, -0.1182, 0.3772),
    ("C", -0.0409, -1.1508, 0.1305),
    ("C", -0.7487, -1.5108, 1.4302),
    ("C", -1.0418, -0.6270, -0.9212),
    ("O", -2.1337, -0.1456, -0.6303),
    ("N", -0.5595, -0.6865, -2.2147),
    ("C", -1.2830, -0.0993, -3.3107),
    ("H", 3.9627, 0.9137, -0.2451),
    ("H", 2.7655, 1.5458, 0.8981),
    ("H", 2.7012, 2.0493, -0.8097),
    ("H", 0.6742, 0.6782, 0.9310),
    ("H", 0.4512, -2.0451, -0.2707),
    ("H", -1.2341, -0.6371, 1.8800),
    ("H", -0.0365, -1.9059, 2.1626),
    ("H", -1.5197, -2.2690, 1.2571),
    ("H", 0.4460, -0.8347, -2.3207),
    ("H", -2.3487, -0.3284, -3.2273),
    ("H", -1.1410, 0.9843, -3.2833),
    ("H", -0.8858, -0.5015, -4.2453),
)

PHI_ATOMS = (1, 3, 4, 6)   # C(=O)–N–Cα–C
PSI_ATOMS = (3, 4, 6, 8)   # N–Cα–C(=O)–N

#: SKMD's exploration regime on alanine dipeptide: the amplitude per walker h/N the coverage sweep chose
#: (benchmarks/results/ala2_exploration_sweep.json: h = 3 at N = 8, the most φ/ψ cells visited within its
#: divergence and energy limits); the ala2 presets keep it for their walker counts.
EXPLORATION_H_PER_WALKER = 3.0 / 8
#: Approximate (φ, ψ) of the named minima in degrees, for labelling Ramachandran plots.
MINIMA = {"C7eq": (-83.0, 73.0), "C5": (-155.0, 160.0), "αR": (-70.0, -40.0), "C7ax": (75.0, -65.0)}


def alanine_dipeptide() -> Atoms:
    """Alanine dipeptide in its C7eq conformation, positions in Å, no cell."""
    symbols = [row[0] for row in _C7EQ]
    positions = np.array([row[1:] for row in _C7EQ])
    return Atoms(symbols=symbols, positions=positions)


def rattled_ensemble(n: int, scale: float = 0.03, seed: int = 0) -> list:
    """``n`` copies of C7eq with Gaussian displacements of ``scale`` Å per coordinate (seeded)."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = alanine_dipeptide()
        atoms.positions += scale * rng.standard_normal(atoms.positions.shape)
        frames.append(atoms)
    return frames


def _dihedral(positions, indices) -> np.ndarray:
    """Dihedral angles in degrees in (−180, 180] for positions (..., n, 3)."""
    p0, p1, p2, p3 = (positions[..., i, :] for i in indices)
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1 = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
    v = b0 - np.sum(b0 * b1, axis=-1, keepdims=True) * b1
    w = b2 - np.sum(b2 * b1, axis=-1, keepdims=True) * b1
    x = np.sum(v * w, axis=-1)
    y = np.sum(np.cross(b1, v) * w, axis=-1)
    return np.degrees(np.arctan2(y, x))


def ramachandran(frames) -> np.ndarray:
    """(φ, ψ) in degrees of alanine-dipeptide frames: Atoms, a list of Atoms, or positions (..., 22, 3).

    Returns (2,) for one frame, else (n, 2).
    """
    if isinstance(frames, Atoms):
        positions = frames.positions
    elif isinstance(frames, (list, tuple)) and frames and isinstance(frames[0], Atoms):
        positions = np.stack([f.positions for f in frames])
    else:
        positions = np.asarray(frames, float)
    if positions.shape[-2:] != (22, 3):
        raise ValueError(f"alanine dipeptide has 22 atoms; got positions of shape {positions.shape}")
    return np.stack([_dihedral(positions, PHI_ATOMS), _dihedral(positions, PSI_ATOMS)], axis=-1)


def visited_cells(angles, cell_deg: float = 10.0) -> np.ndarray:
    """Boolean (n_cells, n_cells) map of the φ/ψ cells of ``cell_deg`` degrees holding at least one of the
    (φ, ψ) ``angles`` ((n, 2), degrees); row index φ, column ψ, both from −180°. OR maps to pool them."""
    if not (cell_deg > 0 and np.isclose(360.0 / cell_deg, round(360.0 / cell_deg))):
        raise ValueError(f"cell_deg must divide 360; got {cell_deg}")
    n_cells = int(round(360.0 / cell_deg))
    cells = np.zeros((n_cells, n_cells), bool)
    angles = np.asarray(angles, float).reshape(-1, 2)
    if not np.all(np.isfinite(angles)):
        raise ValueError("φ/ψ angles must be finite")
    index = np.floor(((angles + 180.0) % 360.0) / cell_deg).astype(int) % n_cells
    cells[index[:, 0], index[:, 1]] = True
    return cells


class PhiPsi:
    """Collective variable of a campaign (see :mod:`skmd.al.traces`): (φ, ψ) in degrees.

    Its summary: ``coverage`` (the fraction of the 10° × 10° φ/ψ cells each iteration's walks visited),
    ``coverage_cumulative`` (iterations 1..k pooled), and ``coverage_per_walk``, the median over walks of
    one walk's coverage in the last iteration, with its 95 % bootstrap interval over walks.
    """

    cell_deg = 10.0

    def __call__(self, atoms):
        return ramachandran(atoms).tolist()

    def summary(self, traces, seed: int = 0) -> dict:
        maps = [visited_cells(t[:, 1:], self.cell_deg) for t in traces]
        cumulative, pooled = np.zeros((int(360 / self.cell_deg),) * 2, bool), []
        for cells in maps:
            cumulative = cumulative | cells
            pooled.append(float(cumulative.mean()))
        walks = [float(visited_cells(w, self.cell_deg).mean()) for w in per_walk(traces[-1])] if traces else []
        return {"coverage": [float(cells.mean()) for cells in maps], "coverage_cumulative": pooled,
                "coverage_per_walk": summarize(walks, seed=seed) if len(walks) > 1 else None,
                "trace_frames": [len(t) for t in traces]}


#: (φ, ψ) centres in degrees of the five basins: the four of ``MINIMA`` and αL, near the values
#: that gas-phase quantum-chemical maps of the dipeptide give (αR is a minimum only in solvent).
BASIN_CENTRES = {**MINIMA, "αL": (65.0, 35.0)}
#: Label of a frame farther than ``max_distance`` from every centre.
OTHER = "other"
#: Default largest distance (degrees, on the φ/ψ torus) from a basin centre to a frame in that basin.
BASIN_RADIUS_DEG = 70.0

def angle_difference(a, b) -> np.ndarray:
    """Signed periodic difference a − b of angles in degrees, in [−180, 180)."""
    return (np.asarray(a, float) - np.asarray(b, float) + 180.0) % 360.0 - 180.0


def classify_basin(phi_psi, max_distance: float = BASIN_RADIUS_DEG):
    """Basin name of each (φ, ψ) in degrees: the nearest centre of :data:`BASIN_CENTRES`.

    Distance is Euclidean on the periodic (φ, ψ) torus; beyond ``max_distance`` degrees from
    every centre the frame is :data:`OTHER`. Takes (2,) → str, or (n, 2) → list of str.
    """
    angles = np.asarray(phi_psi, float)
    if angles.shape[-1:] != (2,) or angles.ndim > 2:
        raise ValueError(f"phi_psi must have shape (2,) or (n, 2); got {angles.shape}")
    names = list(BASIN_CENTRES)
    centres = np.array([BASIN_CENTRES[name] for name in names])
    flat = angles.reshape(-1, 1, 2)
    distance = np.linalg.norm(angle_difference(flat, centres[None]), axis=-1)   # (n, n_basins)
    nearest = distance.argmin(axis=1)
    labels = [names[k] if distance[i, k] <= max_distance else OTHER for i, k in enumerate(nearest)]
    return labels[0] if angles.ndim == 1 else labels
