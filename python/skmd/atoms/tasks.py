"""Tasks on any ``concurrent.futures.Executor``, resubmitted when their worker dies.

A task is resubmitted only when the failure says the *worker* is gone, never for an exception the
task itself raised (that is a bug or bad input, and running it again would hide it):

* ``concurrent.futures.process.BrokenProcessPool`` — a process of a ``ProcessPoolExecutor`` died.
  The pool is then unusable, so the remaining tasks go to a fresh pool with the same number of
  workers (:class:`~skmd.tools.pool.SelfHealingPool`; shut down at the end, the caller's pool left as
  it is; a ``SelfHealingPool`` passed in replaces itself for all its users instead);
* ``concurrent.futures.CancelledError`` — the executor cancelled the task (e.g. while shutting down);
* ``distributed.KilledWorker`` — Dask gave up on a task whose workers kept dying (Dask itself
  reschedules a task a few times first, see its ``distributed.scheduler.allowed-failures``).

Only side-effect-free work (the samplers) should be resubmitted; labelling goes through
:class:`~skmd.atoms.store.LabelStore`, which logs every key before it is sent.
"""
from __future__ import annotations

from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..tools.checks import positive_int
from ..tools.pool import SelfHealingPool


def worker_died(error: BaseException) -> bool:
    """True when ``error`` means the worker running a task is gone (not an error of the task)."""
    if isinstance(error, (BrokenProcessPool, CancelledError)):
        return True
    try:
        from distributed import KilledWorker  # noqa: PLC0415  lazy: distributed is optional (the atoms extra's Dask executors)
    except ImportError:
        return False
    return isinstance(error, KilledWorker)


def _is_dask(executor) -> bool:
    try:
        from distributed.cfexecutor import ClientExecutor  # noqa: PLC0415  lazy: distributed is optional (the atoms extra's Dask executors)
    except ImportError:
        return False
    return isinstance(executor, ClientExecutor)


def run_tasks(function, arguments, executor=None, retries: int = 2) -> list:
    """``[function(*args) for args in arguments]``, on ``executor`` if given, in order.

    A task whose worker died is resubmitted up to ``retries`` times; any other exception of a task
    is raised as is. With ``executor`` None the tasks run here, one after another.
    """
    arguments = [tuple(args) for args in arguments]
    positive_int("retries", retries, minimum=0)
    if executor is None:
        return [function(*args) for args in arguments]
    pool = SelfHealingPool(executor) if isinstance(executor, ProcessPoolExecutor) else executor
    # Dask keys a "pure" task by its arguments, so a resubmission would find the failed task again
    options = {"pure": False} if _is_dask(executor) else {}
    try:
        futures = [pool.submit(function, *args, **options) for args in arguments]
        results = []
        for index, args in enumerate(arguments):
            attempt = 0
            while True:
                try:
                    results.append(futures[index].result())
                    break
                except BaseException as error:  # noqa: BLE001  (only a dead worker is retried; see worker_died)
                    if not worker_died(error) or attempt >= retries:
                        raise
                    attempt += 1
                    futures[index] = pool.submit(function, *args, **options)
        return results
    finally:
        if pool is not executor:        # the caller's own pool is left as it is
            pool.shutdown_replacements()
