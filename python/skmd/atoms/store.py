"""Crash-safe labelling: every labelled batch is on disk before the next is sent.

A :class:`LabelStore` owns one directory. Each configuration of a labelling job has a key
(``"<job>/<index>"``). Before a batch goes to the oracle its keys are appended to
``oracle_calls.log`` (flushed and fsynced); after it returns, each result is written atomically
(temporary file, then rename) as ``<job>/<index>.extxyz`` or ``<job>/<index>.failed``. So after a
kill at any moment:

- every label that reached skmd is on disk (no label is lost);
- a key in the log is never sent again (no configuration goes to the oracle twice); a key that
  was sent but has no result was in flight when the run died, and is recorded as failed with the
  reason "interrupted", like any other oracle failure.

The number of oracle calls is the number of lines of ``oracle_calls.log``.
"""
from __future__ import annotations

import os
from pathlib import Path

from ase.io import read, write

from .oracle import Oracle

LOG_NAME = "oracle_calls.log"


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def atomic_write_frames(path, frames) -> None:
    """Write Atoms to an extxyz file through a temporary file, an fsync and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as handle:
        write(handle, list(frames), format="extxyz")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def read_frames(path) -> list:
    """All frames of an extxyz file (an empty list for an empty file)."""
    path = Path(path)
    return read(str(path), index=":", format="extxyz") if path.stat().st_size else []


class LabelStore:
    """Labels of several jobs kept in ``root`` (see the module docstring).

    Args:
        root: directory of the store.
        oracle: an :class:`~skmd.atoms.oracle.Oracle`.
        batch_size: configurations sent per oracle call (in flight at once).
    """

    def __init__(self, root, oracle: Oracle, batch_size: int = 1):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.oracle = oracle
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.log_path = self.root / LOG_NAME

    def sent_keys(self) -> list:
        """Keys sent to the oracle so far, in order (one per oracle call)."""
        if not self.log_path.exists():
            return []
        return [line.split()[0] for line in self.log_path.read_text().splitlines() if line.strip()]

    @property
    def oracle_calls(self) -> int:
        return len(self.sent_keys())

    def _paths(self, job: str, index: int):
        base = self.root / job / f"{index:05d}"
        return base.with_suffix(".extxyz"), base.with_suffix(".failed")

    def _log(self, keys) -> None:
        with open(self.log_path, "a") as handle:
            handle.write("".join(f"{key}\n" for key in keys))
            handle.flush()
            os.fsync(handle.fileno())

    def label(self, job: str, frames, on_batch=None) -> tuple:
        """Label ``frames`` under ``job``, resuming where an earlier run stopped.

        Returns (labelled Atoms in frame order, failures as {index: reason}). ``on_batch`` is
        called after each batch is on disk.
        """
        frames = list(frames)
        getattr(self.oracle, "check", lambda frames: None)(frames)   # refuse bad frames before logging any key
        sent = set(self.sent_keys())
        pending = []
        for index in range(len(frames)):
            done, failed = self._paths(job, index)
            if done.exists() or failed.exists():
                continue
            if f"{job}/{index}" in sent:
                atomic_write_text(failed, "interrupted: sent to the oracle, the run stopped before its label arrived\n")
                continue
            pending.append(index)
        for start in range(0, len(pending), self.batch_size):
            chunk = pending[start:start + self.batch_size]
            self._log(f"{job}/{index}" for index in chunk)
            batch = self.oracle.label([frames[index] for index in chunk])
            for position, labelled in zip(batch.indices, batch.labelled):
                atomic_write_frames(self._paths(job, chunk[position])[0], [labelled])
            for position, reason in batch.failed:
                atomic_write_text(self._paths(job, chunk[position])[1], f"{reason}\n")
            if on_batch is not None:
                on_batch()
        return self.results(job, len(frames))

    def results(self, job: str, n_frames: int) -> tuple:
        """(labelled frames in order, {index: failure reason}) of a finished job."""
        labelled, failures = [], {}
        for index in range(n_frames):
            done, failed = self._paths(job, index)
            if done.exists():
                labelled.extend(read_frames(done))
            elif failed.exists():
                failures[index] = failed.read_text().strip()
        return labelled, failures
