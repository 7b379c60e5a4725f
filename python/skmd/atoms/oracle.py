"""Labelling configurations with a reference ASE calculator (the oracle).

Any ASE calculator works; the default is GFN2-xTB through tblite. Calls run through any
``concurrent.futures.Executor`` (a thread or process pool, or a Dask ``Client.get_executor()``).
An exception or a non-finite label is recorded in ``LabelBatch.failed`` and skipped; labelled
frames carry the keys MACE's training reads (``REF_energy`` in eV, ``REF_forces`` in eV/Å and, for a
periodic frame whose calculator gives stress, ``REF_stress`` (6,) in eV/Å³, ASE's Voigt convention), so
``mace_run_train --energy_key=REF_energy --forces_key=REF_forces`` trains on them unchanged.

Charge and spin (one convention, read from ``atoms.info``):

* ``info["charge"]``: the total charge in units of e (an integer; default neutral);
* ``info["multiplicity"]``: the spin multiplicity 2S + 1 (1 singlet, 2 doublet, 3 triplet, ...).
  ``info["spin"]`` is read as the same number (the convention of fairchem's models), and the two
  must agree when both are given. Without either, the oracle's own default applies.

They reach the oracle as the keyword arguments ``charge=`` and ``multiplicity=`` of the
calculator factory (as :func:`gfn2_xtb` takes them, and as tblite's ``TBLite`` does). A factory
that does not take them cannot honour a non-zero charge, or a multiplicity above the lowest one
(1 for an even number of electrons, 2 for an odd one), so :class:`Oracle` refuses such a frame
with a ``ValueError`` before any call; so does a charge and multiplicity that do not fit the
number of electrons. :class:`~skmd.atoms.LabelStore` runs the same check before it logs a key.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.io import write

from ..tools.checks import finite_structure
from ..tools.labels import ENERGY_KEY, FORCES_KEY, STRESS_KEY  # noqa: F401  (re-exported)


def gfn2_xtb(charge: int | None = None, multiplicity: int | None = None):
    """The default oracle: GFN2-xTB from tblite (about 10 ms per alanine-dipeptide call).

    Args:
        charge: total charge in e (None: tblite's default, the sum of the initial charges, 0).
        multiplicity: 2S + 1 (None: tblite's default from the initial magnetic moments).
    """
    from tblite.ase import TBLite  # noqa: PLC0415  lazy: tblite is needed only by the xTB oracles (atoms extra; any ASE calculator may label)
    return TBLite(method="GFN2-xTB", charge=charge, multiplicity=multiplicity, verbosity=0)


def gfn1_xtb(charge: int | None = None, multiplicity: int | None = None):
    """GFN1-xTB from tblite (energy, forces, and stress under periodic boundaries): the oracle of the
    periodic presets (diamond Si, dry ice). Arguments as :func:`gfn2_xtb`."""
    from tblite.ase import TBLite  # noqa: PLC0415  lazy: tblite is needed only by the xTB oracles (atoms extra; any ASE calculator may label)
    return TBLite(method="GFN1-xTB", charge=charge, multiplicity=multiplicity, verbosity=0)


def oracle_name(factory) -> str:
    """The identity of a calculator factory as a run records it: ``"module:qualified.name"``
    (e.g. ``"skmd.atoms.oracle:gfn2_xtb"``, ``"ase.calculators.emt:EMT"``), with the arguments of a
    ``functools.partial``; otherwise the factory's repr."""
    if isinstance(factory, functools.partial):
        arguments = [repr(a) for a in factory.args] + [f"{k}={v!r}" for k, v in sorted(factory.keywords.items())]
        return f"{oracle_name(factory.func)}({', '.join(arguments)})"
    module, name = getattr(factory, "__module__", None), getattr(factory, "__qualname__", None)
    if module and name and "<" not in name:
        return f"{module}:{name}"
    return repr(factory)


def _integer(name: str, value) -> int:
    if isinstance(value, bool) or not np.isscalar(value) or not np.isfinite(value) or float(value) != int(value):
        raise ValueError(f"atoms.info[{name!r}] must be an integer, got {value!r}")
    return int(value)


def charge_and_multiplicity(atoms) -> tuple:
    """(charge in e or None, multiplicity 2S+1 or None) of ``atoms`` from ``atoms.info``, checked."""
    charge = atoms.info.get("charge")
    charge = None if charge is None else _integer("charge", charge)
    given = {key: _integer(key, atoms.info[key]) for key in ("multiplicity", "spin") if atoms.info.get(key) is not None}
    if len(set(given.values())) > 1:
        raise ValueError(f"atoms.info['multiplicity'] and ['spin'] (both 2S + 1) disagree: {given}")
    multiplicity = next(iter(given.values()), None)
    if multiplicity is not None:
        if multiplicity < 1:
            raise ValueError(f"the spin multiplicity 2S + 1 must be >= 1, got {multiplicity}")
        electrons = int(np.sum(atoms.numbers)) - (charge or 0)
        unpaired = multiplicity - 1
        if unpaired > electrons or (electrons - unpaired) % 2:
            raise ValueError(f"multiplicity {multiplicity} does not fit {electrons} electrons "
                             f"(charge {charge or 0}): 2S must have the parity of the electron count")
    return charge, multiplicity


def _accepts(factory, name: str) -> bool:
    """Whether ``factory`` takes the keyword argument ``name`` (or any keyword)."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _label_one(frame: dict, calculator_factory, options: dict) -> tuple:
    """Run the oracle on one frame (plain arrays, so it pickles to any worker)."""
    atoms = Atoms(numbers=frame["numbers"], positions=frame["positions"], cell=frame["cell"], pbc=frame["pbc"])
    atoms.info.update(options)
    atoms.calc = calculator_factory(**options)
    stress = None
    if atoms.pbc.all() and "stress" in getattr(atoms.calc, "implemented_properties", ()):
        stress = np.asarray(atoms.get_stress(voigt=True), float)
    return float(atoms.get_potential_energy()), np.asarray(atoms.get_forces(), float), stress


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

    def options(self, frame) -> dict:
        """The keyword arguments of the factory for ``frame``: its charge and multiplicity, if given.

        Raises ValueError for a frame the factory cannot honour (see the module docstring).
        """
        charge, multiplicity = charge_and_multiplicity(frame)
        options = {}
        lowest = 1 + (int(np.sum(frame.numbers)) - (charge or 0)) % 2      # singlet, or doublet for odd electrons
        for name, value, default in (("charge", charge, 0), ("multiplicity", multiplicity, lowest)):
            if value is None:
                continue
            if _accepts(self.calculator_factory, name):
                options[name] = value
            elif value != default:
                factory = getattr(self.calculator_factory, "__name__", self.calculator_factory)
                raise ValueError(f"the oracle factory {factory!r} takes no {name}= argument, so it cannot label "
                                 f"a frame with {name} {value}; use a factory that takes charge= and "
                                 "multiplicity= (e.g. gfn2_xtb)")
        return options

    def check(self, frames) -> list:
        """Check every frame before any oracle call; return the factory options of each."""
        options = []
        for frame in frames:
            if not isinstance(frame, Atoms):
                raise ValueError(f"frames must be ase.Atoms, got {type(frame).__name__}")
            finite_structure(frame)
            options.append(self.options(frame))
        return options

    def label(self, frames) -> LabelBatch:
        """Label every frame; never raises for a failed frame (see ``LabelBatch.failed``)."""
        frames = list(frames)
        options = self.check(frames)
        payload = [{"numbers": f.numbers.copy(), "positions": f.positions.copy(), "cell": np.array(f.cell),
                    "pbc": f.pbc.copy()} for f in frames]
        self.calls += len(payload)
        if self.executor is None:
            outcomes = [_attempt(_label_one, p, self.calculator_factory, o) for p, o in zip(payload, options)]
        else:
            futures = [self.executor.submit(_label_one, p, self.calculator_factory, o)
                       for p, o in zip(payload, options)]
            outcomes = [_result(future) for future in futures]
        batch = LabelBatch()
        for index, (frame, (ok, value)) in enumerate(zip(frames, outcomes)):
            if not ok:
                batch.failed.append((index, value))
                continue
            energy, forces, stress = value
            if not (np.isfinite(energy) and np.all(np.isfinite(forces))) or forces.shape != (len(frame), 3) \
                    or (stress is not None and not np.all(np.isfinite(stress))):
                batch.failed.append((index, "non-finite or malformed label"))
                continue
            labelled = frame.copy()
            labelled.calc = None
            labelled.info[ENERGY_KEY] = energy
            labelled.arrays[FORCES_KEY] = forces
            if stress is not None:
                labelled.info[STRESS_KEY] = stress
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
    write(str(path), list(frames), format="extxyz", append=True)
