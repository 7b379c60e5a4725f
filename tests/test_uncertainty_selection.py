"""max_dist and LCMD with every training structure as a centre of its own (docs/method.md §9.5)."""
import numpy as np
import pytest

from skmd.uncertainty.posterior import FeaturePosterior
from skmd.uncertainty.selection import lcmd, max_det, max_dist, select_batch

# Three training centres A, B, C and five candidates in a 2-D feature space. ΦᵀΦ = diag(100, 100),
# so the posterior is isotropic and u grows with ‖φ‖: argmax u is p1 (‖p1‖ = 13).
TRAIN = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])  # A, B, C
CANDIDATES = np.array([[12.0, 0.0],   # p0: nearest B, d² = 4
                       [0.0, 13.0],   # p1: nearest C, d² = 9
                       [4.0, 4.0],    # p2: nearest A, d² = 32   (B, C: 52)
                       [6.0, 8.0],    # p3: nearest C, d² = 40   (A: 100, B: 80)
                       [-3.0, -4.0]])  # p4: nearest A, d² = 25
ARGMAX_U = 1

# max_dist, distances to the nearest centre: p0 2, p1 3, p2 √32 = 5.66, p3 √40 = 6.32, p4 5.
#   1st pick p3. Distances to p3: p0 10, p1 √61, p2 √20 = 4.47 (< 5.66), p4 15 → p2 drops to 4.47.
#   2nd pick p4 (5). Distances to p4 are all larger than the current ones (p0 √241, p1 √298, p2 √113).
#   3rd p2 (4.47), 4th p1 (3), 5th p0 (2).
MAX_DIST_ORDER = [3, 4, 2, 1, 0]
# LCMD, clusters by nearest centre with sums of squared distances: A {p2 32, p4 25} = 57,
#   B {p0 4} = 4, C {p1 9, p3 40} = 49.
#   1st: cluster A, its farthest member p2. Squared distances to p2: p0 80, p1 97, p3 20 (< 40), p4 113,
#     so p3 moves to p2's cluster: A {p4} 25, B {p0} 4, C {p1} 9, p2 {p3} 20.
#   2nd: cluster A → p4. Squared distances to p4: p0 241, p1 298, p3 225: nothing moves.
#   3rd: cluster p2 (20) → p3; 4th: C (9) → p1; 5th: B → p0.
LCMD_ORDER = [2, 4, 3, 1, 0]


def _plain(candidates, train):
    return {"kernel": candidates @ candidates.T, "cross": candidates @ train.T,
            "train_diag": np.sum(train ** 2, axis=1)}


@pytest.mark.parametrize(("method", "expected"), [(max_dist, MAX_DIST_ORDER), (lcmd, LCMD_ORDER)])
def test_hand_checked_picks_with_training_centres(method, expected):
    assert method(**_plain(CANDIDATES, TRAIN), n_select=5).tolist() == expected
    assert expected[0] != ARGMAX_U


def test_without_training_centres_first_pick_is_argmax_of_the_diagonal():
    kernel = CANDIDATES @ CANDIDATES.T  # the origin is the one centre: distances start as the norms
    # norms p0 12, p1 13, p2 5.66, p3 10, p4 5: first p1; distances to p1: p0 √313, p3 √61 = 7.81, ...,
    # so the nearest-centre distances become p0 12, p2 5.66, p3 7.81, p4 5 and the second pick is p0.
    assert max_dist(kernel, 2).tolist() == [ARGMAX_U, 0]
    assert lcmd(kernel, 1).tolist() == [ARGMAX_U]


def test_select_batch_uses_training_features():
    posterior = FeaturePosterior(0.01).add(TRAIN)
    assert int(np.argmax(posterior.variance(CANDIDATES))) == ARGMAX_U
    assert select_batch("max_dist", CANDIDATES, posterior, 2, train_features=TRAIN).tolist() == MAX_DIST_ORDER[:2]
    assert select_batch("lcmd", CANDIDATES, posterior, 3, train_features=TRAIN).tolist() == LCMD_ORDER[:3]
    for method in ("max_dist", "lcmd", "max_det"):  # without training features, or max_det: u first
        assert select_batch(method, CANDIDATES, posterior, 1)[0] == ARGMAX_U
    assert select_batch("max_det", CANDIDATES, posterior, 3, train_features=TRAIN).tolist() == \
        max_det(posterior.kernel(CANDIDATES), 3).tolist()
    with pytest.raises(ValueError, match="columns"):
        select_batch("lcmd", CANDIDATES, posterior, 2, train_features=np.ones((3, 4)))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("method", ["max_dist", "lcmd"])
def test_picks_are_distinct_in_range_and_deterministic(method, seed):
    rng = np.random.default_rng(seed)
    train, candidates = rng.normal(size=(6, 5)), rng.normal(size=(15, 5)) * 2.0
    posterior = FeaturePosterior(0.1).add(train)
    batch = select_batch(method, candidates, posterior, 15, train_features=train)
    assert sorted(batch.tolist()) == list(range(15))  # all of them, each once
    again = select_batch(method, candidates.copy(), posterior, 6, train_features=train.copy())
    assert np.array_equal(again, batch[:6])  # greedy: a shorter batch is a prefix


def test_a_candidate_on_a_training_point_comes_last():
    rng = np.random.default_rng(7)
    train = rng.normal(size=(4, 3))
    candidates = np.concatenate([rng.normal(size=(5, 3)), train[2:3]])  # row 5 is training point 2
    for method in (max_dist, lcmd):
        assert method(**_plain(candidates, train), n_select=6)[-1] == 5


def test_bad_training_centres():
    kernel = CANDIDATES @ CANDIDATES.T
    with pytest.raises(ValueError, match="both"):
        max_dist(kernel, 2, cross=np.zeros((5, 3)))
    with pytest.raises(ValueError, match="shape"):
        lcmd(kernel, 2, cross=np.zeros((4, 3)), train_diag=np.zeros(3))


@pytest.mark.parametrize("layers", ["readout", "readout+interactions"])
def test_al_selector_passes_the_labelled_frames_as_centres(tmp_path, layers):
    import warnings

    from ase.build import molecule

    from skmd.al.selection import SelectionContext, uncertainty_selector
    from skmd.atoms.mace_models import build_mace, load_mace, save_mace
    from skmd.uncertainty import GradientUncertainty

    def water(seed):
        atoms = molecule("H2O")
        atoms.rattle(0.1, seed=seed)
        return atoms

    path = save_mace(build_mace(channels=4, seed=2), tmp_path / "tiny.safetensors")
    seen, candidates = [water(s) for s in range(3)], [water(s) for s in range(10, 16)]
    candidates.append(seen[1].copy())  # a labelled frame again: its distance to a centre is 0
    context = SelectionContext(str(path), seen, seed=4, n_features=32, feature_layers=layers)
    gradient = GradientUncertainty(load_mace(path), n_features=32, seed=4, layers=layers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        train = gradient.add_training(seen)
        features = gradient.features.compute(candidates)[0]
        for method in ("max_dist", "lcmd"):
            picks = uncertainty_selector(method)(candidates, 7, context)
            expected = select_batch(method, features, gradient.structure_posterior, 7, train_features=train)
            assert picks == expected.tolist() and picks[-1] == 6
