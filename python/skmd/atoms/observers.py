"""Acquisition observers: which frames of a walk become candidates, and when a walk stops.

An observer is any object with ``__call__(walk)``, called after every step of a walk, and
optionally ``start(walk)`` (a walk begins), ``finish(walk)`` (it ran its steps without being
stopped) and ``max_steps`` (the steps it needs; the walk runs the largest of its observers').
It reads the live state from the :class:`Walk` (``walk.atoms``, ``walk.step``, ``walk.results``)
and calls ``walk.acquire()`` and ``walk.stop()``. A user's own observer works the same way.

``lockstep_safe = True`` says an observer may watch several walks whose steps interleave (the
lockstep driver, :class:`~skmd.atoms.drivers.IndependentWalkers`): it keeps any per-walk state on
the walk (``walk.memory``), not on itself. Every observer here is; an observer without the flag
makes the driver walk one walk at a time.

The acquisition rules of the 2D samplers (:mod:`skmd.md.rules`) are the same vocabulary: pass a
rule and :func:`as_observer` turns it into its observer here.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..md.rules import AdaptiveStop, FixedSteps, Periodic, UncertaintyThreshold
from ..tools.checks import non_negative, positive, positive_int


class Walk:
    """One trajectory of one particle: what observers see and act on.

    Attributes: atoms (live ASE Atoms), dynamics (the ASE dynamics), particle, move, step (steps
    done), candidates (Atoms acquired so far), stopped, memory (a dict where observers keep their
    per-walk state, keyed by the observer: walks stepped in lockstep interleave their steps).
    """

    def __init__(self, atoms, dynamics, particle: int, move: int):
        self.atoms, self.dynamics = atoms, dynamics
        self.particle, self.move = particle, move
        self.step = 0
        self.candidates = []
        self.stopped = False
        self.memory = {}

    @property
    def results(self) -> dict:
        """The calculator's results at the current step (forces, stein_norm, uncertainty, ...)."""
        return self.atoms.calc.results

    def acquire(self, reason: str) -> None:
        """Record the current frame as a candidate (a copy without calculator)."""
        frame = self.atoms.copy()
        frame.calc = None
        frame.info.update(skmd_move=self.move, skmd_particle=self.particle, skmd_step=self.step,
                          skmd_reason=reason)
        self.candidates.append(frame)

    def stop(self) -> None:
        """End the walk after this step."""
        self.stopped = True


class EndPoint:
    """Run ``steps`` steps; the end point is the candidate (periodic SKMD, MD baselines)."""

    lockstep_safe = True

    def __init__(self, steps: int):
        self.max_steps = positive_int("steps", steps)

    def __call__(self, walk):
        pass

    def finish(self, walk):
        walk.acquire("end point")


class EveryK:
    """Acquire the frame after every ``interval`` steps, ``n_points`` times."""

    lockstep_safe = True

    def __init__(self, interval: int, n_points: int):
        self.interval = positive_int("interval", interval)
        self.n_points = positive_int("n_points", n_points)
        self.max_steps = self.interval * self.n_points

    def __call__(self, walk):
        if walk.step % self.interval == 0:
            walk.acquire(f"every {self.interval} steps")


class SteinStop:
    """a-SKMD: stop at the first step t ≥ t_min with ‖b‖ < tau (eV/Å); otherwise at t_max.

    The stopping frame (or the end point) is the candidate. Reads ``results["stein_norm"]``.
    """

    lockstep_safe = True

    def __init__(self, tau: float, t_min: int, t_max: int):
        self.tau = positive("tau", tau)
        self.t_min = positive_int("t_min", t_min, minimum=0)
        self.max_steps = positive_int("t_max", t_max)
        if self.max_steps < self.t_min:
            raise ValueError(f"t_max ({t_max}) must be >= t_min ({t_min})")

    def __call__(self, walk):
        if "stein_norm" not in walk.results:
            raise ValueError("SteinStop needs a SteinBias calculator (results has no 'stein_norm')")
        if walk.step >= self.t_min and walk.results["stein_norm"] < self.tau:
            walk.acquire(f"|b| < {self.tau:g}")
            walk.stop()

    def finish(self, walk):
        walk.acquire("t_max reached")


class UncertaintyCross:
    """Acquire the frame whose uncertainty crosses ``threshold``; stop after ``n_points`` of them.

    Reads ``results[key]`` (default "uncertainty"; a (n,) array such as "atomic_uncertainties"
    counts when any entry crosses). As in the 2D rule, a record needs at least ``min_gap`` steps
    since the start of the walk or the previous record.
    """

    lockstep_safe = True

    def __init__(self, threshold: float, n_points: int = 1, max_steps: int = 1000, min_gap: int = 0,
                 key: str = "uncertainty"):
        self.threshold = non_negative("threshold", threshold)
        self.n_points = positive_int("n_points", n_points)
        self.max_steps = positive_int("max_steps", max_steps)
        self.min_gap = positive_int("min_gap", min_gap, minimum=0)
        self.key = key

    def start(self, walk):
        walk.memory[id(self)] = {"count": 0, "last": 0}

    def __call__(self, walk):
        if self.key not in walk.results:
            raise ValueError(f"UncertaintyCross needs a calculator that gives results[{self.key!r}]")
        value = float(max(walk.results[self.key])) if hasattr(walk.results[self.key], "__len__") \
            else float(walk.results[self.key])
        state = walk.memory[id(self)]
        if value > self.threshold and walk.step - state["last"] >= self.min_gap:
            walk.acquire(f"{self.key} {value:.3g} > {self.threshold:g}")
            state["count"], state["last"] = state["count"] + 1, walk.step
            if state["count"] >= self.n_points:
                walk.stop()


