"""What mace_run_train trains on: the size check of a training/validation split, and the replay frames of
multi-head fine-tuning (checked and copied with skmd's REF_ label keys)."""
from __future__ import annotations

from pathlib import Path

from ase.io import iread

from ..tools.checks import element_names
from ..tools.labels import ENERGY_KEY, FORCES_KEY, STRESS_KEY, reference_labels
from .oracle import write_extxyz


def training_size(path, n_frames: int, valid_fraction: float) -> int:
    """Frames mace trains on out of ``n_frames`` (the rest validate); ValueError if either split is empty."""
    n_train = n_frames - int(valid_fraction * n_frames)
    if n_train < 1 or n_frames - n_train < 1:
        raise ValueError(f"{path} holds {n_frames} frames: too few for a training and a validation split "
                         f"with valid_fraction={valid_fraction}")
    return n_train


def replay_copy(replay_file, target, elements, valid_fraction: float = 0.1, stress: bool = False) -> Path:
    """Write :func:`replay_frames` to ``target`` (extxyz) and return ``target``."""
    frames = replay_frames(replay_file, elements, valid_fraction, stress)
    target = Path(target)
    target.unlink(missing_ok=True)   # write_extxyz appends
    write_extxyz(target, frames)
    return target


def replay_frames(replay_file, elements, valid_fraction: float = 0.1, stress: bool = False) -> list:
    """The frames of ``replay_file`` with their labels under skmd's REF_ keys (which mace reads for both
    heads; stress only with ``stress``, as the new data has it only then), after checking them: each
    frame labelled (REF_ keys or a calculator's results), every element among ``elements`` (the base
    model's, whose E0s ``pt_head`` takes), and enough frames for mace's training/validation split.
    Raises a one-line ValueError otherwise (a campaign's input check may call this before any work)."""
    path = Path(replay_file)
    if not path.is_file():
        raise ValueError(f"no replay file at {path}")
    try:
        frames = list(iread(str(path), index=":"))
    except Exception as error:  # noqa: BLE001  (ASE raises many kinds for a file it cannot parse)
        raise ValueError(f"the replay file {path} cannot be read: {error}") from None
    for index, atoms in enumerate(frames):
        try:
            label = reference_labels(atoms, index)
        except ValueError as error:
            raise ValueError(f"the replay file {path}: {error}") from None
        atoms.calc = None
        atoms.info.pop(STRESS_KEY, None)
        atoms.info[ENERGY_KEY], atoms.arrays[FORCES_KEY] = label.energy, label.forces
        if stress and label.stress is not None:
            atoms.info[STRESS_KEY] = label.stress
    extra = {int(z) for atoms in frames for z in atoms.numbers} - {int(z) for z in elements}
    if extra:
        raise ValueError(f"the replay file {path} holds {element_names(extra)}, which the base model does not "
                         f"know (it knows {element_names(elements)})")
    training_size(path, len(frames), valid_fraction)
    return frames
