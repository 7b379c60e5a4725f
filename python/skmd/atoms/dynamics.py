"""Round-robin samplers on lists of ASE Atoms: atomistic SKMD and its baselines (method.md §2).

Units: positions Å, energies eV, forces eV/Å, temperature K (k_B T from ``ase.units.kB``),
time step fs. Overdamped (Brownian) dynamics use an isotropic friction γ in eV·fs/Å²
(the same for every atom, independent of mass):

    x ← x + (Δt/γ) [α F(x) + b(x)] + sqrt(2 σ² Δt/γ) ξ,     σ² = k_B T by default.

The paper's SKMD run uses 50 K, Δt = 0.1 fs and a damping of 75 (its unit was lost); we read it
as γ = 75 eV·fs/Å², which for a carbon atom is the friction m/τ of a Langevin thermostat with
τ ≈ 17 fs. Every sampler works in the round-robin scheme: particle ``move mod N`` is propagated
``steps`` steps while the others wait, and its end point is a candidate. One step costs one call of
the calculator; a :class:`~skmd.atoms.calculator.MACEDescriptorCalculator` also returns the
descriptor of the moving particle from that call. A move whose trajectory diverges (non-finite
values, a force component above ``force_limit`` or two atoms closer than ``min_distance``) is
restarted from its start with fresh noise up to ``max_restarts`` times, then dropped: a diverged
configuration is never a candidate.
"""
from __future__ import annotations

import warnings

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import CalculationFailed
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from ..backends import get_backend
from ..md.base import DivergenceWarning
from ..modules.kernels import median_bandwidth
from ..tools.checks import non_negative, positive, positive_int


def _check_ensemble(ensemble, minimum: int = 1) -> list:
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
    return [frame.copy() for frame in frames]


def diverged(positions, energy, forces, force_limit: float, min_distance: float) -> bool:
    """True when a configuration (n, 3) is non-finite, overloaded or has two atoms too close."""
    if not (np.isfinite(energy) and np.all(np.isfinite(forces)) and np.all(np.isfinite(positions))):
        return True
    if np.max(np.abs(forces)) > force_limit:
        return True
    gaps = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    gaps[np.diag_indices(len(positions))] = np.inf
    return bool(gaps.min() < min_distance)


class RoundRobinSampler:
    """Base class: an ensemble of N configurations moved one at a time, ``steps`` steps each.

    ``run(n_moves)`` returns the end points of the moves as candidates (a list of Atoms with
    ``info["skmd_move"]`` and ``info["skmd_particle"]``). Observers attached with
    ``attach(function, interval)`` are called every ``interval`` moves, ASE-style.

    Args:
        ensemble: list of N ASE Atoms with the same atoms in the same order (N ≥ 2 for SKMD).
        calculator: any ASE calculator (the potential).
        steps: steps per move.
        seed: the noise of move m (attempt a) is ``default_rng([seed, m, a])``, so a rerun with
            the same seed and starting move reproduces the candidates.
    """

    def __init__(self, ensemble, calculator, *, steps: int, seed: int = 0, force_limit: float = 50.0,
                 min_distance: float = 0.5, max_step: float = 0.5, max_restarts: int = 3):
        self.particles = _check_ensemble(ensemble)
        self.calculator = calculator
        self.steps = positive_int("steps", steps)
        self.seed = int(seed)
        self.force_limit = positive("force_limit", force_limit)
        self.min_distance = non_negative("min_distance", min_distance)
        self.max_step = positive("max_step", max_step)
        self.max_restarts = int(max_restarts)
        self.moves_done = 0
        self.dropped_moves = []
        self.observers = []

    @property
    def n_particles(self) -> int:
        return len(self.particles)

    def attach(self, function, interval: int = 1, *args, **kwargs):
        """Call ``function(*args, **kwargs)`` after every ``interval`` moves."""
        self.observers.append((function, positive_int("interval", interval), args, kwargs))

    def _call_observers(self):
        for function, interval, args, kwargs in self.observers:
            if self.moves_done % interval == 0:
                function(*args, **kwargs)

    def _rng(self, move: int, attempt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, move, attempt])

    def _diverged(self, atoms, energy, forces) -> bool:
        return diverged(atoms.positions, energy, forces, self.force_limit, self.min_distance)

    def _propagate(self, particle: int, move: int, rng) -> Atoms | None:
        """Move one particle ``steps`` steps; return its end point, or None if it diverged."""
        raise NotImplementedError

    def _accept(self, particle: int, end: Atoms) -> None:
        self.particles[particle] = end

    def run(self, n_moves: int) -> list:
        """Run ``n_moves`` round-robin moves; return the end points (candidates) as Atoms."""
        positive_int("n_moves", n_moves)
        candidates = []
        for _ in range(n_moves):
            move = self.moves_done
            particle = move % self.n_particles
            end = None
            for attempt in range(self.max_restarts + 1):
                end = self._propagate(particle, move, self._rng(move, attempt))
                if end is not None:
                    break
            if end is None:
                warnings.warn(f"move {move} of particle {particle} diverged {self.max_restarts + 1} times; "
                              "it was dropped", DivergenceWarning, stacklevel=2)
                self.dropped_moves.append(move)
            else:
                self._accept(particle, end)
                candidate = end.copy()
                candidate.calc = None
                candidate.info.update(skmd_move=move, skmd_particle=particle)
                candidates.append(candidate)
            self.moves_done += 1
            self._call_observers()
        return candidates


