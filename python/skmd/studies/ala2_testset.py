"""An alanine-dipeptide test set drawn by oracle MD in every conformational basin.

The set is independent of every sampler it judges: each basin's structure is built from the
stored C7eq geometry by setting φ and ψ, relaxed by the oracle with both dihedrals held, then
run as oracle Langevin MD at 300 K; evenly spaced frames are kept and labelled by the oracle.
Each frame records the basin it was started in (``target_basin``) and the basin its own φ/ψ
lies in (``basin``, by :func:`classify_basin`), since a shallow basin may be left during MD.
A basin the oracle does not hold at 300 K (αR and αL in gas-phase GFN2-xTB) can be sampled
under a flat-bottom φ/ψ restraint (:class:`DihedralRestraint`); labels never include it.
"""
from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.constraints import FixCom, FixInternals
from ase.data import covalent_radii
from ase.geometry.geometry import get_dihedrals_derivatives
from ase.io import read
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
from ase.optimize import BFGS

from ..atoms.alanine import (BASIN_CENTRES, BASIN_RADIUS_DEG, OTHER, PHI_ATOMS, PSI_ATOMS,  # noqa: F401
                             alanine_dipeptide, angle_difference, classify_basin, ramachandran)
from ..tools.files import file_sha256

#: The fixed set and its manifest (settings, counts, SHA-256), shipped as package data (in the wheel too).
SHIPPED_TESTSET = Path(__file__).resolve().parent.parent / "data" / "ala2_testset.extxyz"
SHIPPED_MANIFEST = SHIPPED_TESTSET.with_suffix(".json")


def shipped_testset() -> tuple[str, str]:
    """(path, SHA-256) of the shipped fixed test set; ValueError when this install does not carry it."""
    if not (SHIPPED_TESTSET.is_file() and SHIPPED_MANIFEST.is_file()):
        raise ValueError(f"the fixed test set is not at {SHIPPED_TESTSET} (this install lacks skmd's package "
                         "data); reinstall skmd or pass --testset PATH")
    return str(SHIPPED_TESTSET), json.loads(SHIPPED_MANIFEST.read_text())["sha256"]


def bonded_side(atoms: Atoms, bond: tuple) -> np.ndarray:
    """Mask (n,) of the atoms bonded, through any path not crossing ``bond``, to ``bond[1]``.

    Bonds are pairs closer than 1.2 × the sum of covalent radii. Raises ``ValueError`` if the
    bond lies in a ring (both sides would move).
    """
    radii = covalent_radii[atoms.numbers]
    distances = atoms.get_all_distances()
    bonded = distances < 1.2 * (radii[:, None] + radii[None, :])
    np.fill_diagonal(bonded, False)
    first, second = bond
    bonded[first, second] = bonded[second, first] = False
    seen = np.zeros(len(atoms), bool)
    seen[second] = True
    queue = deque([second])
    while queue:
        for neighbour in np.flatnonzero(bonded[queue.popleft()] & ~seen):
            seen[neighbour] = True
            queue.append(neighbour)
    if seen[first]:
        raise ValueError(f"bond {bond} is in a ring; its dihedral cannot be set by a rigid rotation")
    return seen


def set_phi_psi(atoms: Atoms, phi: float, psi: float) -> Atoms:
    """A copy of alanine dipeptide ``atoms`` with φ and ψ set (degrees) by rigid rotations.

    φ = C(−1)–N–Cα–C rotates everything on the Cα side of the N–Cα bond; ψ = N–Cα–C–N(+1)
    everything on the C side of the Cα–C bond. Bond lengths and angles are unchanged.
    """
    if len(atoms) != 22:
        raise ValueError(f"alanine dipeptide has 22 atoms; got {len(atoms)}")
    if not (np.isfinite(phi) and np.isfinite(psi)):
        raise ValueError(f"phi and psi must be finite; got {phi}, {psi}")
    masks = [bonded_side(atoms, (indices[1], indices[2])) for indices in (PHI_ATOMS, PSI_ATOMS)]  # before any clash
    moved = atoms.copy()
    moved.calc = None
    for indices, angle, mask in zip((PHI_ATOMS, PSI_ATOMS), (phi, psi), masks):
        moved.set_dihedral(*indices, angle % 360.0, mask=mask)
    return moved


def relax_restrained(atoms: Atoms, calculator, fmax: float = 0.05, steps: int = 400) -> Atoms:
    """Relax ``atoms`` with ``calculator`` (BFGS, ``fmax`` in eV/Å) with φ and ψ held fixed.

    Returns a copy without constraint or calculator.
    """
    relaxed = atoms.copy()
    phi, psi = ramachandran(relaxed)
    relaxed.set_constraint(FixInternals(dihedrals_deg=[[phi % 360.0, list(PHI_ATOMS)],
                                                       [psi % 360.0, list(PSI_ATOMS)]]))
    relaxed.calc = calculator
    BFGS(relaxed, logfile=None).run(fmax=fmax, steps=steps)
    relaxed.set_constraint()
    relaxed.calc = None
    return relaxed


