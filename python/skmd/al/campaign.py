"""An active-learning campaign on the user's own structures, model and oracle (``skmd al``).

Read :meth:`Campaign.run` first: it is the whole campaign, stage by stage.

1. The starting stage (:mod:`skmd.al.starting_stage`): oracle labels of perturbed copies of the
   structures (or the user's own labelled frames, ``start_labels``), split into training, calibration and
   test labels; the starting model (the user's, or a
   surrogate trained on them); its test score.
2. Every sampler's chain of iterations (:mod:`skmd.al.iteration`), run side by side by the scheduler
   (:mod:`skmd.al.chains`). Per iteration k, a sampler samples ``walkers`` walks of ``steps`` steps with
   its models after iteration k − 1, starting from its walkers' end points of iteration k − 1 (k = 1:
   perturbed copies of the structures); ``select`` candidates are chosen, labelled by the oracle and
   split into training and calibration labels; the models are trained on all training labels so far
   (the starting labels included) and scored on the test set. Calibration labels are never trained on.
3. The outputs (:mod:`skmd.al.results`): the training set, results.json, report.md and its figure.

Every file lives in the run directory (:class:`~skmd.al.run_dir.RunDir`) and is written atomically; a
stage whose output exists is not run again, so a killed campaign resumes from the same command, and
no configuration goes to the oracle twice.
"""
from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ProcessPoolExecutor

from ..atoms.oracle import Oracle, oracle_name
from ..atoms.store import LabelStore
from ..tools.device import resolve_device
from ..tools.pool import SelfHealingPool
from ..tools.rundir import check_config, make_run_directory
from ..tools.threads import available_cores, task_threads, threads_per_job
from .chains import Slots, run_chains
from .checks import check_inputs, check_start_labels
from .config import FREE_SETTINGS, GROWABLE_SETTINGS, CampaignConfig
from .invocations import close_invocation, invocations, open_invocation
from .iteration import IterationStages, sampler_chains, sampler_models
from .retries import retry_lines
from .results import write_outputs
from .run_dir import RunDir
from .samplers import SKMD, builtin_samplers
from .selection import builtin_selector
from .starting_stage import committee_members, initial_score, oracle_e0s, starting_labels, starting_model
from .training import builtin_trainer


