"""Sketched gradient features of a MACE model (docs/method.md §9).

For atom i with atomic energy E_i and a linear layer y = x̃ W (x̃ its input, with e3nn's 1/√fan-in
normalisation folded in), ∂E_i/∂W = x̃_i g_iᵀ with g_i = ∂E_i/∂y_i, whenever y_i reaches no energy
but E_i. Which layers (``layers``, :mod:`.feature_layers`):

- ``"readout"``: every readout's weights. A readout acts on the node features of one atom alone, so
  x̃_i and g_i are closed-form functions of atom i's node features.
- ``"readout+interactions"``: also the 0e → 0e weights of the last interaction block's ``linear`` (it
  maps the neighbour sum of messages to atom i's features, after the sum) and of the last product
  block's ``linear``. Downstream of them come only per-atom maps (symmetric contraction, skip,
  readout), so y_i reaches E_i alone and g_i = ∂E/∂y_i, one autograd pass from the total energy
  (with the graph kept: the features stay differentiable in positions and strain).

Left out, because their per-atom gradient is a sum over neighbours, not one outer product: the
earlier interactions' and products' linear maps (their outputs feed the neighbours' next layer),
every ``linear_up`` and radial MLP (they act before the neighbour sum), and the embedding. Also left
out: the l > 0 blocks of the interaction's ``linear`` (a sum of 2l+1 outer products per atom) and the
element-dependent skip tensor products. MACE 0.3.16 builds all these layers without biases, so there
are no bias terms to cover (a layer with biases is refused).

The sketch of one layer is (Uᵀx̃_i) ⊙ (Vᵀg_i) / √K with fixed seeded Gaussian U (d_in, K), V (d_out, K);
its inner products estimate ⟨∂E_i/∂W, ∂E_j/∂W⟩. The atom's feature is the sum over layers; the
structure's feature is the mean over its atoms (the gradient of E/N).
"""
from __future__ import annotations

from contextlib import nullcontext

from ..tools import mace_first  # noqa: F401  (imports mace quietly, before e3nn)
import numpy as np
import torch
from e3nn import o3
from mace.modules.blocks import LinearReadoutBlock, NonLinearReadoutBlock

from ..atoms.descriptors import MAX_BATCH_ATOMS
from ..tools.checks import positive_int
from .feature_layers import DEFAULT_FEATURE_LAYERS, check_feature_layers
from .graph import batch_groups, check_elements, forward_many
from .linear_layers import scalar_linear, tapped

# interaction blocks whose ``linear`` acts on the summed message of each atom, followed by per-atom maps only
PER_ATOM_LINEAR = ("RealAgnosticResidualInteractionBlock", "RealAgnosticInteractionBlock")


def _readout_parts(model) -> list:
    """(readout block, index of the interaction layer it reads, [ScalarLinear, ...]) for each readout."""
    parts = []
    for i, block in enumerate(model.readouts):
        layer_index = len(model.products) - 1 if len(model.readouts) == 1 else i
        if isinstance(block, LinearReadoutBlock):
            parts.append((block, layer_index, [scalar_linear(block.linear, scalar_output=True)]))
        elif isinstance(block, NonLinearReadoutBlock):
            if getattr(block, "num_heads", 1) > 1:
                raise ValueError("multi-head readouts are not supported")
            parts.append((block, layer_index, [scalar_linear(block.linear_1, scalar_output=True),
                                               scalar_linear(block.linear_2, scalar_output=True)]))
        else:
            raise ValueError(f"unsupported readout block {type(block).__name__}")
    return parts


def _interaction_layers(model) -> list:
    """[ScalarLinear of the last interaction's ``linear``, of the last product's ``linear``]."""
    interaction = model.interactions[-1]
    if type(interaction).__name__ not in PER_ATOM_LINEAR:
        raise ValueError(f"layers='readout+interactions' supports {', '.join(PER_ATOM_LINEAR)}, "
                         f"not {type(interaction).__name__}")
    return [scalar_linear(interaction.linear), scalar_linear(model.products[-1].linear)]


