"""Backend selection: ``backend="auto" | "numpy" | "julia"`` or the ``SKMD_BACKEND`` variable.

* ``"numpy"``: the vectorised reference implementation (always available).
* ``"julia"``: the Julia package SKMDCore through juliacall; a clear ``RuntimeError`` if
  Julia cannot start (never a hang: the start is probed with a time limit).
* ``"auto"`` (default): Julia when juliacall starts, otherwise NumPy with one short warning, once
  per command: the processes a command starts inherit :data:`UNAVAILABLE_VARIABLE` and neither probe
  nor warn again (:func:`julia_available` gives the reason).
"""
from __future__ import annotations

import os
import warnings

from .julia_bridge import JuliaBackend, JuliaUnavailable
from .reference import NUMPY, NumpyBackend  # noqa: F401  (re-exported)

BACKENDS = ("auto", "numpy", "julia")
#: set (to the reason) once "auto" found no Julia: the processes this one starts (a campaign's workers) inherit
#: it and take NumPy at once, without probing Julia again or repeating the notice
UNAVAILABLE_VARIABLE = "SKMD_JULIA_UNAVAILABLE"


_JULIA = None
_WARNED = False


def get_backend(backend=None):
    """Return a backend object for ``backend`` (a name, a backend object, or None = $SKMD_BACKEND or "auto")."""
    global _JULIA, _WARNED
    if backend is not None and not isinstance(backend, str):
        return backend
    name = (backend or os.environ.get("SKMD_BACKEND") or "auto").strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "numpy":
        return NUMPY
    if name == "auto" and os.environ.get(UNAVAILABLE_VARIABLE):
        return NUMPY            # the process that started this one found no Julia and said so once
    try:
        if _JULIA is None:
            _JULIA = JuliaBackend()
        return _JULIA
    except JuliaUnavailable as error:
        if name == "julia":
            raise RuntimeError(f"backend 'julia' was requested but Julia cannot start: {error}") from error
        if not _WARNED:
            warnings.warn("skmd: Julia is not available here, so the NumPy backend runs (same results; "
                          "'skmd info' or skmd.julia_available() says why)", RuntimeWarning, stacklevel=2)
            _WARNED = True
        os.environ[UNAVAILABLE_VARIABLE] = str(error) or "unavailable"   # worker processes inherit it
        return NUMPY


def julia_available() -> tuple[bool, str]:
    """(True, "") when the Julia backend starts, else (False, reason). Never raises."""
    try:
        get_backend("julia")
        return True, ""
    except RuntimeError as error:
        return False, str(error.__cause__ or error)      # why Julia cannot start, without the request wording