class DihedralRestraint(Calculator):
    """``calculator`` plus flat-bottom harmonic restraints holding φ and ψ near ``centre``.

    Each angle costs ½ k (|Δ| − w)² beyond ``half_width`` w (degrees) from its centre, with
    ``k`` in eV/rad²; inside the flat bottom the forces are the wrapped calculator's own.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, calculator, centre, half_width: float = 30.0, k: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        if half_width < 0 or k < 0:
            raise ValueError("half_width and k must be ≥ 0")
        self.calculator, self.centre, self.half_width, self.k = calculator, tuple(centre), half_width, k

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy = self.calculator.get_potential_energy(self.atoms)
        forces = self.calculator.get_forces(self.atoms).copy()
        positions = self.atoms.positions
        for indices, angle, target in zip((PHI_ATOMS, PSI_ATOMS), ramachandran(positions), self.centre):
            offset = float(angle_difference(angle, target))
            excess = np.radians(np.sign(offset) * max(abs(offset) - self.half_width, 0.0))
            p0, p1, p2, p3 = positions[list(indices)]
            gradient = np.radians(get_dihedrals_derivatives([p1 - p0], [p2 - p1], [p3 - p2])[0])   # (4, 3) rad/Å
            energy += 0.5 * self.k * excess ** 2
            forces[list(indices)] -= self.k * excess * gradient
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


def langevin_frames(atoms: Atoms, calculator, n_frames: int, stride: int, equilibration: int,
                    seed: int, temperature_K: float = 300.0, timestep_fs: float = 0.5,
                    friction_per_fs: float = 0.01) -> list:
    """Oracle Langevin MD from ``atoms``: ``equilibration`` steps, then a frame every ``stride`` steps.

    Velocities start from Maxwell–Boltzmann at ``temperature_K`` (no net momentum or rotation).
    Returns ``n_frames`` copies (positions in Å) without calculator; same seed ⇒ same frames.
    """
    if min(n_frames, stride) < 1 or equilibration < 0:
        raise ValueError("n_frames and stride must be ≥ 1 and equilibration ≥ 0")
    rng = np.random.default_rng(seed)
    moving = atoms.copy()
    moving.calc = calculator
    MaxwellBoltzmannDistribution(moving, temperature_K=temperature_K, rng=rng)
    Stationary(moving)
    ZeroRotation(moving)
    moving.set_constraint(FixCom())
    dynamics = Langevin(moving, timestep_fs * units.fs, temperature_K=temperature_K,
                        friction=friction_per_fs / units.fs, fixcm=False, rng=rng)
    dynamics.run(equilibration)
    frames = []
    for _ in range(n_frames):
        dynamics.run(stride)
        frame = moving.copy()
        frame.set_constraint()
        frame.calc = None
        frames.append(frame)
    return frames


def build_testset(oracle, calculator_factory, seed: int = 0, frames_per_basin: int = 60, stride: int = 80,
                  equilibration: int = 1000, basins=None, restrained=(), restraint_half_width: float = 30.0,
                  restraint_k: float = 2.0, **md_settings) -> list:
    """Labelled test frames from every basin in ``basins`` (default all of :data:`BASIN_CENTRES`).

    ``calculator_factory()`` gives the calculator that relaxes and drives MD; ``oracle`` (an
    :class:`~skmd.atoms.oracle.Oracle`) labels the kept frames, so labels never carry a restraint.
    MD in the basins named in ``restrained`` runs under :class:`DihedralRestraint`. Basin k's MD
    uses seed ``seed + k``. Each frame's ``info`` holds ``target_basin``, ``basin``, ``phi`` and
    ``psi`` (degrees); ``md_settings`` go to :func:`langevin_frames`.
    """
    names = list(BASIN_CENTRES) if basins is None else list(basins)
    unknown = [name for name in [*names, *restrained] if name not in BASIN_CENTRES]
    if unknown:
        raise ValueError(f"unknown basins {unknown}; known: {list(BASIN_CENTRES)}")
    if frames_per_basin < 1:
        raise ValueError("frames_per_basin must be ≥ 1")
    testset = []
    for k, name in enumerate(names):
        centre = BASIN_CENTRES[name]
        start = relax_restrained(set_phi_psi(alanine_dipeptide(), *centre), calculator_factory())
        driver = calculator_factory()
        if name in restrained:
            driver = DihedralRestraint(driver, centre, restraint_half_width, restraint_k)
        frames = langevin_frames(start, driver, frames_per_basin, stride, equilibration, seed=seed + k, **md_settings)
        batch = oracle.label(frames)
        if batch.failed:
            raise RuntimeError(f"the oracle failed on {len(batch.failed)} {name} frames: {batch.failed[:3]}")
        for frame, (phi, psi) in zip(batch.labelled, ramachandran(batch.labelled)):
            frame.arrays.pop("momenta", None)
            frame.info.update(target_basin=name, basin=classify_basin((phi, psi)), phi=float(phi), psi=float(psi))
        testset.extend(batch.labelled)
    return testset


def load_testset(path, expected_sha256: str | None = None) -> list:
    """The frames of a test-set extxyz file; raises ``ValueError`` if its SHA-256 is not ``expected_sha256``."""
    if not Path(path).is_file():
        raise ValueError(f"no test set at {path}")
    if expected_sha256 is not None and file_sha256(path) != expected_sha256:
        raise ValueError(f"{path} is not the fixed test set: its SHA-256 differs from {expected_sha256}")
    return read(str(path), index=":", format="extxyz")