class BrownianDynamics(RoundRobinSampler):
    """Overdamped Langevin (Brownian) dynamics in physical units, round robin (b = 0).

    Args:
        temperature_K: T in K.
        timestep: Δt in fs.
        friction: γ in eV·fs/Å² (see the module docstring).
        alpha, sigma2: drift weight α and noise variance σ² in eV (default k_B T).
    """

    def __init__(self, ensemble, calculator, *, temperature_K: float = 50.0, timestep: float = 0.1,
                 friction: float = 75.0, steps: int = 500, alpha: float = 1.0, sigma2=None, **kwargs):
        super().__init__(ensemble, calculator, steps=steps, **kwargs)
        self.kT = positive("temperature_K", temperature_K) * units.kB
        self.timestep = positive("timestep", timestep)
        self.friction = positive("friction", friction)
        self.alpha = float(alpha)
        self.sigma2 = self.kT if sigma2 is None else non_negative("sigma2", sigma2)

    def _bias(self, descriptor) -> np.ndarray | None:
        return None

    def _descriptor(self, atoms):
        return None

    def _propagate(self, particle, move, rng):
        atoms = self.particles[particle].copy()
        atoms.calc = self.calculator
        n_coords = 3 * len(atoms)
        drift_scale = self.timestep / self.friction
        noise_scale = np.sqrt(2.0 * self.sigma2 * self.timestep / self.friction)
        noise = rng.standard_normal((self.steps, n_coords))
        for step in range(self.steps):
            try:
                energy, forces = atoms.get_potential_energy(), atoms.get_forces()
            except CalculationFailed:
                return None
            if self._diverged(atoms, energy, forces):
                return None
            drift = self.alpha * forces.ravel()
            bias = self._bias(self._descriptor(atoms))
            if bias is not None:
                drift = drift + bias
            displacement = (drift_scale * drift + noise_scale * noise[step]).reshape(-1, 3)
            if not np.all(np.abs(displacement) < self.max_step):
                return None
            atoms.positions = atoms.positions + displacement
        try:
            energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        except CalculationFailed:
            return None
        return None if self._diverged(atoms, energy, forces) else atoms


