"""Samplers of one active-learning iteration as tasks on any ``concurrent.futures.Executor``.

A :class:`SamplerSpec` is a picklable recipe (driver kind, integrator factory, bias factory,
acquisition, steps, moves, seed); :func:`run_samplers` runs several of them on an executor (a
process pool, or a Dask ``Client.get_executor()``) or in this process. Every task builds its own
calculator from a picklable factory (e.g. :class:`MACEFactory`, on its ``device``) and sets torch's
thread count for its own duration (:func:`~skmd.tools.threads.task_threads`; ``os.environ`` is left
alone, so a serial run does not change the threads of later trainings), and
every random stream is a function of the spec's seed, so the candidates do not depend on the
executor (the serial path runs a copy of each spec, as a worker would). A task whose worker dies
is submitted again (:func:`~skmd.atoms.tasks.run_tasks`; sampling has no side effects), and an
ordinary exception in a task is raised at once. Labelling goes through
:class:`~skmd.atoms.store.LabelStore`, which never sends a configuration twice.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

from ..tools.checks import positive_int
from ..tools.device import check_device, resolve_device
from ..tools.threads import task_threads
from .calculator import MACEDescriptorCalculator
from .committee_bias import CommitteeBias
from .divergence import DivergenceCheck
from .drivers import IndependentWalkers
from .mace_models import load_mace
from .round_robin import RoundRobin
from .tasks import run_tasks

DRIVERS = {"round_robin": RoundRobin, "independent": IndependentWalkers}


@dataclass(frozen=True)
class MACEFactory:
    """Builds a :class:`~skmd.atoms.MACEDescriptorCalculator` from a model file (picklable), on ``device``
    ("cpu", "cuda", or "auto", resolved where the calculator is built: :mod:`skmd.tools.device`)."""

    model_path: str
    dtype: str = "float64"
    device: str = "cpu"

    def __post_init__(self):
        check_device(self.device)

    def __call__(self):
        device = resolve_device(self.device)
        return MACEDescriptorCalculator(load_mace(self.model_path, device=device), dtype=self.dtype, device=device)


@dataclass(frozen=True)
class CommitteeFactory:
    """Builds the UDD calculator in the worker: :class:`~skmd.atoms.CommitteeBias` (height ``A``,
    width ``B``, both eV) on the MACE models at ``model_paths``, each on ``device``."""

    model_paths: tuple
    A: float
    B: float
    dtype: str = "float64"
    device: str = "cpu"

    def __post_init__(self):
        check_device(self.device)

    def __call__(self):
        return CommitteeBias([MACEFactory(str(path), self.dtype, self.device)() for path in self.model_paths],
                             A=self.A, B=self.B)


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
    """Run one sampler for ``spec.n_moves`` moves: candidates, dropped moves and the end ensemble.

    Also returns ``records`` (the ``records`` of every observer that keeps some, e.g. a trace),
    ``left_out`` (the members a round robin left out of the others' Stein sum at some move, sorted),
    ``seconds`` (wall time of the task, calculator built) and ``freeze_s`` (of it, the time the
    bias factory spent freezing members). ``threads``: torch threads for the task (restored after it).
    """
    with task_threads(threads):
        started = time.perf_counter()
        driver = spec.build(ensemble, calculator_factory())
        candidates = driver.run(spec.n_moves)
    return {"name": spec.name, "candidates": candidates, "dropped": driver.dropped, "ensemble": driver.particles,
            "kernel_history": list(getattr(spec.bias, "history", [])), "left_out": sorted(getattr(driver, "left_out", ())),
            "records": [observer.records for observer in driver.observers if hasattr(observer, "records")],
            "seconds": time.perf_counter() - started, "freeze_s": getattr(spec.bias, "freeze_seconds", 0.0)}


def _run_copy(spec, ensemble, calculator_factory, threads):
    """The serial path: a copy of the spec, so its bias factory starts fresh as in a worker."""
    return run_sampler(copy.deepcopy(spec), ensemble, calculator_factory, threads)


def run_samplers(specs, ensembles, calculator_factory, executor=None, threads: int = 1, retries: int = 2) -> dict:
    """Run every spec (with its ensemble, or one shared ensemble) → {name: result of run_sampler}.

    Args:
        specs: :class:`SamplerSpec` objects with unique names.
        ensembles: one list of Atoms for all, or {name: list of Atoms}.
        calculator_factory: picklable ``() -> ASE calculator`` (e.g. :class:`MACEFactory`), or
            {name: factory} when the samplers sample different models (e.g. each its fine-tuned one).
        executor: a ``concurrent.futures.Executor`` (process pool, Dask ``Client.get_executor()``);
            None runs the samplers one after another in this process.
        threads: torch threads of each task, for its duration (1 per worker when samplers run side by side).
        retries: resubmissions of a task whose worker died (see :func:`~skmd.atoms.tasks.run_tasks`).
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
    factories = calculator_factory if isinstance(calculator_factory, dict) else {n: calculator_factory for n in names}
    if set(names) - set(factories) or not all(callable(factories[n]) for n in names):
        raise ValueError("calculator_factory must be a picklable callable returning an ASE calculator, "
                         "or one such callable per sampler name")
    positive_int("threads", threads)
    function = _run_copy if executor is None else run_sampler
    arguments = [(spec, ensembles[spec.name], factories[spec.name], threads) for spec in specs]
    results = run_tasks(function, arguments, executor=executor, retries=retries)
    return dict(zip(names, results))
