"""The oracle factory of an ala2 or ubmd run, by name. The run-directory helpers shared by every
study (JSON written atomically, the saved settings) live in :mod:`skmd.studies.rundir`."""
from __future__ import annotations

import importlib


def load_factory(spec: str):
    """``"module:function"`` → the calculator factory it names (e.g. ``skmd.atoms.oracle:gfn2_xtb``)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--calculator must look like 'module:function', got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot import the calculator factory {spec!r}: {error}") from error
    if not callable(factory):
        raise ValueError(f"{spec!r} is not callable")
    return factory
