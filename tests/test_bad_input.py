"""Bad input gives a clear ValueError before any work (no potential evaluation)."""
import numpy as np
import pytest

import skmd


class CountingPotential(skmd.Potential):
    dim = 2

    def __init__(self):
        self.calls = 0

    def evaluate_batch(self, x):
        self.calls += 1
        return skmd.MuellerBrown().evaluate_batch(x)


GOOD_ENSEMBLE = skmd.MuellerBrown.minima[1] + 0.05 * np.arange(8).reshape(4, 2)


def make_skmd(potential, **overrides):
    kwargs = dict(ensemble=GOOD_ENSEMBLE, kernel=skmd.GaussianKernel(10.0, 0.5), kT=1.0, dt=1e-4,
                  stopping=skmd.FixedSteps(10), noise=0)
    kwargs.update(overrides)
    ensemble = kwargs.pop("ensemble")
    return skmd.SKMD(potential, ensemble, **kwargs)


@pytest.mark.parametrize("overrides, message", [
    (dict(kT=0.0), "kT"), (dict(kT=-1.0), "kT"), (dict(dt=0.0), "dt"), (dict(dt=-1e-3), "dt"),
    (dict(gamma=0.0), "gamma"), (dict(kT=float("nan")), "kT"),
    (dict(ensemble=np.zeros((0, 2))), "empty"), (dict(ensemble=np.zeros((3, 3))), "columns"),
    (dict(ensemble=[[0.0, np.nan], [1.0, 1.0]]), "NaN"), (dict(ensemble=[[0.0, np.inf], [1.0, 1.0]]), "NaN"),
    (dict(noise=None), "noise"), (dict(stopping=skmd.Periodic(10, 2)), "rule"),
])
def test_skmd_rejects_bad_input_before_any_work(overrides, message):
    potential = CountingPotential()
    with pytest.raises(ValueError, match=message):
        make_skmd(potential, **overrides)
    assert potential.calls == 0


@pytest.mark.parametrize("build", [
    lambda: skmd.GaussianKernel(1.0, 0.0), lambda: skmd.GaussianKernel(1.0, -2.0),
    lambda: skmd.GaussianKernel(-1.0, 1.0), lambda: skmd.GaussianKernel(1.0, "mean"),
    lambda: skmd.AdaptiveStop(tau=0.0, t_min=1, t_max=10), lambda: skmd.AdaptiveStop(tau=1.0, t_min=10, t_max=5),
    lambda: skmd.FixedSteps(0), lambda: skmd.Periodic(0, 3),
])
def test_bad_rule_and_kernel_parameters(build):
    with pytest.raises(ValueError):
        build()


def test_stein_force_shape_mismatches_and_bad_values():
    kernel = skmd.GaussianKernel(1.0, 1.0)
    good = dict(d_x=np.zeros(2), d_ens=np.ones((3, 2)), f_ens=np.ones((3, 2)), jac_ens=None, kernel=kernel, kT=1.0)
    skmd.stein_force(**good)
    for key, value, message in [("d_x", np.zeros(3), "mismatch"), ("f_ens", np.ones((4, 2)), "mismatch"),
                                ("jac_ens", np.ones((3, 2, 5)), "mismatch"), ("d_ens", np.ones((0, 2)), "empty"),
                                ("kT", 0.0, "kT"), ("d_x", np.array([np.nan, 0.0]), "NaN"),
                                ("kernel", skmd.GaussianKernel(1.0), "median")]:
        with pytest.raises(ValueError, match=message):
            skmd.stein_force(**{**good, key: value})


def test_langevin_and_udd_reject_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        skmd.OverdampedLangevin(skmd.MuellerBrown(), [0.0, 0.0], kT=1.0, dt=1e-3, gamma=-1.0,
                                acquisition=skmd.Periodic(1, 1), noise=0)
    with pytest.raises(ValueError, match="committee"):
        skmd.UDD(skmd.MuellerBrown(), [0.0, 0.0], kT=1.0, dt=1e-3, A=1.0, B=1.0,
                 acquisition=skmd.UncertaintyThreshold(0.1, 1, 10), noise=0)
    with pytest.raises(ValueError, match="columns"):
        skmd.OverdampedLangevin(skmd.MuellerBrown(), [0.0, 0.0, 1.0], kT=1.0, dt=1e-3,
                                acquisition=skmd.Periodic(1, 1), noise=0)


def test_w2_and_selection_reject_bad_input():
    with pytest.raises(ValueError, match="equal-size"):
        skmd.w2_distance(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="equal-size"):  # a wider y is never truncated
        skmd.w2_distance([[0.0, 1.0]] * 3, [[0.0, 1.0, 2.0]] * 3)
    with pytest.raises(ValueError, match="NaN"):
        skmd.w2_distance([[0.0, np.nan]] * 2, [[0.0, 1.0]] * 2)
    assert skmd.w2_distance([[0, 0], [1, 1]], [[1, 1], [0, 0]]) == 0.0  # nested lists of ints are converted
    with pytest.raises(ValueError, match="cannot select"):
        skmd.furthest_point_sampling(np.zeros((3, 2)), 4)


def test_explicit_noise_that_runs_out_is_an_error():
    with pytest.raises(ValueError, match="exhausted"):
        skmd.OverdampedLangevin(skmd.Quadratic([0.0], [[1.0]]), [0.0], kT=1.0, dt=0.1,
                                acquisition=skmd.Periodic(5, 4), noise=np.zeros((10, 1))).run()


@pytest.mark.parametrize("settings", [{}, {"test": "given.extxyz"}, {"valid_fraction": 0.25, "calibration_fraction": 0.3}])
def test_too_few_start_frames_names_a_count_that_is_enough(settings):
    """The suggested start_frames passes the same check (held-out splits grow with it)."""
    import re
    from skmd.al.config import make_config
    base = {"structures": "any.xyz", "oracle": "ase.calculators.emt:EMT", "start_frames": 4, **settings}
    with pytest.raises(ValueError, match="raise start_frames to at least") as error:
        make_config(base).validate()
    enough = int(re.search(r"at least (\d+)", str(error.value)).group(1))
    make_config({**base, "start_frames": enough}).validate()
    with pytest.raises(ValueError, match="raise start_frames"):
        make_config({**base, "start_frames": enough - 1}).validate()


@pytest.mark.parametrize("settings", [{}, {"calibration": "random"}, {"ubmd_alpha": 0.02}])
def test_too_few_calibration_frames_names_a_start_frames_that_is_enough(settings):
    """UB-MD's calibration error gives the smallest start_frames that passes (and one fewer does not)."""
    import re
    from skmd.al.config import make_config
    base = {"structures": "any.xyz", "oracle": "ase.calculators.emt:EMT", "samplers": ["ubmd"],
            "start_frames": 20, "ubmd_alpha": 0.05, **settings}
    with pytest.raises(ValueError, match=r"raise start_frames to at least \d+, or calibration_fraction") as error:
        make_config(base).validate()
    enough = int(re.search(r"start_frames to at least (\d+)", str(error.value)).group(1))
    make_config({**base, "start_frames": enough}).validate()
    with pytest.raises(ValueError, match="ubmd calibrates its uncertainty"):
        make_config({**base, "start_frames": enough - 1}).validate()
