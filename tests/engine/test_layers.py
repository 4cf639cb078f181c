"""Layer semantics (Linear, BatchNorm, Dropout, activations), checked on hand-worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.layers import (
    ACTIVATIONS,
    DERIVATIVES,
    LEAKY_SLOPE,
    MAX_DERIVATIVE,
    Activation,
    BatchNorm,
    Dropout,
    Linear,
    batch_starts,
)
from engine.network import MLP

# ------------------------------------------------------------------------------------------
# Linear
# ------------------------------------------------------------------------------------------


def test_linear_forward_and_keys():
    layer = Linear(3, 2, bias=True, rng=np.random.RandomState(0), dtype=np.float64)
    assert set(layer.params) == set(layer.grads) == {"W", "b"}
    assert layer.params["W"].shape == (3, 2) and layer.params["b"].shape == (2,)
    np.testing.assert_array_equal(layer.params["b"], 0.0)
    layer.params["W"][...] = [[1, 2], [3, 4], [5, 6]]
    layer.params["b"][...] = [10, 20]
    x = np.array([[1.0, 0.0, -1.0]])
    np.testing.assert_allclose(layer.forward(x), [[1 - 5 + 10, 2 - 6 + 20]])
    dx = layer.backward(np.array([[1.0, 2.0]]))
    np.testing.assert_allclose(dx, [[1 + 4, 3 + 8, 5 + 12]])  # dy @ W.T
    np.testing.assert_allclose(layer.grads["W"], [[1, 2], [0, 0], [-1, -2]])  # x.T @ dy
    np.testing.assert_allclose(layer.grads["b"], [1, 2])
    no_bias = Linear(3, 2, bias=False, rng=np.random.RandomState(0))
    assert set(no_bias.params) == set(no_bias.grads) == {"W"}
    assert no_bias.params["W"].dtype == np.float32  # default dtype


# ------------------------------------------------------------------------------------------
# BatchNorm (torch.nn.BatchNorm1d semantics)
# ------------------------------------------------------------------------------------------


def test_batchnorm_hand_worked():
    """x = [1, 3]: mean 2, biased var 1, unbiased var 2.

    y = (x - 2) / sqrt(1 + 1e-5); running_mean = 0.9 * 0 + 0.1 * 2 = 0.2;
    running_var = 0.9 * 1 + 0.1 * 2 = 1.1 (unbiased); eval uses the running statistics.
    """
    bn = BatchNorm(1, dtype=np.float64)
    y = bn.forward(np.array([[1.0], [3.0]]), training=True)
    np.testing.assert_allclose(y[:, 0], [-1 / math.sqrt(1 + 1e-5), 1 / math.sqrt(1 + 1e-5)], rtol=1e-14)
    np.testing.assert_allclose(bn.running_mean, [0.2], rtol=1e-14)
    np.testing.assert_allclose(bn.running_var, [1.1], rtol=1e-14)
    y_eval = bn.forward(np.array([[0.2], [1.2]]), training=False)
    np.testing.assert_allclose(y_eval[:, 0], [0.0, 1 / math.sqrt(1.1 + 1e-5)], rtol=1e-14, atol=1e-15)
    # gamma and beta scale and shift the normalised value
    bn.params["gamma"][...] = 3.0
    bn.params["beta"][...] = -1.0
    y = bn.forward(np.array([[1.0], [3.0]]), training=True)
    np.testing.assert_allclose(y[:, 0], [-1 - 3 / math.sqrt(1 + 1e-5), -1 + 3 / math.sqrt(1 + 1e-5)], rtol=1e-14)


def test_batchnorm_normalises_each_feature():
    rng = np.random.RandomState(0)
    x = rng.standard_normal((50, 3)) * [1, 10, 100] + [5, -5, 50]
    bn = BatchNorm(3, dtype=np.float64)
    y = bn.forward(x.copy(), training=True)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(0), x.var(0) / (x.var(0) + 1e-5), rtol=1e-12)


def test_batchnorm_does_not_modify_its_input():
    x = np.random.RandomState(0).standard_normal((8, 3))
    before = x.copy()
    BatchNorm(3, dtype=np.float64).forward(x, training=True)
    np.testing.assert_array_equal(x, before)


def test_batchnorm_training_batch_of_one_is_an_error():
    bn = BatchNorm(4)
    with pytest.raises(ValueError, match="batch"):
        bn.forward(np.ones((1, 4), dtype=np.float32), training=True)
    assert bn.forward(np.ones((1, 4), dtype=np.float32), training=False).shape == (1, 4)  # eval is fine
    model = MLP([4, 5, 3], batch_norm=True, rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match="batch"):
        model.forward(np.ones((1, 4)), training=True)


def test_batch_starts_drop_a_last_batch_of_one_only_for_batchnorm():
    assert batch_starts(10, 3) == [0, 3, 6]  # 9 samples in batches of 3: the 10th alone is dropped
    assert batch_starts(10, 3, batch_norm=False) == [0, 3, 6, 9]
    assert batch_starts(11, 3) == [0, 3, 6, 9]  # a last batch of 2 is kept
    assert batch_starts(1, 4) == [0]  # the only batch is kept (BatchNorm then says why it cannot train)


@pytest.mark.parametrize("kwargs", [dict(momentum=1.5), dict(momentum=-0.1), dict(eps=0.0), dict(eps=-1.0)])
def test_batchnorm_rejects_bad_hyperparameters(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        BatchNorm(3, **kwargs)


# ------------------------------------------------------------------------------------------
# Dropout
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_rejects_bad_rates(rate):
    with pytest.raises(ValueError, match="rate"):
        Dropout(rate)


def test_dropout_semantics():
    x = np.random.RandomState(0).standard_normal((400, 50))
    layer = Dropout(0.25, rng=np.random.RandomState(1))
    assert layer.forward(x, training=False) is x  # eval: identity
    assert Dropout(0.0).forward(x, training=True) is x  # rate 0: identity
    y = layer.forward(x, training=True)
    ratio = y[y != 0] / x[y != 0]
    np.testing.assert_allclose(ratio, 1 / 0.75, rtol=1e-15)  # kept units scaled by 1/(1-p)
    assert abs((y == 0).mean() - 0.25) < 0.01
    dy = np.random.RandomState(2).standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy * np.where(y != 0, 1 / 0.75, 0.0))  # forward's mask
    # E[out] = in: average many masks of a fixed input
    a = np.arange(1.0, 9.0)
    samples = Dropout(0.5, rng=np.random.RandomState(3)).forward(np.tile(a, (20000, 1)))
    np.testing.assert_allclose(samples.mean(0), a, rtol=0.03)


def test_dropout_keeps_dtype():
    x = np.ones((4, 4), dtype=np.float32)
    assert Dropout(0.5, rng=np.random.RandomState(0)).forward(x).dtype == np.float32


# ------------------------------------------------------------------------------------------
# Activations (table-driven)
# ------------------------------------------------------------------------------------------

#: Independent reference formulas.
REFERENCE = {
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_values(name):
    assert set(REFERENCE) == set(ACTIVATIONS) == set(DERIVATIVES) == set(MAX_DERIVATIVE)
    x = np.linspace(-6, 6, 241)
    np.testing.assert_allclose(ACTIVATIONS[name](x), REFERENCE[name](x), rtol=1e-12, atol=1e-15)
    layer = Activation(name)
    np.testing.assert_allclose(layer.forward(x), REFERENCE[name](x), rtol=1e-12, atol=1e-15)
    assert ACTIVATIONS[name](x.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_max_derivative(name):
    x = np.linspace(-8, 8, 16001)
    assert DERIVATIVES[name](x, ACTIVATIONS[name](x)).max() == pytest.approx(MAX_DERIVATIVE[name], rel=1e-9)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_is_stable_at_extremes(name):
    x = np.array([-1000.0, -50.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = ACTIVATIONS[name](x)
    assert np.all(np.isfinite(y))


def test_leaky_slope_and_unknown_activation():
    assert LEAKY_SLOPE == 0.01  # torch.nn.LeakyReLU's default
    with pytest.raises(ValueError, match="activation"):
        Activation("swish")


@pytest.mark.parametrize("keep", [0.1, 0.3, 0.49, 0.5, 0.51, 0.7, 0.9, 2 / 3])
def test_bernoulli_mask_is_numpys_binomial_draw_for_draw(keep):
    """The fast mask is rng.binomial(1, keep, shape) exactly, and leaves the generator in the same state."""
    from engine.layers import bernoulli_mask

    for seed in range(3):
        ref, fast = np.random.default_rng(seed), np.random.default_rng(seed)
        a = ref.binomial(1, keep, (200, 300)).astype(bool)
        b = bernoulli_mask(fast, keep, (200, 300))
        assert b.dtype == bool and np.array_equal(a, b)
        assert ref.random() == fast.random()
