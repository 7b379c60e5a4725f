"""Lockstep walks: independent walkers stepped side by side, their model calls made as one batch.

Each walk runs its own unchanged ASE dynamics, observers and divergence checks in a thread of its
own, but only one thread runs at a time, in walker order, handed a turn by :class:`Lockstep`. When
a walker's dynamics asks its calculator for forces, the walker's :class:`Slot` records the request
and passes the turn on; once every live walker is waiting, the requests go to the shared calculator
together (:func:`~skmd.atoms.batching.evaluate_many`: one collated model call for a batchable
calculator) and each walker resumes with its own results. Since the threads never run at once, the
walks are as deterministic as one-by-one walks with the same random streams and see exactly the
forces a one-by-one call gives (to the rounding of the collated call). A calculator that is not
batchable is called frame by frame, and a batch that raises is evaluated again frame by frame, so a
failure reaches the walker whose frame caused it (a restart, as for one-by-one walks) and no other.

Steps of different walks interleave in walker order: an observer that watches them keeps per-walk
state on the walk (``walk.memory``), not on itself (``lockstep_safe``, :mod:`skmd.atoms.observers`),
and a list it appends to fills in that interleaved order.
"""
from __future__ import annotations

import threading

from ase.calculators.calculator import Calculator, all_changes

from .batching import evaluate_many, is_batchable


class _Aborted(BaseException):
    """Ends a walker thread when the lockstep stops early (an error elsewhere, Ctrl-C)."""


class Slot(Calculator):
    """The calculator a walker's atoms carry in a lockstep run: each ``calculate`` waits for the batch."""

    def __init__(self, lockstep: Lockstep, index: int, calculator):
        super().__init__()
        self.implemented_properties = list(getattr(calculator, "implemented_properties", ()))
        self._lockstep, self._index = lockstep, index

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = self._lockstep.request(self._index, self.atoms.copy(), list(properties))


class Lockstep:
    """Runs jobs ``job(slot) -> value`` side by side with their calculator calls batched (see the module).

    Args:
        calculator: the shared ASE calculator (batchable or not).
    """

    def __init__(self, calculator):
        self.calculator = calculator

    def run(self, jobs) -> list:
        """The jobs' return values, in job order; the first exception of a job is raised (after stopping the rest)."""
        jobs = list(jobs)
        self._turns = [threading.Semaphore(0) for _ in jobs]
        self._back = threading.Semaphore(0)
        self._requests, self._replies, self._abort = {}, {}, False
        values, errors, finished = [None] * len(jobs), [None] * len(jobs), [False] * len(jobs)

        def body(index):
            try:
                self._wait_turn(index)
                values[index] = jobs[index](Slot(self, index, self.calculator))
            except _Aborted:
                pass
            except BaseException as error:  # noqa: BLE001  (handed to the coordinating thread, raised there)
                errors[index] = error
            finally:
                finished[index] = True
                self._back.release()

        threads = [threading.Thread(target=body, args=(index,), name=f"skmd-walker-{index}", daemon=True)
                   for index in range(len(jobs))]
        for thread in threads:
            thread.start()
        try:
            live = list(range(len(jobs)))
            while live:
                for index in live:
                    self._turns[index].release()
                    self._back.acquire()
                    if errors[index] is not None:
                        raise errors[index]
                live = [index for index in live if not finished[index]]
                if live:
                    self._answer(live)
        finally:
            self._abort = True
            for index, thread in enumerate(threads):
                if not finished[index]:
                    self._turns[index].release()
            for thread in threads:
                thread.join()
        return values

    def _wait_turn(self, index: int) -> None:
        self._turns[index].acquire()
        if self._abort:
            raise _Aborted

    def request(self, index: int, atoms, properties: list) -> dict:
        """Called in walker ``index``'s thread: hand over the turn, wait for the batch, return its results."""
        self._requests[index] = (atoms, properties)
        self._back.release()
        self._wait_turn(index)
        reply = self._replies.pop(index)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def _answer(self, indices: list) -> None:
        """Evaluate every pending request: in one call for a batchable calculator, else (and when that
        call fails) frame by frame, so that each error reaches its own walker."""
        frames = [self._requests[index][0] for index in indices]
        properties = [self._requests[index][1] for index in indices]
        self._requests.clear()
        replies = None
        if is_batchable(self.calculator):
            try:
                replies = evaluate_many(self.calculator, frames, properties)
            except Exception:  # noqa: BLE001  (evaluated again frame by frame below)
                replies = None
        if replies is None:
            replies = []
            for atoms, names in zip(frames, properties):
                try:
                    replies.append(evaluate_many(self.calculator, [atoms], [names])[0])
                except Exception as error:  # noqa: BLE001  (raised in the walker's thread)
                    replies.append(error)
        self._replies.update(zip(indices, replies))
