"""The Müller–Brown MLP training (skmd.modules.nn): its hand-written gradients agree with PyTorch's autograd
(forces by double backward, an independent route), its Adam is PyTorch's, and the plateau schedule trains to
convergence: it stops on its own, below the cap, with a lower loss than the fixed schedule."""
import numpy as np
import pytest

from skmd.modules.nn import PlateauRate, TrainingConfig, _Adam, fit_mlps, loss_and_gradients
from skmd.studies import mueller_brown as mbs
from skmd.studies.mb_al import padded

torch = pytest.importorskip("torch")


def problem(G=3, n=20, H=5, seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(G, H, 2)), rng.normal(size=(G, H)), rng.normal(size=(G, H)), rng.normal(size=G)]
    mask = (rng.random((G, n)) < 0.8).astype(float)
    data = (rng.normal(size=(G, n, 2)), mask / mask.sum(1, keepdims=True), rng.normal(size=(G, n)),
            rng.normal(size=(G, n, 2)))
    return params, data


def autograd_loss(params, X, M, TE, TF, config):
    """The same loss through autograd: E from the network, forces −∂E/∂x by autograd.grad (create_graph)."""
    W1, b1, w2, b2 = params
    X = X.clone().requires_grad_(True)
    energy = (torch.tanh(X @ W1.transpose(1, 2) + b1[:, None, :]) @ w2[:, :, None])[..., 0] + b2[:, None]
    forces = -torch.autograd.grad(energy.sum(), X, create_graph=True)[0]
    return (M * (config.energy_weight * (energy - TE) ** 2
                 + config.force_weight * ((forces - TF) ** 2).sum(-1))).sum()


def test_the_hand_written_gradients_are_autograds():
    params, data = problem()
    config = TrainingConfig()
    loss, grads = loss_and_gradients(params, *data, config)
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    reference = autograd_loss(tensors, *(torch.tensor(d) for d in data), config)
    reference.backward()
    assert loss == pytest.approx(float(reference.detach()), rel=1e-12)
    for mine, theirs in zip(grads, tensors):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_the_adam_step_is_pytorchs():
    params, data = problem(seed=1)
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    optimizer = torch.optim.Adam(tensors, lr=0.01)
    adam = _Adam([p.copy() for p in params])
    for _ in range(25):
        grads = loss_and_gradients(adam.params, *data, TrainingConfig())[1]
        adam.update(grads, 0.01)
        optimizer.zero_grad()
        for tensor, grad in zip(tensors, loss_and_gradients([t.detach().numpy() for t in tensors], *data,
                                                            TrainingConfig())[1]):
            tensor.grad = torch.tensor(grad)
        optimizer.step()
    for mine, theirs in zip(adam.params, tensors):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_the_plateau_schedule_trains_to_convergence_and_stops_on_its_own():
    rng = np.random.default_rng(2)
    data = [(x, *mbs.label(x)) for x in (mbs.basin_samples(40, 4.0, rng) for _ in range(2))]
    X, E, F, M = padded(data)
    fixed = TrainingConfig(first_epochs=300)
    plateau = TrainingConfig(schedule="plateau", max_epochs=20_000)
    short, short_epochs = fit_mlps(X, E, F, M, fixed, seed=0)
    converged, epochs = fit_mlps(X, E, F, M, plateau, seed=0)
    assert short_epochs == 300 and 300 < epochs < plateau.max_epochs
    assert epochs % plateau.plateau_window == 0
    def force_rmse(model):
        return max(np.sqrt(np.mean((model.member(b).energy_forces(x)[1] - f) ** 2)) for b, (x, _, f) in enumerate(data))
    assert force_rmse(converged) < force_rmse(short)
    with pytest.raises(ValueError, match="schedule"):
        fit_mlps(X, E, F, M, TrainingConfig(schedule="adamw"), seed=0)


def test_the_plateau_rate_halves_on_a_stalled_window_and_stops_below_its_floor():
    schedule = PlateauRate(0.01, window=10, min_fall=0.01, floor=4)
    assert [schedule.after(e, 100.0) for e in range(1, 10)] == [0.01] * 9    # between windows: unchanged
    assert schedule.after(10, 100.0) == 0.01             # the first window counts as a fall (best was inf)
    assert schedule.after(20, 98.0) == 0.01              # 2 % below the best: a fall, best 98
    assert schedule.after(30, 97.5) == 0.005             # 0.5 % below it: halved, best stays 98
    assert schedule.after(40, 97.1) == 0.01 / 4          # 0.9 % below 98: halved again, at the floor
    assert schedule.after(50, 90.0) == 0.01 / 4          # a fall: the rate stays
    assert schedule.after(60, 89.5) is None              # halved below 0.01 / 4: stop