class AtomsSKMD(BrownianDynamics):
    """Atomistic SKMD: Brownian dynamics plus the Stein biasing force of the frozen particles.

        b(x) = (1/N) Σ_{j≠i} [ k(x_j, x) F(x_j) + k_B T ∇_{x_j} k(x_j, x) ]

    with the Gaussian kernel on global descriptors (method.md §1–2). Frozen particles' forces,
    descriptors and descriptor Jacobians are computed once, when they are frozen. The kernel
    follows the two-phase schedule of the paper's E.2 over each ``run(n_moves)``: during the first
    ``explore_fraction`` of the moves the amplitude is ``amplitude`` and the bandwidth is the median
    pairwise descriptor distance of the ensemble, re-evaluated before every move; in the remaining
    moves both decay linearly to half their end-of-exploration values.

    Args:
        descriptor: an object with ``compute(positions)`` → (M,) and ``jacobian(positions)`` →
            ((M,), (M, 3n)), e.g. :class:`~skmd.atoms.descriptors.MACEDescriptor`. Default: the
            calculator's own (``calculator.descriptor_for(atoms)``), whose descriptor comes from the
            same model call as the forces.
        amplitude: kernel amplitude h (dimensionless).
        bandwidth: ``"median"`` (default, the schedule above) or a fixed ℓ in descriptor units.
        explore_fraction: the share of moves in the exploration phase (paper: 250/300).
        backend: the backend that evaluates b(x) ("auto", "numpy", "julia").
    """

    def __init__(self, ensemble, calculator, *, descriptor=None, amplitude: float = 1.0, bandwidth="median",
                 explore_fraction: float = 250 / 300, backend=None, **kwargs):
        _check_ensemble(ensemble, minimum=2)
        super().__init__(ensemble, calculator, **kwargs)
        if descriptor is None:
            if not hasattr(calculator, "descriptor_for"):
                raise ValueError("pass a descriptor (e.g. MACEDescriptor) for a calculator without descriptors")
            descriptor = calculator.descriptor_for(self.particles[0])
        self.descriptor = descriptor
        self.amplitude = non_negative("amplitude", amplitude)
        if not (bandwidth == "median" or (np.isscalar(bandwidth) and float(bandwidth) > 0)):
            raise ValueError(f"bandwidth must be 'median' or a positive number, got {bandwidth!r}")
        self.bandwidth = bandwidth
        if not 0.0 <= explore_fraction <= 1.0:
            raise ValueError(f"explore_fraction must lie in [0, 1], got {explore_fraction}")
        self.explore_fraction = float(explore_fraction)
        self.backend = get_backend(backend)
        self._reads_descriptor = hasattr(calculator, "descriptor_for") and descriptor is calculator.descriptor_for(
            self.particles[0])
        self.frozen = [self._freeze(atoms) for atoms in self.particles]
        self.kernel_history = []

    def _freeze(self, atoms) -> dict:
        """Forces (3n,), descriptor (M,) and Jacobian (M, 3n) of a configuration being frozen."""
        frame = atoms.copy()
        frame.calc = self.calculator
        forces = frame.get_forces().ravel()
        descriptor, jacobian = self.descriptor.jacobian(frame.positions)
        if not (np.all(np.isfinite(forces)) and np.all(np.isfinite(jacobian))):
            raise ValueError("the forces or the descriptor Jacobian of an ensemble member are not finite")
        return {"forces": forces, "descriptor": descriptor, "jacobian": jacobian}

    def _accept(self, particle, end):
        super()._accept(particle, end)
        self.frozen[particle] = self._freeze(end)

    def frozen_descriptors(self) -> np.ndarray:
        """Descriptors of the current particles, (N, M)."""
        return np.stack([state["descriptor"] for state in self.frozen])

    def kernel_parameters(self, move_in_run: int, n_moves: int) -> tuple:
        """(h, ℓ) of the E.2 schedule for move ``move_in_run`` of a run of ``n_moves``."""
        n_explore = int(round(self.explore_fraction * n_moves))
        if move_in_run < n_explore or move_in_run == 0:
            bandwidth = (median_bandwidth(self.frozen_descriptors()) if self.bandwidth == "median"
                         else float(self.bandwidth))
            self._end_of_exploration = (self.amplitude, bandwidth)
            if move_in_run < n_explore:
                return self.amplitude, bandwidth
        amplitude, bandwidth = self._end_of_exploration
        scale = 1.0 - 0.5 * (move_in_run - n_explore + 1) / (n_moves - n_explore)
        return amplitude * scale, bandwidth * scale

    def _descriptor(self, atoms):
        if self._reads_descriptor:
            return self.calculator.results["descriptor"]
        return self.descriptor.compute(atoms.positions)

    def _bias(self, descriptor):
        result = self.backend.stein_force(
            descriptor[None], self._ens_d, self._ens_f, self._ens_jac,
            np.array([self._h]), np.array([self._ell]), np.array([self.kT]), np.array([float(self.n_particles)]))
        return np.asarray(result)[0]

    def _propagate(self, particle, move, rng):
        others = [j for j in range(self.n_particles) if j != particle]
        self._ens_d = np.stack([self.frozen[j]["descriptor"] for j in others])[None]
        self._ens_f = np.stack([self.frozen[j]["forces"] for j in others])[None]
        self._ens_jac = np.stack([self.frozen[j]["jacobian"] for j in others])[None]
        return super()._propagate(particle, move, rng)

    def run(self, n_moves: int) -> list:
        """Run ``n_moves`` moves under the two-phase kernel schedule; return the candidates."""
        positive_int("n_moves", n_moves)
        self.kernel_history = []
        candidates = []
        for move_in_run in range(n_moves):
            self._h, self._ell = self.kernel_parameters(move_in_run, n_moves)
            self.kernel_history.append((self._h, self._ell))
            candidates += super().run(1)
        return candidates


class LangevinDynamics(RoundRobinSampler):
    """Underdamped Langevin MD through ASE (``ase.md.langevin.Langevin``), round robin.

    The paper's baselines: 300 K and 700 K, Δt = 1 fs, damping time 0.1 ps (friction 0.01/fs).
    Each particle keeps its own momenta between moves; they are drawn from the
    Maxwell–Boltzmann distribution at the start.

    Args:
        temperature_K: T in K. timestep: Δt in fs. damping: 1/friction in fs.
    """

    def __init__(self, ensemble, calculator, *, temperature_K: float = 300.0, timestep: float = 1.0,
                 damping: float = 100.0, steps: int = 500, **kwargs):
        super().__init__(ensemble, calculator, steps=steps, **kwargs)
        self.temperature_K = positive("temperature_K", temperature_K)
        self.timestep = positive("timestep", timestep)
        self.damping = positive("damping", damping)
        for index, atoms in enumerate(self.particles):
            if not atoms.has("momenta") or not np.any(atoms.get_momenta()):
                MaxwellBoltzmannDistribution(atoms, temperature_K=self.temperature_K,
                                             rng=np.random.default_rng([self.seed, 2**32 - 1, index]))

    def _propagate(self, particle, move, rng):
        atoms = self.particles[particle].copy()
        atoms.calc = self.calculator
        dynamics = Langevin(atoms, self.timestep * units.fs, temperature_K=self.temperature_K,
                            friction=1.0 / (self.damping * units.fs), rng=rng)
        healthy = [True]

        def check():
            if healthy[0] and self._diverged(atoms, atoms.get_potential_energy(), atoms.get_forces()):
                healthy[0] = False
                raise _Diverged
        dynamics.attach(check, interval=1)
        try:
            dynamics.run(self.steps)
        except _Diverged:
            return None
        except CalculationFailed:
            return None
        return atoms


class _Diverged(Exception):
    """Raised inside an ASE run to stop a diverging trajectory."""
