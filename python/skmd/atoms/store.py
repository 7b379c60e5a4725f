"""Crash-safe labelling: every labelled batch is on disk before the next is sent.

A :class:`LabelStore` owns one directory. Each configuration of a labelling job has a key
(``"<job>/<index>"``). Before a batch goes to the oracle its keys are appended to
``oracle_calls.log`` (flushed and fsynced); after it returns, each result is written atomically
(temporary file, then rename) as ``<job>/<index>.extxyz`` or ``<job>/<index>.failed``. So after a
kill at any moment:

- every label that reached skmd is on disk (no label is lost);
- a key with a result is not sent again; a key that was sent but has no result was in flight when
  the run died: its label never arrived, so the next run sends it again by itself (a line
  ``<key> retry`` of the log), since the oracle did not fail on it.

Failed keys (the oracle raised or returned a non-finite label) are sent again only on request:
``retry_failed=True`` (``--retry-failed``); each retry is a new line ``<key> retry`` of the log. Every job reports its failures with the oracle's own message (a one-line warning), and stops
with :class:`LabellingError` once more than ``max_failed_fraction`` of its frames have failed.

The number of oracle calls is the number of lines of ``oracle_calls.log``.
"""
from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path

from ..tools.files import atomic_write_frames, atomic_write_text, publish, read_frames  # noqa: F401  (re-exported)
from .oracle import Oracle

LOG_NAME = "oracle_calls.log"
INTERRUPTED = "interrupted: sent to the oracle, the run stopped before its label arrived"


class LabellingError(RuntimeError):
    """Too many frames of a labelling job failed; the message names the oracle's own errors."""


