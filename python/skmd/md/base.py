"""The shared sampler machinery: parameters, noise, observers, divergence handling."""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from ..modules.potentials import MLPPotential, Potential
from ..tools.checks import finite_array, non_negative, positive, positive_int
from ..tools.divergence import DivergenceWarning, RestartPolicy  # noqa: F401  (re-exported)
from ..tools.noise import as_noise
from .rules import is_path_rule

STATUS_DIVERGED = 2


class Acquisition:
    """Points acquired by a sampler, with their chain, iteration, particle and step (stored in batches)."""

    def __init__(self):
        self._batches: list[tuple] = []
        self._count = 0

    def add(self, points, chains, iteration, particle, steps):
        """Record points (b, D) of ``chains`` (b,) acquired at ``steps`` (b,)."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        b = len(points)
        if b == 0:
            return
        self._batches.append((points.copy(), np.broadcast_to(chains, (b,)).astype(int),
                              np.full(b, int(iteration)), np.broadcast_to(particle, (b,)).astype(int),
                              np.broadcast_to(steps, (b,)).astype(int)))
        self._count += b

    def _column(self, k):
        if not self._batches:
            return np.zeros((0, 0)) if k == 0 else np.zeros(0, dtype=int)
        return np.concatenate([batch[k] for batch in self._batches])

    @property
    def points(self):
        return self._column(0)

    @property
    def chain(self):
        return self._column(1)

    @property
    def iteration(self):
        return self._column(2)

    @property
    def particle(self):
        return self._column(3)

    @property
    def step(self):
        return self._column(4)

    def arrays(self, chain: int | None = None) -> dict:
        """Arrays of the records (of one chain if given): points (n, D), iteration, particle, step (n,)."""
        keep = slice(None) if chain is None else self.chain == chain
        return {"points": self.points[keep], "iteration": self.iteration[keep],
                "particle": self.particle[keep], "step": self.step[keep]}

    def since(self, first: int) -> tuple[np.ndarray, np.ndarray]:
        """(points, chains) of the records after the first ``first`` ones."""
        return self.points[first:], self.chain[first:]

    def __len__(self):
        return self._count


def _subset_potential(potential, chains):
    if isinstance(potential, MLPPotential) and potential.n_chains > 1:
        return MLPPotential(potential.W1[chains], potential.b1[chains], potential.w2[chains],
                            potential.b2[chains], potential.lam, potential.center)
    return potential


class Sampler:
    """Base of all samplers: Euler–Maruyama on B independent chains, one noise stream each.

        x_{t+1} = x_t + (dt/γ) [α F(x_t) + bias(x_t)] + sqrt(2 σ² dt/γ) ξ_t

    Args:
        potential: a :class:`~skmd.modules.potentials.Potential`.
        kT: k_B T in energy units (> 0). dt: time step (> 0). gamma: friction/mobility (> 0).
        alpha: weight α of the potential force (default 1). sigma2: noise scale σ² (default kT).
        noise: seed, ``numpy.random.Generator``, :class:`~skmd.tools.noise.NoiseStream` or an
            explicit increment array (steps, chains, D). Share one stream between samplers to
            share the Brownian realization.
        backend: "auto", "numpy", "julia" or a backend object (default $SKMD_BACKEND or auto).
        bound: a trajectory with any |x_d| > bound (or non-finite energy/positions) has diverged.
        max_restarts: restarts of one particle from its last good state before giving up.
    """

    def __init__(self, potential, *, kT, dt, gamma=1.0, alpha=1.0, sigma2=None, noise=None,
                 backend=None, bound=np.inf, max_restarts=3, n_chains=1):
        if not isinstance(potential, Potential):
            raise ValueError(f"potential must be a skmd Potential, got {type(potential).__name__}")
        self.potential = potential
        self.kT = positive("kT", kT)
        self.dt = positive("dt", dt)
        self.gamma = positive("gamma", gamma)
        self.alpha = non_negative("alpha", alpha)
        self.sigma2 = self.kT if sigma2 is None else non_negative("sigma2", sigma2)
        self.bound = positive("bound", bound) if np.isfinite(bound) else np.inf
        self.restarts = RestartPolicy(max_restarts)
        self.max_restarts = self.restarts.max_restarts
        self.n_chains = positive_int("n_chains", n_chains)
        if isinstance(potential, MLPPotential) and potential.n_chains not in (1, self.n_chains):
            raise ValueError(f"the potential holds {potential.n_chains} model sets for {self.n_chains} chains")
        if noise is None:
            raise ValueError("noise must be a seed, a numpy Generator, a NoiseStream or an array "
                             "(every stochastic path takes one, for reproducibility)")
        self.noise = as_noise(noise, potential.dim, self.n_chains)
        self.backend = get_backend(backend)
        self.observers: list = []
        self.acquired = Acquisition()
        self.nsteps = np.zeros(self.n_chains, dtype=np.int64)
        self.n_diverged = 0
        self.iteration = 0
        self.last_values = None

    def update_potential(self, potential) -> None:
        """Swap in a retrained model (active learning); frozen quantities are recomputed."""
        if not isinstance(potential, Potential) or potential.dim != self.potential.dim:
            raise ValueError("the new potential must be a skmd Potential of the same dimension")
        if isinstance(potential, MLPPotential) and potential.n_chains not in (1, self.n_chains):
            raise ValueError(f"the potential holds {potential.n_chains} model sets for {self.n_chains} chains")
        self.potential = potential
        self._potential_changed()

    def _potential_changed(self) -> None:
        """Hook for samplers that cache quantities of the potential."""

    # -------------------------------------------------------------- observers (ASE style)
    def attach(self, function, interval: int = 1, *args, **kwargs) -> None:
        """Call ``function(*args, **kwargs)`` after every ``interval`` particle moves."""
        positive_int("interval", interval)
        self.observers.append((function, interval, args, kwargs))

    def call_observers(self, event: int) -> None:
        for function, interval, args, kwargs in self.observers:
            if event % interval == 0:
                function(*args, **kwargs)

    # -------------------------------------------------------------- the core loop
    def _per_chain(self, value, chains):
        return np.broadcast_to(np.asarray(value, float), (self.n_chains,))[chains].copy()

    def _kernel_call(self, chains, x0, n_steps, rule_args, bias_args):
        noise = self.noise.take(n_steps, chains)
        params = {name: self._per_chain(getattr(self, name), chains)
                  for name in ("dt", "gamma", "alpha", "sigma2", "kT", "bound")}
        result = self.backend.simulate(_subset_potential(self.potential, chains), x0, noise,
                                       **params, **rule_args, **bias_args(chains))
        self.noise.advance(result["steps"], chains)
        self.nsteps[chains] += result["steps"]
        return result

    def _segment(self, x0, rule, bias_args, chains=None):
        """Move chains from x0 (b, D) under ``rule``, restarting diverged ones.

        Returns a dict with x_end (b, D), status (b,), steps (b,), acquired list of
        [(point, step), ...] per chain, and the per-step acquisition values (T, b).
        """
        chains = np.arange(self.n_chains) if chains is None else np.asarray(chains)
        restart = np.array(x0, float)
        x_end = restart.copy()
        status = np.zeros(len(chains), dtype=int)
        steps = np.zeros(len(chains), dtype=int)
        acquired = [[] for _ in chains]
        values = None
        pending = np.arange(len(chains))
        attempts = np.zeros(len(chains), dtype=int)
        base_args = rule.kernel_args()
        while pending.size:
            args = dict(base_args)
            if "max_acquire" in args:
                args["max_acquire"] = int(max(args["max_acquire"] - min(len(acquired[i]) for i in pending), 1))
            result = self._kernel_call(chains[pending], restart[pending], rule.max_steps, args, bias_args)
            if values is None:
                values = np.full((rule.max_steps, len(chains)), np.nan)
                values[:, pending] = result["values"]
            steps[pending] += result["steps"]
            for column, i in enumerate(pending if is_path_rule(rule) else ()):
                room = base_args.get("max_acquire", 0) - len(acquired[i])
                for k in range(min(int(result["n_acq"][column]), max(room, 0))):
                    acquired[i].append((result["acq_x"][column, k], int(result["acq_step"][column, k])))
            x_end[pending] = result["x_end"]
            status[pending] = result["status"]
            bad = pending[result["status"] == STATUS_DIVERGED]
            for i in bad:
                self.n_diverged += 1
                attempts[i] += 1
                if is_path_rule(rule) and acquired[i]:
                    restart[i] = acquired[i][-1][0]
                self.restarts.warn(f"chain {chains[i]}", f"non-finite values or |x| > bound = {self.bound}",
                                   int(attempts[i]), given_up="kept at its last good state", stacklevel=4)
            give_up = bad[[self.restarts.gives_up(a) for a in attempts[bad]]]
            x_end[give_up] = restart[give_up]
            pending = np.setdiff1d(bad, give_up)
            if is_path_rule(rule):
                pending = np.array([i for i in pending if len(acquired[i]) < base_args["max_acquire"]], dtype=int)
        self.last_values = values
        return {"x_end": x_end, "status": status, "steps": steps, "acquired": acquired, "values": values}


def as_batch(name: str, positions, dim: int, n_points_axis: bool):
    """Validate positions and add the chain axis: (N, D) → (1, N, D) or (D,) → (1, D)."""
    want = 3 if n_points_axis else 2
    array = finite_array(name, positions, ndim=(want - 1, want))
    if array.ndim == want - 1:
        array = array[None]
    if array.shape[-1] != dim:
        raise ValueError(f"{name} must have {dim} columns (the potential's dimension), got shape {array.shape}")
    return array.copy()
