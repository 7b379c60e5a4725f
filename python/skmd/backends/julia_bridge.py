"""The one bridge between Python and the Julia module ``SKMDCore`` (julia/src/SKMDCore.jl).

Julia is started through juliacall. Starting it is first tried in a subprocess with a time
limit, so that a machine without Julia (and without network to download it) gets a clear
reason instead of a hang; once a start has succeeded on this Python environment a marker file
skips that probe. Every Julia function this module calls is reached as ``self._core.NAME``;
``.ci/check_julia.py`` checks that each such NAME is defined and exported by SKMDCore.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from . import numpy_backend

DEFAULT_TIMEOUT_S = 600.0


class JuliaUnavailable(RuntimeError):
    """Julia (through juliacall) cannot be started here; the message says why."""


def julia_source() -> Path:
    """Path of SKMDCore.jl: ``$SKMD_JULIA_SRC``, else the repository's julia/src/SKMDCore.jl."""
    override = os.environ.get("SKMD_JULIA_SRC")
    path = Path(override) if override else Path(__file__).resolve().parents[3] / "julia" / "src" / "SKMDCore.jl"
    if not path.is_file():
        raise JuliaUnavailable(f"the Julia source {path} was not found (set SKMD_JULIA_SRC to SKMDCore.jl)")
    return path


def _marker() -> Path:
    key = hashlib.sha1(f"{sys.prefix}|{sys.version}".encode()).hexdigest()[:16]
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "skmd" / f"julia-ok-{key}"


def _probe(timeout_s: float) -> None:
    """Start juliacall in a subprocess; raise JuliaUnavailable with its last error line."""
    try:
        result = subprocess.run([sys.executable, "-c", "import juliacall"], capture_output=True,
                                text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise JuliaUnavailable(f"starting juliacall took longer than {timeout_s:.0f} s "
                               "(set SKMD_JULIA_TIMEOUT to allow longer)") from None
    if result.returncode != 0:
        lines = [line for line in (result.stderr or "").strip().splitlines() if line.strip()]
        raise JuliaUnavailable("juliacall could not start Julia: " + (lines[-1] if lines else f"exit {result.returncode}"))


_CORE = None
_FAILURE: str | None = None


def load_core():
    """Start Julia once per process and return the SKMDCore module (raises JuliaUnavailable)."""
    global _CORE, _FAILURE
    if _CORE is not None:
        return _CORE
    if _FAILURE is not None:
        raise JuliaUnavailable(_FAILURE)
    try:
        if importlib.util.find_spec("juliacall") is None:
            raise JuliaUnavailable("the Python package juliacall is not installed")
        source = julia_source()
        marker = _marker()
        if not marker.exists():
            _probe(float(os.environ.get("SKMD_JULIA_TIMEOUT", DEFAULT_TIMEOUT_S)))
        from juliacall import Main as jl  # noqa: PLC0415  (starts Julia)
        jl.seval(f'include(raw"{source}")')
        _CORE = jl.SKMDCore
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        return _CORE
    except JuliaUnavailable as error:
        _FAILURE = str(error)
        raise
    except Exception as error:  # juliacall raises its own types (JuliaError, URLError, ...)
        _FAILURE = f"juliacall failed: {type(error).__name__}: {error}"
        raise JuliaUnavailable(_FAILURE) from error


def _arrays(result):
    return tuple(np.asarray(item) for item in result)


class JuliaBackend:
    """Backend running the hot loops in Julia; same methods and semantics as NumpyBackend.

    ``simulate`` needs a potential with an analytic ``spec()`` and identity descriptors;
    anything else (Python-only potentials, MACE descriptors) runs the NumPy loop.
    """

    name = "julia"

    def __init__(self):
        self._core = load_core()

    def kernel_values(self, d_x, d_ens, amplitude, bandwidth):
        return np.asarray(self._core.kernel_values(d_x, d_ens, amplitude, bandwidth))

    def stein_force(self, d_x, d_ens, f_ens, jac_ens, amplitude, bandwidth, kT, normalization):
        return np.asarray(self._core.stein_force(d_x, d_ens, f_ens, jac_ens, amplitude, bandwidth,
                                                 kT, normalization))

    def evaluate(self, potential, x):
        return _arrays(self._core.evaluate_potential(self._handle(potential, len(x)), x))

    def _handle(self, potential, n_chains):
        kind, p = potential.spec(n_chains=n_chains)
        if kind == "mueller_brown":
            return self._core.mueller_brown_potential(p["A"], p["a"], p["b"], p["c"], p["x0"], p["y0"])
        if kind == "quadratic":
            return self._core.quadratic_potential(p["mu"], p["precision"])
        if kind == "mlp":
            return self._core.mlp_potential(p["W1"], p["b1"], p["w2"], p["b2"], float(p["lam"]), p["center"])
        raise ValueError(f"the Julia backend has no potential of kind {kind!r}")

    def simulate(self, potential, x0, noise, *, descriptor=None, ens_jac=None, ens_d=None, **params):
        if potential.spec() is None or descriptor is not None or ens_jac is not None:
            from . import NUMPY  # noqa: PLC0415
            return NUMPY.simulate(potential, x0, noise, descriptor=descriptor, ens_jac=ens_jac,
                                  ens_d=ens_d, **params)
        ens_f = params.pop("ens_f", None)
        out = self._core.simulate(self._handle(potential, len(x0)), x0, noise, ens_x=ens_d, ens_f=ens_f, **params)
        names = ("x_end", "steps", "status", "acq_x", "acq_step", "n_acq", "values")
        return dict(zip(names, _arrays(out)))

    def w2(self, x, y):
        return float(self._core.w2_exact(x, y))
