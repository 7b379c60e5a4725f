"""The scalar part of e3nn ``o3.Linear`` layers, as the gradient features need it (docs/method.md §9.1).

An equivariant linear map sends 0e inputs only to 0e outputs. Its scalar part is
y[:, out] = x̃ W, with x̃ (n, d_in) the layer's 0e input blocks, each times its e3nn path weight
(1/√fan-in), side by side, and W (d_in, d_out) the matching weight blocks stacked, so ∂y_i/∂W is
closed form and ∂E_i/∂W = x̃_i g_iᵀ with g_i = ∂E_i/∂y_i[out].
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from ..tools import mace_first  # noqa: F401  (imports mace quietly, before e3nn)
import torch
from e3nn import o3


@dataclass
class ScalarLinear:
    """The 0e → 0e part of ``module``: ``blocks`` are (start, stop, path weight, weight offset) of its 0e
    input blocks; ``out_start:out_stop`` is its one 0e output block, ``d_out`` wide."""

    module: torch.nn.Module
    blocks: list
    out_start: int
    out_stop: int

    @property
    def d_in(self) -> int:
        return sum(stop - start for start, stop, _, _ in self.blocks)

    @property
    def d_out(self) -> int:
        return self.out_stop - self.out_start

    def effective_input(self, x: torch.Tensor) -> torch.Tensor:
        """x̃ (n, d_in): the 0e blocks of ``x`` the weights see, each times its path weight."""
        return torch.cat([weight * x[:, start:stop] for start, stop, weight, _ in self.blocks], dim=1)

    def matrix(self) -> torch.Tensor:
        """W (d_in, d_out), the weight blocks of the 0e paths stacked in the order of ``blocks``."""
        return torch.cat([self.module.weight.narrow(-1, offset, (stop - start) * self.d_out)
                          .view(stop - start, self.d_out) for start, stop, _, offset in self.blocks])

    def pullback(self, g: torch.Tensor) -> torch.Tensor:
        """∂E/∂x̃ᵢₙ (n, d_in) from g = ∂E/∂y[out] (n, d_out), for a layer whose input is all scalars."""
        weights = torch.cat([torch.full((stop - start,), weight, dtype=g.dtype)
                             for start, stop, weight, _ in self.blocks])
        return (g @ self.matrix().T) * weights


def scalar_linear(linear, scalar_output: bool = False) -> ScalarLinear:
    """Describe the 0e → 0e part of an e3nn Linear; ``ValueError`` for biases, no 0e path, several 0e output
    blocks, (with ``scalar_output``) non-scalar outputs, or a layer that does not compute y = x̃W."""
    irreps_in, irreps_out = o3.Irreps(str(linear.irreps_in)), o3.Irreps(str(linear.irreps_out))
    if getattr(linear, "bias_numel", 0) > 0:
        raise ValueError(f"layer {linear} has biases, which the gradient features do not cover")
    if scalar_output and any(ir.l != 0 or ir.p != 1 for _, ir in irreps_out):
        raise ValueError(f"readout layer {linear} is not a scalar linear layer")
    scalar_out = [i for i, (_, ir) in enumerate(irreps_out) if ir.l == 0 and ir.p == 1]
    if len(scalar_out) != 1:
        raise ValueError(f"layer {linear} must have one block of scalar outputs, has {len(scalar_out)}")
    in_slices, offset, blocks = irreps_in.slices(), 0, []
    for ins in linear.instructions:
        if ins.i_out == scalar_out[0]:
            blocks.append((in_slices[ins.i_in].start, in_slices[ins.i_in].stop, float(ins.path_weight), offset))
        offset += ins.path_shape[0] * ins.path_shape[1]
    out_slice = irreps_out.slices()[scalar_out[0]]
    layer = ScalarLinear(linear, blocks, out_slice.start, out_slice.stop)
    if not blocks:
        raise ValueError(f"layer {linear} has no scalar input")
    probe = torch.randn(3, irreps_in.dim, dtype=linear.weight.dtype, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        if not torch.allclose(linear(probe)[:, layer.out_start:layer.out_stop],
                              layer.effective_input(probe) @ layer.matrix(), rtol=1e-8, atol=1e-10):
            raise ValueError(f"layer {linear} is not y = x̃ W (cuequivariance layers are not supported)")
    return layer


@contextmanager
def tapped(modules):
    """While active, ``taps[k]`` holds (input, output) of the latest call of ``modules[k]``, graph kept."""
    taps = {}
    handles = [module.register_forward_hook(lambda _, args, out, k=k: taps.__setitem__(k, (args[0], out)))
               for k, module in enumerate(modules)]
    try:
        yield taps
    finally:
        for handle in handles:
            handle.remove()
