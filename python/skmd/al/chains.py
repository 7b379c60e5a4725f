"""The campaign's scheduler: chains of jobs run side by side, within limits on how many run at once.

A chain is a callable that runs its jobs one after another, each inside a slot of :class:`Slots`
(:func:`skmd.al.iteration.sampler_chains` makes one per sampler: its iterations, sample → select and
label → train → score). A sampler's iteration k needs only its own models and labels of iteration
k − 1, so the chains do not wait for each other: a sampler whose walks finish early trains while a
slower one still samples. With ``workers`` set, at most that many jobs run at once (a sampler's walks,
a selection with its labels, one model's training, a scoring), so the CPUs are shared as with a staged
loop and stay busy; with a Dask executor and no ``workers``, the executor's jobs are not limited here
(the cluster queues them) and trainings run one at a time on this machine. Every random stream is a
function of the seed, the sampler and the iteration, never of the order in which jobs ran, so the
results are those of running the samplers one after another.

A failure in one chain (or Ctrl-C) lets no new job start in any chain; the jobs under way finish, and
a rerun resumes from what each chain wrote.
"""
from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext


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


def run_chains(chains: list, slots: Slots) -> None:
    """Run ``chains`` (callables, each taking its jobs' slots from ``slots``) side by side; the first failure
    (or Ctrl-C) stops every chain before its next job, and is raised once the jobs under way have finished."""
    pool = ThreadPoolExecutor(max(1, len(chains)))
    futures = [pool.submit(chain) for chain in chains]
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
