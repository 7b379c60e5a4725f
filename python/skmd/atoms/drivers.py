"""Ensemble drivers: move an ensemble of ASE Atoms one walk at a time (docs/method.md §2–3).

* :class:`RoundRobin` — asynchronous SKMD: move m moves particle ``m mod N`` under the bias the
  bias factory builds from the others, frozen (e.g. :class:`~skmd.atoms.Stein`); its accepted end
  state is frozen in turn.
* :class:`IndependentWalkers` — MD baselines: the same order of moves, no coupling; the
  calculator may itself be a bias (e.g. :class:`~skmd.atoms.CommitteeBias` for UDD).

Each walk is built by the integrator factory (``factory(atoms, rng)``, e.g. :class:`Brownian`,
:class:`Langevin`, :class:`NPT` or any ASE dynamics), checked every step by a
:class:`DivergenceCheck`, and watched by acquisition observers (or 2D rules, the same vocabulary).
The random stream of move m, attempt a is ``substream(seed, m, a)``, so a rerun with the same
seed gives the same candidates, whatever executor the drivers run on.
"""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
from ase import Atoms
from ase.calculators.calculator import CalculationFailed

from ..tools.checks import positive_int
from ..tools.divergence import Diverged, DivergenceWarning, RestartPolicy
from ..tools.noise import substream
from .divergence import DivergenceCheck
from .integrators import check_integrator
from .observers import EndPoint, SteinStop, Walk, as_observer
from .stein_bias import FrozenMember, Stein


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
    def _walk_once(self, start, calculator, particle, move, rng) -> Walk:
        atoms = start.copy()
        atoms.calc = calculator
        walk = Walk(atoms, self.integrator(atoms, rng), particle, move)
        for observer in self.observers:
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
            for observer in self.observers:
                observer(walk)
            if walk.stopped:
                break
        if not walk.stopped:
            for observer in self.observers:
                getattr(observer, "finish", lambda w: None)(walk)
        return walk

    def walk(self, particle: int, move: int, calculator) -> Walk | None:
        """Move ``particle`` from its current state; restart on divergence; None if dropped."""
        failures, cause, kind = 0, "", ""
        for attempt in self.restarts.attempts:
            try:
                return self._walk_once(self.particles[particle], calculator, particle, move,
                                       substream(self.seed, move, attempt))
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
            walk = self.walk(particle, move, self._calculator_for(particle, move))
            new = []
            if walk is not None:
                self._accept(particle, walk)
                new = walk.candidates
                self.candidates.extend(new)
            self.moves_done += 1
            for function, interval, args, kwargs in self._move_observers:
                if self.moves_done % interval == 0:
                    function(*args, **kwargs)
            yield new

    def run(self, n_moves: int) -> list:
        """Run ``n_moves`` moves; return the candidates they acquired (also in ``self.candidates``)."""
        return [frame for new in self.irun(n_moves) for frame in new]


class IndependentWalkers(Driver):
    """MD baselines: every walker moves under the same calculator, one walk per move, no coupling."""


class RoundRobin(Driver):
    """Asynchronous SKMD: particle ``m mod N`` moves under ``bias.build(calculator, frozen, i, m)``.

    Args:
        bias: a bias factory with ``freeze(atoms, calculator)`` and ``build(calculator, frozen,
            particle, move)``, e.g. :class:`~skmd.atoms.Stein`. The frozen state of every member is
            computed once at the start (after checking no two members coincide) and again only when
            its move is accepted.
        Other arguments: see :class:`Driver`.

    A frozen :class:`~skmd.atoms.FrozenMember` (what :class:`~skmd.atoms.Stein` freezes) whose
    forces have a component above the divergence check's ``force_limit`` is marked inadmissible
    (``admissible=False``) until its own move is accepted: :class:`~skmd.atoms.Stein` leaves it out
    of the others' Stein sum (it still counts in N and in the median bandwidth), so a start the
    dynamics cannot move from does not push every other walker with its forces. With no admissible
    other the Stein force is 0. ``excluded`` is the set of members marked now, ``left_out`` every
    member marked at some point of the run; each marking raises a DivergenceWarning. A bias factory
    of your own gets the marked members and decides for itself.
    """

    minimum_members = 2

    def __init__(self, ensemble, calculator, integrator, *, bias, **kwargs):
        if not (hasattr(bias, "freeze") and hasattr(bias, "build")):
            raise ValueError("bias must be a bias factory with freeze() and build(), e.g. skmd.atoms.Stein")
        self.bias = bias
        super().__init__(ensemble, calculator, integrator, **kwargs)
        _refuse_duplicates(self.particles)
        self.frozen = [bias.freeze(atoms, calculator) for atoms in self.particles]
        self.left_out = set()
        for particle in range(self.n_particles):
            self._update_admissible(particle)

    def _update_admissible(self, particle: int) -> None:
        """Mark member ``particle`` inadmissible while its frozen forces exceed force_limit (FrozenMember only)."""
        member = self.frozen[particle]
        if not isinstance(member, FrozenMember):
            return
        largest = float(np.max(np.abs(member.forces))) if np.size(member.forces) else 0.0
        admissible = largest <= self.divergence.force_limit
        self.frozen[particle] = replace(member, admissible=admissible)
        if admissible:
            return
        self.left_out.add(particle)
        warnings.warn(f"ensemble member {particle} is left out of the others' bias (a force component of "
                      f"{largest:.3g} eV/Å > force_limit {self.divergence.force_limit:g}) until its own move "
                      "is accepted", DivergenceWarning, stacklevel=3)

    @property
    def excluded(self) -> set:
        """The members marked inadmissible now (left out of the others' Stein sum)."""
        return {j for j, member in enumerate(self.frozen) if not getattr(member, "admissible", True)}

    def _calculator_for_checks(self):
        if not getattr(self.bias, "provides_stress", True):
            raise ValueError(f"{type(self.bias).__name__} cannot give stress")
        return self.calculator

    def _calculator_for(self, particle, move):
        return self.bias.build(self.calculator, self.frozen, particle, move)

    def _accept(self, particle, walk):
        super()._accept(particle, walk)
        self.frozen[particle] = self.bias.freeze(self.particles[particle], self.calculator)
        self._update_admissible(particle)


def _refuse_duplicates(particles) -> None:
    for i, first in enumerate(particles):
        for j in range(i + 1, len(particles)):
            second = particles[j]
            if np.array_equal(first.positions, second.positions) and np.array_equal(first.cell, second.cell):
                raise ValueError(f"ensemble members {i} and {j} are identical; the Stein kernel needs "
                                 "distinct configurations (perturb them or burn them in first)")
