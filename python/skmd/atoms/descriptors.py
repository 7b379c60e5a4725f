"""Global MACE descriptors of ASE Atoms and their Jacobians (docs/method.md §1).

    d(x) = pool_i [ invariant node features of atom i, all interaction layers concatenated ]

One model call gives the energy (eV), the forces (eV/Å), optionally the stress (eV/Å³, periodic
cells) and the descriptor; the Jacobian ∂d/∂x (M, 3n) costs M backward passes and is computed once
per frozen particle. Every call builds its graph from the Atoms it is given (positions, cell,
pbc), so members with different cells are each described with their own cell and nothing is
cached per cell.
"""
from __future__ import annotations

from ..tools import mace_first  # noqa: F401  (imports mace quietly, before e3nn)
import numpy as np
import torch
from e3nn import o3
from mace import data as mace_data
from mace import tools
from mace.modules.utils import extract_invariant

from ..tools.checks import element_names, finite_structure

POOLINGS = ("sum", "mean")
DTYPES = {"float64": torch.float64, "float32": torch.float32}


class MACEDescriptor:
    """Energy, forces, stress and pooled invariant descriptor of ASE Atoms from a MACE model.

    Args:
        model: a MACE ``torch.nn.Module`` (see :mod:`skmd.atoms.mace_models`); its parameter dtype
            (float64 or float32, e.g. after ``model.float()``) sets the dtype of every call.
        pooling: "sum" (default, the paper's) or "mean" over atoms.
        subset: optional atom indices to pool over (e.g. a solute or interface atoms).
    """

    def __init__(self, model, pooling: str = "sum", subset=None):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.model = model
        self.pooling = pooling
        self.subset = None if subset is None else np.asarray(subset, dtype=int)
        if self.subset is not None and (self.subset.size == 0 or self.subset.min() < 0):
            raise ValueError(f"subset must hold non-negative atom indices, got {subset!r}")
        self.dtype = next(model.parameters()).dtype
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

    def _batch(self, atoms):
        self.check(atoms)
        config = mace_data.config_from_atoms(atoms)
        with tools.torch_tools.default_dtype(self.dtype):
            data = mace_data.AtomicData.from_config(config, z_table=self.z_table, cutoff=self.r_max)
        loader = tools.torch_geometric.dataloader.DataLoader([data], batch_size=1, shuffle=False)
        return next(iter(loader)).to_dict()

    def _pool(self, node_feats):
        invariant = extract_invariant(node_feats, num_layers=self.n_layers, num_features=self.n_invariant,
                                      l_max=self.l_max)
        if self.subset is not None:
            invariant = invariant[torch.as_tensor(self.subset)]
        return invariant.sum(dim=0) if self.pooling == "sum" else invariant.mean(dim=0)

    def evaluate(self, atoms, stress: bool = False) -> dict:
        """One model call: energy (eV), forces (n, 3) eV/Å, descriptor (M,) and, if asked, stress (6,) eV/Å³."""
        out = self.model(self._batch(atoms), compute_force=True, compute_stress=stress, training=False)
        result = {"energy": float(out["energy"].detach()[0]),
                  "forces": out["forces"].detach().to(torch.float64).numpy().copy(),
                  "descriptor": self._pool(out["node_feats"].detach()).to(torch.float64).numpy().copy()}
        if stress:
            full = out["stress"].detach().to(torch.float64).numpy()[0]
            result["stress"] = full[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]].copy()
        return result

    def compute(self, atoms) -> np.ndarray:
        """Descriptor (M,) of ``atoms``."""
        return self.evaluate(atoms)["descriptor"]

    def jacobian(self, atoms):
        """Descriptor (M,) and its Jacobian ∂d/∂x (M, 3n) in 1/Å, by M backward passes."""
        batch = self._batch(atoms)
        batch["positions"].requires_grad_(True)
        descriptor = self._pool(self.model(batch, compute_force=False, training=False)["node_feats"])
        n_coords = 3 * len(atoms)
        rows = []
        for m in range(descriptor.shape[0]):
            (grad,) = torch.autograd.grad(descriptor[m], batch["positions"], retain_graph=m < descriptor.shape[0] - 1,
                                          allow_unused=True)
            rows.append(torch.zeros(n_coords, dtype=descriptor.dtype) if grad is None else grad.reshape(-1))
        jacobian = torch.stack(rows).detach().to(torch.float64).numpy().copy()
        return descriptor.detach().to(torch.float64).numpy().copy(), jacobian

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
