"""The shipped digits and the NumPy toy generators against scikit-learn (a test-only dependency)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from engine import datasets
from engine.datasets import _circles, _digits, _moons, load

sk = pytest.importorskip("sklearn.datasets")


def test_digits_file_is_exactly_sklearns_load_digits():
    X, y = _digits()
    d = sk.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(X, d.data)
    np.testing.assert_array_equal(y, d.target)


def test_digits_file_holds_no_pickle():
    with np.load(datasets.DIGITS_FILE, allow_pickle=False) as f:
        assert sorted(f.files) == ["images", "labels"]
        assert f["images"].dtype == np.uint8 and f["images"].max() == 16


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31 - 2])
@pytest.mark.parametrize("n", [1000, 999, 10])
def test_moons_are_sklearns_make_moons(seed, n):
    X, y = _moons(n, seed)
    Xs, ys = sk.make_moons(n, noise=0.2, random_state=seed)
    np.testing.assert_array_equal(y, ys)
    np.testing.assert_array_equal(X, Xs)


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31 - 2])
@pytest.mark.parametrize("n", [1000, 999, 10])
def test_circles_are_sklearns_make_circles(seed, n):
    X, y = _circles(n, seed)
    Xs, ys = sk.make_circles(n, noise=0.1, factor=0.5, random_state=seed)
    np.testing.assert_array_equal(y, ys)
    np.testing.assert_array_equal(X, Xs)


@pytest.mark.parametrize("name", ["moons", "circles"])
def test_load_draws_the_same_toy_points_as_sklearn(name):
    """``load`` seeds the generator from the split's rng, as it did when it called scikit-learn."""
    rng = np.random.default_rng(3)
    seed = int(rng.integers(2**31 - 1))
    make = sk.make_moons if name == "moons" else sk.make_circles
    kw = {"noise": 0.2} if name == "moons" else {"noise": 0.1, "factor": 0.5}
    Xs, ys = make(datasets.TOY_SAMPLES, random_state=seed, **kw)
    X, y = datasets._raw(name, np.random.default_rng(3))
    np.testing.assert_array_equal(X, Xs)
    np.testing.assert_array_equal(y, ys)


def test_no_dataset_imports_sklearn():
    code = (
        "import sys; from engine.datasets import DATASETS, load\n"
        "[load(n, seed=1) for n in DATASETS]\n"
        "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_split_sizes_and_standardisation():
    s = load("digits", seed=0)
    # 60/20/20 of 1797: 20 % each is round(359.4) = 359 for validation and for test
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (1079, 359, 359)
    np.testing.assert_allclose(s.X_train.mean(axis=0), 0.0, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_train_val_test_cover_the_digits_and_test_is_stratified(seed):
    _, y = _digits()
    s = load("digits", seed=seed)
    assert len(s.y_train) + len(s.y_val) + len(s.y_test) == 1797
    assert sorted(np.concatenate([s.y_train, s.y_val, s.y_test]).tolist()) == sorted(y.tolist())
    # every class in test within +-2 of its proportional count (20 %)
    counts, test_counts = np.bincount(y, minlength=10), np.bincount(s.y_test, minlength=10)
    assert np.all(np.abs(test_counts - 0.2 * counts) <= 2), (test_counts, 0.2 * counts)


def test_the_split_indices_are_disjoint():
    # the split's own index sets, recomputed the way load() draws them, share no index
    from engine.datasets import TEST_FRACTION, VAL_FRACTION, _digits, split_sizes, stratified_split

    _, y = _digits()
    _, n_val, n_test = split_sizes("digits")
    rng = np.random.default_rng(3)  # load()'s generator: the digits draw nothing before the split
    rest, te = stratified_split(y, TEST_FRACTION, rng, n_val=n_test)
    tr, va = stratified_split(y[rest], VAL_FRACTION, rng, n_val=n_val)
    tr, va = rest[tr], rest[va]
    assert len(set(tr) | set(va) | set(te)) == 1797
    assert not (set(tr) & set(va) or set(tr) & set(te) or set(va) & set(te))
    # and they are load()'s: the labels come out in the same order
    s = load("digits", 3)
    assert np.array_equal(s.y_train, y[tr]) and np.array_equal(s.y_val, y[va]) and np.array_equal(s.y_test, y[te])


@pytest.mark.parametrize("n_train", [None, 200])
@pytest.mark.parametrize("noise", [0.2, 0.5])
def test_label_noise_flips_exactly_round_p_n_training_labels_only(noise, n_train):
    clean = load("digits", 4, n_train=n_train)
    noisy = load("digits", 4, n_train=n_train, label_noise=noise)
    n = len(clean.y_train)
    assert int((noisy.y_train != clean.y_train).sum()) == round(noise * n)
    np.testing.assert_array_equal(noisy.X_train, clean.X_train)
    for a, b in ((noisy.y_val, clean.y_val), (noisy.y_test, clean.y_test)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(noisy.X_test, clean.X_test)
    assert noisy.y_train.min() >= 0 and noisy.y_train.max() <= 9
    again = load("digits", 4, n_train=n_train, label_noise=noise)
    np.testing.assert_array_equal(again.y_train, noisy.y_train)  # seeded


def test_label_noise_out_of_range_is_a_clear_error():
    for bad in (-0.1, 0.51, "x"):
        with pytest.raises(ValueError, match=r"label_noise must be a number in \[0, 0.5\]"):
            load("digits", 0, label_noise=bad)
