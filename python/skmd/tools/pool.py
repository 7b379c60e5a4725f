"""Process pools for skmd's parallel stages (sampling, labelling, fine-tuning, scoring).

Workers start with ``spawn`` (a fresh interpreter, not a fork of a process that already runs torch
threads) and ignore Ctrl-C: the interrupt is the main process's to handle (it prints one line saying
what was saved and how to resume, and shuts the pool down), so a Ctrl-C no longer prints one
traceback per worker.
"""
from __future__ import annotations

import signal
import warnings

from .checks import positive_int


def one_line_warning(message, category, filename, lineno, file=None, line=None) -> str:
    """A warning as the command line shows it: its text on one line (skmd's own without the category),
    no source line."""
    text = str(message)
    return f"{text}\n" if text.startswith("skmd") else f"{category.__name__}: {text}\n"


def _ignore_interrupts() -> None:
    """Worker set-up: Ctrl-C is the main process's, and warnings print on one line as in the main process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.formatwarning = one_line_warning


def process_pool(workers: int):
    """A ``ProcessPoolExecutor`` of ``workers`` spawned processes that leave Ctrl-C to the main process."""
    import multiprocessing  # noqa: PLC0415  lazy: skmd start-up (the CLI imports this module for one_line_warning)
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415  lazy: skmd start-up (the CLI imports this module for one_line_warning)
    return ProcessPoolExecutor(positive_int("workers", workers), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_ignore_interrupts)


def replacement_pool(old):
    """A fresh pool like ``old`` (a broken ``ProcessPoolExecutor``): same size, start method and initializer."""
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415  lazy: skmd start-up (the CLI imports this module for one_line_warning)
    return ProcessPoolExecutor(max_workers=getattr(old, "_max_workers", None),
                               mp_context=getattr(old, "_mp_context", None),
                               initializer=getattr(old, "_initializer", None),
                               initargs=getattr(old, "_initargs", ()))


def thread_map(function, items, jobs: int) -> list:
    """``[function(i) for i in items]`` on ``jobs`` threads (for work that runs in subprocesses, such as
    ``mace_run_train``, or releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415  lazy: skmd start-up (the CLI imports this module for one_line_warning)
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(pool.map(function, items))


class SelfHealingPool:
    """A ``ProcessPoolExecutor`` shared by several threads that replaces itself once when a worker dies.

    A dead worker breaks a process pool for good. A campaign's chains submit to one pool from several
    threads, so the first ``submit`` that finds the pool broken swaps in a fresh pool of the same size
    (under a lock, so there is one replacement however many threads notice), and every later job, the
    oracle's included, goes to it. The futures that were in flight on the broken pool fail with
    ``BrokenProcessPool`` as before (:func:`~skmd.atoms.tasks.run_tasks` resubmits them). Replaced pools
    are shut down by :meth:`shutdown`, with the current one.
    """

    def __init__(self, pool):
        import threading  # noqa: PLC0415  lazy: skmd start-up (the CLI imports this module for one_line_warning)
        self.pool, self.retired, self._lock = pool, [], threading.Lock()

    def submit(self, function, *args, **kwargs):
        from concurrent.futures.process import BrokenProcessPool  # noqa: PLC0415  lazy: skmd start-up (the CLI imports this module for one_line_warning)
        pool = self.pool
        try:
            return pool.submit(function, *args, **kwargs)
        except BrokenProcessPool:
            with self._lock:
                if self.pool is pool:               # no other thread has replaced it yet
                    self.retired.append(pool)
                    self.pool = replacement_pool(pool)
            return self.pool.submit(function, *args, **kwargs)

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        for pool in (*self.retired, self.pool):
            pool.shutdown(wait=wait, **kwargs)

    def shutdown_replacements(self) -> None:
        """Shut down the pools this made, leaving the one it was given to its owner."""
        original = (self.retired or [self.pool])[0]
        for pool in (*self.retired, self.pool):
            if pool is not original:
                pool.shutdown(wait=True)
