"""The one bridge between Python and the Julia package ``SKMDCore``.

SKMDCore is a Julia package of its own (``Project.toml``, ``src/``, ``test/``) shipped inside the
Python package as ``skmd/julia`` and declared in ``skmd/juliapkg.json`` as a local (path, dev)
package, so that juliapkg resolves and precompiles it with PythonCall; this module then loads it
with ``using SKMDCore``. Where juliapkg installed nothing (``PYTHON_JULIAPKG_OFFLINE=yes`` with a
preinstalled Julia and depot) the shipped folder is put on Julia's ``LOAD_PATH`` first; the package
needs only the standard library, so it loads offline.

Julia is started through juliacall. Starting it is first tried in a subprocess with a time
limit, so that a machine without Julia (and without network to download it) gets a clear
reason instead of a hang; once a start has succeeded on this Python environment a marker file
skips that probe. Every Julia function this module calls is reached as ``self._core.NAME``;
``.ci/check_julia.py`` checks that each such NAME is defined and exported by SKMDCore, and that
the positional and keyword arguments of every call fit its Julia signature.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from . import numpy_backend
from .reference import NUMPY

DEFAULT_TIMEOUT_S = 600.0
PACKAGE = "SKMDCore"
JULIAPKG_JSON = Path(__file__).resolve().parent.parent / "juliapkg.json"


class JuliaUnavailable(RuntimeError):
    """Julia (through juliacall) cannot be started here; the message says why."""


def julia_package() -> tuple[str, Path]:
    """(uuid, folder) of SKMDCore as ``skmd/juliapkg.json`` declares it (its path is relative to that file)."""
    try:
        declared = json.loads(JULIAPKG_JSON.read_text())["packages"][PACKAGE]
        uuid, folder = declared["uuid"], JULIAPKG_JSON.parent / declared["path"]
    except (OSError, ValueError, KeyError) as error:
        raise JuliaUnavailable(f"{JULIAPKG_JSON} does not declare the Julia package {PACKAGE}: {error!r}") from None
    if not (folder / "Project.toml").is_file():
        raise JuliaUnavailable(f"the Julia package {PACKAGE} was not found at {folder} (no Project.toml)")
    return uuid, folder.resolve()


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
        uuid, folder = julia_package()
        marker = _marker()
        if not marker.exists():
            _probe(float(os.environ.get("SKMD_JULIA_TIMEOUT", DEFAULT_TIMEOUT_S)))
        from juliacall import Main as jl  # noqa: PLC0415  lazy: importing juliacall starts Julia (seconds)
        jl.seval(f'Base.find_package("{PACKAGE}") === nothing && pushfirst!(LOAD_PATH, raw"{folder}")')
        jl.seval(f"using {PACKAGE}")
        loaded = str(jl.seval(f"string(Base.PkgId({PACKAGE}).uuid)"))
        if loaded != uuid:
            raise JuliaUnavailable(f"Julia loaded a different {PACKAGE} (uuid {loaded}, expected {uuid})")
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

    ``evaluate`` and ``simulate`` need a potential with an analytic ``spec()`` (and, for
    ``simulate``, identity descriptors); anything else (Python-only potentials, MACE
    descriptors) is evaluated by the potential itself / runs the NumPy loop.
    """

    name = "julia"

    def __init__(self):
        self._core = load_core()

    def kernel_values(self, d_x, d_ens, amplitude, bandwidth):
        return np.asarray(self._core.kernel_values(d_x, d_ens, amplitude, bandwidth))

    def stein_force(self, d_x, d_ens, f_ens, jac_ens, amplitude, bandwidth, kT, normalization):
        return np.asarray(self._core.stein_force(d_x, d_ens, f_ens, jac_ens, amplitude, bandwidth,
                                                 kT, normalization))

    def committee_forces(self, energies, forces, udd_a, udd_b, n_atoms):
        return _arrays(self._core.committee_forces(energies, forces, udd_a, udd_b, int(n_atoms)))

    def evaluate(self, potential, x):
        spec = potential.spec(n_chains=len(x))
        if spec is None:
            return potential.evaluate_batch(x)
        return _arrays(self._core.evaluate_potential(self._handle(spec), x))

    def _handle(self, spec):
        kind, p = spec
        if kind == "mueller_brown":
            return self._core.mueller_brown_potential(p["A"], p["a"], p["b"], p["c"], p["x0"], p["y0"])
        if kind == "quadratic":
            return self._core.quadratic_potential(p["mu"], p["precision"])
        if kind == "mlp":
            return self._core.mlp_potential(p["W1"], p["b1"], p["w2"], p["b2"], float(p["lam"]), p["center"])
        raise ValueError(f"the Julia backend has no potential of kind {kind!r}")

    def simulate(self, potential, x0, noise, *, descriptor=None, ens_jac=None, **params):
        spec = potential.spec(n_chains=len(x0))
        if spec is None or descriptor is not None or ens_jac is not None:
            return NUMPY.simulate(potential, x0, noise, descriptor=descriptor, ens_jac=ens_jac, **params)
        out = self._core.simulate(self._handle(spec), x0, noise, **params)
        names = ("x_end", "steps", "status", "acq_x", "acq_step", "n_acq", "values")
        return dict(zip(names, _arrays(out)))

    def w2(self, x, y):
        x, y = numpy_backend.w2_samples(x, y)
        return float(self._core.w2_exact(x, y))
