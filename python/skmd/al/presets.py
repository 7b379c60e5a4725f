"""Presets: campaigns shipped with skmd as YAML files (``skmd al --preset NAME``).

A preset is a layer of settings under the user's ``--config`` file and flags, which both win over it.
Its file paths (:data:`PATH_SETTINGS`) are relative to the preset file, so they name files shipped in the
package. The studies of the papers are presets: ``ala2``, ``ala2-medium``, ``ala2-full``, ``ala2-h2h``,
``ubmd-ala2``, ``ubmd-si`` and ``ubmd-co2``. Nothing here imports numpy.
"""
from __future__ import annotations

from pathlib import Path

from .config import read_yaml

PRESET_DIR = Path(__file__).resolve().parents[1] / "data" / "presets"
PATH_SETTINGS = ("structures", "test", "model", "replay", "start_labels")


def preset_names() -> list:
    """The names of the shipped presets, sorted."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    """The YAML file of preset ``name``; ValueError naming the presets there are."""
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"no preset {name!r}; the presets are {', '.join(preset_names())}")
    return path


def read_preset(name: str) -> dict:
    """The settings of preset ``name``, its file paths made absolute, and ``preset`` set to its name."""
    path = preset_path(name)
    settings = read_yaml(path)
    for key in PATH_SETTINGS:
        if settings.get(key):
            settings[key] = str((path.parent / settings[key]).resolve())
    return {**settings, "preset": name}
