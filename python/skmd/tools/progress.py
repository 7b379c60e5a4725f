"""Progress reports that suit where the output goes.

On a terminal: a tqdm bar. Anywhere else (a log file, a pipe, a notebook's captured stream): plain
lines, ``desc: i/n done (t s)``, after the first item, then at most every ``every_s`` seconds, and
after the last, so a log never holds one long line of carriage returns.
"""
from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

PLAIN_EVERY_S = 30.0


def progress(iterable, desc: str = "", enable: bool = True, total=None, stream=None):
    """``iterable``, reporting its progress on ``stream`` (default stderr) unless ``enable`` is False."""
    if not enable:
        return iterable
    stream = sys.stderr if stream is None else stream
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if getattr(stream, "isatty", lambda: False)():
        return tqdm(iterable, desc=desc, total=total, leave=False, file=stream)
    return _plain_lines(iterable, desc, total, stream)


def _plain_lines(iterable, desc, total, stream, every_s: float = PLAIN_EVERY_S):
    started = last = time.monotonic()
    of = f"/{total}" if total is not None else ""
    for done, item in enumerate(iterable, 1):
        yield item
        now = time.monotonic()
        if done == 1 or done == total or now - last >= every_s:
            print(f"{desc}: {done}{of} done ({now - started:.0f} s)", file=stream, flush=True)
            last = now

