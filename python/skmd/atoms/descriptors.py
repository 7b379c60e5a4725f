"""Global MACE descriptors of ASE Atoms and their Jacobians (docs/method.md §1).

    d(x) = pool_i [ invariant node features of atom i, all interaction layers concatenated ]

One model call gives the energy (eV), the forces (eV/Å), optionally the stress (eV/Å³, periodic
cells) and the descriptor, for one structure or for many collated into one graph (``evaluate_many``:
the walkers of a lockstep driver, the frames of a test set); the Jacobian ∂d/∂x (M, 3n) costs one
backward pass per descriptor component and is computed once per frozen particle, for the members of an
ensemble collated together (``jacobian_many``: about 1.25× cheaper per member than one by one).
Every call builds its graph from the Atoms it is given (positions, cell, pbc), so members with
different cells are each described with their own cell and nothing is cached per cell.
"""
from __future__ import annotations

from ..tools import mace_first  # noqa: F401  (imports mace quietly, before e3nn)
import numpy as np
import torch
from e3nn import o3
from mace import data as mace_data
from mace import tools
from mace.modules.utils import extract_invariant

from ..tools.checks import element_names, finite_structure, positive_int
from .model_guard import running

POOLINGS = ("sum", "mean")
DTYPES = {"float64": torch.float64, "float32": torch.float32}
#: the most atoms one batched model call holds by default (30 alanine-dipeptide walkers hold 660)
MAX_BATCH_ATOMS = 4096


