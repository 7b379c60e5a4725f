"""MACE forward passes on ASE ``Atoms`` that keep the graph for derivatives, one frame or many collated.

Energies (eV), forces (eV/Å) and stress (eV/Å³, ASE sign and Voigt order) all come from autograd on
the returned tensors, so a caller can differentiate any function of the node features (an uncertainty,
say) with respect to the same positions and strain in the same pass. Many frames go through one
collated graph (a disjoint union: atoms of different frames never interact), so the derivative of a
sum over frames, Σ_g f_g, gives each frame's ∂f_g/∂x on its own atoms and ∂f_g/∂ε_g on its own strain.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..tools import mace_first  # noqa: F401  (imports mace quietly, before e3nn)
import numpy as np
import torch
from mace import data as mace_data
from mace import tools

from ..atoms.descriptors import atom_chunks
from ..atoms.model_guard import running
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


def frames_batch(model, frames) -> dict:
    """The batch dict MACE expects for ``frames`` collated into one graph (float64); refuses NaN or
    infinite positions or cell."""
    z_table = tools.AtomicNumberTable([int(z) for z in model.atomic_numbers])
    data = []
    for atoms in frames:
        finite_structure(atoms)
        with tools.torch_tools.default_dtype(torch.float64):
            data.append(mace_data.AtomicData.from_config(mace_data.config_from_atoms(atoms), z_table=z_table,
                                                         cutoff=float(model.r_max)))
    loader = tools.torch_geometric.dataloader.DataLoader(data, batch_size=len(data), shuffle=False)
    return next(iter(loader)).to_dict()


def atoms_batch(model, atoms) -> dict:
    """:func:`frames_batch` of one structure."""
    return frames_batch(model, [atoms])


def batch_groups(frames, max_atoms: int) -> list:
    """Index lists of ``frames`` that can share one pass: the same periodicity (:func:`is_periodic`), at most
    ``max_atoms`` atoms each (a larger frame goes alone), in frame order within each group."""
    groups = []
    for periodic in (False, True):
        indices = [i for i, atoms in enumerate(frames) if is_periodic(atoms) == periodic]
        groups += [[indices[k] for k in chunk] for chunk in atom_chunks([len(frames[i]) for i in indices], max_atoms)]
    return groups


@dataclass
class Pass:
    """Tensors of one forward pass over G collated graphs and N atoms: per-graph energies (G,) eV, node
    features (N, F), the positions (N, 3) Å and the symmetric strains (G, 3, 3) they depend on (``None``
    without strain), the volumes (G,) Å³ (``None`` without strain), node offsets ``ptr`` (G + 1,) and the
    graph index of every atom ``graph`` (N,)."""

    energies: torch.Tensor
    node_feats: torch.Tensor
    positions: torch.Tensor
    strain: torch.Tensor | None
    volumes: np.ndarray | None
    ptr: np.ndarray
    graph: torch.Tensor

    @property
    def energy(self) -> torch.Tensor:
        """Σ_g E_g (scalar): its gradient holds every graph's own forces and strain derivative."""
        return self.energies.sum()

    @property
    def n_graphs(self) -> int:
        return len(self.ptr) - 1

    def atoms_of(self, g: int) -> slice:
        """The rows of graph ``g`` in per-atom arrays."""
        return slice(int(self.ptr[g]), int(self.ptr[g + 1]))

    def graph_means(self, per_atom: torch.Tensor) -> torch.Tensor:
        """(G, K): the mean over each graph's atoms of ``per_atom`` (N, K)."""
        sums = torch.zeros(self.n_graphs, per_atom.shape[1], dtype=per_atom.dtype).index_add(0, self.graph, per_atom)
        counts = torch.as_tensor(np.diff(self.ptr), dtype=per_atom.dtype)
        return sums / counts[:, None]


def forward_many(model, frames, with_strain: bool | None = None) -> Pass:
    """Run ``model`` on ``frames`` collated into one graph, graph kept. Strain is on for periodic frames by
    default, which then must all be periodic or all not (``ValueError`` otherwise; see :func:`batch_groups`)."""
    frames = list(frames)
    periodic = {is_periodic(atoms) for atoms in frames}
    if with_strain is None:
        if len(periodic) > 1:
            raise ValueError("frames of one pass must all be periodic or all not; split them with batch_groups")
        with_strain = periodic.pop()
    batch = frames_batch(model, frames)
    with running():
        out = model(batch, training=False, compute_force=False, compute_displacement=with_strain)
    volumes = np.array([abs(np.linalg.det(atoms.cell.array)) for atoms in frames]) if with_strain else None
    return Pass(energies=out["energy"], node_feats=out["node_feats"], positions=batch["positions"],
                strain=out["displacement"] if with_strain else None, volumes=volumes,
                ptr=batch["ptr"].numpy(), graph=batch["batch"])


def forward(model, atoms, with_strain: bool | None = None) -> Pass:
    """:func:`forward_many` of one structure (G = 1)."""
    return forward_many(model, [atoms], with_strain=with_strain)


def batch_gradients(scalar: torch.Tensor, run: Pass, retain: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """∂scalar/∂positions (N, 3) and (1/V_g) ∂scalar/∂ε_g in Voigt order (G, 6) (``None`` without strain).
    For scalar = Σ_g f_g, row block g of each is graph g's own derivative of f_g."""
    inputs = [run.positions] if run.strain is None else [run.positions, run.strain]
    grads = torch.autograd.grad(scalar, inputs, retain_graph=retain, allow_unused=True)
    d_pos = np.zeros(tuple(run.positions.shape)) if grads[0] is None else grads[0].detach().numpy().copy()
    if run.strain is None:
        return d_pos, None
    full = np.zeros((run.n_graphs, 3, 3)) if grads[1] is None else grads[1].detach().numpy()
    rows, cols = zip(*VOIGT)
    return d_pos, full[:, list(rows), list(cols)] / run.volumes[:, None]


def gradients(scalar: torch.Tensor, run: Pass, retain: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """∂scalar/∂positions (n, 3) and (1/V) ∂scalar/∂ε in Voigt order (6,) of a one-graph pass (``None``
    without strain)."""
    d_pos, stress = batch_gradients(scalar, run, retain)
    return d_pos, None if stress is None else stress[0]
