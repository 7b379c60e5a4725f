"""An active-learning campaign on the user's own structures, model and oracle (``skmd al``).

Per iteration k, every sampler (its own chain of models and labels, run beside the others' chains by
:mod:`skmd.al.chains`) samples ``walkers`` walks of
``steps`` steps with its models after iteration k − 1, starting from its walkers' end points of
iteration k − 1 (k = 1: perturbed copies of the structures); then, per sampler, ``select`` candidates
are chosen, labelled by the oracle, split into training and calibration frames, the models are
trained on all training labels so far (the starting labels included), and scored on the test set.
Calibration frames are never trained on. Every stage is checkpointed under ``out``; a killed
campaign resumes from the same command, and no configuration goes to the oracle twice.
"""
from __future__ import annotations

from pathlib import Path

from ..tools.rundir import check_config, make_run_directory
from .config import CampaignConfig


class Campaign:
    """``Campaign(config).run()`` → results dict; parts are pluggable (see :mod:`skmd.al`).

    ``oracle``: a picklable ``() -> ASE calculator`` (default: ``config.oracle`` imported); ``samplers``:
    sampler objects (default: those ``config.samplers`` names); ``selector``/``trainer``: callables as in
    :mod:`skmd.al.selection` and :mod:`skmd.al.training`; ``executor``: any ``concurrent.futures``
    executor for sampling, labelling and scoring (a process pool, a Dask client's executor).
    """

    def __init__(self, config: CampaignConfig, *, oracle=None, samplers=None, selector=None, trainer=None,
                 executor=None, log=print, retry_failed: bool = False):
        from .checks import check_inputs  # noqa: PLC0415
        from .samplers import builtin_samplers  # noqa: PLC0415
        from .selection import builtin_selector  # noqa: PLC0415
        self.config = config.validate()
        self.log, self.executor = log, _shared(executor)
        self.oracle_factory, self.structures, self.test_frames = check_inputs(self.config, oracle)
        from dataclasses import replace  # noqa: PLC0415
        from ..atoms.oracle import oracle_name  # noqa: PLC0415
        self.config = replace(self.config, oracle=oracle_name(self.oracle_factory))   # the oracle that labels
        from ..tools.device import resolve_device  # noqa: PLC0415
        from ..tools.threads import threads_per_job  # noqa: PLC0415
        jobs = self.config.workers or jobs_at_once(executor)
        self.config = replace(self.config, device=resolve_device(self.config.device),   # recorded as they ran
                              threads=threads_per_job(self.config.threads, jobs))
        self.samplers = list(samplers) if samplers is not None else builtin_samplers(self.config)
        names = [s.name for s in self.samplers]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"sampler names must be distinct and at least one; got {names}")
        self.selector = selector or builtin_selector(self.config.selection)
        self._trainer = trainer
        self.out = make_run_directory(config.out)
        from .config import FREE_SETTINGS, GROWABLE_SETTINGS  # noqa: PLC0415
        given_samplers = None if samplers is None else self.samplers
        check_config(self.out, self.config, _recorded_parts(given_samplers, selector, trainer),
                     free=FREE_SETTINGS, growable=GROWABLE_SETTINGS)
        from ..atoms.oracle import Oracle  # noqa: PLC0415
        from ..atoms.store import LabelStore  # noqa: PLC0415
        self.store = LabelStore(self.out / "labels", Oracle(self.oracle_factory, self.executor),
                                batch_size=config.label_batch, retry_failed=retry_failed)

    @property
    def trainer(self):
        if self._trainer is None:
            from .stages import isolated_atom_energies  # noqa: PLC0415
            from .training import builtin_trainer  # noqa: PLC0415
            numbers = sorted({int(z) for atoms in self.structures for z in atoms.numbers})
            e0s = {} if self.config.model is not None else isolated_atom_energies(self, numbers)
            self._trainer = builtin_trainer(self.config, e0s)
        return self._trainer

    @property
    def skmd_regime(self) -> str | None:
        """The sentence naming SKMD's regime (:meth:`CampaignConfig.skmd_regime`), or None without an SKMD sampler."""
        from .samplers import SKMD  # noqa: PLC0415
        return self.config.skmd_regime() if any(isinstance(s, SKMD) for s in self.samplers) else None

    def folder(self, name: str, k: int) -> Path:
        return self.out / "samplers" / name / f"iter{k:02d}"

    def run(self) -> dict:
        """Run (or resume) the campaign; write training_set.extxyz, results.json and report.md. Without an
        executor, this process works on the campaign's threads while it runs (then its own again)."""
        import time  # noqa: PLC0415
        from ..tools.threads import task_threads  # noqa: PLC0415
        from .chains import run_campaign  # noqa: PLC0415
        from .invocations import close_invocation, invocations, open_invocation  # noqa: PLC0415
        open_invocation(self.out)
        started = time.perf_counter()
        try:
            with task_threads(self.config.threads if self.executor is None else None):
                return run_campaign(self)
        finally:
            if invocations(self.out)[-1].get("wall_s") is None:      # not finished: Ctrl-C or an error
                close_invocation(self.out, time.perf_counter() - started, finished=False)


def jobs_at_once(executor) -> int:
    """How many jobs share this machine's cores: 1 without an executor, a process pool's workers, and for
    any other executor (Dask, whose workers may be other machines) every core, so that each job gets one
    thread unless ``threads`` says otherwise."""
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415
    from ..tools.threads import available_cores  # noqa: PLC0415
    if executor is None:
        return 1
    pool = getattr(executor, "pool", executor)          # a SelfHealingPool's current pool
    if isinstance(pool, ProcessPoolExecutor):
        return max(1, int(pool._max_workers))
    return available_cores()


def _shared(executor):
    """A process pool wrapped so that the chains and the oracle share one replacement when a worker dies
    (:class:`~skmd.tools.pool.SelfHealingPool`); any other executor (Dask, None) as it is."""
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415
    from ..tools.pool import SelfHealingPool  # noqa: PLC0415
    return SelfHealingPool(executor) if isinstance(executor, ProcessPoolExecutor) else executor


def _describe(part):
    """A part as recorded: its class, and its settings where it is a dataclass (no memory addresses)."""
    import dataclasses  # noqa: PLC0415
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