class MACEDescriptor:
    """Energy, forces, stress and pooled invariant descriptor of ASE Atoms from a MACE model.

    Args:
        model: a MACE ``torch.nn.Module`` (see :mod:`skmd.atoms.mace_models`); its parameter dtype
            (float64 or float32, e.g. after ``model.float()``) sets the dtype of every call.
        pooling: "sum" (default, the paper's) or "mean" over atoms.
        subset: optional atom indices to pool over (e.g. a solute or interface atoms).
        max_atoms: the most atoms collated into one model call by :meth:`evaluate_many` and
            :meth:`jacobian_many` (more frames go in several calls; a larger frame goes alone).

    The model's device (``next(model.parameters()).device``) is where every call runs; results
    come back as float64 NumPy arrays on the CPU.
    """

    def __init__(self, model, pooling: str = "sum", subset=None, max_atoms: int = MAX_BATCH_ATOMS):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.model = model
        self.pooling = pooling
        self.subset = None if subset is None else np.asarray(subset, dtype=int)
        if self.subset is not None and (self.subset.size == 0 or self.subset.min() < 0):
            raise ValueError(f"subset must hold non-negative atom indices, got {subset!r}")
        self.dtype = next(model.parameters()).dtype
        self.device = next(model.parameters()).device
        self.max_atoms = positive_int("max_atoms", max_atoms)
        self.last_chunks = []       # the frame indices of each model call of the last evaluate_many
        self.z_table = tools.AtomicNumberTable([int(z) for z in model.atomic_numbers])
        self.r_max = float(model.r_max)
        irreps_out = o3.Irreps(str(model.products[0].linear.irreps_out))
        self.l_max = irreps_out.lmax
        self.n_invariant = irreps_out.dim // (self.l_max + 1) ** 2
        self.n_layers = int(model.num_interactions)
        self.n_features = self.n_invariant * self.n_layers

    def check(self, atoms) -> None:
        """Raise if ``atoms`` has elements the model lacks or a subset index out of range."""
        finite_structure(atoms)
        missing = set(atoms.get_atomic_numbers()) - set(self.z_table.zs)
        if missing:
            raise ValueError(f"the model has no elements {element_names(missing)} "
                             f"(it knows {element_names(self.z_table.zs)})")
        if self.subset is not None and self.subset.max() >= len(atoms):
            raise ValueError(f"subset index {self.subset.max()} is out of range for {len(atoms)} atoms")
        if atoms.pbc.any() and atoms.cell.rank < int(np.sum(atoms.pbc)):
            raise ValueError("a periodic direction has no cell vector (atoms.cell is missing or degenerate)")

    def _data(self, atoms):
        self.check(atoms)
        config = mace_data.config_from_atoms(atoms)
        with tools.torch_tools.default_dtype(self.dtype):
            return mace_data.AtomicData.from_config(config, z_table=self.z_table, cutoff=self.r_max)

    def _collate(self, frames) -> dict:
        """One MACE batch (a disjoint union of graphs) of ``frames``, on the model's device."""
        loader = tools.torch_geometric.dataloader.DataLoader([self._data(atoms) for atoms in frames],
                                                             batch_size=len(frames), shuffle=False)
        return next(iter(loader)).to(self.device).to_dict()

    def _batch(self, atoms):
        return self._collate([atoms])

    def _pool(self, node_feats, batch: dict | None = None):
        """Pooled invariant descriptors (G, M) of the G graphs of ``batch`` (one graph when None)."""
        invariant = extract_invariant(node_feats, num_layers=self.n_layers, num_features=self.n_invariant,
                                      l_max=self.l_max)
        if batch is None:
            graph = torch.zeros(invariant.shape[0], dtype=torch.long, device=invariant.device)
            starts = torch.zeros(1, dtype=torch.long, device=invariant.device)
        else:
            graph, starts = batch["batch"], batch["ptr"][:-1]
        n_graphs = int(starts.shape[0])
        if self.subset is not None:
            subset = torch.as_tensor(self.subset, device=invariant.device)
            rows = (starts[:, None] + subset[None, :]).reshape(-1)
            invariant, graph = invariant[rows], graph[rows]
        pooled = torch.zeros(n_graphs, invariant.shape[1], dtype=invariant.dtype, device=invariant.device)
        pooled = pooled.index_add(0, graph, invariant)
        if self.pooling == "mean":
            counts = torch.bincount(graph, minlength=n_graphs).to(invariant.dtype)
            pooled = pooled / counts[:, None]
        return pooled

    def evaluate_many(self, frames, stress=False) -> list:
        """Model calls on ``frames`` collated into batches of at most ``max_atoms`` atoms: one result dict
        per frame, as :meth:`evaluate` gives. ``stress``: a bool for all frames or one per frame."""
        frames = list(frames)
        wants = [bool(stress)] * len(frames) if isinstance(stress, bool) else [bool(s) for s in stress]
        results = []
        self.last_chunks = atom_chunks([len(atoms) for atoms in frames], self.max_atoms)
        for chunk in self.last_chunks:
            results.extend(self._evaluate_batch([frames[i] for i in chunk], [wants[i] for i in chunk]))
        return results

    def _evaluate_batch(self, frames, stress: list) -> list:
        batch = self._collate(frames)
        with running():
            out = self.model(batch, compute_force=True, compute_stress=any(stress), training=False)
        energies = _numpy(out["energy"])
        forces = _numpy(out["forces"])
        descriptors = _numpy(self._pool(out["node_feats"].detach(), batch))
        starts = batch["ptr"].cpu().numpy()
        results = []
        for g, atoms in enumerate(frames):
            result = {"energy": float(energies[g]), "forces": forces[starts[g]:starts[g + 1]].copy(),
                      "descriptor": descriptors[g].copy()}
            if stress[g]:
                full = _numpy(out["stress"][g])
                result["stress"] = full[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]].copy()
            results.append(result)
        return results

    def evaluate(self, atoms, stress: bool = False) -> dict:
        """One model call: energy (eV), forces (n, 3) eV/Å, descriptor (M,) and, if asked, stress (6,) eV/Å³."""
        return self._evaluate_batch([atoms], [stress])[0]

    def compute(self, atoms) -> np.ndarray:
        """Descriptor (M,) of ``atoms``."""
        return self.evaluate(atoms)["descriptor"]

    def jacobian(self, atoms):
        """Descriptor (M,) and its Jacobian ∂d/∂x (M, 3n) in 1/Å (see :meth:`jacobian_many`)."""
        return self.jacobian_many([atoms])[0]

    def jacobian_many(self, frames) -> list:
        """[(descriptor (M,), Jacobian ∂d/∂x (M, 3n_s) in 1/Å)] of ``frames``: one forward pass over the
        collated frames and M backward passes through it (each gives row m of every frame's Jacobian)."""
        frames = list(frames)
        results = []
        for chunk in atom_chunks([len(atoms) for atoms in frames], self.max_atoms):
            results.extend(self._jacobian_batch([frames[i] for i in chunk]))
        return results

    def _jacobian_batch(self, frames) -> list:
        batch = self._collate(frames)
        batch["positions"].requires_grad_(True)
        with running():
            descriptors = self._pool(self.model(batch, compute_force=False, training=False)["node_feats"], batch)
        n_features = descriptors.shape[1]
        # row m of every graph's Jacobian at once: graphs share no atoms, so ∂(Σ_g d_gm)/∂x_g = ∂d_gm/∂x_g
        summed = descriptors.sum(dim=0)
        basis = torch.eye(n_features, dtype=summed.dtype, device=summed.device)
        grads = _vector_jacobian_products(summed, batch["positions"], basis)     # (M, n_total, 3)
        grads, values = _numpy(grads), _numpy(descriptors)
        starts = batch["ptr"].cpu().numpy()
        return [(values[g].copy(), grads[:, starts[g]:starts[g + 1], :].reshape(n_features, -1).copy())
                for g in range(len(frames))]

    def on_positions(self, template):
        """Adaptor for the flat-coordinate API (``compute``/``jacobian`` of (D,) or (B, D) positions)."""
        return _PositionsDescriptor(self, template)


