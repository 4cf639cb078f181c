"""Softmax cross-entropy, checked on hand-worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.losses import softmax_cross_entropy

# ------------------------------------------------------------------------------------------
# loss
# ------------------------------------------------------------------------------------------


def test_cross_entropy_hand_worked():
    """Uniform logits over 4 classes: loss = ln 4; dlogits = (1/4 - onehot) / N."""
    loss, d = softmax_cross_entropy(np.zeros((2, 4)), np.array([1, 3]))
    assert loss == pytest.approx(math.log(4), rel=1e-14)
    np.testing.assert_allclose(d, [[0.125, -0.375, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]])


def test_cross_entropy_is_stable_and_validates():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, d = softmax_cross_entropy(np.array([[1000.0, 0.0], [0.0, -1000.0]]), np.array([1, 0]))
    assert loss == pytest.approx(500.0)  # (1000 + 0) / 2
    assert np.all(np.isfinite(d))
    with pytest.raises(ValueError, match="logits"):
        softmax_cross_entropy(np.zeros((3, 2)), np.array([0, 1]))
