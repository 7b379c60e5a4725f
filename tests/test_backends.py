"""Backend selection, the bridge's own checks, the Julia parity tests, and the static Julia checks."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import skmd
from skmd.backends import NUMPY, get_backend, julia_bridge, numpy_backend

ROOT = Path(__file__).resolve().parents[1]
JULIA_OK, JULIA_REASON = skmd.julia_available()
needs_julia = pytest.mark.skipif(not JULIA_OK, reason=f"Julia parity skipped: {JULIA_REASON}")


def test_julia_reason_is_printed():
    """Print, in every run, whether the parity tests run and why not."""
    print(f"\nJulia backend available: {JULIA_OK}; {JULIA_REASON or 'parity tests run'}")


def test_unknown_backend_name():
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend("fortran")


@pytest.mark.skipif(JULIA_OK, reason="Julia starts on this machine, so there is no fallback to observe")
def test_auto_falls_back_with_one_short_warning_and_the_reason_on_request():
    code = ("import warnings, skmd.backends as b\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    first = b.get_backend('auto'); second = b.get_backend('auto')\n"
            "msgs = [str(x.message) for x in w if 'NumPy backend' in str(x.message)]\n"
            "print(first.name, second.name, len(msgs)); print(msgs[0])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SKMD_BACKEND": "auto"})
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "numpy numpy 1", out.stderr
    assert len(lines) == 2 and "Julia is not available here" in lines[1]     # one line, once
    ok, reason = skmd.julia_available()
    assert not ok and reason       # the reason (e.g. juliacall's own error) is one call away


@pytest.mark.skipif(JULIA_OK, reason="Julia starts on this machine, so there is no fallback to observe")
def test_the_processes_a_command_starts_neither_probe_julia_nor_repeat_the_notice():
    code = ("import multiprocessing, os, time, warnings, skmd.backends as b\n"
            "def child(_):\n"
            "    with warnings.catch_warnings(record=True) as w:\n"
            "        warnings.simplefilter('always')\n"
            "        t = time.time(); name = b.get_backend('auto').name\n"
            "    return name, len([x for x in w if 'NumPy backend' in str(x.message)]), time.time() - t\n"
            "if __name__ == '__main__':\n"
            "    b.get_backend('auto')\n"
            "    with multiprocessing.get_context('spawn').Pool(1) as pool:\n"
            "        name, notices, seconds = pool.map(child, [0])[0]\n"
            "    print(name, notices, seconds < 0.5, bool(os.environ.get(b.UNAVAILABLE_VARIABLE)))\n")
    script = Path(tempfile.mkdtemp()) / "command.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "SKMD_JULIA_UNAVAILABLE"})
    assert out.stdout.split() == ["numpy", "0", "True", "True"], out.stderr


@pytest.mark.skipif(JULIA_OK, reason="Julia starts on this machine")
def test_requesting_julia_fails_clearly_and_fast():
    code = ("import time, skmd\nt = time.time()\n"
            "try:\n    skmd.get_backend('julia')\nexcept RuntimeError as e:\n    print('ERR', round(time.time() - t, 1), e)\n")
    started = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("ERR"), out.stderr
    assert "backend 'julia' was requested but Julia cannot start" in out.stdout
    assert time.time() - started < 60


def test_skmd_backend_variable_is_respected():
    code = "import skmd; print(skmd.get_backend().name)"
    env = {**os.environ, "SKMD_BACKEND": "numpy"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.stdout.strip() == "numpy"
    env["SKMD_BACKEND"] = "cobol"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert "unknown backend" in out.stderr


def test_the_julia_package_is_declared_next_to_the_python_package():
    uuid, folder = julia_bridge.julia_package()
    assert (folder / "src" / "SKMDCore.jl").is_file() and (folder / "test" / "runtests.jl").is_file()
    project = (folder / "Project.toml").read_text()
    assert f'uuid = "{uuid}"' in project and 'name = "SKMDCore"' in project
    declared = json.loads(julia_bridge.JULIAPKG_JSON.read_text())["packages"]["SKMDCore"]
    assert declared["dev"] is True and (julia_bridge.JULIAPKG_JSON.parent / declared["path"]).resolve() == folder


def test_juliapkg_itself_reads_skmdcore_as_a_dev_path_package():
    """juliapkg (what juliacall runs to install Julia packages) finds our declaration and its folder."""
    deps = pytest.importorskip("juliapkg.deps")
    packages = {spec.name: spec for spec in deps.find_requirements()[1]}
    uuid, folder = julia_bridge.julia_package()
    assert packages["SKMDCore"].uuid == uuid and packages["SKMDCore"].dev is True
    assert Path(packages["SKMDCore"].path).resolve() == folder


# ------------------------------------------------------------------ the bridge's Python side (no Julia needed)
class RefusingCore:
    """Stands in for the SKMDCore module: records w2_exact calls, refuses every other function."""

    def __init__(self):
        self.w2_calls = []

    def w2_exact(self, x, y):
        self.w2_calls.append((x, y))
        return numpy_backend.w2_exact(x, y)

    def __getattr__(self, name):
        raise AssertionError(f"the bridge called SKMDCore.{name}")


def bridge_with(core):
    """A JuliaBackend whose Julia module is ``core`` (its constructor would start Julia)."""
    backend = object.__new__(julia_bridge.JuliaBackend)
    backend._core = core
    return backend


def mb_function_potential():
    mb = skmd.MuellerBrown()
    return skmd.FunctionPotential(lambda x: (mb.energy(x), mb.forces(x)), dim=2)


def test_julia_evaluate_and_simulate_leave_python_only_potentials_to_python():
    julia = bridge_with(RefusingCore())
    potential = mb_function_potential()
    x = skmd.MuellerBrown.minima[:2] + 0.01
    for ours, theirs in zip(julia.evaluate(potential, x), NUMPY.evaluate(potential, x)):
        np.testing.assert_array_equal(ours, theirs)
    ensemble = skmd.MuellerBrown.minima[1] + 0.05 * np.random.default_rng(3).standard_normal((6, 2))
    kwargs = dict(kernel=skmd.GaussianKernel(300.0, "median"), kT=4.0, dt=1e-4, noise=5,
                  stopping=skmd.AdaptiveStop(100.0, 10, 100), bandwidth_schedule="initial")
    on_julia = skmd.SKMD(potential, ensemble, backend=julia, **kwargs).run(1)
    on_numpy = skmd.SKMD(potential, ensemble, backend="numpy", **kwargs).run(1)
    np.testing.assert_array_equal(on_julia, on_numpy)


def test_bridge_w2_converts_its_inputs_and_refuses_bad_ones_before_julia():
    core = RefusingCore()
    julia = bridge_with(core)
    x = [[0.0, 1.0], [2.0, 3.0], [1, 1]]
    y = [[2.0, 3.0], [0.0, 1.0], [1, 2]]
    assert julia.w2(x, y) == pytest.approx(NUMPY.w2(x, y)) == pytest.approx(np.sqrt(1 / 3))
    received = core.w2_calls[0]
    assert all(isinstance(a, np.ndarray) and a.dtype == np.float64 and a.shape == (3, 2) for a in received)
    wide = np.zeros((3, 3))
    for bad_x, bad_y, message in [(x, wide, "one shape"), (x, y[:2], "one shape"), (x[0], y[0], "one shape"),
                                  (x, [[np.nan, 0.0]] * 3, "NaN"), (x, [[np.inf, 0.0]] * 3, "NaN"),
                                  (x, [[1e160, 0.0]] * 3, "overflow")]:
        for backend in (julia, NUMPY):
            with pytest.raises(ValueError, match=message):
                backend.w2(bad_x, bad_y)
    assert len(core.w2_calls) == 1


def test_committee_forces_batched_shapes():
    rng = np.random.default_rng(4)
    B, K, D = 3, 4, 6
    energies, forces = rng.standard_normal((B, K)), rng.standard_normal((B, K, D))
    energy, force, rho, bias = NUMPY.committee_forces(energies, forces, np.full(B, 2.0), np.full(B, 0.5), 2)
    assert energy.shape == rho.shape == bias.shape == (B,) and force.shape == (B, D)
    assert np.all(bias < 0) and np.all(rho > 0)
    plain = NUMPY.committee_forces(energies, forces, np.zeros(B), np.full(B, 0.5), 2)
    np.testing.assert_allclose(plain[0], energies.mean(axis=1))
    np.testing.assert_allclose(plain[1], forces.mean(axis=1))


# ------------------------------------------------------------------ static checks of the Julia code
def load_checker():
    spec = importlib.util.spec_from_file_location("check_julia", ROOT / ".ci" / "check_julia.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_julia_file_parses_and_the_bridge_matches():
    checker = load_checker()
    assert checker.problems() == []
    calls = checker.bridge_calls(checker.BRIDGE)
    assert {"simulate", "stein_force", "w2_exact", "kernel_values", "committee_forces"} <= calls


def test_ci_check_script_passes():
    out = subprocess.run([sys.executable, str(ROOT / ".ci" / "check_julia.py")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def copy_checked_files(tmp_path):
    """A copy of the files check_julia reads, to break on purpose."""
    for relative in ("julia/Project.toml", "julia/src/SKMDCore.jl", "python/skmd/juliapkg.json",
                     "python/skmd/backends/julia_bridge.py", "python/skmd/backends/numpy_backend.py"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text((ROOT / relative).read_text())
    (tmp_path / "python" / "skmd" / "julia").symlink_to(Path("..") / ".." / "julia")
    checker = load_checker()
    for name in ("BRIDGE", "TWIN", "PROJECT", "JULIAPKG", "MODULE"):
        setattr(checker, name, tmp_path / getattr(checker, name).relative_to(ROOT))
    checker.CODE_SOURCES = [checker.TWIN]
    checker.ROOT = tmp_path
    assert checker.problems() == []
    return checker


@pytest.mark.parametrize("relative, old, new, message", [
    ("julia/Project.toml", 'uuid = "5', 'uuid = "6', "uuid of SKMDCore"),
    ("python/skmd/juliapkg.json", '"path": "julia"', '"path": "src"', "does not lead"),
    ("julia/src/SKMDCore.jl", "const RULE_PERIODIC = 2", "const RULE_PERIODIC = 4", "RULE_PERIODIC differs"),
    ("python/skmd/backends/numpy_backend.py", "STATUS_DIVERGED = 0, 1, 2", "STATUS_DIVERGED = 0, 1, 3",
     "STATUS_DIVERGED differs"),
    ("julia/src/SKMDCore.jl", "ens_d=nothing, ens_f=nothing", "ens_x=nothing, ens_f=nothing", "keywords forwarded"),
    ("python/skmd/backends/numpy_backend.py", "min_gap=0, max_acquire=0):", "min_gap=0, max_acquire=0, seed=0):",
     "keywords forwarded"),
    ("python/skmd/backends/julia_bridge.py", "self._core.w2_exact(x, y)", "self._core.w2_exact(x, y, 2)",
     "3 positional"),
    ("julia/src/SKMDCore.jl", "export kernel_values, stein_force,", "export kernel_values,", "not exported"),
])
def test_the_checker_catches_disagreements(tmp_path, relative, old, new, message):
    checker = copy_checked_files(tmp_path)
    path = tmp_path / relative
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    assert any(message in line for line in checker.problems()), checker.problems()


def test_the_checker_catches_errors(tmp_path):
    checker = load_checker()
    broken = tmp_path / "broken.jl"
    broken.write_text("function f(x\n    x +\nend end\n")
    checker.ROOT = tmp_path
    assert checker.syntax_errors(broken)
    good = tmp_path / "good.jl"
    good.write_text("module M\nexport f\nf(x) = x\nfunction g(y)\n    y\nend\nend\n")
    defined, exported = checker.julia_definitions(good)
    assert defined == {"f", "g"} and exported == {"f"}


# ------------------------------------------------------------------ Julia parity (skip here)
def parity_inputs(seed=0, B=3, N=5, D=2, M=3):
    rng = np.random.default_rng(seed)
    return dict(d_x=rng.standard_normal((B, M)), d_ens=rng.standard_normal((B, N, M)),
                f_ens=rng.standard_normal((B, N, D)), jac_ens=rng.standard_normal((B, N, M, D)),
                amplitude=rng.uniform(0.5, 2, B), bandwidth=rng.uniform(0.5, 2, B),
                kT=rng.uniform(0.5, 2, B), normalization=np.full(B, N + 1.0))


@needs_julia
def test_parity_kernel_sums_and_stein_force():
    julia = get_backend("julia")
    p = parity_inputs()
    np.testing.assert_allclose(julia.kernel_values(p["d_x"], p["d_ens"], p["amplitude"], p["bandwidth"]),
                               NUMPY.kernel_values(p["d_x"], p["d_ens"], p["amplitude"], p["bandwidth"]),
                               rtol=1e-10, atol=1e-10)
    args = [p[k] for k in ("d_x", "d_ens", "f_ens", "jac_ens", "amplitude", "bandwidth", "kT", "normalization")]
    np.testing.assert_allclose(julia.stein_force(*args), NUMPY.stein_force(*args), rtol=1e-10, atol=1e-10)
    q = parity_inputs(M=2)
    args = [q[k] for k in ("d_x", "d_ens", "f_ens")] + [None] + [q[k] for k in ("amplitude", "bandwidth", "kT", "normalization")]
    np.testing.assert_allclose(julia.stein_force(*args), NUMPY.stein_force(*args), rtol=1e-10, atol=1e-10)


def parity_potentials(rng, B):
    K, H = 4, 20
    return [skmd.MuellerBrown(), skmd.Quadratic([0.1, -0.3], [[2.0, 0.3], [0.3, 1.0]]),
            skmd.MLPPotential(rng.standard_normal((B, K, H, 2)), rng.standard_normal((B, K, H)),
                              rng.standard_normal((B, K, H)), rng.standard_normal((B, K)), 0.1, [0.0, 0.5]),
            skmd.MLPPotential(rng.standard_normal((H, 2)), rng.standard_normal(H), rng.standard_normal(H), 0.2, 0.1)]


@needs_julia
@pytest.mark.parametrize("rule", [skmd.FixedSteps(40), skmd.AdaptiveStop(5.0, 5, 40), skmd.Periodic(7, 4),
                                  skmd.UncertaintyThreshold(0.2, 3, 40, min_gap=3)])
def test_parity_simulate(rule):
    rng = np.random.default_rng(1)
    B, N = 3, 6
    julia = get_backend("julia")
    for potential in parity_potentials(rng, B):
        x0 = skmd.MuellerBrown.minima[1] + 0.05 * rng.standard_normal((B, 2))
        ens = x0[:, None, :] + 0.1 * rng.standard_normal((B, N, 2))
        forces = NUMPY.evaluate(potential, ens.reshape(-1, 2)) if not isinstance(potential, skmd.MLPPotential) else None
        ens_f = (forces[1].mean(1).reshape(B, N, 2) if forces is not None else rng.standard_normal((B, N, 2)))
        noise = rng.standard_normal((rule.max_steps, B, 2))
        params = dict(dt=np.full(B, 1e-4), gamma=np.ones(B), alpha=np.ones(B), sigma2=np.full(B, 4.0),
                      kT=np.full(B, 4.0), bound=np.full(B, 10.0), ens_d=ens, ens_f=ens_f,
                      amplitude=np.full(B, 50.0), bandwidth=np.full(B, 0.2), normalization=np.full(B, N + 1.0),
                      **rule.kernel_args())
        if isinstance(rule, skmd.UncertaintyThreshold):
            params.update(udd_a=np.full(B, 5.0), udd_b=np.full(B, 0.5), udd_atoms=1)
        ours = NUMPY.simulate(potential, x0, noise, **params)
        theirs = julia.simulate(potential, x0, noise, **params)
        for key in ("x_end", "acq_x", "values"):
            np.testing.assert_allclose(theirs[key], ours[key], rtol=1e-10, atol=1e-10, equal_nan=True)
        for key in ("steps", "status", "acq_step", "n_acq"):
            np.testing.assert_array_equal(theirs[key], ours[key])


@needs_julia
def test_parity_committee_forces():
    rng = np.random.default_rng(5)
    args = (rng.standard_normal((3, 4)), rng.standard_normal((3, 4, 6)), np.full(3, 2.0), np.full(3, 0.5), 2)
    for ours, theirs in zip(NUMPY.committee_forces(*args), get_backend("julia").committee_forces(*args)):
        np.testing.assert_allclose(theirs, ours, rtol=1e-10, atol=1e-10)


@needs_julia
def test_parity_w2_and_samplers():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 2)), rng.standard_normal((40, 2))
    assert skmd.w2_distance(x, y, backend="julia") == pytest.approx(skmd.w2_distance(x, y, backend="numpy"), abs=1e-10)
    mb = skmd.MuellerBrown()
    ens = mb.minima[1] + 0.05 * rng.standard_normal((6, 2))
    kwargs = dict(kernel=skmd.GaussianKernel(300.0, "median"), kT=4.0, dt=1e-4,
                  stopping=skmd.AdaptiveStop(100.0, 10, 200), bandwidth_schedule="initial")
    a = skmd.SKMD(mb, ens, noise=4, backend="julia", **kwargs).run(2)
    b = skmd.SKMD(mb, ens, noise=4, backend="numpy", **kwargs).run(2)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------ machine description for benchmark JSON
def test_machine_info_names_the_cpu_threads_and_load():
    from skmd.tools.machine import machine_info  # noqa: PLC0415
    info = machine_info()
    assert json.loads(json.dumps(info)) == info
    assert set(info) >= {"cpu_model", "n_cores", "torch_threads", "omp_num_threads", "load_average", "python",
                         "platform"}
    assert info["cpu_model"] and info["n_cores"] >= 1
    assert info["omp_num_threads"] == os.environ.get("OMP_NUM_THREADS")
    assert info["load_average"] is None or len(info["load_average"]) == 3
