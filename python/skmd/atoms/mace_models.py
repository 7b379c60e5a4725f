"""Building, saving and loading MACE models (mace-torch)."""
from __future__ import annotations

import warnings
from pathlib import Path

from ..tools import mace_first  # noqa: F401  (imports mace quietly, before e3nn)
import numpy as np
import torch
from e3nn import o3
from mace import modules

DEFAULT_ELEMENTS = (1, 6, 7, 8)


def build_mace(channels: int = 32, max_L: int = 1, num_interactions: int = 2, r_max: float = 5.0,
               atomic_numbers=DEFAULT_ELEMENTS, atomic_energies=None, avg_num_neighbors: float = 8.0,
               seed: int = 0) -> torch.nn.Module:
    """A freshly initialised ScaleShiftMACE (float64) with ``channels`` invariant channels.

    The paper's surrogate has 32 channels and 2 interaction layers, so its pooled invariant
    descriptor has 64 features.
    """
    torch.manual_seed(seed)
    z = [int(a) for a in atomic_numbers]
    energies = np.zeros(len(z)) if atomic_energies is None else np.asarray(atomic_energies, float)
    irreps = " + ".join(f"{channels}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(max_L + 1))
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    with warnings.catch_warnings():     # e3nn's TorchScript compilation warns about a dozen times per build
        warnings.filterwarnings("ignore", module="torch.jit")
        warnings.filterwarnings("ignore", message=".*TorchScript.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        model = _scale_shift_mace(block, r_max, num_interactions, z, irreps, energies, avg_num_neighbors)
    return model.double()


def _scale_shift_mace(block, r_max, num_interactions, z, irreps, energies, avg_num_neighbors):
    return modules.ScaleShiftMACE(
        r_max=r_max, num_bessel=8, num_polynomial_cutoff=5, max_ell=3,
        interaction_cls=block, interaction_cls_first=block, num_interactions=num_interactions,
        num_elements=len(z), hidden_irreps=o3.Irreps(irreps), MLP_irreps=o3.Irreps("16x0e"),
        atomic_energies=energies, avg_num_neighbors=avg_num_neighbors, atomic_numbers=z, correlation=3,
        gate=torch.nn.functional.silu, atomic_inter_scale=1.0, atomic_inter_shift=0.0)


def save_mace(model: torch.nn.Module, path) -> Path:
    """Save a whole model the way mace's tools do (``torch.save`` of the module)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model, path)
    return path


def load_mace(path, device: str = "cpu", trusted: bool = False) -> torch.nn.Module:
    """Load any MACE ``.model`` file (foundation models included) as float64 on ``device``.

    A ``.model`` file is a pickled module. With ``trusted=False`` (default) it is loaded with
    ``weights_only=True`` and mace's and e3nn's classes allowed; a file that needs anything else
    raises ``ValueError`` naming it — pass ``trusted=True`` only for files you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no MACE model file at {path}")
    if trusted:
        model = torch.load(path, map_location=device, weights_only=False)
    else:
        try:
            with torch.serialization.safe_globals(_mace_safe_globals()):
                model = torch.load(path, map_location=device, weights_only=True)
        except Exception as error:  # torch raises UnpicklingError with the offending global
            raise ValueError(f"{path} cannot be loaded with weights_only=True ({error}); "
                             "if you trust the file, load it with trusted=True") from error
    return model.double().to(device)


def _mace_safe_globals() -> list:
    """Classes and functions a MACE model pickle refers to, from mace, e3nn and torch."""
    import importlib  # noqa: PLC0415
    import inspect  # noqa: PLC0415
    allowed = []
    for name in ("mace.modules.models", "mace.modules.blocks", "mace.modules.radial", "mace.modules.symmetric_contraction",
                 "mace.modules.irreps_tools", "mace.modules.wrapper_ops", "mace.tools.scatter", "e3nn.o3", "e3nn.nn",
                 "e3nn.math", "e3nn.util.codegen", "e3nn.o3._tensor_product._tensor_product",
                 "e3nn.o3._linear", "e3nn.o3._irreps", "e3nn.nn._fc", "e3nn.nn._activation", "e3nn.nn._gate",
                 "torch.nn.modules.container", "torch.nn.modules.linear", "torch.nn.modules.activation",
                 "torch.fx.graph_module", "torch.nn.modules.module"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        allowed.extend(obj for _, obj in inspect.getmembers(module) if inspect.isclass(obj) or inspect.isfunction(obj))
    from torch.fx._symbolic_trace import Tracer  # noqa: PLC0415  (held by e3nn's compiled modules)
    allowed.extend([Tracer, torch.nn.functional.silu, np.ndarray, np.dtype, slice, set, frozenset])
    return allowed
