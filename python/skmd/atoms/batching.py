"""Many structures through one calculator in as few model calls as it allows.

A calculator is *batchable* when it has ``batchable = True`` and a method

    calculate_batch(frames, properties) -> [results dict per frame]

(``properties``: one list of names per frame) that gives each frame the results its ``calculate``
would set, from collated model calls, without touching the calculator's own cache. Built in:
:class:`~skmd.atoms.MACEDescriptorCalculator` (one collated MACE graph), :class:`~skmd.atoms.CommitteeMean`
and :class:`~skmd.atoms.CommitteeBias` over batchable members (one call per member),
:class:`~skmd.uncertainty.GradientUncertainty` and an :class:`~skmd.uncertainty.UncertaintyBias` on it
(one pass for energies, forces, stress and uncertainties), and every :class:`~skmd.atoms.BiasCalculator`
on a batchable base that reads its base the standard way (the bias term itself is then computed frame by
frame, in frame order). Any other ASE calculator goes frame by
frame through its own ``calculate``: :func:`evaluate_many` works with every calculator.
"""
from __future__ import annotations

import numpy as np

#: what :func:`evaluate_many` asks for when the caller names nothing
DEFAULT_PROPERTIES = ("energy", "forces")


def is_batchable(calculator) -> bool:
    """True when ``calculator`` evaluates many structures in one call (see the module docstring)."""
    return bool(getattr(calculator, "batchable", False)) and callable(getattr(calculator, "calculate_batch", None))


def evaluate_many(calculator, frames, properties=DEFAULT_PROPERTIES) -> list:
    """One results dict per frame of ``frames`` (ASE Atoms) under ``calculator``, in frame order.

    ``properties``: the names every frame needs (or one list per frame). A batchable calculator gets
    all frames at once; any other calculator computes them one by one (a copy of each frame, so the
    frames are left without a calculator).
    """
    frames = list(frames)
    names = _per_frame(properties, len(frames))
    if is_batchable(calculator):
        return calculator.calculate_batch(frames, names)
    results = []
    for atoms, wanted in zip(frames, names):
        copy = atoms.copy()
        for name in wanted:
            calculator.get_property(name, copy)
        # copies: a calculator may overwrite its result arrays in place at its next call (ASE's EMT does)
        results.append({key: np.array(value) if isinstance(value, np.ndarray) else value
                        for key, value in calculator.results.items()})
    return results


def _per_frame(properties, n_frames: int) -> list:
    properties = list(properties)
    if properties and all(isinstance(name, str) for name in properties):
        return [list(properties)] * n_frames
    if len(properties) != n_frames:
        raise ValueError(f"give one list of properties for all frames or one per frame ({n_frames}), "
                         f"got {len(properties)}")
    return [list(names) for names in properties]
