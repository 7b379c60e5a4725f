"""Where a campaign starts: the user's structures, read and checked, and the perturbed copies whose
oracle labels train (or check) the starting model.

Checks here run before any oracle call or training: a missing or unreadable file, non-finite
positions, a periodic cell mixed with molecules, ``pressure_GPa`` on a structure that is not periodic
in all three directions, and a ``test`` file without reference labels each end in one line.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read

from ..tools.checks import finite_structure
from ..tools.labels import reference_labels


def read_structures(path) -> list:
    """Every frame of ``path`` (any format ASE reads) as ``Atoms``; ValueError in one line if it cannot."""
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


def check_labelled(frames, path, stress: bool, role: str = "test file") -> None:
    """ValueError unless every frame of a labelled file (``role``: what it is for) carries reference energy and
    forces (and stress)."""
    for index, atoms in enumerate(frames):
        try:
            label = reference_labels(atoms)
        except ValueError as error:
            raise ValueError(f"the {role} {path}, frame {index}: {error}") from None
        if stress and label.stress is None:
            raise ValueError(f"the {role} {path}, frame {index}: no reference stress, which an NPT campaign uses")


def perturbed_copies(structures, n_frames: int, displacement_A: float, strain: float, seed: int) -> list:
    """``n_frames`` copies of the structures in turn, with Gaussian displacements (Å) and, for periodic
    cells, a symmetric Gaussian strain (relative), seeded; ``info["skmd_structure"]`` is the index of the structure each copies."""
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
        atoms.info["skmd_structure"] = source
        frames.append(atoms)
    return frames


#: std (Å) of the seeded displacement that keeps a repeated walker start distinct from the one it repeats
#: (SKMD's kernel refuses identical ensemble members)
REPEAT_RATTLE_A = 0.01


def bare_copies(frames, n_frames: int, seed: int) -> list:
    """``n_frames`` walker starts drawn from ``frames`` in a seeded random order (cycled when there are fewer,
    each repeat rattled by ``REPEAT_RATTLE_A``), as bare structures: numbers, positions, cell and periodicity
    only (no labels, no calculator); ``info["skmd_walker"]`` is the walker's index."""
    if not frames:
        raise ValueError("no frames to start the walkers from")
    order = np.random.default_rng([seed, 19]).permutation(len(frames))
    picks = [frames[order[index % len(frames)]] for index in range(n_frames)]
    starts = [Atoms(numbers=f.numbers, positions=f.positions, cell=f.cell, pbc=f.pbc, info={"skmd_walker": i})
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


def replace_dropped(ensemble: list, dropped: list, seed: int = 0) -> tuple[list, list]:
    """The walkers to go on from: each walker whose walk was dropped (diverged) is replaced by a copy of a
    surviving walker's end point, in turn, rattled (:func:`rattle_repeat`) so that no two walkers coincide
    (SKMD's kernel refuses identical members), and a start that diverges is not tried again in the next
    iteration; returns (ensemble, indices replaced). With no survivor the ensemble is returned as is."""
    bad = sorted({int(d["particle"]) for d in dropped if d.get("particle") is not None})
    good = [i for i in range(len(ensemble)) if i not in bad]
    if not bad or not good:
        return list(ensemble), []
    ensemble = list(ensemble)
    for n, i in enumerate(bad):
        ensemble[i] = ensemble[good[n % len(good)]].copy()
        rattle_repeat(ensemble[i], seed, i)
    return ensemble, bad
