"""Files of a run directory: JSON written atomically, the saved settings, the oracle factory by name."""
from __future__ import annotations

import importlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np



def load_factory(spec: str):
    """``"module:function"`` → the calculator factory it names (e.g. ``skmd.atoms.oracle:gfn2_xtb``)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--calculator must look like 'module:function', got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot import the calculator factory {spec!r}: {error}") from error
    if not callable(factory):
        raise ValueError(f"{spec!r} is not callable")
    return factory


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def write_json(path, payload) -> None:
    """Write ``payload`` as indented JSON, atomically (NumPy scalars and tuples allowed)."""
    from ...atoms.store import atomic_write_text  # noqa: PLC0415
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


def check_config(out: Path, config) -> None:
    """Save the settings (any study's config dataclass) in ``out/config.json``, or refuse to resume
    a run made with other settings. A setting missing from an older config.json counts as its
    default value; the backend may change between runs.
    """
    path = out / "config.json"
    current = as_json(config)
    if not path.exists():
        write_json(path, current)
        return
    saved = json.loads(path.read_text())
    defaults = as_json(type(config)())
    changed = sorted(key for key in current if key != "backend" and saved.get(key, defaults[key]) != current[key])
    if changed:
        raise ValueError(f"{out} holds a run with other settings ({', '.join(changed)}); "
                         "rerun with the same settings to resume, or use a new --out")
