"""The wheel, installed non-editable into a fresh virtual environment, works as a user gets it.

The source tree is copied, built into a wheel (``pip wheel --no-build-isolation``), and installed
with ``--no-deps`` into a new venv. That venv sees the third-party dependencies (numpy, torch, ...)
of the running environment through a ``.pth`` file listing its site-packages folders: paths listed
in a ``.pth`` file are added as plain folders, so the editable-install hook of the running
environment is not run, and ``import skmd`` finds only the installed wheel.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_IN_COPY = shutil.ignore_patterns(".venv", ".git", "build", "dist", "runs", "out", "__pycache__",
                                         "*.egg-info", ".pytest_cache", "results")

pytestmark = pytest.mark.slow


def run(command, timeout, **kwargs):
    """subprocess.run with captured text output, single-threaded maths, and a time limit."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **kwargs.pop("env", {})}
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of the fresh venv, the installed skmd folder, a scratch folder)."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("building the wheel needs setuptools (>= 70.1) in the running environment")
    scratch = tmp_path_factory.mktemp("wheel")
    source = scratch / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=SKIPPED_IN_COPY)
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                 "-w", scratch / "dist", source], timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (scratch / "dist").glob("skmd-*.whl")
    venv = scratch / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", venv], timeout=120)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    done = run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
               timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], 60).stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_skmd_test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    where = run([python, "-c", "import skmd, os; print(os.path.dirname(skmd.__file__))"], 120)
    assert where.returncode == 0, where.stderr
    package = Path(where.stdout.strip())
    assert package.is_relative_to(venv), f"import skmd found {package}, not the installed wheel"
    return python, package, scratch


def test_the_installed_package_holds_every_julia_file_and_they_parse(installed):
    python, package, _ = installed
    shipped = sorted(p.relative_to(package / "julia") for p in (package / "julia").rglob("*.jl"))
    in_repo = sorted(p.relative_to(ROOT / "julia") for p in (ROOT / "julia").rglob("*.jl"))
    assert shipped == in_repo and shipped
    assert (package / "julia" / "Project.toml").read_text() == (ROOT / "julia" / "Project.toml").read_text()
    spec = importlib.util.spec_from_file_location("check_julia", ROOT / ".ci" / "check_julia.py")
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    for path in shipped:
        tree = checker.parser().parse((package / "julia" / path).read_bytes())
        assert not tree.root_node.has_error, f"installed {path} does not parse"
    declared = run([python, "-c", "from skmd.backends.julia_bridge import julia_package as j; "
                               "import json; u, f = j(); print(json.dumps([u, str(f)]))"], 120)
    assert declared.returncode == 0, declared.stderr
    uuid, folder = json.loads(declared.stdout)
    assert Path(folder) == (package / "julia").resolve() and uuid in (package / "julia" / "Project.toml").read_text()
    seen = run([python, "-c", "import juliapkg.deps as d, json; "
                          "print(json.dumps({p.name: p.path for p in d.find_requirements()[1]}))"], 120)
    assert seen.returncode == 0, seen.stderr  # juliapkg (juliacall's installer) develops SKMDCore from there
    assert Path(json.loads(seen.stdout.strip().splitlines()[-1])["SKMDCore"]).resolve() == Path(folder)


def test_requesting_julia_in_the_installed_package_is_clear_and_never_hangs(installed):
    python, _, scratch = installed
    code = ("import skmd\ntry:\n    print('BACKEND', skmd.get_backend().name)\n"
            "except RuntimeError as error:\n    print('ERROR', error)\n")
    env = {"SKMD_BACKEND": "julia", "SKMD_JULIA_TIMEOUT": "120", "XDG_CACHE_HOME": str(scratch / "cache")}
    out = run([python, "-c", code], timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    if out.stdout.startswith("BACKEND"):  # a machine where Julia starts: it must be the shipped package
        assert out.stdout.split() == ["BACKEND", "julia"]
    else:
        assert out.stdout.startswith("ERROR backend 'julia' was requested but Julia cannot start:"), out.stdout
        assert "was not found" not in out.stdout, out.stdout  # the shipped SKMDCore is always found


def test_skmd_mb_al_quick_runs_from_the_installed_package(installed):
    python, _, scratch = installed
    out_dir = scratch / "mb_al"
    env = {"SKMD_JULIA_TIMEOUT": "120", "XDG_CACHE_HOME": str(scratch / "cache")}
    result = run([python.parent / "skmd", "mb-al", "--quick", "--trials", "2", "--iterations", "1", "--no-progress",
                  "--out", out_dir], timeout=900, cwd=scratch, env=env)      # the whole quick run: the README test
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    results = json.loads((out_dir / "results.json").read_text())
    assert set(results["samplers"]) == {"langevin", "skmd", "a-skmd", "udd"}
    assert results["config"]["trials"] == 2 and (out_dir / "mb_al_rmse.png").stat().st_size > 0


def test_the_installed_wheel_carries_the_fixed_test_set(installed):
    python, package, scratch = installed
    code = ("from skmd.studies.ala2_testset import shipped_testset, load_testset\n"
            "path, sha = shipped_testset(); frames = load_testset(path, expected_sha256=sha)\n"
            "print(path); print(len(frames))")
    result = run([python, "-c", code], timeout=300, cwd=scratch)
    assert result.returncode == 0, result.stderr[-2000:]
    path, count = result.stdout.strip().splitlines()[-2:]
    assert Path(path).is_relative_to(package) and int(count) > 0


def test_a_preset_scored_on_the_shipped_test_set_runs_from_the_installed_wheel(installed):
    """``skmd al --preset ala2`` from a folder outside the source tree: its structures and its test set
    (the 300 shipped frames) come from the installed package. EMT (which has H, C, N and O) stands in for
    GFN2-xTB, and a tiny MACE in skmd's safe format for the surrogate, so that it runs in about a minute.
    (``--trace-interval 1``: the preset's 5 exceeds the 3 steps, and an empty trace fails in skmd.al.traces.)"""
    pytest.importorskip("mace")
    from skmd.atoms.mace_models import build_mace, save_mace
    python, package, scratch = installed
    work = scratch / "preset_run"
    work.mkdir()
    model = save_mace(build_mace(channels=4, max_L=0, num_interactions=1, atomic_numbers=[1, 6, 7, 8], seed=0),
                      work / "tiny.safetensors")
    command = [python, "-m", "skmd.cli.main", "al", "--preset", "ala2", "--oracle", "ase.calculators.emt:EMT",
               "--model", model.name, "--iterations", "1", "--walkers", "2", "--steps", "3", "--trace-interval", "1",
               "--select", "2", "--start-frames", "12", "--finetune-epochs", "2", "--valid-fraction", "0.25",
               "--samplers", "md300", "--out", "run"]
    result = run(command, timeout=900, cwd=work, env={"XDG_CACHE_HOME": str(scratch / "cache")})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    results = json.loads((work / "run" / "results.json").read_text())
    config = results["config"]
    installed_data = package.resolve() / "data"
    assert config["preset"] == "ala2" and Path(config["test"]) == installed_data / "ala2_testset.extxyz"
    assert Path(config["structures"]).is_relative_to(installed_data)
    assert Path(config["model"]) == (work / "tiny.safetensors").resolve()
    assert results["test_frames"] == 300 and results["initial"]["n_frames"] == 300
    (metrics,) = results["samplers"]["md300"]["iterations"]
    assert metrics["n_frames"] == 300 and metrics["n_labelled"] == 2
    assert results["oracle_calls"] == 12 + 2                     # the starting labels and one batch, no test labels
