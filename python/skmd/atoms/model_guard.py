"""One process-wide guard between building models and running them, for campaigns that do both on threads.

torch.fx traces by patching ``torch.nn.Module.__call__`` for the whole process: while one thread unpickles a
mace model (its e3nn parts are fx ``GraphModule``s, re-traced on load) or builds one (mace traces its
symmetric contractions), a model called in any other thread goes through that tracer and fails with
"module is not installed as a submodule". Building also switches torch's process-wide default dtype. So
every build, copy or unpickling of a model holds :func:`building` (one thread at a time, and no model
running), and every model call in skmd holds :func:`running` (any number of threads at once, none while a
build holds the guard). A thread may nest either in itself, and run a model inside a build; a build inside a
model call is refused (it would wait for itself).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager


class SharedExclusiveLock:
    """Shared holders (many at once) or one exclusive holder, reentrant per thread; a waiting exclusive
    holder goes before new shared ones, so that a stream of model calls cannot hold a build off."""

    def __init__(self):
        self._condition = threading.Condition(threading.Lock())
        self._shared: dict = {}           # thread ident -> nesting depth
        self._owner: int | None = None    # the exclusive holder's thread ident
        self._depth = 0                   # its nesting depth
        self._waiting = 0                 # threads waiting to hold it exclusively

    @contextmanager
    def exclusive(self):
        me = threading.get_ident()
        with self._condition:
            if self._owner == me:
                self._depth += 1
            else:
                if me in self._shared:
                    raise RuntimeError("a model cannot be built, copied or unpickled inside a model call")
                self._waiting += 1
                try:
                    self._condition.wait_for(lambda: self._owner is None and not self._shared)
                finally:
                    self._waiting -= 1
                self._owner, self._depth = me, 1
        try:
            yield
        finally:
            with self._condition:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                    self._condition.notify_all()

    @contextmanager
    def shared(self):
        me = threading.get_ident()
        with self._condition:
            if self._owner != me and me not in self._shared:
                self._condition.wait_for(lambda: self._owner is None and self._waiting == 0)
            self._shared[me] = self._shared.get(me, 0) + 1
        try:
            yield
        finally:
            with self._condition:
                self._shared[me] -= 1
                if self._shared[me] == 0:
                    del self._shared[me]
                    self._condition.notify_all()


_GUARD = SharedExclusiveLock()


def building():
    """Hold while building, copying or unpickling a model, or switching torch's default dtype (exclusive)."""
    return _GUARD.exclusive()


def running():
    """Hold while calling a model (shared with other model calls, never with a build)."""
    return _GUARD.shared()
