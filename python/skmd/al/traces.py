"""What each sampler visited: a collective variable recorded along every walk.

A collective variable (CV) is any picklable callable ``cv(atoms) -> sequence of floats``; it may also
have ``summary(traces) -> dict``, where ``traces`` is a list (one per iteration) of (n, 1 + d) arrays
whose rows are ``[move, *cv(atoms)]``; the summary goes into ``results.json`` and the report. A
campaign names its CV as ``trace: "module:name"`` (a class is instantiated without arguments).
Built in: :class:`CellVolume` (Å³, for NPT cells) and :class:`skmd.atoms.alanine.PhiPsi`
(Ramachandran coverage of alanine dipeptide).
"""
from __future__ import annotations

import numpy as np

from ..atoms.observers import per_walk
from ..tools.checks import positive_int
from ..tools.stats import summarize as interval


class Trace:
    """Observer: ``[walk.move, *cv(walk.atoms)]`` every ``interval`` steps of every walk, in ``records``
    (ordered by move, each walk's rows in step order, however the walks' steps interleaved)."""

    lockstep_safe = True

    def __init__(self, cv, interval: int = 10):
        if not callable(cv):
            raise ValueError(f"a trace needs a callable collective variable, got {cv!r}")
        self.cv, self.interval = cv, positive_int("trace_interval", interval)
        self._rows = []

    @property
    def records(self) -> list:
        """The rows, stably sorted by move."""
        return sorted(self._rows, key=lambda row: row[0])

    def __call__(self, walk):
        if walk.step % self.interval == 0:
            values = np.atleast_1d(np.asarray(self.cv(walk.atoms), float)).ravel()
            self._rows.append([float(walk.move), *values.tolist()])


def summarize(cv, traces: list, seed: int = 0) -> dict:
    """``cv.summary(traces)`` if it has one, else the range of every CV component over all iterations."""
    arrays = [np.asarray(t, float).reshape(len(t), -1) if len(t) else np.empty((0, 1)) for t in traces]
    if hasattr(cv, "summary"):
        return cv.summary(arrays, seed=seed)
    values = np.concatenate([a[:, 1:] for a in arrays if len(a)]) if any(len(a) for a in arrays) else np.empty((0, 0))
    return {"trace_frames": [len(a) for a in arrays],
            "range": [[float(v.min()), float(v.max())] for v in values.T] if len(values) else []}


class CellVolume:
    """The cell volume in Å³; its summary gives the range visited and the median per-walk span (max − min)
    with a 95 % bootstrap interval over walks."""

    def __call__(self, atoms):
        return [float(atoms.get_volume())]

    def summary(self, traces, seed: int = 0) -> dict:
        walks = [w[:, 0] for t in traces for w in per_walk(t)]
        spans = [float(w.max() - w.min()) for w in walks if len(w)]
        values = np.concatenate(walks) if walks else np.empty(0)
        return {"trace_frames": [len(t) for t in traces],
                "volume_range_A3": [float(values.min()), float(values.max())] if len(values) else [],
                "volume_span_per_walk_A3": interval(spans, seed=seed) if len(spans) > 1 else None}
