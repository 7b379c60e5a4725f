"""Global MACE descriptors of ASE Atoms and their Jacobians (method.md §1).

    d(x) = pool_i [ invariant node features of atom i, all interaction layers concatenated ]

One model call gives the energy (eV), the forces (eV/Å) and the descriptor; the Jacobian
∂d/∂x (M, 3n) costs M backward passes and is computed once per frozen particle.
"""
from __future__ import annotations

import mace  # noqa: F401  (must come before e3nn)
import numpy as np
import torch
from e3nn import o3
from mace import data as mace_data
from mace import tools
from mace.modules.utils import extract_invariant

POOLINGS = ("sum", "mean")


class MACEDescriptor:
    """Energy, forces and pooled invariant descriptor of one molecule from a MACE model.

    Args:
        model: a MACE ``torch.nn.Module`` (see :mod:`skmd.atoms.mace_models`).
        atoms: a template ASE ``Atoms`` (species, cell, pbc); positions are supplied per call.
        pooling: "sum" (default, the paper's) or "mean" over atoms.
        subset: optional atom indices to pool over (e.g. a solute or interface atoms).
    """

    def __init__(self, model, atoms, pooling: str = "sum", subset=None):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.model = model
        self.template = atoms.copy()
        self.n_atoms = len(atoms)
        self.dim = 3 * self.n_atoms
        self.pooling = pooling
        self.subset = None if subset is None else np.asarray(subset, dtype=int)
        if self.subset is not None and (self.subset.size == 0 or self.subset.min() < 0 or self.subset.max() >= self.n_atoms):
            raise ValueError(f"subset must hold atom indices in [0, {self.n_atoms}), got {subset!r}")
        self.z_table = tools.AtomicNumberTable([int(z) for z in model.atomic_numbers])
        missing = set(atoms.get_atomic_numbers()) - set(self.z_table.zs)
        if missing:
            raise ValueError(f"the model has no elements {sorted(missing)}")
        self.r_max = float(model.r_max)
        irreps_out = o3.Irreps(str(model.products[0].linear.irreps_out))
        self.l_max = irreps_out.lmax
        self.n_invariant = irreps_out.dim // (self.l_max + 1) ** 2
        self.n_layers = int(model.num_interactions)
        self.n_features = self.n_invariant * self.n_layers

    def _batch(self, positions):
        atoms = self.template.copy()
        atoms.set_positions(np.asarray(positions, float).reshape(self.n_atoms, 3))
        config = mace_data.config_from_atoms(atoms)
        with tools.torch_tools.default_dtype(torch.float64):
            data = mace_data.AtomicData.from_config(config, z_table=self.z_table, cutoff=self.r_max)
        loader = tools.torch_geometric.dataloader.DataLoader([data], batch_size=1, shuffle=False)
        return next(iter(loader)).to_dict()

    def _pool(self, node_feats):
        invariant = extract_invariant(node_feats, num_layers=self.n_layers, num_features=self.n_invariant,
                                      l_max=self.l_max)
        if self.subset is not None:
            invariant = invariant[torch.as_tensor(self.subset)]
        return invariant.sum(dim=0) if self.pooling == "sum" else invariant.mean(dim=0)

    def evaluate(self, positions):
        """One model call: energy (eV), forces (n, 3) in eV/Å and the descriptor (M,)."""
        out = self.model(self._batch(positions), compute_force=True, training=False)
        descriptor = self._pool(out["node_feats"].detach())
        return float(out["energy"].detach()[0]), out["forces"].detach().numpy().copy(), descriptor.numpy().copy()

    def compute(self, positions):
        """Descriptor (M,) of flat or (n, 3) positions in Å."""
        return self.evaluate(positions)[2]

    def jacobian(self, positions):
        """Descriptor (M,) and its Jacobian ∂d/∂x (M, 3n) in 1/Å, by M backward passes."""
        batch = self._batch(positions)
        batch["positions"].requires_grad_(True)
        descriptor = self._pool(self.model(batch, compute_force=False, training=False)["node_feats"])
        rows = []
        for m in range(descriptor.shape[0]):
            (grad,) = torch.autograd.grad(descriptor[m], batch["positions"], retain_graph=m < descriptor.shape[0] - 1,
                                          allow_unused=True)
            rows.append(torch.zeros(self.dim, dtype=descriptor.dtype) if grad is None else grad.reshape(-1))
        return descriptor.detach().numpy().copy(), torch.stack(rows).detach().numpy().copy()
