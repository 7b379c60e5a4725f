"""Labelling configurations with a reference ASE calculator (the oracle).

Any ASE calculator works; the default is GFN2-xTB through tblite. Calls run through any
``concurrent.futures.Executor`` (a thread or process pool, or a Dask ``Client.get_executor()``).
An exception or a non-finite label is recorded in ``LabelBatch.failed`` and skipped; labelled
frames carry the keys MACE's training reads (``REF_energy`` in eV, ``REF_forces`` in eV/Å), so
``mace_run_train --energy_key=REF_energy --forces_key=REF_forces`` trains on them unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

ENERGY_KEY = "REF_energy"
FORCES_KEY = "REF_forces"


def gfn2_xtb():
    """The default oracle: GFN2-xTB from tblite (about 10 ms per alanine-dipeptide call)."""
    from tblite.ase import TBLite  # noqa: PLC0415
    return TBLite(method="GFN2-xTB", verbosity=0)


def _label_one(frame: dict, calculator_factory) -> tuple:
    """Run the oracle on one frame (plain arrays, so it pickles to any worker)."""
    atoms = Atoms(numbers=frame["numbers"], positions=frame["positions"], cell=frame["cell"], pbc=frame["pbc"])
    if frame.get("charge") is not None:
        atoms.info["charge"] = frame["charge"]
    atoms.calc = calculator_factory()
    return float(atoms.get_potential_energy()), np.asarray(atoms.get_forces(), float)


@dataclass
class LabelBatch:
    """Result of one labelling call: labelled frames and (index, reason) of the failures."""

    labelled: list = field(default_factory=list)
    indices: list = field(default_factory=list)
    failed: list = field(default_factory=list)


class Oracle:
    """Label ASE ``Atoms`` with ``calculator_factory()`` (a picklable callable returning a calculator).

    Args:
        calculator_factory: builds a fresh calculator per call (default :func:`gfn2_xtb`).
        executor: a ``concurrent.futures.Executor``; None runs in this process.
    """

    def __init__(self, calculator_factory=gfn2_xtb, executor=None):
        if not callable(calculator_factory):
            raise ValueError("calculator_factory must be a callable returning an ASE calculator")
        self.calculator_factory = calculator_factory
        self.executor = executor
        self.calls = 0

    def label(self, frames) -> LabelBatch:
        """Label every frame; never raises for a failed frame (see ``LabelBatch.failed``)."""
        frames = list(frames)
        for frame in frames:
            if not isinstance(frame, Atoms):
                raise ValueError(f"frames must be ase.Atoms, got {type(frame).__name__}")
            if not np.all(np.isfinite(frame.positions)):
                raise ValueError("a frame has NaN or infinite positions")
        payload = [{"numbers": f.numbers.copy(), "positions": f.positions.copy(), "cell": np.array(f.cell),
                    "pbc": f.pbc.copy(), "charge": f.info.get("charge")} for f in frames]
        self.calls += len(payload)
        if self.executor is None:
            outcomes = [_attempt(_label_one, p, self.calculator_factory) for p in payload]
        else:
            futures = [self.executor.submit(_label_one, p, self.calculator_factory) for p in payload]
            outcomes = [_result(future) for future in futures]
        batch = LabelBatch()
        for index, (frame, (ok, value)) in enumerate(zip(frames, outcomes)):
            if not ok:
                batch.failed.append((index, value))
                continue
            energy, forces = value
            if not (np.isfinite(energy) and np.all(np.isfinite(forces))) or forces.shape != (len(frame), 3):
                batch.failed.append((index, "non-finite or malformed label"))
                continue
            labelled = frame.copy()
            labelled.calc = None
            labelled.info[ENERGY_KEY] = energy
            labelled.arrays[FORCES_KEY] = forces
            batch.labelled.append(labelled)
            batch.indices.append(index)
        return batch


def _attempt(function, *args):
    try:
        return True, function(*args)
    except Exception as error:  # an oracle failure is data, not a crash
        return False, f"{type(error).__name__}: {error}"


def _result(future):
    try:
        return True, future.result()
    except Exception as error:
        return False, f"{type(error).__name__}: {error}"


def write_extxyz(path, frames) -> None:
    """Append labelled frames to an extxyz file that MACE's training reads."""
    from ase.io import write  # noqa: PLC0415
    write(str(path), list(frames), format="extxyz", append=True)
