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
    assert len(s.y_train) + len(s.y_val) == 1797 and len(s.y_val) == 359  # 20 % held out, stratified
    np.testing.assert_allclose(s.X_train.mean(axis=0), 0.0, atol=1e-6)
