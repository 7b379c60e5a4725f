"""How a campaign runs: the starting stage, then every sampler's chain of iterations side by side.

A sampler's iteration k needs only its own models and labels of iteration k − 1, so each sampler runs
its iterations as a chain of its own (sample → select and label → train → score), and the chains do not
wait for each other at the end of an iteration: a sampler whose walks finish early trains while a slower
one still samples. With ``workers`` set, at most that many jobs run at once (a sampler's walks, a
selection with its labels, one model's training, a scoring; :class:`Slots`), so the CPUs are shared as
with a staged loop and stay busy; with a Dask executor and no ``workers``, the executor's jobs are not
limited here (the cluster queues them) and trainings run one at a time on this machine. Every random
stream is a function of the seed, the sampler and the iteration, never of the order in which jobs ran,
so the results are those of running the samplers one after another.

A failure in one chain (or Ctrl-C) lets no new job start in any chain; the jobs under way finish, and
a rerun resumes from what each chain wrote.
"""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext

from ..tools.rundir import write_json
from ..tools.device import resolve_device
from ..tools.threads import resolve_threads
from .loop import Loop, sampler_models


class Stopped(Exception):
    """Raised in a chain when the campaign stops (another chain failed, or Ctrl-C)."""


class Slots:
    """Limits on the jobs the chains run at once: ``jobs`` for executor jobs (a sampler's walks, a
    selection with its labels, a scoring; None: no limit, the executor queues them) and ``trainings`` for
    ``mace_run_train`` processes, which run on this machine. ``shared``: one limit of ``trainings`` for
    both, when the executor's processes share this machine's cores (``--workers``). Once :meth:`stop` is
    called, or a job fails, no job starts."""

    def __init__(self, jobs: int | None, trainings: int, shared: bool = False):
        self._trainings = threading.BoundedSemaphore(max(1, int(trainings)))
        self._jobs = self._trainings if shared else (
            None if jobs is None else threading.BoundedSemaphore(max(1, int(jobs))))
        self._stopped = threading.Event()

    @classmethod
    def for_campaign(cls, workers: int | None, executor) -> "Slots":
        """``--workers N``: N jobs of any kind at once. A given executor without ``workers`` (a Dask
        cluster): its jobs unlimited, one training at a time. Neither: one job at a time."""
        if workers:
            return cls(workers, workers, shared=True)
        return cls(None if executor is not None else 1, 1, shared=executor is None)

    def stop(self) -> None:
        self._stopped.set()

    @contextmanager
    def _held(self, semaphore):
        with semaphore if semaphore is not None else nullcontext():
            if self._stopped.is_set():
                raise Stopped
            try:
                yield
            except Stopped:
                raise
            except BaseException:
                self.stop()          # before the slot is released, so no waiting job starts
                raise

    def job(self):
        return self._held(self._jobs)

    def training(self):
        return self._held(self._trainings)


def run_chain(loop: Loop, sampler, test: list, slots: Slots, label_lock) -> None:
    """Every iteration of ``sampler`` that has no ``metrics.json`` yet, in order."""
    c, campaign = loop.config, loop.campaign
    for k in range(1, c.iterations + 1):
        if (campaign.folder(sampler.name, k) / "metrics.json").exists():
            continue
        with slots.job():
            loop.sample(sampler, k)
        with label_lock, slots.job():     # the label store is written by one chain at a time
            prepared = loop.select_and_label(sampler, k)

        def train(m: int) -> float:
            with slots.training():
                return loop.train(sampler, k, m)

        n_models = sampler_models(sampler)
        with ThreadPoolExecutor(n_models) as members:      # a committee's members train side by side
            train_s = sum(members.map(train, range(n_models)))
        with slots.job():
            loop.score(sampler, k, test, prepared, train_s)


def run_chains(loop: Loop, samplers: list, test: list, slots: Slots) -> None:
    """Run the chains of ``samplers`` side by side within ``slots``; the first failure (or Ctrl-C) stops
    every chain before its next job, and is raised once the jobs under way have finished."""
    label_lock = threading.Lock()
    order = sorted(samplers, key=sampler_models, reverse=True)   # committees (more trainings) start first
    pool = ThreadPoolExecutor(max(1, len(order)))
    futures = [pool.submit(run_chain, loop, s, test, slots, label_lock) for s in order]
    try:
        wait(futures, return_when=FIRST_EXCEPTION)
    except BaseException:
        slots.stop()
        raise
    finally:
        pool.shutdown(wait=True)
    errors = [f.exception() for f in futures if f.exception() is not None]
    causes = [e for e in errors if not isinstance(e, Stopped)]
    if causes or errors:
        raise (causes or errors)[0]


def run_campaign(campaign) -> dict:
    """Run (or resume) every stage of ``campaign``; write the outputs; return the results."""
    from ..atoms.scoring import score_model_file  # noqa: PLC0415
    from ..atoms.tasks import run_tasks  # noqa: PLC0415
    from .report import write_outputs  # noqa: PLC0415
    from .stages import committee_members, starting_data, starting_model  # noqa: PLC0415
    c, started, timing = campaign.config, time.perf_counter(), {}
    if (campaign.out / "start" / "split.json").exists():
        campaign.log(f"resuming the campaign in {campaign.out}: finished stages are read back, labels are not redone")
    if campaign.skmd_regime:
        campaign.log(campaign.skmd_regime)
    start = starting_data(campaign)
    test = campaign.test_frames or start["test"]
    model0 = starting_model(campaign, start["train"])
    members = {s.name: committee_members(campaign, model0, campaign.out / "start" / "train.extxyz", sampler_models(s))
               for s in campaign.samplers}
    start_timing = campaign.out / "start" / "timing.json"   # the invocation that finished the starting stage
    if not start_timing.exists():
        write_json(start_timing, {"start_s": time.perf_counter() - started})
    timing["start_s"] = json.loads(start_timing.read_text())["start_s"]
    initial_path = campaign.out / "model0" / "score.json"
    if not initial_path.exists():
        task = (model0, test, resolve_threads(c.threads), resolve_device(c.device))
        write_json(initial_path, run_tasks(score_model_file, [task], executor=campaign.executor)[0])
    loop = Loop(campaign, start, members)
    _ = campaign.trainer                 # built here, once, before the chains share it
    iterations_started = time.perf_counter()
    run_chains(loop, campaign.samplers, test, Slots.for_campaign(c.workers, campaign.executor))
    timing["iterations_s_this_run"] = time.perf_counter() - iterations_started
    return write_outputs(campaign, loop, test, started, timing)
