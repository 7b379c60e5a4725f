"""Sketched gradient features of MACE readouts, the posterior and batch selection."""
import itertools
import warnings

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule

from skmd.atoms.mace_models import build_mace
from skmd.uncertainty.features import GradientFeatures
from skmd.uncertainty.graph import atoms_batch
from skmd.uncertainty.posterior import FeaturePosterior
from skmd.uncertainty.selection import lcmd, max_det, max_dist, random_batch, select_batch

warnings.filterwarnings("ignore", category=UserWarning)


@pytest.fixture(scope="module")
def model():
    net = build_mace(channels=8, max_L=1, num_interactions=2, seed=3)
    net.scale_shift.scale.fill_(1.7)  # the per-element scale must enter g
    return net


@pytest.fixture(scope="module")
def frames():
    out = []
    for seed, name in enumerate(["H2O", "CH4", "NH3", "CH3OH"]):
        atoms = molecule(name)
        atoms.rattle(0.1, seed=seed)
        out.append(atoms)
    return out


def autograd_readout_gradients(model, atoms) -> torch.Tensor:
    """∂E_i/∂θ (n, P) for all readout weights θ, one backward per atom."""
    out = model(atoms_batch(model, atoms), training=False, compute_force=False)
    params = [p for name, p in model.named_parameters() if name.startswith("readouts")]
    rows = []
    for i in range(len(atoms)):
        grads = torch.autograd.grad(out["node_energy"][i], params, retain_graph=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)


def exact_features(model, features, atoms):
    return features.exact_atomic(*features.evaluate(atoms, with_strain=False)).detach()


def test_closed_form_gradients_match_autograd(model, frames):
    features = GradientFeatures(model, n_features=8, layers="readout")
    for atoms in frames:
        expected = autograd_readout_gradients(model, atoms)
        assert torch.allclose(exact_features(model, features, atoms), expected, rtol=1e-10, atol=1e-12)


def test_sketched_kernel_approaches_exact_kernel(model, frames):
    reference = GradientFeatures(model, n_features=8)
    exact = torch.cat([exact_features(model, reference, atoms) for atoms in frames]).numpy()
    kernel = exact @ exact.T
    errors = []
    for k in (16, 256, 4096):
        trial = []
        for seed in range(4):
            _, atomic = GradientFeatures(model, n_features=k, seed=seed).compute(frames)
            sketch = np.concatenate(atomic)
            trial.append(np.linalg.norm(sketch @ sketch.T - kernel) / np.linalg.norm(kernel))
        errors.append(np.mean(trial))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.1
    assert errors[0] / errors[2] > 6  # about sqrt(4096 / 16) = 16 for a 1/sqrt(K) error


def test_structure_feature_is_atom_mean_and_seeded(model, frames):
    first, atomic = GradientFeatures(model, n_features=32, seed=5).compute(frames)
    again, _ = GradientFeatures(model, n_features=32, seed=5).compute(frames)
    other, _ = GradientFeatures(model, n_features=32, seed=6).compute(frames)
    assert np.allclose(first, [a.mean(axis=0) for a in atomic])
    assert np.array_equal(first, again) and not np.allclose(first, other)


def test_periodic_features_are_finite():
    net = build_mace(channels=8, max_L=1, num_interactions=2, atomic_numbers=(14,), r_max=4.0, seed=0)
    structures, atomic = GradientFeatures(net, n_features=16).compute([bulk("Si", "diamond", a=5.43)])
    assert structures.shape == (1, 16) and atomic[0].shape == (2, 16) and np.all(np.isfinite(structures))


def test_posterior_variance_equals_closed_form(rng):
    train, test = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    sigma = 0.3
    posterior = FeaturePosterior(sigma).add(train[:3]).add(train[3:])
    scale = np.sqrt(np.mean(np.sum(train ** 2, axis=1)))
    phi, test_hat = train / scale, test / scale
    inverse = np.linalg.inv(phi.T @ phi + sigma ** 2 * np.eye(5))
    expected = sigma ** 2 * np.einsum("mk,kl,ml->m", test_hat, inverse, test_hat)
    assert np.allclose(posterior.variance(test), expected, rtol=1e-12)
    assert np.allclose(posterior.variance_torch(torch.from_numpy(test)).numpy(), expected, rtol=1e-12)
    assert np.allclose(posterior.kernel(test), sigma ** 2 * test_hat @ inverse @ test_hat.T, rtol=1e-12)
    assert posterior.variance(train).max() < posterior.variance(10 * test).min()


def test_posterior_bad_input():
    with pytest.raises(ValueError, match="sigma"):
        FeaturePosterior(0.0)
    with pytest.raises(ValueError, match="add"):
        FeaturePosterior().variance(np.ones(3))
    with pytest.raises(ValueError, match="columns"):
        FeaturePosterior().add(np.ones((2, 3))).variance(np.ones(4))


def _log_det(kernel, batch) -> float:
    return np.linalg.slogdet(kernel[np.ix_(batch, batch)])[1]


@pytest.mark.parametrize("seed", range(5))
def test_max_det_picks_determinant_maximising_batches(seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(9, 4)) * rng.uniform(0.2, 2.0, size=(9, 1))
    kernel = points @ points.T + 1e-3 * np.eye(9)
    batch = max_det(kernel, 4)
    for size in range(1, 5):  # every pick maximises the determinant given the earlier picks
        earlier = list(batch[:size - 1])
        best = max(range(9), key=lambda c: -np.inf if c in earlier else _log_det(kernel, [*earlier, c]))
        assert batch[size - 1] == best
    pairs = max(itertools.combinations(range(9), 2), key=lambda pair: _log_det(kernel, list(pair)))
    assert _log_det(kernel, max_det(kernel, 2)) >= _log_det(kernel, list(pairs)) - np.log(4.0)


def test_max_det_finds_the_global_optimum_when_brute_forceable():
    # three orthogonal directions, decoys close to the first; the best triple is one per direction
    points = np.array([[3.0, 0, 0], [2.9, 0.1, 0], [0, 2.0, 0], [0.1, 1.9, 0.1], [0, 0, 1.0], [0.2, 0.1, 0.9]])
    kernel = points @ points.T + 1e-6 * np.eye(6)
    best = max(itertools.combinations(range(6), 3), key=lambda triple: _log_det(kernel, list(triple)))
    assert sorted(max_det(kernel, 3)) == sorted(best)


def test_distance_methods_and_random(rng):
    points = np.concatenate([rng.normal(size=(20, 3)) * 0.05 + centre for centre in np.eye(3) * 4])
    kernel = points @ points.T
    for method in (max_dist, lcmd):
        batch = method(kernel, 3)
        assert len(set(batch)) == 3 and sorted(batch // 20) == [0, 1, 2]  # one pick per cluster
    assert np.array_equal(random_batch(60, 5, seed=1), random_batch(60, 5, seed=1))
    posterior = FeaturePosterior(0.1).add(rng.normal(size=(5, 3)) * 0.01)
    for method in ("max_det", "lcmd", "max_dist", "random"):
        chosen = select_batch(method, points, posterior, 4, seed=0)
        assert len(set(chosen.tolist())) == 4
    with pytest.raises(ValueError, match="method"):
        select_batch("fps", points, posterior, 2)
    with pytest.raises(ValueError, match="cannot select"):
        max_det(kernel, 61)
