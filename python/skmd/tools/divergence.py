"""The divergence and restart policy shared by the 2D samplers and the atomistic drivers.

A trajectory *diverges* when one of the named causes below happens. Its move is restarted from
its last good state with fresh noise up to ``max_restarts`` times; after that the move is dropped
(2D: the particle stays at its last good state; atoms: the move yields no candidate). A diverged
configuration never becomes a candidate, and every restart or drop raises a
:class:`DivergenceWarning` that names the cause.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

from .checks import positive_int

#: the causes a trajectory can diverge for, with the words the warnings use
CAUSES = {
    "non_finite": "non-finite energy, forces or positions",
    "bound": "a coordinate left the bound |x| <= bound",
    "max_step": "one step moved an atom by more than max_step",
    "force_limit": "a force component exceeded force_limit",
    "min_distance": "two atoms came closer than min_distance (minimum image)",
    "calculation_failed": "the calculator failed (e.g. an SCF that did not converge)",
    "cell": "the cell volume left [V0/max_volume_ratio, V0·max_volume_ratio] of the move's start, or is not finite",
}


class DivergenceWarning(RuntimeWarning):
    """A trajectory diverged (the message names the cause); it was restarted or dropped."""


class Diverged(Exception):
    """Raised inside a trajectory to stop it; ``cause`` is a key of :data:`CAUSES`."""

    def __init__(self, cause: str, detail: str = ""):
        if cause not in CAUSES:
            raise ValueError(f"unknown divergence cause {cause!r}; known: {sorted(CAUSES)}")
        self.cause = cause
        self.detail = detail
        super().__init__(f"{CAUSES[cause]}{': ' + detail if detail else ''}")


@dataclass(frozen=True)
class RestartPolicy:
    """Restart a diverged move up to ``max_restarts`` times (so ``max_restarts + 1`` attempts)."""

    max_restarts: int = 3

    def __post_init__(self):
        positive_int("max_restarts", self.max_restarts, minimum=0)

    @property
    def attempts(self) -> range:
        """The attempt numbers 0 … max_restarts."""
        return range(self.max_restarts + 1)

    def gives_up(self, failures: int) -> bool:
        """True once ``failures`` diverged attempts exhaust the restarts."""
        return failures > self.max_restarts

    def warn(self, subject: str, reason: str, failures: int, given_up: str = "the move is dropped",
             stacklevel: int = 3) -> None:
        """Warn that ``subject`` diverged for ``reason`` after ``failures`` failed attempts."""
        action = (f"restart {failures} of {self.max_restarts} from its last good state"
                  if not self.gives_up(failures) else f"no restarts left: {given_up}")
        warnings.warn(f"{subject} diverged ({reason}); {action}", DivergenceWarning, stacklevel=stacklevel)
