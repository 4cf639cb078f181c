"""The digits come from scikit-learn's bundled file, read without importing scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from engine.datasets import _digits, load


def test_digits_are_exactly_sklearns_load_digits():
    from sklearn.datasets import load_digits

    X, y = _digits()
    d = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    np.testing.assert_array_equal(X, d.data)
    np.testing.assert_array_equal(y, d.target)


def test_loading_digits_does_not_import_sklearn():
    code = "import sys; from engine.datasets import load; load('digits'); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_split_sizes_and_standardisation():
    s = load("digits", seed=0)
    assert len(s.y_train) + len(s.y_val) == 1797 and len(s.y_val) == 359  # 20 % held out, stratified
    np.testing.assert_allclose(s.X_train.mean(axis=0), 0.0, atol=1e-6)
