"""Samplers: shared noise, h = 0 SKMD equals Langevin, rules, divergence, reproducibility."""
import warnings

import numpy as np
import pytest

import skmd


def mb_ensemble(seed=0, n=6):
    return skmd.MuellerBrown.minima[1] + 0.05 * np.random.default_rng(seed).standard_normal((n, 2))


def test_noise_stream_is_independent_of_read_pattern():
    a = skmd.NoiseStream(7, dim=2, chains=3)
    b = skmd.NoiseStream(7, dim=2, chains=3)
    whole = a.take(3000)
    parts = []
    for n in (5, 1500, 1495):
        parts.append(b.take(n))
        b.advance(n)
    np.testing.assert_array_equal(whole, np.concatenate(parts))
    assert not np.allclose(whole[:, 0], whole[:, 1])


def test_zero_amplitude_skmd_reproduces_langevin_step_for_step():
    mb = skmd.MuellerBrown()
    ens = mb_ensemble()
    common = dict(kT=4.0, dt=1e-4, noise=skmd.NoiseStream(3, 2))
    langevin = skmd.OverdampedLangevin(mb, ens, acquisition=skmd.FixedSteps(50), **common)
    common["noise"] = skmd.NoiseStream(3, 2)
    sampler = skmd.SKMD(mb, ens, kernel=skmd.GaussianKernel(0.0, 0.5), stopping=skmd.FixedSteps(50), **common)
    np.testing.assert_array_equal(langevin.run(2), sampler.run(2))
    np.testing.assert_array_equal(langevin.walkers, sampler.ensemble)


def test_langevin_matches_hand_written_euler_maruyama():
    target = skmd.Quadratic([0.0, 0.0], np.eye(2))
    noise = np.random.default_rng(1).standard_normal((30, 2))
    sampler = skmd.OverdampedLangevin(target, [1.0, -1.0], kT=0.5, dt=0.01, gamma=2.0,
                                      acquisition=skmd.Periodic(10, 3), noise=noise)
    points = sampler.run()
    x = np.array([1.0, -1.0])
    expected = []
    for t in range(30):
        x = x + 0.01 / 2.0 * (-x) + np.sqrt(2 * 0.5 * 0.01 / 2.0) * noise[t]
        if (t + 1) % 10 == 0:
            expected.append(x.copy())
    np.testing.assert_allclose(points, expected, rtol=1e-13)


def test_skmd_is_reproducible_and_bias_changes_the_path():
    mb = skmd.MuellerBrown()
    kwargs = dict(kernel=skmd.GaussianKernel(300.0, "median"), kT=4.0, dt=1e-4,
                  stopping=skmd.FixedSteps(100), bandwidth_schedule="initial")
    first = skmd.SKMD(mb, mb_ensemble(), noise=11, **kwargs).run(2)
    second = skmd.SKMD(mb, mb_ensemble(), noise=11, **kwargs).run(2)
    np.testing.assert_array_equal(first, second)
    kwargs["kernel"] = skmd.GaussianKernel(0.0, 1.0)
    plain = skmd.SKMD(mb, mb_ensemble(), noise=11, **kwargs).run(2)
    assert not np.allclose(first, plain)


def test_adaptive_stop_respects_t_min_and_threshold():
    """Every particle stops at the first t >= t_min with ‖b(x_t)‖ < tau (t_max if there is none), checked on
    each particle's own ‖b‖ record; the seeds make both halves bite: some particle passes below tau before
    t_min (t_min holds it) and some stays above tau for steps after t_min (the stop is the first below)."""
    mb = skmd.MuellerBrown()
    tau, t_min, t_max = 20.0, 20, 400
    sampler = skmd.SKMD(mb, mb_ensemble(n=8), kernel=skmd.GaussianKernel(300.0, "median"), kT=4.0, dt=1e-4,
                        stopping=skmd.AdaptiveStop(tau=tau, t_min=t_min, t_max=t_max), noise=5,
                        bandwidth_schedule="initial")
    held, waited, stops = 0, 0, []
    for particle in range(8):                    # as sampler.run(1) moves them, keeping each one's ‖b‖ record
        result = sampler.move_particle(particle)
        values, stop = result["values"][:, 0], int(result["steps"][0])
        assert t_min <= stop <= t_max, f"particle {particle} stopped at {stop}"
        first = t_min + int(np.argmax(values[t_min:] < tau)) if np.any(values[t_min:] < tau) else t_max
        assert stop == first, f"particle {particle} stopped at {stop}, the first t >= {t_min} below tau is {first}"
        held += bool(np.any(values[:t_min] < tau))
        waited += stop > t_min
        stops.append(stop)
    assert held and waited, (held, waited)        # else the test could not fail on either half
    assert np.array(sampler.acquired.step).tolist() == stops   # each stopping point acquired at its step


