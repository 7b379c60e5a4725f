"""Acquisition observers: which frames of a walk become candidates, and when a walk stops.

An observer is any object with ``__call__(walk)``, called after every step of a walk, and
optionally ``start(walk)`` (a walk begins), ``finish(walk)`` (it ran its steps without being
stopped) and ``max_steps`` (the steps it needs; the walk runs the largest of its observers').
It reads the live state from the :class:`Walk` (``walk.atoms``, ``walk.step``, ``walk.results``)
and calls ``walk.acquire()`` and ``walk.stop()``. A user's own observer works the same way.

The acquisition rules of the 2D samplers (:mod:`skmd.md.rules`) are the same vocabulary: pass a
rule and :func:`as_observer` turns it into its observer here.
"""
from __future__ import annotations

from ..md.rules import AdaptiveStop, FixedSteps, Periodic, UncertaintyThreshold
from ..tools.checks import non_negative, positive, positive_int


class Walk:
    """One trajectory of one particle: what observers see and act on.

    Attributes: atoms (live ASE Atoms), dynamics (the ASE dynamics), particle, move, step (steps
    done), candidates (Atoms acquired so far), stopped.
    """

    def __init__(self, atoms, dynamics, particle: int, move: int):
        self.atoms, self.dynamics = atoms, dynamics
        self.particle, self.move = particle, move
        self.step = 0
        self.candidates = []
        self.stopped = False

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

    def __init__(self, steps: int):
        self.max_steps = positive_int("steps", steps)

    def __call__(self, walk):
        pass

    def finish(self, walk):
        walk.acquire("end point")


class EveryK:
    """Acquire the frame after every ``interval`` steps, ``n_points`` times."""

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

    def __init__(self, threshold: float, n_points: int = 1, max_steps: int = 1000, min_gap: int = 0,
                 key: str = "uncertainty"):
        self.threshold = non_negative("threshold", threshold)
        self.n_points = positive_int("n_points", n_points)
        self.max_steps = positive_int("max_steps", max_steps)
        self.min_gap = positive_int("min_gap", min_gap, minimum=0)
        self.key = key

    def start(self, walk):
        self._count, self._last = 0, 0

    def __call__(self, walk):
        if self.key not in walk.results:
            raise ValueError(f"UncertaintyCross needs a calculator that gives results[{self.key!r}]")
        value = float(max(walk.results[self.key])) if hasattr(walk.results[self.key], "__len__") \
            else float(walk.results[self.key])
        if value > self.threshold and walk.step - self._last >= self.min_gap:
            walk.acquire(f"{self.key} {value:.3g} > {self.threshold:g}")
            self._count, self._last = self._count + 1, walk.step
            if self._count >= self.n_points:
                walk.stop()


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