class GradientFeatures:
    """Per-atom sketched gradients of the atomic energies of ``model`` w.r.t. the weights ``layers`` names.

    Args:
        model: a MACE model (e.g. from :func:`skmd.atoms.mace_models.build_mace`), float64.
        n_features: K, the sketch size (default 512).
        seed: seed of the Gaussian sketch matrices (same seed ⇒ same features).
        layers: ``"readout"`` or ``"readout+interactions"`` (module docstring).
        max_atoms: the most atoms :meth:`compute` collates into one model pass (a larger frame goes alone).
    """

    def __init__(self, model, n_features: int = 512, seed: int = 0, layers: str = DEFAULT_FEATURE_LAYERS,
                 max_atoms: int = MAX_BATCH_ATOMS):
        self.n_features = positive_int("n_features", n_features)
        self.max_atoms = positive_int("max_atoms", max_atoms)
        self.layers = check_feature_layers(layers)
        self.model = model
        self.parts = _readout_parts(model)
        self.inner = _interaction_layers(model) if layers == "readout+interactions" else []
        dims = [o3.Irreps(str(product.linear.irreps_out)).dim for product in model.products]
        self.layer_slices = np.concatenate([[0], np.cumsum(dims)])
        scale = getattr(getattr(model, "scale_shift", None), "scale", torch.tensor(1.0))
        self.energy_scale = float(torch.atleast_1d(scale)[0])
        generator = torch.Generator().manual_seed(int(seed))
        self.sketches = []
        for lin in [lin for _, _, linears in self.parts for lin in linears] + self.inner:
            u = torch.randn(lin.d_in, self.n_features, generator=generator, dtype=torch.float64)
            v = torch.randn(lin.d_out, self.n_features, generator=generator, dtype=torch.float64)
            self.sketches.append((u, v))

    def evaluate_many(self, frames, with_strain: bool | None = None):
        """One model pass over ``frames`` collated, graph kept (:func:`~.graph.forward_many`):
        (:class:`~.graph.Pass`, taps), taps[k] the (input (N, ·), output (N, ·)) of the k-th interaction layer
        covered, all atoms of the batch (empty for ``"readout"``)."""
        frames = list(frames)
        for atoms in frames:
            check_elements(self.model, atoms)
        with tapped([lin.module for lin in self.inner]) if self.inner else nullcontext({}) as taps:
            run = forward_many(self.model, frames, with_strain=with_strain)
        return run, dict(taps)

    def evaluate(self, atoms, with_strain: bool | None = None):
        """:meth:`evaluate_many` of one structure."""
        return self.evaluate_many([atoms], with_strain=with_strain)

    def readout_factors(self, node_feats: torch.Tensor) -> list:
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
            (g_hidden,) = torch.autograd.grad(active, hidden, grad_outputs=second.pullback(g_out), create_graph=True)
            factors.append((first.effective_input(x), g_hidden))
            factors.append((second.effective_input(active), g_out))
        return factors

    def layer_factors(self, run, taps: dict, create_graph: bool = True) -> list:
        """[(x̃, g), ...] of every layer covered: the readouts', then the interaction layers' (g = ∂E/∂y from the
        batch's total energy, exact per atom because y_i reaches E_i alone and graphs share no atoms);
        differentiable in positions and strain with ``create_graph``."""
        factors = self.readout_factors(run.node_feats)
        if self.inner:
            outputs = [taps[k][1] for k in range(len(self.inner))]
            grads = torch.autograd.grad(run.energy, outputs, create_graph=create_graph, retain_graph=True)
            factors += [(lin.effective_input(taps[k][0]), g[:, lin.out_start:lin.out_stop])
                        for k, (lin, g) in enumerate(zip(self.inner, grads))]
        return factors

    def atomic(self, run, taps: dict, create_graph: bool = True) -> torch.Tensor:
        """Sketched per-atom features (n, K) of one :meth:`evaluate` pass; differentiable with ``create_graph``."""
        total = 0.0
        for (x_eff, g), (u, v) in zip(self.layer_factors(run, taps, create_graph), self.sketches):
            total = total + (x_eff @ u) * (g @ v)
        return total / np.sqrt(self.n_features)

    def exact_atomic(self, run, taps: dict) -> torch.Tensor:
        """Unsketched ∂E_i/∂W (n, P) of all covered weights: each readout's parameters in order, then the 0e
        blocks of the interaction layers' weights in the order of their e3nn instructions."""
        blocks = [(x_eff[:, :, None] * g[:, None, :]).reshape(x_eff.shape[0], -1)
                  for x_eff, g in self.layer_factors(run, taps, create_graph=False)]
        return torch.cat(blocks, dim=1)

    def compute(self, frames) -> tuple[np.ndarray, list]:
        """Structure features (S, K) and per-atom features [(n_s, K), ...] of a list of ``Atoms`` (collated
        into passes of at most ``max_atoms`` atoms)."""
        frames = list(frames)
        atomic = [None] * len(frames)
        for group in batch_groups(frames, self.max_atoms):
            run, taps = self.evaluate_many([frames[i] for i in group], with_strain=False)
            if not self.inner:  # closed form in the node features: no need to keep the model's graph
                run.node_feats = run.node_feats.detach().requires_grad_(True)
            phi = self.atomic(run, taps, create_graph=False).detach().numpy()
            for g, index in enumerate(group):
                atomic[index] = phi[run.atoms_of(g)].copy()
        return np.array([phi.mean(axis=0) for phi in atomic]), atomic
