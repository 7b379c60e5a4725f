"""The command line as a user meets it: fast help, one-line errors, a quiet start, Ctrl-C, progress lines."""
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from skmd.cli.main import interrupted_line, main, missing_extra_line
from skmd.tools.progress import progress

HEAVY = ("numpy", "torch", "mace", "e3nn", "tblite", "dask", "scipy", "matplotlib", "ase")
COMMANDS = ("info", "al", "mb-al", "mb-w2", "ala2", "ubmd")


def run_python(code, timeout=120, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env}, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], *([c, "--help"] for c in COMMANDS), ["ala2", "--no-such-flag"]])
def test_help_and_argument_errors_import_no_heavy_package(argv):
    code = ("import sys\nfrom skmd.cli.main import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "HEAVY []", result.stdout


def test_importing_mace_through_skmd_prints_nothing():
    result = run_python("import skmd.atoms")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == "", (result.stdout, result.stderr)


def test_a_missing_extra_is_named_in_one_line():
    line = missing_extra_line("ala2", ModuleNotFoundError("No module named 'mace'", name="mace"))
    assert "'atoms' extra" in line and "\n" not in line
    assert missing_extra_line("ala2", ModuleNotFoundError("x", name="no_such_thing")) is None


def test_the_interrupt_line_says_what_was_saved_and_how_to_resume(tmp_path):
    class Args:
        command, out, resumable = "ala2", str(tmp_path), True
    assert f"saved in {tmp_path}" in interrupted_line(Args) and "same command again" in interrupted_line(Args)
    assert "--retry-failed" in interrupted_line(Args)
    Args.resumable = False
    assert "does not resume" in interrupted_line(Args)
    Args.out = str(tmp_path / "never-made")
    assert interrupted_line(Args).endswith("interrupted before anything was written")


def test_ctrl_c_ends_in_one_line_and_no_traceback(tmp_path):
    """Ctrl-C once the study runs (its first progress line is out): one line, no traceback. The child gets
    Ctrl-C's default disposition back: pytest-xdist workers ignore SIGINT, and a child inherits that."""
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "skmd.cli.main", "mb-al", "--quick", "--backend", "numpy",
                                "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    deadline = time.time() + 300
    while time.time() < deadline:
        line = process.stderr.readline()
        seen.append(line)
        if not line or line.startswith("mb-al "):
            break
    assert process.poll() is None, "".join(seen)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode in (130, -signal.SIGINT), stderr      # a shell shows 130 for either
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("skmd mb-al: interrupted"), stderr


def test_progress_to_a_file_is_plain_lines_not_carriage_returns():
    stream = io.StringIO()
    assert list(progress(range(3), desc="walkers", stream=stream)) == [0, 1, 2]
    text = stream.getvalue()
    assert "\r" not in text and text.splitlines()[0].startswith("walkers: 1/3 done")
    assert text.splitlines()[-1].startswith("walkers: 3/3 done")


def test_info_names_the_backend_and_why_julia_is_not_used(capsys):
    assert main(["info", "--backend", "numpy"]) == 0
    printed = capsys.readouterr().out
    assert "backend: numpy" in printed and "Julia backend:" in printed


def test_info_imports_no_torch_and_prints_no_fallback_notice():
    """``skmd info`` says why Julia is not used once, in its own words, without loading torch (seconds)."""
    code = ("import sys\nfrom skmd.cli.main import main\nmain(['info'])\n"
            "print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'mace', 'e3nn'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "HEAVY []", result.stdout
    assert "NumPy backend runs" not in result.stderr, result.stderr


def test_cli_startup_benchmark_writes_its_ratio(tmp_path):
    from pathlib import Path
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "cli_startup.py"
    result = subprocess.run([sys.executable, str(script), "--repeats", "1", "--out", str(tmp_path / "c.json")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "c.json").read_text())
    assert record["reference"] == "python -c 'import ase'" and record["commands"]["skmd --help"]["ratio"] > 0


def test_the_mueller_brown_studies_run_without_the_atoms_extra(tmp_path):
    """The README's main command installs only the 'ml' extra: no mace, e3nn, tblite or dask may be needed."""
    code = ("import sys\n"
            "for name in ('mace', 'e3nn', 'tblite', 'dask', 'distributed', 'safetensors'):\n"
            "    sys.modules[name] = None          # import fails as if not installed\n"
            "from skmd.cli.main import main\n"
            f"assert main(['mb-al', '--quick', '--trials', '2', '--iterations', '1', '--out', {str(tmp_path / 'al')!r}]) == 0\n"
            f"assert main(['mb-w2', '--quick', '--trials', '2', '--out', {str(tmp_path / 'w2')!r}]) == 0\n")
    result = run_python(code, timeout=600, SKMD_BACKEND="numpy")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert (tmp_path / "al" / "results.json").is_file() and (tmp_path / "w2" / "results.json").is_file()


def test_version(capsys):
    import skmd
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"skmd {skmd.__version__}"


def test_an_atomistic_command_without_the_atoms_extra_names_it_in_one_line(tmp_path):
    """As the README's main-command venv has it: no mace. The oracle's import fails on mace, which is an extra."""
    code = ("import sys\n"
            "sys.modules['mace'] = None          # import fails as if not installed\n"
            "from skmd.cli.main import main\n"
            f"sys.exit(main(['ala2', '--quick', '--out', {str(tmp_path / 'a')!r}]))\n")
    result = run_python(code, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "'atoms' extra" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "a").exists()


def test_an_oracle_module_in_the_current_directory_is_found(tmp_path, monkeypatch):
    import sys

    from skmd.tools.factories import load_factory
    (tmp_path / "my_lab_oracle.py").write_text("from ase.calculators.emt import EMT\n\ndef make():\n    return EMT()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert type(load_factory("my_lab_oracle:make", "--oracle")()).__name__ == "EMT"
    with pytest.raises(ValueError, match="cannot import --oracle 'no_such_module:make'"):
        load_factory("no_such_module:make", "--oracle")


def test_a_broken_config_file_names_its_line(tmp_path):
    from skmd.al.config import read_yaml
    path = tmp_path / "campaign.yaml"
    path.write_text("iterations: 3\nsamplers: [md, ubmd\nwalkers: 4\n")
    with pytest.raises(ValueError, match=r"not valid YAML: line 3, column \d+: "):
        read_yaml(path)
