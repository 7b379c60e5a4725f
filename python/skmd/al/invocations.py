"""Every invocation of a campaign, in ``RUN/runs.json``: when it started, the code it ran (skmd's version and
git commit, None outside a git checkout), its wall time (s) and whether it finished. An invocation opens its entry when it starts and closes it when it finishes, or when Ctrl-C or
an error ends it; one killed outright stays open and counts 0 s. ``results.json``'s ``wall_s`` and
``invocations`` sum them."""
from __future__ import annotations

import json
import time
from pathlib import Path

from .. import __version__
from ..tools.machine import source_commit
from ..tools.rundir import write_json

#: the folder whose git checkout is the code a campaign runs
PACKAGE = Path(__file__).resolve().parents[1]


def open_invocation(out) -> None:
    """Record in ``out/runs.json`` that an invocation of the campaign started (its wall time still open)."""
    runs = invocations(out)
    runs.append({"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "skmd": __version__, "commit": source_commit(PACKAGE),
                 "wall_s": None, "finished": None})
    write_json(out / "runs.json", runs)


def close_invocation(out, wall_s: float, finished: bool) -> list:
    """Close the open invocation of ``out/runs.json`` with its wall time (s), finished or interrupted (Ctrl-C,
    an error); a run killed outright stays open and counts 0 s. Returns every invocation."""
    runs = invocations(out)
    if not runs or runs[-1].get("wall_s") is not None:        # a run directory from before runs were opened
        runs.append({"started": None, "wall_s": None, "finished": None})
    runs[-1].update(wall_s=float(wall_s), finished=time.strftime("%Y-%m-%dT%H:%M:%S") if finished else None,
                    interrupted=not finished)
    write_json(out / "runs.json", runs)
    return runs


def invocations(out) -> list:
    """Every invocation of the campaign in ``out/runs.json``: started, wall_s (None while open), finished."""
    path = out / "runs.json"
    return json.loads(path.read_text()) if path.exists() else []
