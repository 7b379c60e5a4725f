"""Files written so that a crash leaves either the old file or the whole new one: a temporary file,
an fsync, a rename and an fsync of the folder. Used by every run directory (studies and campaigns).
Also what can be read of a file without loading it: its SHA-256 and a safetensors file's JSON header."""
from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

#: the largest safetensors JSON header read (bytes); a larger length field means the file is something else
MAX_HEADER_BYTES = 100_000_000


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


def file_sha256(path) -> str:
    """Hex SHA-256 of the file at ``path`` (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def safetensors_header(path) -> dict:
    """The JSON header of a safetensors file (an 8-byte little-endian length, then that many bytes of JSON);
    ValueError (or ``struct.error``) when the file is not one, OSError when it cannot be read."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if not 2 <= length <= MAX_HEADER_BYTES:
            raise ValueError(f"{path}: not a safetensors file (header length {length})")
        header = json.loads(handle.read(length))
    if not isinstance(header, dict):
        raise ValueError(f"{path}: not a safetensors file (its header is no JSON object)")
    return header


def canonical_safetensors(path) -> None:
    """Rewrite the safetensors file at ``path`` in place with its JSON header's keys sorted (tensors and
    metadata alike), so that equal tensors and metadata give equal bytes and an equal SHA-256: the writer
    (safetensors' Rust code) orders the metadata as a hash map does, differently in every process. The
    tensor bytes and their offsets are unchanged; the header is padded with spaces to a multiple of 8 bytes,
    as the writer pads it."""
    path = Path(path)
    header = safetensors_header(path)
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        handle.seek(8 + length)
        data = handle.read()
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text + data)
