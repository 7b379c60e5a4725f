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

CUDA trainings start a fresh process instead (:func:`run_fresh`): a CUDA context does not survive a fork.
"""
from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from ..tools.threads import thread_environment

#: the start of every training, fresh or forked: dies with its parent (Linux), sets torch's threads from
#: OMP_NUM_THREADS (mace sets none) and says in the log how many it trains on
_CHILD_START = (
    "def _start_training(parent, argv):\n"
    "    import os, runpy, sys\n"
    "    if sys.platform.startswith('linux'):\n"
    "        import ctypes, signal\n"
    "        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))\n"       # 1: PR_SET_PDEATHSIG
    "        if os.getppid() != parent:\n"                          # the parent died before the line above
    "            sys.exit('skmd: the process that started this training is gone')\n"
    "    import torch\n"
    "    torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))\n"
    "    print(f'skmd: mace_run_train on {torch.get_num_threads()} torch threads '\n"
    "          f'(OMP_NUM_THREADS={os.environ[\"OMP_NUM_THREADS\"]})', flush=True)\n"
    "    sys.argv = ['mace_run_train', *argv]\n"
    "    runpy.run_module('mace.cli.run_train', run_name='__main__', alter_sys=True)\n")

#: a fresh process: the start above, run at once
_FRESH = _CHILD_START + "import sys\n_start_training(int(sys.argv[1]), sys.argv[2:])\n"

#: the warm process: imports torch and mace, then reads one JSON request per line on stdin
#: ({"id", "argv", "cwd", "log", "env"}), forks a child per request and writes "id exit-status" per
#: finished child on stdout (a negative status: killed by that signal, as subprocess reports it)
_WARM = _CHILD_START + r"""
import json, os, select, sys, traceback
if sys.platform.startswith('linux'):
    import ctypes, signal
    ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))
    if os.getppid() != int(sys.argv[1]):
        sys.exit(0)
out = os.fdopen(os.dup(1), 'w')          # the results channel
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 1); os.dup2(null, 2)       # mace's import notices are dropped here; each training logs its own
before = dict(os.environ)
try:
    import torch, mace.cli.run_train  # noqa: F401  the imports every training would pay
except Exception as error:
    out.write(f'error {type(error).__name__}: {error}\n'); out.flush()
    sys.exit(1)
set_on_import = {k: v for k, v in os.environ.items() if before.get(k) != v}   # mace's, as a fresh run has them
out.write('ready\n'); out.flush()
running, pending = {}, b''

def fork(request):
    parent = os.getpid()
    pid = os.fork()
    if pid:
        running[pid] = request['id']
        return
    code = 1
    try:
        os.close(out.fileno())
        os.dup2(null, 0)
        log = os.open(request['log'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1); os.dup2(log, 2); os.close(log)
        sys.stdout, sys.stderr = open(1, 'w', closefd=False), open(2, 'w', closefd=False)
        os.chdir(request['cwd'])
        os.environ.clear(); os.environ.update(request['env']); os.environ.update(set_on_import)
        _start_training(parent, request['argv'])
        code = 0
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            code = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)

while True:
    readable, _, _ = select.select([0], [], [], 0.05 if running else None)
    if readable:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        pending += chunk
        while b'\n' in pending:
            line, pending = pending.split(b'\n', 1)
            fork(json.loads(line))
    while running:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        out.write(f'{running.pop(pid)} {os.waitstatus_to_exitcode(status)}\n'); out.flush()
"""


def run_fresh(args: list, log_path: Path, cwd: Path, env: dict) -> int:
    """Run ``mace_run_train args`` in a new Python process; its exit status."""
    with open(log_path, "w") as log:
        return subprocess.run([sys.executable, "-c", _FRESH, str(os.getpid()), *map(str, args)], stdout=log,
                              stderr=subprocess.STDOUT, cwd=cwd, check=False, env=env).returncode


class WarmTrainingProcess:
    """The warm process of this campaign process, started on first use; :meth:`run` is safe from threads.

    A thread of its own starts it and reads its results for as long as it runs: Linux ends a child whose
    parent *thread* ends, so the thread that starts it must outlive every training."""

    def __init__(self):
        self._lock = threading.Lock()
        self._process = None
        self._waiting = {}          # request id -> [threading.Event, exit status or None]
        self._next_id = 0

    def run(self, args: list, log_path: Path, cwd: Path, env: dict) -> int:
        """Run ``mace_run_train args`` in a child of the warm process; its exit status (as subprocess gives it)."""
        done = threading.Event()
        with self._lock:
            process = self._ensure_running()
            request_id, self._next_id = self._next_id, self._next_id + 1
            self._waiting[request_id] = slot = [done, None]
            request = {"id": request_id, "argv": list(map(str, args)), "cwd": str(Path(cwd).resolve()),
                       "log": str(Path(log_path).resolve()), "env": dict(env)}   # the warm process has its own cwd
            try:
                process.stdin.write(json.dumps(request) + "\n")
                process.stdin.flush()
            except OSError:
                self._waiting.pop(request_id, None)
                raise RuntimeError("skmd's training process stopped; run the command again") from None
        done.wait()
        if slot[1] is None:
            raise RuntimeError("skmd's training process stopped during a training; run the command again")
        return slot[1]

    def _ensure_running(self):
        """The running warm process, started if there is none (called under the lock)."""
        if self._process is not None and self._process.poll() is None:
            return self._process
        started, outcome = threading.Event(), {}
        threading.Thread(target=self._own, args=(started, outcome), daemon=True,
                         name="skmd-training-process").start()
        started.wait()
        if "error" in outcome:
            raise RuntimeError(outcome["error"])
        self._process = outcome["process"]
        return self._process

    def _own(self, started, outcome):
        """Start the warm process, then hand each finished training's status to its caller until it ends."""
        env = thread_environment(1)         # no thread pool before the forks; each child sets its own count
        try:
            process = subprocess.Popen([sys.executable, "-c", _WARM, str(os.getpid())], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, env=env)
        except OSError as error:
            outcome["error"] = f"skmd's training process could not start: {error}"
            started.set()
            return
        first = process.stdout.readline().strip()
        if first != "ready":
            process.kill()
            process.wait()
            reason = first.removeprefix("error ") or "no reply"
            outcome["error"] = (f"skmd's training process could not start ({reason}); is mace-torch installed? "
                                "(pip install 'skmd[ml]')")
            started.set()
            return
        outcome["process"] = process
        started.set()
        for line in process.stdout:
            request_id, status = line.split()
            with self._lock:
                slot = self._waiting.pop(int(request_id), None)
            if slot is not None:
                slot[1] = int(status)
                slot[0].set()
        process.wait()
        with self._lock:            # the warm process is gone: nothing more will finish
            if self._process is process:
                stranded, self._waiting = self._waiting, {}
            else:
                stranded = {}
        for slot in stranded.values():
            slot[0].set()

    def close(self):
        """End the warm process (its running trainings die with it)."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.stdin.close()
            process.wait()


_WARM_PROCESS = WarmTrainingProcess()
atexit.register(_WARM_PROCESS.close)


def run_training_process(args: list, log_path: Path, cwd: Path, threads: int, device: str = "cpu") -> int:
    """Run ``mace_run_train args`` on ``threads`` threads with its output in ``log_path``; its exit status.
    CPU trainings fork from the warm process, CUDA ones start fresh."""
    env = thread_environment(threads)
    if device == "cpu":
        return _WARM_PROCESS.run(args, log_path, cwd, env)
    return run_fresh(args, log_path, cwd, env)