def test_udd_acquires_above_threshold_with_minimum_gap(rng):
    K = 5
    committee = skmd.MLPPotential(rng.standard_normal((K, 20, 2)), rng.standard_normal((K, 20)),
                                  0.3 * rng.standard_normal((K, 20)), np.zeros(K), lam=1.0)
    rule = skmd.UncertaintyThreshold(threshold=0.05, n_points=5, max_steps=3000, min_gap=50)
    sampler = skmd.UDD(committee, [0.0, 0.0], kT=0.5, dt=1e-3, A=5.0, B=0.5, acquisition=rule, noise=2)
    points = sampler.run()
    steps = np.array(sampler.acquired.step)
    assert 1 <= len(points) <= 5
    assert np.all(np.diff(steps) >= 50) and steps[0] >= 50
    energies, forces = committee.evaluate_batch(points)
    rho = skmd.udd_bias(energies, forces, 5.0, 0.5)["rho"]
    assert np.all(rho > 0.05)


def test_diverging_trajectory_is_caught_and_never_acquired():
    mb = skmd.MuellerBrown()
    start = np.array([[-1.4, 1.9], [0.6, 0.0]])
    sampler = skmd.OverdampedLangevin(mb, start, kT=4.0, dt=5e-3, acquisition=skmd.FixedSteps(200),
                                      noise=1, bound=3.0, max_restarts=2)
    with pytest.warns(skmd.DivergenceWarning):
        points = sampler.run(1)
    assert sampler.n_diverged >= 1
    assert np.all(np.isfinite(points)) and np.all(np.abs(points) <= 3.0)
    assert np.all(np.isfinite(sampler.walkers)) and np.all(np.abs(sampler.walkers) <= 3.0)


def test_observers_are_called_per_particle_move():
    mb = skmd.MuellerBrown()
    calls = []
    sampler = skmd.SKMD(mb, mb_ensemble(n=4), kernel=skmd.GaussianKernel(10.0, 0.5), kT=4.0, dt=1e-4,
                        stopping=skmd.FixedSteps(5), noise=0)
    sampler.attach(lambda: calls.append(sampler.ensemble.copy()), interval=2)
    sampler.run(2)
    assert len(calls) == 4


def test_batched_chains_match_single_chain_runs():
    mb = skmd.MuellerBrown()
    ensembles = np.stack([mb_ensemble(0), mb_ensemble(1)])
    kwargs = dict(kernel=skmd.GaussianKernel(200.0, 0.3), kT=4.0, dt=1e-4, stopping=skmd.FixedSteps(30))
    stream = skmd.NoiseStream(9, dim=2, chains=2)
    batch = skmd.SKMD(mb, ensembles, noise=stream, **kwargs).run(1)
    noise = skmd.NoiseStream(9, dim=2, chains=2).take(6 * 30)
    for b in range(2):
        single = skmd.SKMD(mb, ensembles[b], noise=noise[:, b], **kwargs).run(1)
        np.testing.assert_allclose(batch[b], single, rtol=1e-13)


def test_furthest_point_sampling_is_seeded_with_existing_data():
    candidates = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [-1.0, 0.0]])
    order = skmd.furthest_point_sampling(candidates, 2, existing=np.array([[1.0, 0.05]]))
    assert order[0] == 3 and order[1] == 1
    assert len(set(skmd.furthest_point_sampling(candidates, 4))) == 4


def test_w2_matches_brute_force(rng):
    import itertools
    x, y = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    brute = min(np.mean(np.sum((x - y[list(p)]) ** 2, axis=1)) for p in itertools.permutations(range(6)))
    assert skmd.w2_distance(x, y) == pytest.approx(np.sqrt(brute))


def test_quiet_numpy_backend():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert skmd.get_backend("numpy").name == "numpy"


def test_one_model_shared_by_many_chains_matches_per_chain_copies(rng):
    W1, b1, w2 = rng.standard_normal((20, 2)), rng.standard_normal(20), rng.standard_normal(20)
    shared = skmd.MLPPotential(W1, b1, w2, 0.0, lam=1.0)
    copies = skmd.MLPPotential(np.stack([W1] * 3)[:, None], np.stack([b1] * 3)[:, None],
                               np.stack([w2] * 3)[:, None], np.zeros((3, 1)), lam=1.0)
    ensembles = 0.3 * rng.standard_normal((3, 5, 2))
    kwargs = dict(kernel=skmd.GaussianKernel(1.0, 0.5), kT=1.0, dt=1e-3, stopping=skmd.FixedSteps(20))
    a = skmd.SKMD(shared, ensembles, noise=skmd.NoiseStream(4, 2, 3), **kwargs).run(1)
    b = skmd.SKMD(copies, ensembles, noise=skmd.NoiseStream(4, 2, 3), **kwargs).run(1)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-12)
