"""Sketched gradient features of a MACE model (docs/method.md §9).

For atom i with atomic energy E_i and a linear readout layer y = W x̃ (x̃ its input, with e3nn's
1/√fan-in normalisation folded in), ∂E_i/∂W = g_i x̃_iᵀ with g_i = ∂E_i/∂y_i. MACE's readouts act
on each node alone, so x̃_i and g_i are closed-form functions of the node features of atom i, and
the features below stay ordinary differentiable functions of positions and strain. The sketch of
one layer is (Uᵀx̃_i) ⊙ (Vᵀg_i) / √K with fixed seeded Gaussian U (d_in, K), V (d_out, K); its inner
products estimate ⟨∂E_i/∂W, ∂E_j/∂W⟩ without bias. The atom's feature is the sum over layers; the
structure's feature is the mean over its atoms (the gradient of E/N).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..tools import mace_first  # noqa: F401  (imports mace quietly, before e3nn)
import numpy as np
import torch
from e3nn import o3
from mace.modules.blocks import LinearReadoutBlock, NonLinearReadoutBlock

from ..tools.checks import positive_int
from .graph import check_elements, forward


@dataclass
class ScalarLinear:
    """An e3nn ``o3.Linear`` from scalars to scalars: y = alpha · x[:, start:stop] @ W, W (d_in, d_out)."""

    module: torch.nn.Module
    start: int
    stop: int
    d_out: int
    alpha: float

    def effective_input(self, x: torch.Tensor) -> torch.Tensor:
        """x̃ (n, d_in): the slice of ``x`` the weights see, times the normalisation."""
        return self.alpha * x[:, self.start:self.stop]

    def matrix(self) -> torch.Tensor:
        """W (d_in, d_out) as laid out in ``module.weight``."""
        return self.module.weight.view(self.stop - self.start, self.d_out)


def scalar_linear(linear) -> ScalarLinear:
    """Describe an e3nn Linear whose output is scalars only; raise ``ValueError`` otherwise."""
    irreps_in, irreps_out = o3.Irreps(str(linear.irreps_in)), o3.Irreps(str(linear.irreps_out))
    if any(ir.l != 0 or ir.p != 1 for _, ir in irreps_out) or getattr(linear, "bias_numel", 0) > 0:
        raise ValueError(f"readout layer {linear} is not a scalar linear layer without bias")
    slices = [sl for sl, (mul, ir) in zip(irreps_in.slices(), irreps_in) if ir.l == 0 and ir.p == 1]
    if len(slices) != 1:
        raise ValueError(f"readout layer {linear} must have one block of scalar inputs, has {len(slices)}")
    layer = ScalarLinear(linear, slices[0].start, slices[0].stop, irreps_out.dim, 1.0)
    probe = torch.randn(3, irreps_in.dim, dtype=linear.weight.dtype, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = probe[:, layer.start:layer.stop] @ layer.matrix()
        layer.alpha = float((linear(probe) * plain).sum() / (plain * plain).sum())
        if not torch.allclose(linear(probe), layer.alpha * plain, rtol=1e-8, atol=1e-10):
            raise ValueError(f"readout layer {linear} is not y = alpha x W (cuequivariance layers are not supported)")
    return layer


def _readout_parts(model) -> list:
    """(readout block, index of the interaction layer it reads, [ScalarLinear, ...]) for each readout."""
    parts = []
    for i, block in enumerate(model.readouts):
        layer_index = len(model.products) - 1 if len(model.readouts) == 1 else i
        if isinstance(block, LinearReadoutBlock):
            parts.append((block, layer_index, [scalar_linear(block.linear)]))
        elif isinstance(block, NonLinearReadoutBlock):
            if getattr(block, "num_heads", 1) > 1:
                raise ValueError("multi-head readouts are not supported")
            parts.append((block, layer_index, [scalar_linear(block.linear_1), scalar_linear(block.linear_2)]))
        else:
            raise ValueError(f"unsupported readout block {type(block).__name__}")
    return parts


class GradientFeatures:
    """Per-atom sketched gradients of the atomic energies of ``model`` w.r.t. its readout weights.

    Args:
        model: a MACE model (e.g. from :func:`skmd.atoms.mace_models.build_mace`), float64.
        n_features: K, the sketch size (default 512).
        seed: seed of the Gaussian sketch matrices (same seed ⇒ same features).
    """

    def __init__(self, model, n_features: int = 512, seed: int = 0):
        self.n_features = positive_int("n_features", n_features)
        self.model = model
        self.parts = _readout_parts(model)
        dims = [o3.Irreps(str(product.linear.irreps_out)).dim for product in model.products]
        self.layer_slices = np.concatenate([[0], np.cumsum(dims)])
        scale = getattr(getattr(model, "scale_shift", None), "scale", torch.tensor(1.0))
        self.energy_scale = float(torch.atleast_1d(scale)[0])
        generator = torch.Generator().manual_seed(int(seed))
        self.sketches = []
        for _, _, linears in self.parts:
            for lin in linears:
                u = torch.randn(lin.stop - lin.start, self.n_features, generator=generator, dtype=torch.float64)
                v = torch.randn(lin.d_out, self.n_features, generator=generator, dtype=torch.float64)
                self.sketches.append((u, v))

    def layer_factors(self, node_feats: torch.Tensor) -> list:
        """[(x̃ (n, d_in), g (n, d_out)), ...] per readout linear layer, differentiable in ``node_feats``."""
        factors = []
        for block, layer_index, linears in self.parts:
            x = node_feats[:, int(self.layer_slices[layer_index]):int(self.layer_slices[layer_index + 1])]
            if len(linears) == 1:
                lin = linears[0]
                factors.append((lin.effective_input(x), torch.full((x.shape[0], lin.d_out), self.energy_scale,
                                                                  dtype=x.dtype)))
                continue
            first, second = linears
            hidden = block.linear_1(x)
            active = block.non_linearity(hidden)
            g_out = torch.full((x.shape[0], second.d_out), self.energy_scale, dtype=x.dtype)
            g_active = second.alpha * g_out @ second.matrix().T
            (g_hidden,) = torch.autograd.grad(active, hidden, grad_outputs=g_active, create_graph=True)
            factors.append((first.effective_input(x), g_hidden))
            factors.append((second.alpha * active, g_out))
        return factors

    def atomic(self, node_feats: torch.Tensor) -> torch.Tensor:
        """Sketched per-atom features (n, K) from MACE node features (n, F); differentiable."""
        total = 0.0
        for (x_eff, g), (u, v) in zip(self.layer_factors(node_feats), self.sketches):
            total = total + (x_eff @ u) * (g @ v)
        return total / np.sqrt(self.n_features)

    def exact_atomic(self, node_feats: torch.Tensor) -> torch.Tensor:
        """Unsketched ∂E_i/∂W of all readout weights (n, P), in the order of the readouts' parameters."""
        blocks = [(x_eff[:, :, None] * g[:, None, :]).reshape(x_eff.shape[0], -1)
                  for x_eff, g in self.layer_factors(node_feats)]
        return torch.cat(blocks, dim=1)

    def compute(self, frames) -> tuple[np.ndarray, list]:
        """Structure features (S, K) and per-atom features [(n_s, K), ...] of a list of ``Atoms``."""
        structures, atomic = [], []
        for atoms in frames:
            check_elements(self.model, atoms)
            node_feats = forward(self.model, atoms, with_strain=False).node_feats.detach().requires_grad_(True)
            phi = self.atomic(node_feats).detach().numpy().copy()
            atomic.append(phi)
            structures.append(phi.mean(axis=0))
        return np.array(structures), atomic
