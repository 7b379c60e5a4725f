"""Package namespaces that import their heavy members on first use (PEP 562).

``skmd --help`` and the argument parsing of every command must not import torch or mace. A package
whose members need them (``skmd.uncertainty``, the atomistic studies) therefore lists its public
names with the submodule that defines each, and :func:`lazy_exports` imports a submodule only when
one of its names is first read (``from skmd.uncertainty import UncertaintyBias`` works as before).
"""
from __future__ import annotations

import importlib
import sys


def lazy_exports(package: str, where: dict[str, str]):
    """``(__getattr__, __dir__)`` for ``package``, whose name ``n`` lives in submodule ``where[n]`` (".mod")."""

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name], package), name)
        setattr(sys.modules[package], name, value)     # read once; later reads are plain attributes
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
