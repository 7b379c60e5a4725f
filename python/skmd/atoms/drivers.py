"""Ensemble drivers: move an ensemble of ASE Atoms one walk at a time (docs/method.md §2–3).

* :class:`~skmd.atoms.round_robin.RoundRobin` — asynchronous SKMD: move m moves particle ``m mod N`` under the bias the
  bias factory builds from the others, frozen (e.g. :class:`~skmd.atoms.Stein`); its accepted end
  state is frozen in turn.
* :class:`IndependentWalkers` — MD baselines: the same order of moves, no coupling; the
  calculator may itself be a bias (e.g. :class:`~skmd.atoms.CommitteeBias` for UDD). With a
  batchable calculator the walks of one round (one move per walker) run in lockstep, one batched
  model call per step for all walkers (:mod:`skmd.atoms.lockstep`).

Each walk is built by the integrator factory (``factory(atoms, rng)``, e.g. :class:`Brownian`,
:class:`Langevin`, :class:`NPT` or any ASE dynamics), checked every step by a
:class:`DivergenceCheck`, and watched by acquisition observers (or 2D rules, the same vocabulary).
The random stream of move m, attempt a is ``substream(seed, m, a)``, so a rerun with the same
seed gives the same candidates, whatever executor the drivers run on.
"""
from __future__ import annotations

from functools import partial

import numpy as np
from ase import Atoms
from ase.calculators.calculator import CalculationFailed

from ..tools.checks import positive_int
from ..tools.divergence import Diverged, RestartPolicy
from ..tools.noise import substream
from .batching import is_batchable
from .divergence import DivergenceCheck
from .integrators import check_integrator
from .lockstep import Lockstep
from .observers import EndPoint, SteinStop, Walk, as_observer
from .stein_bias import Stein


def check_ensemble(ensemble, minimum: int = 1) -> list:
    """Copies of the members, after checking they are Atoms of the same species in the same order."""
    frames = list(ensemble)
    if len(frames) < minimum:
        raise ValueError(f"the ensemble needs at least {minimum} configuration(s), got {len(frames)}")
    for frame in frames:
        if not isinstance(frame, Atoms):
            raise ValueError(f"ensemble members must be ase.Atoms, got {type(frame).__name__}")
        if not np.array_equal(frame.numbers, frames[0].numbers):
            raise ValueError("every ensemble member must have the same atoms in the same order")
        if not np.all(np.isfinite(frame.positions)):
            raise ValueError("an ensemble member has non-finite positions")
        if frame.pbc.any() and frame.cell.rank < int(np.sum(frame.pbc)):
            raise ValueError("an ensemble member is periodic but has no cell vector along a periodic direction")
    copies = []
    for frame in frames:
        copy = frame.copy()
        copy.calc = None
        copies.append(copy)
    return copies