class UncertaintyStop:
    """Uncertainty-biased MD acquisition: stop at the first step whose calibrated uncertainty
    crosses a threshold; that frame is then the walk's only candidate.

    ``atomic_threshold`` (eV/Å) is compared with the largest of ``results["atomic_uncertainties"]``
    and ``structure_threshold`` (eV/atom) with ``results["uncertainty"]``; give at least one. A walk
    without a crossing runs ``max_steps`` steps and yields the frames every ``interval`` steps
    (or, with ``interval=None``, its end point). With ``keep_on_crossing=True`` a crossing walk keeps
    the interval frames it yielded before the crossing frame (as the authors of uncertainty-biased MD
    do). Every candidate's ``info`` holds the two uncertainties at that frame (``uncertainty``,
    ``max_atomic_uncertainty``).
    """

    lockstep_safe = True

    def __init__(self, max_steps: int, atomic_threshold: float | None = None,
                 structure_threshold: float | None = None, interval: int | None = None,
                 keep_on_crossing: bool = False):
        self.keep_on_crossing = bool(keep_on_crossing)
        self.max_steps = positive_int("max_steps", max_steps)
        if atomic_threshold is None and structure_threshold is None:
            raise ValueError("UncertaintyStop needs atomic_threshold or structure_threshold")
        self.atomic_threshold = None if atomic_threshold is None else positive("atomic_threshold", atomic_threshold)
        self.structure_threshold = None if structure_threshold is None else \
            positive("structure_threshold", structure_threshold)
        self.interval = None if interval is None else positive_int("interval", interval)

    @staticmethod
    def _levels(walk) -> tuple[float, float]:
        results = walk.results
        if "uncertainty" not in results or "atomic_uncertainties" not in results:
            raise ValueError("UncertaintyStop needs a calculator that gives 'uncertainty' and "
                             "'atomic_uncertainties' (e.g. skmd.uncertainty.UncertaintyBias)")
        return float(results["uncertainty"]), float(max(results["atomic_uncertainties"]))

    def check_starts(self, calculator, starts) -> list:
        """Warn (one line, with the numbers) when starting structures already lie above a threshold:
        their walkers would stop at the first check and yield the start again. ``calculator`` gives
        the same calibrated uncertainties the walk reads. Returns the starts' (u, max atomic u)."""
        levels = []
        for start in starts:
            atoms = start.copy()
            atoms.calc = calculator
            levels.append((float(calculator.get_property("uncertainty", atoms)),
                           float(np.max(calculator.get_property("atomic_uncertainties", atoms)))))
        for index, name, unit, threshold in ((1, "atomic", "eV/Å", self.atomic_threshold),
                                             (0, "structure", "eV/atom", self.structure_threshold)):
            values = np.array([level[index] for level in levels])
            above = int(np.sum(values > threshold)) if threshold is not None else 0
            if above:
                warnings.warn(f"{above} of {len(values)} starting structures already exceed the {name} threshold "
                              f"{threshold:g} {unit} (their calibrated uncertainty: {values.min():.3g} to "
                              f"{values.max():.3g} {unit}); their walkers stop at the first check", stacklevel=2)
        return levels

    def _acquire(self, walk, reason: str, levels) -> None:
        walk.acquire(reason)
        walk.candidates[-1].info.update(uncertainty=levels[0], max_atomic_uncertainty=levels[1])

    def __call__(self, walk):
        levels = self._levels(walk)
        crossed = (self.atomic_threshold is not None and levels[1] > self.atomic_threshold) or \
                  (self.structure_threshold is not None and levels[0] > self.structure_threshold)
        if crossed:
            if not self.keep_on_crossing:
                walk.candidates.clear()      # the crossing frame replaces this walk's interval frames
            self._acquire(walk, "uncertainty threshold crossed", levels)
            walk.stop()
        elif self.interval is not None and walk.step % self.interval == 0:
            self._acquire(walk, f"every {self.interval} steps", levels)

    def finish(self, walk):
        if self.interval is None:
            self._acquire(walk, "end point", self._levels(walk))


class Every:
    """Call ``function(walk)`` after every ``interval`` steps of every walk (a trace, a log line).

    A plain observer with no say over candidates or stopping; ``function`` reads ``walk.atoms``.
    """

    def __init__(self, function, interval: int = 1):
        if not callable(function):
            raise ValueError(f"Every needs a callable, got {function!r}")
        self.function = function
        self.interval = positive_int("interval", interval)

    def __call__(self, walk):
        if walk.step % self.interval == 0:
            self.function(walk)


def per_walk(trace) -> list:
    """The rows of one iteration's ``trace`` ((n, 1 + d) array) grouped by walk: a list of (n_w, d) arrays."""
    if not len(trace):
        return []
    trace = np.asarray(trace, float).reshape(len(trace), -1)
    return [trace[trace[:, 0] == move, 1:] for move in np.unique(trace[:, 0])]


def as_observer(rule):
    """A 2D acquisition rule (or an observer, returned as is) as an atomistic observer."""
    if isinstance(rule, FixedSteps):
        return EndPoint(rule.steps)
    if isinstance(rule, AdaptiveStop):
        return SteinStop(rule.tau, rule.t_min, rule.t_max)
    if isinstance(rule, Periodic):
        return EveryK(rule.interval, rule.n_points)
    if isinstance(rule, UncertaintyThreshold):
        return UncertaintyCross(rule.threshold, rule.n_points, rule.max_steps, rule.min_gap)
    if callable(rule):
        return rule
    raise ValueError(f"acquisition must be a skmd rule or an observer (callable(walk)), got {rule!r}")
