"""Building, saving and loading MACE models (mace-torch); the file formats live in :mod:`.model_files`."""
from __future__ import annotations

import warnings
from pathlib import Path

from ..tools import mace_first  # noqa: F401  (imports mace quietly, before e3nn)
import numpy as np
import torch
from e3nn import o3
from mace import modules

from .model_files import load_model, save_model, write_training_pickle
from .model_guard import building

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
        with building():
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
    """Save ``model`` to ``path`` (``*.safetensors``) in skmd's safe format (see :mod:`skmd.atoms.model_files`)."""
    return save_model(model, path)


def load_mace(path, device: str = "cpu", trusted: bool = False) -> torch.nn.Module:
    """Load a MACE model as float64 on ``device``: skmd's safe ``.safetensors`` format always, a
    pickled ``.model`` (foundation models, files from elsewhere) only with ``trusted=True``.

    Reading a pickle runs any code it holds, so an untrusted one raises
    :class:`~skmd.atoms.model_files.UntrustedModelError` (a ``ValueError``) before anything in it is unpickled.
    """
    return load_model(path, device=device, trusted=trusted)


def export_mace(path, out) -> Path:
    """Write the model in skmd's safe file ``path`` (``*.safetensors``) as a mace ``.model`` at ``out``: the
    pickle that mace's ``MACECalculator(model_paths=out)``, ``mace_run_train --foundation_model`` and mace's
    tools (``mace_create_lammps_model``, ``mace_eval_configs``) read. Same energies and forces as skmd's
    calculator; the file is a pickle, as every ``.model`` is."""
    return write_training_pickle(path, out)