class Driver:
    """Shared machinery: observers, divergence and restarts, candidates, ASE-style run/irun/attach.

    Args:
        ensemble: list of N ASE Atoms (same atoms, same order; cells may differ).
        calculator: any ASE calculator (the potential, or a bias wrapping it).
        integrator: integrator factory ``(atoms, rng) -> ASE dynamics``.
        acquisition: an observer or 2D rule, or a list of them (default: end point after ``steps``).
        steps: steps per walk (default: the largest ``max_steps`` of the observers).
        seed: the seed of every random stream.
        divergence: a :class:`DivergenceCheck`. restarts: a :class:`RestartPolicy` or an int.

    ``dropped`` lists the moves given up after the last restart: ``{"move", "particle", "cause"
    (the message), "kind" (a key of skmd.tools.divergence.CAUSES)}``.
    """

    minimum_members = 1

    def __init__(self, ensemble, calculator, integrator, *, acquisition=None, steps: int | None = None,
                 seed: int = 0, divergence: DivergenceCheck | None = None, restarts=3):
        self.particles = check_ensemble(ensemble, self.minimum_members)
        self.calculator = calculator
        self.integrator = integrator
        if acquisition is None:
            if steps is None:
                raise ValueError("give steps or an acquisition rule/observer")
            acquisition = EndPoint(steps)
        rules = acquisition if isinstance(acquisition, (list, tuple)) else [acquisition]
        self.observers = [as_observer(rule) for rule in rules]
        longest = max((getattr(o, "max_steps", 0) for o in self.observers), default=0)
        self.steps = positive_int("steps", steps if steps is not None else longest)
        self.seed = int(seed)
        self.divergence = divergence or DivergenceCheck()
        self.restarts = restarts if isinstance(restarts, RestartPolicy) else RestartPolicy(restarts)
        self.moves_done = 0
        self.candidates = []
        self.dropped = []
        self._move_observers = []
        check_integrator(integrator, self.particles[0], self._calculator_for_checks())
        if any(isinstance(o, SteinStop) for o in self.observers) and not isinstance(getattr(self, "bias", None), Stein):
            raise ValueError("SteinStop (a-SKMD) reads the Stein force: use RoundRobin with a Stein bias")

    def _calculator_for_checks(self):
        return self.calculator

    @property
    def n_particles(self) -> int:
        return len(self.particles)

    def attach(self, function, interval: int = 1, *args, **kwargs) -> None:
        """Call ``function(*args, **kwargs)`` after every ``interval`` moves (ASE style)."""
        if not callable(function):
            raise ValueError(f"attach needs a callable, got {function!r}")
        self._move_observers.append((function, positive_int("interval", interval), args, kwargs))

    # ------------------------------------------------------------------ one walk
    def _walk_once(self, start, calculator, particle, move, rng, observers) -> Walk:
        atoms = start.copy()
        atoms.calc = calculator
        walk = Walk(atoms, self.integrator(atoms, rng), particle, move)
        for observer in observers:
            getattr(observer, "start", lambda w: None)(walk)
        previous, start_cell = atoms.get_positions(), atoms.cell.array.copy()
        for _ in walk.dynamics.irun(self.steps):
            self.divergence.check_cell(start_cell, atoms.cell.array)
            self.divergence.check_configuration(atoms, atoms.get_potential_energy(), atoms.get_forces())
            if walk.dynamics.nsteps == 0:
                continue
            self.divergence.check_step(previous, atoms.positions)
            previous = atoms.get_positions()
            walk.step = walk.dynamics.nsteps
            for observer in observers:
                observer(walk)
            if walk.stopped:
                break
        if not walk.stopped:
            for observer in observers:
                getattr(observer, "finish", lambda w: None)(walk)
        return walk

    def walk(self, particle: int, move: int, calculator, observers=None) -> Walk | None:
        """Move ``particle`` from its current state; restart on divergence; None if dropped. ``observers``:
        the observers of this walk (default ``self.observers``)."""
        observers = self.observers if observers is None else observers
        failures, cause, kind = 0, "", ""
        for attempt in self.restarts.attempts:
            try:
                return self._walk_once(self.particles[particle], calculator, particle, move,
                                       substream(self.seed, move, attempt), observers)
            except Diverged as error:
                cause, kind = str(error), error.cause
            except CalculationFailed as error:
                cause, kind = str(Diverged("calculation_failed", str(error))), "calculation_failed"
            failures += 1
            self.restarts.warn(f"move {move} of particle {particle}", cause, failures)
        self.dropped.append({"move": move, "particle": particle, "cause": cause, "kind": kind})
        return None

    def _accept(self, particle: int, walk: Walk) -> None:
        end = walk.atoms.copy()
        end.calc = None
        self.particles[particle] = end

    def _calculator_for(self, particle: int, move: int):
        return self.calculator

    # ------------------------------------------------------------------ ASE-style loop
    def irun(self, n_moves: int):
        """Generator: run ``n_moves`` moves, yielding the candidates of each move (a list)."""
        positive_int("n_moves", n_moves)
        for _ in range(n_moves):
            move = self.moves_done
            particle = move % self.n_particles
            yield self._finish_move(particle, self.walk(particle, move, self._calculator_for(particle, move)))

    def _finish_move(self, particle: int, walk: Walk | None) -> list:
        """Accept a finished walk (None: dropped), count the move, call the move observers; its candidates."""
        new = []
        if walk is not None:
            self._accept(particle, walk)
            new = walk.candidates
            self.candidates.extend(new)
        self.moves_done += 1
        for function, interval, args, kwargs in self._move_observers:
            if self.moves_done % interval == 0:
                function(*args, **kwargs)
        return new

    def run(self, n_moves: int) -> list:
        """Run ``n_moves`` moves; return the candidates they acquired (also in ``self.candidates``)."""
        return [frame for new in self.irun(n_moves) for frame in new]


class IndependentWalkers(Driver):
    """MD baselines: every walker moves under the same calculator, one walk per move, no coupling.

    Args:
        lockstep: step the walks of up to N consecutive moves (one per walker) side by side, with one
            batched calculator call per step for all of them (:mod:`skmd.atoms.lockstep`). Default
            (None): when the calculator is batchable (:func:`~skmd.atoms.batching.is_batchable`, e.g.
            :class:`~skmd.atoms.MACEDescriptorCalculator`). The walks, candidates and dropped moves are
            those of one-by-one walks with the same seed (to the rounding of the batched call); move
            observers (:meth:`attach`) run after each round, in move order. Steps of the round's walks
            interleave, so the default also needs every observer to be ``lockstep_safe`` (it keeps
            per-walk state on ``walk.memory``; every built-in observer is): with an observer of your own
            without that flag the walks go one at a time, as before. The shared calculator's own
            ``results`` are not updated by lockstep walks: read them from each walk (``walk.results``).
        Other arguments: see :class:`Driver`.
    """

    def __init__(self, ensemble, calculator, integrator, *, lockstep: bool | None = None, **kwargs):
        super().__init__(ensemble, calculator, integrator, **kwargs)
        if lockstep is None:
            lockstep = is_batchable(calculator) and all(getattr(o, "lockstep_safe", False) for o in self.observers)
        self.lockstep = bool(lockstep)

    def irun(self, n_moves: int):
        if not self.lockstep or self.n_particles == 1:        # one walker: nothing to batch
            yield from super().irun(n_moves)
            return
        remaining = positive_int("n_moves", n_moves)
        while remaining:
            moves = list(range(self.moves_done, self.moves_done + min(self.n_particles, remaining)))
            remaining -= len(moves)
            dropped = len(self.dropped)
            walks = Lockstep(self.calculator).run(
                [partial(_walk_job, self, move % self.n_particles, move) for move in moves])
            self.dropped[dropped:] = sorted(self.dropped[dropped:], key=lambda entry: entry["move"])
            for move, walk in zip(moves, walks):
                yield self._finish_move(move % self.n_particles, walk)


def _walk_job(driver: Driver, particle: int, move: int, slot):
    """One walk of a lockstep round, under the walker's :class:`~skmd.atoms.lockstep.Slot`."""
    return driver.walk(particle, move, slot)
