"""Samplers of one active-learning iteration as tasks on any ``concurrent.futures.Executor``.

A :class:`SamplerSpec` is a picklable recipe (driver kind, integrator factory, bias factory,
acquisition, steps, moves, seed); :func:`run_samplers` runs several of them on an executor (a
process pool, or a Dask ``Client.get_executor()``) or in this process. Every task builds its own
calculator from a picklable factory (e.g. :class:`MACEFactory`) and sets its own thread count, and
every random stream is a function of the spec's seed, so the candidates do not depend on the
executor. A task whose worker dies is submitted again (sampling has no side effects; labelling
goes through :class:`~skmd.atoms.store.LabelStore`, which never sends a configuration twice).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..tools.checks import positive_int
from ..tools.threads import set_threads
from .divergence import DivergenceCheck
from .drivers import IndependentWalkers, RoundRobin

DRIVERS = {"round_robin": RoundRobin, "independent": IndependentWalkers}


@dataclass(frozen=True)
class MACEFactory:
    """Builds a :class:`~skmd.atoms.MACEDescriptorCalculator` from a model file (picklable)."""

    model_path: str
    dtype: str = "float64"

    def __call__(self):
        from .calculator import MACEDescriptorCalculator  # noqa: PLC0415  (torch-heavy, in the worker)
        from .mace_models import load_mace  # noqa: PLC0415
        return MACEDescriptorCalculator(load_mace(self.model_path), dtype=self.dtype)


@dataclass(frozen=True)
class SamplerSpec:
    """A sampler as data: ``driver`` "round_robin" (needs ``bias``) or "independent".

    Args:
        name: label of the sampler in results. integrator: integrator factory (e.g. Brownian(...)).
        n_moves: moves per iteration. steps: steps per walk (or from the acquisition observers).
        bias: bias factory for round robin (e.g. Stein(...)). acquisition: rule(s) or observer(s).
        seed: seed of every random stream. divergence, max_restarts: the divergence policy.
    """

    name: str
    driver: str
    integrator: object
    n_moves: int
    steps: int | None = None
    bias: object = None
    acquisition: object = None
    seed: int = 0
    divergence: DivergenceCheck = field(default_factory=DivergenceCheck)
    max_restarts: int = 3

    def __post_init__(self):
        if self.driver not in DRIVERS:
            raise ValueError(f"driver must be one of {sorted(DRIVERS)}, got {self.driver!r}")
        if (self.driver == "round_robin") != (self.bias is not None):
            raise ValueError("a round_robin sampler needs a bias factory, and an independent one takes none")
        positive_int("n_moves", self.n_moves)

    def build(self, ensemble, calculator):
        kwargs = dict(acquisition=self.acquisition, steps=self.steps, seed=self.seed, divergence=self.divergence,
                      restarts=self.max_restarts)
        if self.driver == "round_robin":
            kwargs["bias"] = self.bias
        return DRIVERS[self.driver](ensemble, calculator, self.integrator, **kwargs)


def run_sampler(spec: SamplerSpec, ensemble, calculator_factory, threads: int = 1) -> dict:
    """Run one sampler for ``spec.n_moves`` moves: candidates, dropped moves and the end ensemble."""
    set_threads(threads)
    driver = spec.build(ensemble, calculator_factory())
    candidates = driver.run(spec.n_moves)
    return {"name": spec.name, "candidates": candidates, "dropped": driver.dropped, "ensemble": driver.particles,
            "kernel_history": list(getattr(spec.bias, "history", []))}


def run_samplers(specs, ensembles, calculator_factory, executor=None, threads: int = 1, retries: int = 2) -> dict:
    """Run every spec (with its ensemble, or one shared ensemble) → {name: result of run_sampler}.

    With ``executor`` None the samplers run one after another in this process.
    """
    specs = list(specs)
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"sampler names must be unique, got {names}")
    if not isinstance(ensembles, dict):
        ensembles = {name: ensembles for name in names}
    missing = set(names) - set(ensembles)
    if missing:
        raise ValueError(f"no ensemble for samplers {sorted(missing)}")
    positive_int("retries", retries, minimum=0)
    if executor is None:
        return {spec.name: run_sampler(spec, ensembles[spec.name], calculator_factory, threads) for spec in specs}
    futures = {spec.name: executor.submit(run_sampler, spec, ensembles[spec.name], calculator_factory, threads)
               for spec in specs}
    results = {}
    for spec in specs:
        attempt = 0
        while True:
            try:
                results[spec.name] = futures[spec.name].result()
                break
            except Exception:    # a dead worker (e.g. distributed.KilledWorker) or a crashed pool
                if attempt >= retries:
                    raise
                attempt += 1
                futures[spec.name] = executor.submit(run_sampler, spec, ensembles[spec.name], calculator_factory,
                                                     threads)
    return results
