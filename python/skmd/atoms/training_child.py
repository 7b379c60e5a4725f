"""The program of skmd's training processes, run as ``python -c <this file's text> MODE PID ...``; never imported.

``fresh PID ARGS...``: run ``mace_run_train ARGS`` now, as a child of process PID.

``warm PID``: the warm process of campaign process PID (:mod:`skmd.atoms.training_process`). It imports
torch and mace once, then reads one JSON request per line on stdin (``{"id", "argv", "cwd", "log",
"env"}``), forks a child per request, and writes one line per finished child on stdout: ``ID STATUS``
(the exit status as subprocess reports it; negative: killed by that signal). Its first line is
``ready``, or ``error MESSAGE`` when it cannot serve (then it exits).

Every training dies with its parent (Linux ``PR_SET_PDEATHSIG``), sets torch's threads from
OMP_NUM_THREADS (mace sets none), says in its log how many it trains on, and runs mace's own
``mace_run_train`` entry point, ``mace.cli.run_train.main``.
"""
import atexit
import ctypes
import json
import os
import select
import signal
import sys
import traceback


def die_with_parent(parent: int) -> None:
    """Be killed when process ``parent`` ends; exit now if it has ended already (Linux only)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))          # 1: PR_SET_PDEATHSIG
        if os.getppid() != parent:                               # it ended before the line above
            sys.exit("skmd: the process that started this training is gone")


def start_training(parent: int, argv: list) -> None:
    """Run ``mace_run_train argv`` in this process, a child of ``parent``."""
    die_with_parent(parent)
    import torch  # noqa: PLC0415  lazy: after the parent check, as a fresh run imports it
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    print(f"skmd: mace_run_train on {torch.get_num_threads()} torch threads "
          f"(OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']})", flush=True)
    sys.argv = ["mace_run_train", *argv]
    from mace.cli.run_train import main  # noqa: PLC0415  lazy: imported once the training's log is open
    main()


def exit_status(run) -> int:
    """Call ``run()``; the exit status a process that ran it would have (SystemExit as Python maps it)."""
    try:
        run()
        return 0
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1


def serve(campaign: int) -> None:
    """The warm process's loop (see the module docstring)."""
    die_with_parent(campaign)
    replies = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)                 # mace's import notices are dropped here; each training logs its own
    os.dup2(null, 2)
    before = dict(os.environ)
    try:
        import mace.cli.run_train  # noqa: F401, PLC0415  lazy: the imports every training would pay, here once
        import torch  # noqa: F401, PLC0415  lazy: as above
    except Exception as error:
        reply(replies, f"error {type(error).__name__}: {error}")
        return
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
    if threads > 1:                  # forking a process with threads is not safe
        reply(replies, f"error the imports started {threads - 1} threads")
        return
    set_on_import = {k: v for k, v in os.environ.items() if before.get(k) != v}   # mace's, as a fresh run has
    reply(replies, "ready")
    running, pending = {}, b""
    while True:
        readable, _, _ = select.select([0], [], [], 0.05 if running else None)
        if readable:
            chunk = os.read(0, 1 << 16)
            if not chunk:
                return                   # the campaign closed the channel: its trainings end with this process
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = fork_training(request, replies, null, set_on_import)
                if pid is None:
                    reply(replies, f"{request['id']} 1")
                else:
                    running[pid] = request["id"]
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            reply(replies, f"{running.pop(pid)} {os.waitstatus_to_exitcode(status)}")


def fork_training(request: dict, replies, null: int, set_on_import: dict):
    """Fork the child that runs ``request``'s training; its pid, or None when no process could be made
    (the reason then goes into the training's log)."""
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError as error:
        with open(request["log"], "w") as log:
            log.write(f"skmd: could not start the training: {error}\n")
        return None
    if pid:
        return pid
    status = 1
    try:
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(replies.fileno())
        os.dup2(null, 0)
        sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.update(set_on_import)
        status = exit_status(lambda: start_training(parent, request["argv"]))
        atexit._run_exitfuncs()          # what a fresh process runs at its end (mace's logging, ...)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def reply(channel, line: str) -> None:
    channel.write(line + "\n")
    channel.flush()


if __name__ == "__main__":
    if sys.argv[1] == "warm":
        serve(int(sys.argv[2]))
    else:
        start_training(int(sys.argv[2]), sys.argv[3:])
