"""Where ``mace_run_train`` runs: a child forked from a warm process that has imported torch and mace.

Every training used to start a fresh Python, which paid 6–8 s of CPU to import torch and mace before the
first epoch: most of a short fine-tuning and of the test suite. :class:`WarmTrainingProcess` starts one
helper process per campaign process (the *warm process*), which imports them once and then forks a child
for each training. The child is what a fresh process would be, with the imports done: mace's own
``mace_run_train`` entry module run as ``__main__`` with the given flags, in its work directory, its
output in a log file, on the requested threads (torch's, set before mace starts; OMP/MKL/OpenBLAS in its
environment; numpy's BLAS, which mace's training barely uses, keeps the warm process's one thread). The
warm process itself runs no training and starts no threads, so forking it is safe.

Nothing outlives the campaign: the warm process is killed when the process that started it dies, and
each training child when the warm process dies (Linux ``PR_SET_PDEATHSIG``), so a killed campaign leaves
no training behind to write into the directory its rerun trains in.

CUDA trainings start a fresh process instead (:func:`run_fresh`): a CUDA context does not survive a fork;
so do all trainings where the warm process cannot serve (its imports started threads, which a fork
does not carry safely). The program of both kinds of process is :mod:`skmd.atoms.training_child`.
"""
from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..tools.threads import thread_environment

#: the text of the training processes' program, run with ``python -c`` (as a fresh run always was)
_PROGRAM = (Path(__file__).with_name("training_child.py")).read_text()

#: seconds the warm process may take to import torch and mace before a campaign gives up on it
READY_TIMEOUT_S = 600


def run_fresh(args: list, log_path: Path, cwd: Path, env: dict) -> int:
    """Run ``mace_run_train args`` in a new Python process; its exit status."""
    with open(log_path, "w") as log:
        return subprocess.run([sys.executable, "-c", _PROGRAM, "fresh", str(os.getpid()), *map(str, args)],
                              stdout=log, stderr=subprocess.STDOUT, cwd=cwd, check=False, env=env).returncode


@dataclass
class _Waiting:
    """One training a caller waits for: set ``done`` once ``status`` (its exit status, or None when the
    warm process ended first) is known."""
    done: threading.Event = field(default_factory=threading.Event)
    status: int | None = None


@dataclass
class _Warm:
    """One warm process and the trainings waiting on it."""
    process: subprocess.Popen
    waiting: dict = field(default_factory=dict)     # request id -> _Waiting


class WarmTrainingProcess:
    """The warm process of this campaign process, started on first use; :meth:`run` is safe from threads.

    A thread of its own starts it and reads its replies for as long as it runs: Linux ends a child whose
    parent *thread* ends, so the thread that starts it must outlive every training."""

    def __init__(self):
        self._lock = threading.Lock()
        self._warm = None           # the running _Warm, or None
        self._next_id = 0
        self.unusable = None        # why the warm process cannot serve (then every training starts fresh)

    def run(self, args: list, log_path: Path, cwd: Path, env: dict) -> int:
        """Run ``mace_run_train args`` in a child of the warm process; its exit status (as subprocess gives it).
        Relative ``log_path`` and ``cwd`` mean what they mean in this process."""
        log_path, cwd = Path(log_path).resolve(), Path(cwd).resolve()
        for _ in range(2):          # a warm process found dead when writing is started again, once
            with self._lock:
                warm = self._ensure_running()
                if warm is None:
                    break
                request_id, self._next_id = self._next_id, self._next_id + 1
                waiting = warm.waiting[request_id] = _Waiting()
                request = {"id": request_id, "argv": list(map(str, args)), "cwd": str(cwd), "log": str(log_path),
                           "env": dict(env)}
                try:
                    warm.process.stdin.write(json.dumps(request) + "\n")
                    warm.process.stdin.flush()
                except OSError:
                    warm.waiting.pop(request_id, None)
                    self._warm = None
                    continue
            waiting.done.wait()
            if waiting.status is None:
                raise RuntimeError("skmd's training process stopped during a training; run the command again")
            return waiting.status
        if self.unusable is None:
            raise RuntimeError("skmd's training process stopped; run the command again")
        return run_fresh(args, log_path, cwd, env)

    def _ensure_running(self):
        """The running :class:`_Warm`, started if there is none; None where it cannot serve (under the lock)."""
        if self._warm is not None and self._warm.process.poll() is None:
            return self._warm
        if self.unusable is not None:
            return None
        started, outcome = threading.Event(), {}
        threading.Thread(target=self._own, args=(started, outcome), daemon=True,
                         name="skmd-training-process").start()
        started.wait()
        if "error" in outcome:
            raise RuntimeError(outcome["error"])
        if "unusable" in outcome:
            self.unusable = outcome["unusable"]
            return None
        self._warm = outcome["warm"]
        return self._warm

    def _own(self, started, outcome):
        """Start the warm process and hand on its replies until it ends; then wake whoever still waits on it."""
        warm = None
        try:
            warm = self._start(outcome)
        finally:
            started.set()
        if warm is None:
            return
        try:
            for line in warm.process.stdout:
                request_id, status = line.split()
                with self._lock:
                    waiting = warm.waiting.pop(int(request_id), None)
                if waiting is not None:
                    waiting.status = int(status)
                    waiting.done.set()
        finally:
            warm.process.kill()
            warm.process.wait()
            with self._lock:
                stranded, warm.waiting = warm.waiting, {}
            for waiting in stranded.values():
                waiting.done.set()

    def _start(self, outcome):
        """The new :class:`_Warm` once it says ``ready``; None, with ``outcome`` saying why, where it does not."""
        env = thread_environment(1)         # no thread pool before the forks; each child sets its own count
        try:
            process = subprocess.Popen([sys.executable, "-c", _PROGRAM, "warm", str(os.getpid())],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        except OSError as error:
            outcome["error"] = f"skmd's training process could not start: {error}"
            return None
        readable, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT_S)
        first = process.stdout.readline().strip() if readable else f"no reply in {READY_TIMEOUT_S} s"
        if first == "ready":
            outcome["warm"] = _Warm(process)
            return outcome["warm"]
        process.kill()
        process.wait()
        reason = first.removeprefix("error ") or "no reply"
        if reason.startswith("the imports started"):
            outcome["unusable"] = reason
        else:
            outcome["error"] = (f"skmd's training process could not start ({reason}); is mace-torch installed? "
                                "(pip install 'skmd[ml]')")
        return None

    def close(self, timeout_s: float = 30.0):
        """End the warm process (its running trainings die with it)."""
        with self._lock:
            warm, self._warm = self._warm, None
        if warm is not None and warm.process.poll() is None:
            warm.process.stdin.close()
            try:
                warm.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                warm.process.kill()
                warm.process.wait()


_WARM_PROCESS = WarmTrainingProcess()
atexit.register(_WARM_PROCESS.close)


def run_training_process(args: list, log_path: Path, cwd: Path, threads: int, device: str = "cpu") -> int:
    """Run ``mace_run_train args`` on ``threads`` threads with its output in ``log_path``; its exit status.
    CPU trainings fork from the warm process, CUDA ones start fresh."""
    env = thread_environment(threads)
    if device == "cpu":
        return _WARM_PROCESS.run(args, log_path, cwd, env)
    return run_fresh(args, log_path, cwd, env)
