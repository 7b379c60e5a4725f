"""A run directory (a study's or a campaign's): JSON written atomically, and the saved settings that a
rerun must match.

Every study command (``skmd ala2``, ``skmd ubmd``, ``skmd mb-al``, ``skmd mb-w2``) saves its settings
in ``OUT/config.json`` and refuses to write into a directory that holds a run with other settings.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .files import atomic_write_text


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def write_json(path, payload) -> None:
    """Write ``payload`` as indented JSON, atomically (NumPy scalars and tuples allowed)."""
    atomic_write_text(path, json.dumps(payload, indent=2, default=_json_default))


def as_json(config) -> dict:
    """A study's settings (a config dataclass) as plain JSON values (tuples become lists)."""
    return json.loads(json.dumps(asdict(config), default=_json_default))


def make_run_directory(out) -> Path:
    """Create ``out`` (and parents), or raise ValueError naming it when it cannot be written."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".skmd-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"cannot write the output directory {out}: {error.strerror or error}") from error
    return out


def _saved_settings(out: Path) -> dict | None:
    """The settings of the run in ``out``: config.json, else the ``config`` of a results.json written
    before the study saved config.json (Müller–Brown studies); None for a directory without a run."""
    if (out / "config.json").exists():
        return json.loads((out / "config.json").read_text())
    if (out / "results.json").exists():
        saved = json.loads((out / "results.json").read_text()).get("config")
        if isinstance(saved, dict):
            return saved
        raise ValueError(f"{out} holds a results.json without its settings; use a new --out")
    return None


def check_config(out: Path, config, extra: dict | None = None, *, free=("backend",), growable=()) -> None:
    """Save the settings (any study's config dataclass) in ``out/config.json``, or refuse to resume
    a run made with other settings. A setting missing from an older config.json counts as its
    default value, a field missing from a nested setting (e.g. ``training``) as that field's default. The same settings resume the run (or, for a study without checkpoints, rewrite
    every file of it). ``extra`` holds settings outside the dataclass (e.g. ``{"oracle":
    "module:function"}``); one missing from an older config.json is added. Settings in ``free`` may
    change between runs (where the work runs, not what it computes); a setting in ``growable`` may
    grow (e.g. more iterations extend a finished run). The saved file then takes the new values.
    """
    path = out / "config.json"
    current = as_json(config)
    extra = dict(extra or {})
    saved = _saved_settings(out)
    if saved is None:
        write_json(path, {**current, **extra})
        return
    changed_extra = [key for key, value in extra.items() if key in saved and saved[key] != value]
    defaults = as_json(type(config)())

    def differs(key) -> bool:
        before = saved.get(key, defaults[key])
        if isinstance(before, dict) and isinstance(defaults[key], dict):     # a nested setting's missing fields too
            before = {**defaults[key], **before}
        if key in free or before == current[key]:
            return False
        return not (key in growable and before is not None and current[key] is not None and current[key] > before)

    changed = sorted(changed_extra + [key for key in current if differs(key)])
    if changed:
        raise ValueError(f"{out} holds a run with other settings ({', '.join(changed)}); "
                         "rerun with the same settings to resume, or use a new --out")
    updated = {**saved, **{key: value for key, value in extra.items() if key not in saved},
               **{key: current[key] for key in (*free, *growable) if key in current}}
    if updated != saved and (out / "config.json").exists():
        write_json(path, updated)
