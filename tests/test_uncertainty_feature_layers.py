"""Which weights the gradient features cover: shapes, exact per-atom gradients of the interaction layers,
the sketch's kernel, and the option threaded through the factory, the sampler, the selector and the config."""
import warnings

import numpy as np
import pytest
import torch
from ase.build import molecule

from skmd.al.config import CampaignConfig
from skmd.al.samplers import builtin_samplers
from skmd.al.selection import SelectionContext
from skmd.atoms.mace_models import build_mace
from skmd.uncertainty.factory import UBMDFactory
from skmd.uncertainty import GradientUncertainty
from skmd.uncertainty.feature_layers import DEFAULT_FEATURE_LAYERS, FEATURE_LAYERS
from skmd.uncertainty.features import GradientFeatures
from skmd.uncertainty.graph import atoms_batch

warnings.filterwarnings("ignore", category=UserWarning)
WIDE = "readout+interactions"


@pytest.fixture(scope="module")
def model():
    net = build_mace(channels=8, max_L=1, num_interactions=2, seed=3)
    net.scale_shift.scale.fill_(1.7)
    return net


@pytest.fixture(scope="module")
def frames():
    out = []
    for seed, name in enumerate(["H2O", "CH3OH", "NH3"]):
        atoms = molecule(name)
        atoms.rattle(0.1, seed=seed)
        out.append(atoms)
    return out


def scalar_blocks(layer, grad: torch.Tensor) -> torch.Tensor:
    """The entries of a full e3nn weight gradient that belong to the layer's 0e → 0e paths, in its order."""
    return torch.cat([grad.narrow(-1, offset, (stop - start) * layer.d_out) for start, stop, _, offset in layer.blocks])


def autograd_gradients(model, features, atoms) -> torch.Tensor:
    """∂E_i/∂θ (n, P) by one backward per atom: readout weights, then the covered 0e blocks."""
    out = model(atoms_batch(model, atoms), training=False, compute_force=False)
    readout = [p for name, p in model.named_parameters() if name.startswith("readouts")]
    inner = [layer.module.weight for layer in features.inner]
    rows = []
    for i in range(len(atoms)):
        grads = torch.autograd.grad(out["node_energy"][i], readout + inner, retain_graph=True)
        row = [g.reshape(-1) for g in grads[:len(readout)]]
        row += [scalar_blocks(layer, g) for layer, g in zip(features.inner, grads[len(readout):])]
        rows.append(torch.cat(row))
    return torch.stack(rows)


@pytest.mark.parametrize("layers", FEATURE_LAYERS)
def test_features_have_the_expected_shapes(model, frames, layers):
    features = GradientFeatures(model, n_features=24, layers=layers)
    structures, atomic = features.compute(frames)
    assert structures.shape == (3, 24) and [a.shape for a in atomic] == [(len(f), 24) for f in frames]
    assert len(features.sketches) == (5 if layers == WIDE else 3)   # 1 + 2 readout layers (+ 2 interaction layers)
    run, taps = features.evaluate(frames[1])
    n_params = sum(p.numel() for name, p in model.named_parameters() if name.startswith("readouts"))
    if layers == WIDE:   # 0e paths of the last interaction's linear (two 8x0e inputs → 8x0e) and product linear (8 → 8)
        n_params += 2 * 8 * 8 + 8 * 8
    assert features.exact_atomic(run, taps).shape == (len(frames[1]), n_params)


@pytest.mark.parametrize("layers", FEATURE_LAYERS)
def test_closed_form_gradients_equal_autograd(model, frames, layers):
    features = GradientFeatures(model, n_features=8, layers=layers)
    for atoms in frames:
        run, taps = features.evaluate(atoms)
        exact = features.exact_atomic(run, taps).detach()
        expected = autograd_gradients(model, features, atoms)
        assert torch.allclose(exact, expected, rtol=1e-10, atol=1e-12)
        assert exact[:, -64:].abs().max() > 1e-6  # the interaction layers' gradients are not trivially zero


def test_wide_sketch_estimates_the_exact_kernel(model, frames):
    reference = GradientFeatures(model, n_features=8, layers=WIDE)
    exact = torch.cat([reference.exact_atomic(*reference.evaluate(atoms)).detach() for atoms in frames]).numpy()
    kernel = exact @ exact.T
    errors = {}
    for k in (16, 4096):
        sketches = [np.concatenate(GradientFeatures(model, n_features=k, seed=seed, layers=WIDE).compute(frames)[1])
                    for seed in range(3)]
        errors[k] = np.mean([np.linalg.norm(s @ s.T - kernel) / np.linalg.norm(kernel) for s in sketches])
    assert errors[4096] < 0.1 and errors[16] / errors[4096] > 6


def test_default_option_and_seeded_features(model, frames):
    plain = GradientFeatures(model, n_features=32, seed=2).compute(frames)[0]
    readout = GradientFeatures(model, n_features=32, seed=2, layers="readout").compute(frames)[0]
    wide = GradientFeatures(model, n_features=32, seed=2, layers=WIDE).compute(frames)[0]
    assert np.array_equal(readout, GradientFeatures(model, n_features=32, seed=2, layers="readout").compute(frames)[0])
    assert np.array_equal(plain, readout if DEFAULT_FEATURE_LAYERS == "readout" else wide)
    assert not np.allclose(readout, wide)


def test_the_option_is_threaded_and_checked(model, tmp_path):
    for bad in ("all", "readout+biases", None):
        with pytest.raises(ValueError, match="layers must be one of"):
            GradientUncertainty(model, layers=bad)
        with pytest.raises(ValueError, match="ubmd_feature_layers"):
            CampaignConfig(structures="x.xyz", ubmd_feature_layers=bad).validate()
        with pytest.raises(ValueError, match="feature_layers"):
            UBMDFactory("m", "t", "c", feature_layers=bad)
    config = CampaignConfig(structures="x.xyz", samplers=("ubmd",), ubmd_feature_layers=WIDE).validate()
    (sampler,) = builtin_samplers(config)
    assert sampler.feature_layers == WIDE
    from skmd.al.samplers import Context
    context = Context(models=(tmp_path / "m.safetensors",), train_file="t", calibration_file="c", pressure_GPa=None,
                      seed=0)
    assert sampler.factory(context).feature_layers == WIDE
    assert CampaignConfig().ubmd_feature_layers == DEFAULT_FEATURE_LAYERS
    assert SelectionContext("m", [], 0).feature_layers == DEFAULT_FEATURE_LAYERS
