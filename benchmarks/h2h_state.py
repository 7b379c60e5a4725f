"""A head-to-head seed's run directory kept in git between sessions, without the models nothing reads again.

A seed of ``benchmarks/ala2_h2h.py`` takes longer than one session, and its run directory
(benchmarks/work/, not in git) does not outlive the session. :func:`save_state` copies it into
benchmarks/state/ (in git) with every label, selection, metric and log, but only the models a later stage
reads; :func:`restore_state` puts it back before the seed resumes, which then redoes nothing that finished.

Models kept (each about 1 MB):

* unfinished seed: ``model0/`` (the controls start from it), and in every chain of ``iterKK`` folders
  (``samplers/<name>/``, ``controls/<name>/``) those of the last finished iteration, the one before it
  (a sampler's last fine-tuning is retrained from it for the training-noise control) and any later
  (a training that finished in an unfinished iteration); models outside chains (the training-noise
  controls) until their ``metrics.json`` exists;
* finished seed (its ``seed<N>.json`` written): only each sampler's final models, which get published.

mace's working folders (``training*/``, present only with ``keep_training_files``) are never kept.
A restored seed resumes only in a checkout at the same path: its config.json names the shipped inputs
(structures, surrogate, starting labels, test set) by absolute path, and a changed input is refused.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

ITERATION = re.compile(r"iter(\d+)$")


def _last_finished(chain: Path) -> int:
    """The last iteration of a chain folder with its ``metrics.json`` written (0 if none)."""
    done = [int(ITERATION.match(d.name).group(1)) for d in chain.iterdir()
            if d.is_dir() and ITERATION.match(d.name) and (d / "metrics.json").exists()]
    return max(done, default=0)


def _keeps_model(relative: Path, root: Path, finished: bool) -> bool:
    """Whether the model file at ``root/relative`` is read by a later stage (see the module docstring)."""
    folder = root / relative.parent
    match = ITERATION.match(folder.name)
    if finished:
        if relative.parts[0] != "samplers" or not match:
            return False
        return int(match.group(1)) == max(int(ITERATION.match(d.name).group(1)) for d in folder.parent.iterdir()
                                          if d.is_dir() and ITERATION.match(d.name))
    if relative.parts[0] == "model0":
        return True
    if match:
        return int(match.group(1)) >= _last_finished(folder.parent) - 1
    return not (folder / "metrics.json").exists()


def kept_files(root: Path, finished: bool) -> list:
    """The files of run directory ``root`` that :func:`save_state` keeps, relative to it."""
    kept = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or any(part.startswith("training") for part in relative.parts[:-1]):
            continue
        if path.suffix != ".safetensors" or _keeps_model(relative, root, finished):
            kept.append(relative)
    return kept


def save_state(work: Path, state: Path, finished: bool) -> list:
    """Replace ``state`` by the kept files of run directory ``work`` (written beside it and swapped in, so an
    interrupted save leaves a whole state, the old or the new); returns the files kept. ValueError, and the
    state left as it is, when ``work`` is no run directory (a seed this session neither ran nor restored)."""
    work, state = Path(work), Path(state)
    if not (work / "config.json").is_file():
        raise ValueError(f"{work} holds no run (no config.json): nothing to save, {state} left as it is")
    files = kept_files(work, finished)
    partial, old = (state.with_name(state.name + suffix) for suffix in (".partial", ".old"))
    shutil.rmtree(partial, ignore_errors=True)
    for relative in files:
        (partial / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(work / relative, partial / relative)
    shutil.rmtree(old, ignore_errors=True)
    if state.exists():
        state.rename(old)
    partial.rename(state)
    shutil.rmtree(old, ignore_errors=True)
    return files


def restore_state(work: Path, state: Path) -> bool:
    """Copy ``state`` to ``work`` when ``work`` does not exist yet and ``state`` does; whether it did."""
    work, state = Path(work), Path(state)
    if work.exists() or not state.is_dir():
        return False
    shutil.copytree(state, work)
    return True
