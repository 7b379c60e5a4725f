"""Input validation: every public entry point calls these before doing any work.

Each check raises ``ValueError`` with a message that names the argument. Only :func:`finite_array`
imports numpy: the scalar checks also validate command-line settings before anything heavy is loaded.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: |p| bound of NPT in GPa: 1 TPa, about three times the pressure at the Earth's centre (364 GPa); one bound
#: for the campaign's settings and the NPT integrator
MAX_PRESSURE_GPA = 1000.0


#: the floating-point types a model may sample or train in, everywhere in skmd
FLOAT_DTYPES = ("float64", "float32")


def float_dtype(name: str, value) -> str:
    """Return ``value`` if it is one of :data:`FLOAT_DTYPES`, else raise naming ``name``."""
    if value not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be one of {', '.join(FLOAT_DTYPES)}, got {value!r}")
    return value


def positive(name: str, value) -> float:
    """Return ``value`` as a float, or raise if it is not finite and > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return number


def non_negative(name: str, value) -> float:
    """Return ``value`` as a float, or raise if it is not finite and >= 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}") from None
    if not math.isfinite(number) or number < 0.0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return number


def positive_int(name: str, value, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    is_bool = isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b"   # np.bool_
    if is_bool or int(value) != value or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def finite_array(name: str, value, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array; raise on NaN/inf, wrong rank or emptiness."""
    import numpy as np  # noqa: PLC0415  lazy: skmd --help start-up (the CLI's flag checks live here)
    array = np.asarray(value, dtype=float)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and array.ndim not in allowed:
        raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def finite_structure(atoms) -> None:
    """Raise ``ValueError`` if ``atoms`` has a NaN or infinite position or cell entry (a model or
    oracle given one returns numbers that mean nothing, with no error of its own)."""
    import numpy as np  # noqa: PLC0415  lazy: skmd --help start-up (the CLI's flag checks live here)
    positions = np.asarray(atoms.positions, float)
    if not np.all(np.isfinite(positions)):
        bad = sorted({int(i) for i in np.nonzero(~np.isfinite(positions))[0]})
        raise ValueError(f"atoms has NaN or infinite positions (atoms {bad[:5]}{' ...' if len(bad) > 5 else ''})")
    if not np.all(np.isfinite(np.asarray(atoms.cell.array, float))):
        raise ValueError("atoms has a NaN or infinite cell")


def element_names(numbers) -> str:
    """Atomic numbers → "N, O" (chemical symbols, sorted by Z, each once)."""
    from ase.data import chemical_symbols  # noqa: PLC0415  lazy: skmd --help start-up (no ase for the flag checks)
    return ", ".join(chemical_symbols[z] for z in sorted({int(z) for z in numbers}))