class LabelStore:
    """Labels of several jobs kept in ``root`` (see the module docstring).

    Args:
        root: directory of the store.
        oracle: an :class:`~skmd.atoms.oracle.Oracle`.
        batch_size: configurations sent per oracle call (in flight at once).
        retry_failed: send failed keys again (default for every :meth:`label` call).
        max_failed_fraction: a job stops with :class:`LabellingError` once more than this share
            of its frames has failed (in [0, 1); 0 stops at the first failure).
    """

    def __init__(self, root, oracle: Oracle, batch_size: int = 1, retry_failed: bool = False,
                 max_failed_fraction: float = 0.5):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.oracle = oracle
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0.0 <= max_failed_fraction < 1.0:
            raise ValueError(f"max_failed_fraction must lie in [0, 1), got {max_failed_fraction!r}")
        self.retry_failed = bool(retry_failed)
        self.max_failed_fraction = float(max_failed_fraction)
        self.log_path = self.root / LOG_NAME

    def sent_keys(self) -> list:
        """Keys sent to the oracle so far, in order (one per oracle call; a retried key appears again)."""
        if not self.log_path.exists():
            return []
        return [line.split()[0] for line in self.log_path.read_text().splitlines() if line.strip()]

    @property
    def oracle_calls(self) -> int:
        return len(self.sent_keys())

    def _paths(self, job: str, index: int):
        base = self.root / job / f"{index:05d}"
        return base.with_suffix(".extxyz"), base.with_suffix(".failed")

    def _log(self, lines) -> None:
        with open(self.log_path, "a") as handle:
            handle.write("".join(f"{line}\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())

    def _pending(self, job: str, n_frames: int, retry: bool) -> list:
        """Indices to send: no result yet, a key whose run stopped before its label arrived (sent again
        without asking: the oracle did not fail on it), or (``retry``) a failed one."""
        sent = Counter(self.sent_keys())
        pending = []
        for index in range(n_frames):
            done, failed = self._paths(job, index)
            if done.exists():
                continue
            interrupted = failed.exists() and failed.read_text().startswith(INTERRUPTED.split(":")[0])
            if failed.exists() and not (retry or interrupted):
                continue
            failed.unlink(missing_ok=True)   # a retry records a fresh outcome (or, if killed, "interrupted")
            pending.append((index, bool(sent[f"{job}/{index}"])))
        return pending

    def label(self, job: str, frames, on_batch=None, retry_failed: bool | None = None, warn: bool = True) -> tuple:
        """Label ``frames`` under ``job``, resuming where an earlier run stopped.

        Returns (labelled Atoms in frame order, failures as {index: the oracle's message}); warns in
        one line when some failed (unless ``warn`` is False: :meth:`warn_failed` then says it once), and
        raises :class:`LabellingError` (before further oracle calls) once more than
        ``max_failed_fraction`` of the frames have failed. ``retry_failed`` (default: the store's) sends
        failed keys again. ``on_batch`` is called after each batch is on disk.
        """
        frames = list(frames)
        getattr(self.oracle, "check", lambda frames: None)(frames)   # refuse bad frames before logging any key
        retry = self.retry_failed if retry_failed is None else bool(retry_failed)
        pending = self._pending(job, len(frames), retry)
        for start in range(0, len(pending), self.batch_size):
            self._check_failures(job, len(frames))
            chunk = pending[start:start + self.batch_size]
            self._log(f"{job}/{index}" + (" retry" if resent else "") for index, resent in chunk)
            batch = self.oracle.label([frames[index] for index, _ in chunk])
            for position, labelled in zip(batch.indices, batch.labelled):
                done, failed = self._paths(job, chunk[position][0])
                atomic_write_frames(done, [labelled])
                failed.unlink(missing_ok=True)
            for position, reason in batch.failed:
                atomic_write_text(self._paths(job, chunk[position][0])[1], f"{reason}\n")
            if on_batch is not None:
                on_batch()
        self._check_failures(job, len(frames))
        labelled, failures = self.results(job, len(frames))
        if warn:
            self.warn_failed(job, failures, len(frames))
        return labelled, failures

    @staticmethod
    def warn_failed(job: str, failures: dict, n_frames: int) -> None:
        """One warning line for the frames of ``job`` the oracle failed on, if any (naming --retry-failed)."""
        if failures:
            warnings.warn(f"labelling {job!r}: {failure_summary(failures, n_frames)}; a rerun with "
                          "--retry-failed sends them again, unless the stage that uses them has finished by then",
                          stacklevel=3)

    def _check_failures(self, job: str, n_frames: int) -> None:
        failures = self.results(job, n_frames, read=False)[1]
        if len(failures) > self.max_failed_fraction * n_frames:
            raise LabellingError(f"labelling {job!r} stopped: {failure_summary(failures, n_frames)}; "
                                 f"more than {self.max_failed_fraction:.0%} failed. Fix the oracle, then rerun "
                                 "with --retry-failed (LabelStore(..., retry_failed=True))")

    def failed(self, job: str) -> dict:
        """{index: the oracle's message} of the job's failed frames (interrupted ones left out: those are
        sent again by themselves), read from the store without knowing the job's size."""
        folder = self.root / job
        found = {int(path.stem): path.read_text().strip() for path in sorted(folder.glob("*.failed"))} \
            if folder.is_dir() else {}
        return {index: reason for index, reason in found.items()
                if not reason.startswith(INTERRUPTED.split(":")[0]) and not self._paths(job, index)[0].exists()}

    def results(self, job: str, n_frames: int, read: bool = True) -> tuple:
        """(labelled frames in order, {index: failure reason}) of a job (``read=False``: no frames)."""
        labelled, failures = [], {}
        for index in range(n_frames):
            done, failed = self._paths(job, index)
            if done.exists():
                if read:
                    labelled.extend(read_frames(done))
            elif failed.exists():
                failures[index] = failed.read_text().strip()
        return labelled, failures


def failure_summary(failures: dict, n_frames: int) -> str:
    """"3 of 60 frames failed (NotImplementedError: No EMT-potential for Si ×3)": counts and the
    distinct messages, most frequent first (at most three)."""
    reasons = Counter(reason.splitlines()[0] if reason else "unknown" for reason in failures.values())
    shown = "; ".join(f"{reason} ×{count}" for reason, count in reasons.most_common(3))
    more = f"; and {len(reasons) - 3} other messages" if len(reasons) > 3 else ""
    return f"{len(failures)} of {n_frames} frames failed ({shown}{more})"