class _PositionsDescriptor:
    """``compute(x)``/``jacobian(x)`` on flat positions (D,) = (3n,) with a fixed template's species and cell."""

    def __init__(self, descriptor: MACEDescriptor, template):
        descriptor.check(template)
        self.descriptor = descriptor
        self.template = template.copy()
        self.template.calc = None
        self.dim = 3 * len(template)

    def atoms_at(self, x):
        """A copy of the template at flat positions x (3n,) in Å."""
        atoms = self.template.copy()
        atoms.set_positions(np.asarray(x, float).reshape(-1, 3))
        return atoms

    def compute(self, x):
        x = np.asarray(x, float)
        if x.ndim == 2:
            return np.stack([self.descriptor.compute(self.atoms_at(row)) for row in x])
        return self.descriptor.compute(self.atoms_at(x))

    def jacobian(self, x):
        x = np.asarray(x, float)
        if x.ndim == 2:
            return np.stack([self.descriptor.jacobian(self.atoms_at(row))[1] for row in x])
        return self.descriptor.jacobian(self.atoms_at(x))


def atom_chunks(sizes, max_atoms: int) -> list:
    """Consecutive index groups of ``sizes`` (atoms per frame) holding at most ``max_atoms`` atoms each
    (a larger frame goes alone)."""
    chunks, current, total = [], [], 0
    for index, size in enumerate(sizes):
        if current and total + size > max_atoms:
            chunks.append(current)
            current, total = [], 0
        current.append(index)
        total += size
    if current:
        chunks.append(current)
    return chunks


def _numpy(tensor) -> np.ndarray:
    """A float64 NumPy copy of ``tensor`` (any device)."""
    return tensor.detach().to(device="cpu", dtype=torch.float64).numpy()


def _vector_jacobian_products(output, inputs, basis):
    """(R, *inputs.shape): ∂(basis[r] · output)/∂inputs for every row r, one backward pass per row
    through the kept graph. (``is_grads_batched`` was measured 1.3–2.6× slower on MACE on a CPU.)"""
    rows = []
    for row in basis:
        (grad,) = torch.autograd.grad(output, inputs, grad_outputs=row, retain_graph=True, allow_unused=True)
        rows.append(torch.zeros_like(inputs) if grad is None else grad)
    return torch.stack(rows)
