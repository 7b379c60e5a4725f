"""Files written so that a crash leaves either the old file or the whole new one: a temporary file,
an fsync, a rename and an fsync of the folder. Used by every run directory (studies and campaigns)."""
from __future__ import annotations

import os
from pathlib import Path


def publish(temporary: Path, path: Path) -> None:
    """Rename the fsynced ``temporary`` onto ``path`` and fsync the directory, so the name survives a crash."""
    os.replace(temporary, path)
    try:
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, an fsync and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    publish(temporary, path)


def atomic_write_frames(path, frames) -> None:
    """Write Atoms to an extxyz file through a temporary file, an fsync and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    from ase.io import write  # noqa: PLC0415  lazy: ase.io takes ~0.4 s; the text writers here (rundir, the MB studies) need none of it
    with open(temporary, "w") as handle:
        write(handle, list(frames), format="extxyz")
        handle.flush()
        os.fsync(handle.fileno())
    publish(temporary, path)


def read_frames(path) -> list:
    """All frames of an extxyz file (an empty list for an empty file)."""
    from ase.io import read  # noqa: PLC0415  lazy: ase.io takes ~0.4 s; the text writers here (rundir, the MB studies) need none of it
    path = Path(path)
    return read(str(path), index=":", format="extxyz") if path.stat().st_size else []
