"""Kernel schedules: the amplitude h and bandwidth ℓ of the Stein kernel over a run (docs/method.md §2).

One object serves the 2D samplers (indexed by iteration) and the atomistic drivers (indexed by
move). The index is the caller's running count, so a schedule never restarts when ``run`` is
called again: ``run(1)`` in a loop decays exactly like one ``run(n)``.

* Constant (``explore=None``): h fixed; ℓ fixed, or the median pairwise descriptor distance of
  the current ensemble, re-evaluated at every call.
* Two-phase (the alanine-dipeptide schedule of the SKMD paper's appendix E.2): for the first
  ``explore`` indices as above; from then on ℓ stays at its end-of-exploration value and both h
  and ℓ decay linearly, reaching half their end-of-exploration values at index ``total − 1``.
"""
from __future__ import annotations

from ..tools.checks import positive_int
from .kernels import GaussianKernel, median_bandwidth


class KernelSchedule:
    """(h, ℓ) as a function of the move or iteration index.

    Args:
        kernel: :class:`GaussianKernel` with the base amplitude and a bandwidth (number or "median").
        explore: indices in the exploration phase, or None for a constant schedule.
        total: total indices of the run (> explore) for the two-phase schedule.
    """

    def __init__(self, kernel: GaussianKernel, explore: int | None = None, total: int | None = None):
        if not isinstance(kernel, GaussianKernel):
            raise ValueError(f"kernel must be a GaussianKernel, got {type(kernel).__name__}")
        self.kernel = kernel
        if explore is None:
            if total is not None:
                raise ValueError("total is only used with explore (the two-phase schedule)")
        else:
            positive_int("explore", explore, minimum=0)
            positive_int("total", total)
            if total < explore:
                raise ValueError(f"total ({total}) must be >= explore ({explore})")
        self.explore, self.total = explore, total
        self._end_of_exploration = {}

    @classmethod
    def two_phase(cls, kernel: GaussianKernel, total: int, explore_fraction: float) -> "KernelSchedule":
        """The E.2 schedule over ``total`` moves with ``explore_fraction`` of them exploring."""
        if not 0.0 <= explore_fraction <= 1.0:
            raise ValueError(f"explore_fraction must lie in [0, 1], got {explore_fraction}")
        return cls(kernel, explore=int(round(explore_fraction * total)), total=total)

    def _bandwidth(self, descriptors, bandwidth):
        if bandwidth is not None:
            return float(bandwidth)
        return median_bandwidth(descriptors) if self.kernel.is_median else float(self.kernel.bandwidth)

    def parameters(self, index: int, descriptors=None, key=0, bandwidth=None) -> tuple[float, float]:
        """(h, ℓ) at ``index``; ``descriptors`` (N, M) feed the median; ``key`` names a chain's state.

        ``bandwidth`` overrides the kernel's (e.g. a median fixed once from the initial ensemble).
        """
        positive_int("index", index, minimum=0)
        amplitude = self.kernel.amplitude
        if self.explore is None or index < self.explore or (key not in self._end_of_exploration and index == 0):
            ell = self._bandwidth(descriptors, bandwidth)
            self._end_of_exploration[key] = (amplitude, ell)
            if self.explore is None or index < self.explore:
                return amplitude, ell
        if key not in self._end_of_exploration:
            self._end_of_exploration[key] = (amplitude, self._bandwidth(descriptors, bandwidth))
        amplitude, ell = self._end_of_exploration[key]
        span = max(self.total - self.explore, 1)
        scale = 1.0 - 0.5 * min(index - self.explore + 1, span) / span
        return amplitude * scale, ell * scale
