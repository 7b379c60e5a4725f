"""Where a campaign starts: the user's structures, read and checked, and the perturbed copies whose
oracle labels train (or check) the starting model.

Checks here run before any oracle call or training: a missing or unreadable file, non-finite
positions, a periodic cell mixed with molecules, ``pressure_GPa`` on a structure that is not periodic
in all three directions, and a ``test`` file without reference labels each end in one line.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..tools.checks import finite_structure


def read_structures(path) -> list:
    """Every frame of ``path`` (any format ASE reads) as ``Atoms``; ValueError in one line if it cannot."""
    from ase.io import read  # noqa: PLC0415
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no structure file at {path}")
    try:
        frames = read(str(path), index=":")
    except Exception as error:  # noqa: BLE001  (ASE raises many kinds for a file it cannot parse)
        raise ValueError(f"cannot read structures from {path}: {type(error).__name__}: {error}") from None
    if not frames:
        raise ValueError(f"{path} holds no structures")
    for index, atoms in enumerate(frames):
        try:
            finite_structure(atoms)
        except ValueError as error:
            raise ValueError(f"{path}, frame {index}: {error}") from None
    return frames


def check_structures(frames, npt: bool) -> bool:
    """True if the structures are periodic cells (all of them), False if molecules; ValueError if mixed,
    or if ``npt`` (a pressure was given) and they are not periodic in all three directions."""
    periodic = [bool(np.all(atoms.pbc)) for atoms in frames]
    if any(periodic) and not all(periodic):
        raise ValueError("the starting structures mix periodic cells and molecules; run them as two campaigns")
    if any(atoms.pbc.any() and not atoms.pbc.all() for atoms in frames):
        raise ValueError("a structure is periodic in only some directions; skmd al handles molecules or 3D cells")
    if npt and not all(periodic):
        raise ValueError("--pressure needs periodic cells (pbc in all three directions); these structures are not")
    for atoms in frames:
        if all(periodic) and abs(atoms.get_volume()) < 1e-6:
            raise ValueError("a periodic structure has a zero-volume cell")
    return all(periodic)


def check_labelled(frames, path, stress: bool) -> None:
    """ValueError unless every frame of a test file carries reference energy and forces (and stress)."""
    from ..tools.labels import reference_labels  # noqa: PLC0415
    for index, atoms in enumerate(frames):
        try:
            label = reference_labels(atoms)
        except ValueError as error:
            raise ValueError(f"the test file {path}, frame {index}: {error}") from None
        if stress and label.stress is None:
            raise ValueError(f"the test file {path}, frame {index}: no reference stress, which an NPT campaign scores")


def perturbed_copies(structures, n_frames: int, displacement_A: float, strain: float, seed: int) -> list:
    """``n_frames`` copies of the structures in turn, with Gaussian displacements (Å) and, for periodic
    cells, a symmetric Gaussian strain (relative), seeded; ``info["skmd_start"]`` names the source frame."""
    rng = np.random.default_rng([seed, 11])
    frames = []
    for index in range(n_frames):
        source = index % len(structures)
        atoms = structures[source].copy()
        atoms.calc = None
        if atoms.pbc.all() and strain > 0:
            eps = strain * rng.standard_normal((3, 3))
            atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        atoms.positions = atoms.positions + displacement_A * rng.standard_normal(atoms.positions.shape)
        atoms.info["skmd_start"] = source
        frames.append(atoms)
    return frames


#: std (Å) of the seeded displacement that keeps a repeated walker start distinct from the one it repeats
#: (SKMD's kernel refuses identical ensemble members)
REPEAT_RATTLE_A = 0.01


def bare_copies(frames, n_frames: int, seed: int) -> list:
    """``n_frames`` walker starts drawn from ``frames`` in a seeded random order (cycled when there are fewer,
    each repeat rattled by ``REPEAT_RATTLE_A``), as bare structures: numbers, positions, cell and periodicity
    only (no labels, no calculator)."""
    from ase import Atoms  # noqa: PLC0415
    if not frames:
        raise ValueError("no frames to start the walkers from")
    order = np.random.default_rng([seed, 19]).permutation(len(frames))
    picks = [frames[order[index % len(frames)]] for index in range(n_frames)]
    starts = [Atoms(numbers=f.numbers, positions=f.positions, cell=f.cell, pbc=f.pbc, info={"skmd_start": i})
              for i, f in enumerate(picks)]
    for index in range(len(frames), n_frames):
        rattle_repeat(starts[index], seed, index)
    return starts


def rattle_repeat(atoms, seed: int, index: int) -> None:
    """Move ``atoms`` (a repeated or replacement walker start, number ``index``) by ``REPEAT_RATTLE_A``, seeded."""
    atoms.rattle(REPEAT_RATTLE_A, rng=np.random.default_rng([seed, 23, index]))


def split_indices(n: int, fractions: dict, seed: int) -> dict:
    """A seeded random split of ``range(n)`` → {name: sorted indices}: each name of ``fractions`` gets
    ``max(1, round(f·n))`` items and ``"rest"`` the others; ValueError if nothing is left over."""
    order = np.random.default_rng([seed, 13]).permutation(n)
    split, start = {}, 0
    for name, fraction in fractions.items():
        size = max(1, int(round(fraction * n)))
        split[name] = sorted(int(i) for i in order[start:start + size])
        start += size
    if start >= n:
        raise ValueError(f"{n} labelled frames are too few to hold out {', '.join(fractions)} and still train")
    split["rest"] = sorted(int(i) for i in order[start:])
    return split
