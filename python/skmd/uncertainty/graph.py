"""One MACE forward pass on an ASE ``Atoms`` that keeps the graph for derivatives.

Energies (eV), forces (eV/Å) and stress (eV/Å³, ASE sign and Voigt order) all come from
autograd on the returned tensors, so a caller can differentiate any function of the node
features (an uncertainty, say) with respect to the same positions and strain in the same pass.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..tools import mace_first  # noqa: F401  (imports mace quietly, before e3nn)
import numpy as np
import torch
from mace import data as mace_data
from mace import tools

from ..tools.checks import element_names, finite_structure

VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def is_periodic(atoms) -> bool:
    """True when ``atoms`` is periodic in all three directions with a full 3D cell."""
    return bool(atoms.pbc.all()) and atoms.cell.rank == 3


def check_elements(model, atoms) -> None:
    """Raise ``ValueError`` if ``atoms`` holds an element the model was not built for."""
    known = {int(z) for z in model.atomic_numbers}
    missing = sorted(set(int(z) for z in atoms.numbers) - known)
    if missing:
        raise ValueError(f"the model has no elements {element_names(missing)} (it knows {element_names(known)})")


def atoms_batch(model, atoms) -> dict:
    """The batch dict MACE expects for one structure (float64); refuses NaN or infinite positions or cell."""
    finite_structure(atoms)
    z_table = tools.AtomicNumberTable([int(z) for z in model.atomic_numbers])
    config = mace_data.config_from_atoms(atoms)
    with tools.torch_tools.default_dtype(torch.float64):
        data = mace_data.AtomicData.from_config(config, z_table=z_table, cutoff=float(model.r_max))
    loader = tools.torch_geometric.dataloader.DataLoader([data], batch_size=1, shuffle=False)
    return next(iter(loader)).to_dict()


@dataclass
class Pass:
    """Tensors of one forward pass: total energy (scalar), node features (n, F), the positions
    (n, 3) and the symmetric strain (3, 3) they depend on (``None`` for a molecule), the volume (Å³)."""

    energy: torch.Tensor
    node_feats: torch.Tensor
    positions: torch.Tensor
    strain: torch.Tensor | None
    volume: float | None


def forward(model, atoms, with_strain: bool | None = None) -> Pass:
    """Run ``model`` on ``atoms`` with the graph kept; strain is on for periodic systems by default."""
    with_strain = is_periodic(atoms) if with_strain is None else with_strain
    batch = atoms_batch(model, atoms)
    out = model(batch, training=False, compute_force=False, compute_displacement=with_strain)
    volume = float(abs(np.linalg.det(atoms.cell.array))) if with_strain else None
    return Pass(energy=out["energy"][0], node_feats=out["node_feats"], positions=batch["positions"],
                strain=out["displacement"] if with_strain else None, volume=volume)


def gradients(scalar: torch.Tensor, run: Pass, retain: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """∂scalar/∂positions (n, 3) and (1/V) ∂scalar/∂strain in Voigt order (6,) (``None`` without strain)."""
    inputs = [run.positions] if run.strain is None else [run.positions, run.strain]
    grads = torch.autograd.grad(scalar, inputs, retain_graph=retain, allow_unused=True)
    d_pos = np.zeros(tuple(run.positions.shape)) if grads[0] is None else grads[0].detach().numpy().copy()
    if run.strain is None:
        return d_pos, None
    full = np.zeros((3, 3)) if grads[1] is None else grads[1].detach().numpy()[0]
    return d_pos, np.array([full[i, j] for i, j in VOIGT]) / run.volume
