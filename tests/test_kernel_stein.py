"""Kernel, biasing force and potentials against finite differences; Stein's identity."""
import numpy as np
import pytest

import skmd
from conftest import finite_difference


def nonlinear_descriptor():
    def compute(x):
        x = np.atleast_2d(x)
        return np.stack([np.sin(x[:, 0]), x[:, 0] * x[:, 1], x[:, 1] ** 2], axis=1)

    def jacobian(x):
        x = np.atleast_2d(x)
        jac = np.zeros((len(x), 3, 2))
        jac[:, 0, 0] = np.cos(x[:, 0])
        jac[:, 1, 0] = x[:, 1]
        jac[:, 1, 1] = x[:, 0]
        jac[:, 2, 1] = 2 * x[:, 1]
        return jac

    return skmd.FunctionDescriptor(compute, jacobian)


def test_median_bandwidth_matches_pairwise_median(rng):
    points = rng.standard_normal((7, 3))
    distances = [np.linalg.norm(points[i] - points[j]) for i in range(7) for j in range(i + 1, 7)]
    assert skmd.median_bandwidth(points) == pytest.approx(np.median(distances))


@pytest.mark.parametrize("use_descriptor", [False, True])
def test_kernel_gradient_matches_finite_differences(rng, use_descriptor):
    kernel = skmd.GaussianKernel(2.5, 0.8)
    desc = nonlinear_descriptor() if use_descriptor else skmd.IdentityDescriptor()
    x = rng.standard_normal(2)
    ys = rng.standard_normal((4, 2)) * 0.7
    d_x = desc.compute(x[None])[0]
    jac = desc.jacobian(ys) if use_descriptor else None
    analytic = kernel.gradient(desc.compute(ys), d_x, jac)
    for j in range(4):
        numeric = finite_difference(lambda y: kernel.value(desc.compute(y[None])[0], d_x), ys[j])
        np.testing.assert_allclose(analytic[j], numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("use_descriptor", [False, True])
def test_stein_force_matches_its_definition(rng, use_descriptor):
    kernel = skmd.GaussianKernel(1.7, 0.9)
    desc = nonlinear_descriptor() if use_descriptor else skmd.IdentityDescriptor()
    kT = 0.6
    x = rng.standard_normal(2)
    ens = rng.standard_normal((5, 2))
    forces = rng.standard_normal((5, 2))
    d_x = desc.compute(x[None])[0]
    jac = desc.jacobian(ens) if use_descriptor else None
    b = skmd.stein_force(d_x, desc.compute(ens), forces, jac, kernel, kT)
    expected = np.zeros(2)
    for j in range(5):
        k = kernel.value(desc.compute(ens[j:j + 1])[0], d_x)
        grad = finite_difference(lambda y: kernel.value(desc.compute(y[None])[0], d_x), ens[j])
        expected += (k * forces[j] + kT * grad) / 5
    np.testing.assert_allclose(b, expected, rtol=1e-6, atol=1e-9)
    b_norm = skmd.stein_force(d_x, desc.compute(ens), forces, jac, kernel, kT, normalization=6)
    np.testing.assert_allclose(b_norm, b * 5 / 6)


def test_stein_identity_on_gaussian(rng):
    target = skmd.Quadratic([0.3, -0.2], [[2.0, 0.5], [0.5, 1.0]])
    kT = 1.0
    kernel = skmd.GaussianKernel(1.0, 0.8)
    probes = target.sample(200, kT, rng)

    def mean_bias(ensemble):
        forces = target.forces(ensemble)
        bs = [skmd.stein_force(x, ensemble, forces, None, kernel, kT) for x in probes]
        return np.linalg.norm(np.mean(bs, axis=0)), np.mean(np.linalg.norm(bs, axis=1))

    on_target, _ = mean_bias(target.sample(4000, kT, rng))
    shifted = target.sample(4000, kT, rng) + np.array([1.0, 0.0])
    off_target, _ = mean_bias(shifted)
    assert on_target < 0.02
    assert off_target > 10 * on_target


def test_mueller_brown_forces_match_finite_differences(rng):
    mb = skmd.MuellerBrown()
    for x in rng.uniform([-1.5, -0.5], [1.0, 2.0], size=(5, 2)):
        np.testing.assert_allclose(mb.forces(x), -finite_difference(mb.energy, x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mb.energy(mb.minima), [-146.70, -108.17, -80.77], atol=0.01)


def test_mlp_forces_match_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    W1, b1, w2, b2 = rng.standard_normal((20, 2)), rng.standard_normal(20), rng.standard_normal(20), 0.3
    model = skmd.MLPPotential(W1, b1, w2, b2, lam=0.05, center=[-0.2, 0.7])
    x = rng.standard_normal((6, 2))
    xt = torch.tensor(x, requires_grad=True)
    energy = torch.tanh(xt @ torch.tensor(W1).T + torch.tensor(b1)) @ torch.tensor(w2) + b2
    energy = energy + 0.05 * ((xt - torch.tensor([-0.2, 0.7], dtype=torch.float64)) ** 2).sum(1) ** 2
    (grad,) = torch.autograd.grad(energy.sum(), xt)
    e, f = model.energy_forces(x)
    np.testing.assert_allclose(e, energy.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(f, -grad.numpy(), rtol=1e-10, atol=1e-12)


def test_udd_bias_force_matches_finite_differences(rng):
    K, H = 5, 20
    committee = skmd.MLPPotential(rng.standard_normal((K, H, 2)), rng.standard_normal((K, H)),
                                  rng.standard_normal((K, H)), rng.standard_normal(K), lam=0.01)
    A, B = 50.0, 2.0

    def biased_energy(x):
        energies, forces = committee.evaluate_batch(x[None])
        return skmd.udd_bias(energies[0], forces[0], A, B)["energy"]

    for x in rng.standard_normal((4, 2)):
        energies, forces = committee.evaluate_batch(x[None])
        out = skmd.udd_bias(energies[0], forces[0], A, B)
        np.testing.assert_allclose(out["force"], -finite_difference(biased_energy, x), rtol=1e-6, atol=1e-7)
        sigma = np.sqrt(0.5 * np.sum((energies[0] - energies[0].mean()) ** 2))
        assert out["rho"] == pytest.approx(np.sqrt(2 / K) * sigma)
        assert out["bias_energy"] <= 0
