"""Factories named on the command line or in a config file, as ``"module:function"``.

The oracle of every command is such a name (``skmd.atoms.oracle:gfn2_xtb``, ``ase.calculators.emt:EMT``
or your own module, found on the Python path or in the current directory): a picklable callable that
returns a fresh ASE calculator, so that workers can build their own.
"""
from __future__ import annotations

import importlib
import os
import sys

#: the pip extra that brings each optional top-level package skmd uses
EXTRA_OF_MODULE = {"torch": "ml", "mace": "atoms", "e3nn": "atoms", "tblite": "atoms", "dask": "atoms",
                   "distributed": "atoms"}


def load_factory(spec: str, what: str = "--calculator"):
    """``"module:function"`` → the callable it names; ValueError (naming ``what``) if it cannot be imported."""
    module_name, _, attribute = str(spec).partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{what} must look like 'module:function', got {spec!r}")
    _current_directory_importable()
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] in EXTRA_OF_MODULE:
            raise                       # an optional extra is missing: the command line names the extra
        raise ValueError(f"cannot import {what} {spec!r}: {error}") from error
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot import {what} {spec!r}: {error}") from error
    if not callable(factory):
        raise ValueError(f"{what} {spec!r} is not callable")
    return factory


def _current_directory_importable() -> None:
    """Let a module of the current directory be named (``--oracle mymodule:make``), as ``python -m`` would:
    the user names the module, so this runs no file they did not choose. Installed modules still win."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)
