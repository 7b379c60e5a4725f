"""Acquisition and stopping rules shared by all samplers (method.md §3)."""
from __future__ import annotations

from dataclasses import dataclass


from ..backends.numpy_backend import RULE_ADAPTIVE, RULE_FIXED, RULE_PERIODIC, RULE_THRESHOLD
from ..tools.checks import non_negative, positive, positive_int


@dataclass(frozen=True)
class FixedSteps:
    """Move each particle exactly ``steps`` steps; its end point is acquired (periodic SKMD)."""

    steps: int

    def __post_init__(self):
        positive_int("steps", self.steps)

    def kernel_args(self) -> dict:
        return {"rule": RULE_FIXED}

    @property
    def max_steps(self) -> int:
        return self.steps


@dataclass(frozen=True)
class AdaptiveStop:
    """a-SKMD: stop at the first t ≥ t_min with ‖b(x_t)‖ < tau, at the latest after t_max steps.

    The stopping point is acquired. tau is in force units; choose it from a pilot run of
    ‖b(x)‖ (the samplers record it in ``last_values``).
    """

    tau: float
    t_min: int
    t_max: int

    def __post_init__(self):
        positive("tau", self.tau)
        positive_int("t_min", self.t_min, minimum=0)
        positive_int("t_max", self.t_max)
        if self.t_max < self.t_min:
            raise ValueError(f"t_max ({self.t_max}) must be >= t_min ({self.t_min})")

    def kernel_args(self) -> dict:
        return {"rule": RULE_ADAPTIVE, "tau": float(self.tau), "t_min": int(self.t_min)}

    @property
    def max_steps(self) -> int:
        return self.t_max


@dataclass(frozen=True)
class Periodic:
    """Acquire the current point after every ``interval`` steps along one path, ``n_points`` times."""

    interval: int
    n_points: int

    def __post_init__(self):
        positive_int("interval", self.interval)
        positive_int("n_points", self.n_points)

    def kernel_args(self) -> dict:
        return {"rule": RULE_PERIODIC, "period": int(self.interval), "max_acquire": int(self.n_points)}

    @property
    def max_steps(self) -> int:
        return self.interval * self.n_points


@dataclass(frozen=True)
class UncertaintyThreshold:
    """UDD acquisition: record x_t when rho(x_t) > threshold and at least ``min_gap`` steps
    have passed since the previous record; stop after ``n_points`` records or ``max_steps``."""

    threshold: float
    n_points: int
    max_steps: int
    min_gap: int = 0

    def __post_init__(self):
        non_negative("threshold", self.threshold)
        positive_int("n_points", self.n_points)
        positive_int("max_steps", self.max_steps)
        positive_int("min_gap", self.min_gap, minimum=0)

    def kernel_args(self) -> dict:
        return {"rule": RULE_THRESHOLD, "threshold": float(self.threshold), "min_gap": int(self.min_gap),
                "max_acquire": int(self.n_points)}


def check_rule(rule, allowed: tuple) -> None:
    if not isinstance(rule, allowed):
        names = ", ".join(cls.__name__ for cls in allowed)
        raise ValueError(f"acquisition rule must be one of {names}, got {rule!r}")


def is_path_rule(rule) -> bool:
    return isinstance(rule, (Periodic, UncertaintyThreshold))