class Campaign:
    """``Campaign(config).run()`` → results dict; parts are pluggable (see :mod:`skmd.al`).

    ``oracle``: a picklable ``() -> ASE calculator`` (default: ``config.oracle`` imported); ``samplers``:
    sampler objects (default: those ``config.samplers`` names); ``selector``/``trainer``: callables as in
    :mod:`skmd.al.selection` and :mod:`skmd.al.training`; ``executor``: any ``concurrent.futures``
    executor for sampling, labelling and scoring (a process pool, a Dask client's executor).
    Everything is checked here, before any oracle call or training.
    """

    def __init__(self, config: CampaignConfig, *, oracle=None, samplers=None, selector=None, trainer=None,
                 executor=None, log=print, retry_failed: bool = False):
        config = config.validate()
        self.log, self.executor = log, _shared(executor)
        self.oracle_factory, self.structures, self.test_frames = check_inputs(config, oracle)
        self.start_labels = None
        if config.start_labels is not None:    # the file's frames are the starting labels: start_frames is their count
            self.start_labels = check_start_labels(config, self.structures)
            config = dataclasses.replace(config, start_frames=len(self.start_labels)).validate()
        jobs = config.workers or jobs_at_once(executor)
        self.config = dataclasses.replace(            # recorded as they run: the oracle that labels, device, threads
            config, oracle=oracle_name(self.oracle_factory), device=resolve_device(config.device),
            threads=threads_per_job(config.threads, jobs))
        self.samplers = list(samplers) if samplers is not None else builtin_samplers(self.config)
        names = [s.name for s in self.samplers]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"sampler names must be distinct and at least one; got {names}")
        self.selector = selector or builtin_selector(self.config.selection)
        self._trainer = trainer
        self.run_dir = RunDir(make_run_directory(config.out))
        given_samplers = None if samplers is None else self.samplers
        check_config(self.run_dir.root, self.config, _recorded_parts(given_samplers, selector, trainer),
                     free=FREE_SETTINGS, growable=GROWABLE_SETTINGS)
        self.store = LabelStore(self.run_dir.labels, Oracle(self.oracle_factory, self.executor),
                                batch_size=config.label_batch, retry_failed=retry_failed)

    @property
    def out(self):
        """The run directory's path."""
        return self.run_dir.root

    @property
    def trainer(self):
        """The trainer given, or the built-in one (its isolated-atom energies from the oracle, once, where
        the campaign trains its own surrogate)."""
        if self._trainer is None:
            numbers = sorted({int(z) for atoms in self.structures for z in atoms.numbers})
            e0s = {} if self.config.model is not None else oracle_e0s(self.run_dir, self.oracle_factory, numbers)
            self._trainer = builtin_trainer(self.config, e0s)
        return self._trainer

    @property
    def skmd_regime(self) -> str | None:
        """The sentence naming SKMD's regime (:meth:`CampaignConfig.skmd_regime`), or None without an SKMD sampler."""
        return self.config.skmd_regime() if any(isinstance(s, SKMD) for s in self.samplers) else None

    def run(self) -> dict:
        """Run (or resume) the campaign; write training_set.extxyz, results.json and report.md; return the
        results. Without an executor, this process works on the campaign's threads while it runs (then
        its own again)."""
        open_invocation(self.out)
        started = time.perf_counter()
        try:
            with task_threads(self.config.threads if self.executor is None else None):
                return self._run(started)
        finally:
            if invocations(self.out)[-1].get("wall_s") is None:      # not finished: Ctrl-C or an error
                close_invocation(self.out, time.perf_counter() - started, finished=False)

    def _run(self, started: float) -> dict:
        c, run, log = self.config, self.run_dir, self.log
        if run.split.exists():
            log(f"resuming the campaign in {run.root}: finished stages are read back, labels are not redone")
        if self.skmd_regime:
            log(self.skmd_regime)
        if self.store.retry_failed:
            for line in retry_lines(run, self.store, [s.name for s in self.samplers], c.iterations):
                log(line)
        # 1. the starting stage
        start = starting_labels(run, c, self.structures, self.store, log, given=self.start_labels)
        test = self.test_frames or start["test"]
        model0 = starting_model(run, c, self.trainer, start["train"], log)
        for sampler in self.samplers:
            committee_members(run, c, self.trainer, sampler_models(sampler), log)
        if not run.start_timing.exists():              # the invocation that finished the starting stage
            run.write_json(run.start_timing, {"start_s": time.perf_counter() - started})
        initial_score(run, c, model0, test, self.executor)
        # 2. every sampler's iterations, side by side
        iterations_started = time.perf_counter()
        stages = IterationStages(run, c, self.structures, self.store, self.selector, self.trainer, self.executor, log)
        slots = Slots.for_campaign(c.workers, self.executor)
        run_chains(sampler_chains(stages, self.samplers, test, slots), slots)
        # 3. the outputs
        timing = {"start_s": run.read_json(run.start_timing)["start_s"],
                  "iterations_s_this_run": time.perf_counter() - iterations_started}
        return write_outputs(run, c, self.samplers, self.store, test, timing=timing,
                             selector_name=getattr(self.selector, "__name__", type(self.selector).__name__),
                             skmd_regime=self.skmd_regime, wall_s_this_run=time.perf_counter() - started)


def jobs_at_once(executor) -> int:
    """How many jobs share this machine's cores: 1 without an executor, a process pool's workers, and for
    any other executor (Dask, whose workers may be other machines) every core, so that each job gets one
    thread unless ``threads`` says otherwise."""
    if executor is None:
        return 1
    pool = getattr(executor, "pool", executor)          # a SelfHealingPool's current pool
    if isinstance(pool, ProcessPoolExecutor):
        return max(1, int(pool._max_workers))
    return available_cores()


def _shared(executor):
    """A process pool wrapped so that the chains and the oracle share one replacement when a worker dies
    (:class:`~skmd.tools.pool.SelfHealingPool`); any other executor (Dask, None) as it is."""
    return SelfHealingPool(executor) if isinstance(executor, ProcessPoolExecutor) else executor


def _describe(part):
    """A part as recorded: its class, and its settings where it is a dataclass (no memory addresses)."""
    if part is None:
        return None
    kind = f"{getattr(part, '__module__', None)}.{getattr(part, '__qualname__', type(part).__qualname__)}"
    settings = dataclasses.asdict(part) if dataclasses.is_dataclass(part) and not isinstance(part, type) else None
    return {"kind": kind, "name": getattr(part, "name", None), "settings": settings}


def _recorded_parts(samplers, selector, trainer) -> dict:
    """The parts of a campaign that a rerun must keep (recorded in config.json; a change is refused). Parts
    the user passed are recorded; built-in ones (None) follow from the config, whose changes are named by
    their setting (``temperature_K``), not also as a changed part. The oracle is the config's ``oracle``,
    the name of the factory that labels (a factory passed in Python included)."""
    return {"sampler_parts": None if samplers is None else [_describe(s) for s in samplers],
            "selector": _describe(selector), "trainer": _describe(trainer)}
