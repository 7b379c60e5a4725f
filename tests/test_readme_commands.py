"""The README's main command, run verbatim in a fresh copy of the tree with a fresh venv.

It installs only the extras that command names, so a command that needs an uninstalled package
(mace, tblite, dask) fails here as it would for a new user. It downloads from the package index
(PyPI; pip's cache makes repeats quick) and takes a few minutes, hence slow. The test command is
run by ``.ci/run`` itself, the same way.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_IN_COPY = shutil.ignore_patterns(".venv", ".git", "build", "dist", "runs", "out", "site", "__pycache__",
                                         "*.egg-info", ".pytest_cache")


def readme_commands() -> tuple[str, str]:
    """(main command, test command): the first bash block of README.md and the one after the test-command marker."""
    text = (ROOT / "README.md").read_text()
    main = re.search(r"```bash\n(.+?)\n```", text, re.S).group(1).strip()
    test = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", text, re.S).group(1).strip()
    return main, test


def test_the_two_commands_are_at_the_top_and_differ():
    main, test = readme_commands()
    assert main != test and "pytest" in test and "skmd" in main
    head = (ROOT / "README.md").read_text().splitlines()[:20]
    assert any(main in line for line in head) and any(test in line for line in head)


@pytest.mark.slow
def test_the_main_command_works_in_a_fresh_copy_with_only_its_own_extras(tmp_path):
    main, _ = readme_commands()
    copy = tmp_path / "skmd"
    shutil.copytree(ROOT, copy, symlinks=True, ignore=SKIPPED_IN_COPY)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    # pip's byte-compiling of every installed module (torch's thousands) was 57 % of the install's time (117 s
    # against 50 s without, under load); the modules this run imports compile as they load instead. The command
    # itself runs verbatim.
    env["PIP_COMPILE"] = "0"
    done = subprocess.run(["bash", "-c", main], cwd=copy, env=env, capture_output=True, text=True, timeout=1800,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = copy / "runs" / "mb-al-quick"
    assert (out / "results.json").is_file() and list(out.glob("*.png")), sorted(p.name for p in out.iterdir())
    # the main job's story: every sampler's models learn where its points went (held-out labels, never trained on)
    from skmd.studies.mb_learning import learning_loop
    story = learning_loop(json.loads((out / "results.json").read_text()))
    assert len(story) == 4 and all(s["learned_where_it_went"] for s in story.values()), story
    # and a sampler whose points reach basin A (UDD here) ends better on the test set there, none worse
    reached = [s for s in story.values() if s["reached_A"]]
    assert reached and all(s["test_improved"] for s in reached), story
    skmd_lines = [line for line in done.stderr.splitlines() if not line.startswith("WARNING: Location")]
    assert not any("Traceback" in line or "UserWarning" in line for line in skmd_lines), "\n".join(skmd_lines)
    # the same venv, without the 'atoms' extra: an atomistic command says which extra to install, in one line
    atoms = subprocess.run([str(copy / ".venv" / "bin" / "skmd"), "ala2", "--quick", "--out", str(tmp_path / "a")],
                           cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert atoms.returncode == 2 and "'atoms' extra" in atoms.stderr and len(atoms.stderr.splitlines()) == 1, \
        atoms.stderr
