"""Layer, network, loss, optimiser and schedule semantics, checked on hand-worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.init import DESCRIPTIONS, STRATEGIES, init_std, init_weights
from engine.layers import (
    ACTIVATIONS,
    DERIVATIVES,
    LEAKY_SLOPE,
    MAX_DERIVATIVE,
    Activation,
    BatchNorm,
    Dropout,
    Linear,
)
from engine.losses import softmax_cross_entropy
from engine.network import MLP
from engine.optim import SGD, Adam, AdamW
from engine.schedules import SCHEDULES, constant, cosine, exponential, lr_at, step_decay, warmup_cosine

# ------------------------------------------------------------------------------------------
# init
# ------------------------------------------------------------------------------------------

#: The documented formulas (DESIGN.md), written out independently of engine.init.
FORMULAS = {
    "small": lambda fi, fo: 0.01,
    "large": lambda fi, fo: 1.0,
    "xavier": lambda fi, fo: math.sqrt(1 / fi),
    "glorot": lambda fi, fo: math.sqrt(2 / (fi + fo)),
    "he": lambda fi, fo: math.sqrt(2 / fi),
}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_init_std_formula_and_draw_order(strategy):
    assert set(FORMULAS) == set(STRATEGIES) == set(DESCRIPTIONS)
    assert init_std(strategy, 50, 20) == pytest.approx(FORMULAS[strategy](50, 20), rel=1e-15)
    w = init_weights(strategy, 50, 20, np.random.RandomState(3))
    # exactly one standard_normal((fan_in, fan_out)) draw, scaled: the article's draw order
    expected = np.random.RandomState(3).standard_normal((50, 20)) * FORMULAS[strategy](50, 20)
    np.testing.assert_allclose(w, expected, rtol=1e-15)


@pytest.mark.parametrize("bad", [("nope", 3, 3), ("he", 0, 3), ("he", 3, -1)])
def test_init_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="init|fan_in"):
        init_std(*bad)


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


# ------------------------------------------------------------------------------------------
# MLP
# ------------------------------------------------------------------------------------------


def test_mlp_layer_order():
    model = MLP([4, 6, 6, 3], activation="tanh", batch_norm=True, dropout=0.2, rng=np.random.RandomState(0))
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Linear", "BatchNorm", "Activation", "Dropout"] * 2 + ["Linear"]
    assert [len(lin.params) for lin in model.linears] == [1, 1, 2]  # BN replaces the hidden biases
    assert [layer.name for layer in model.layers if isinstance(layer, Activation)] == ["tanh", "tanh"]
    plain = MLP([4, 6, 3], rng=np.random.RandomState(0))
    assert [type(layer).__name__ for layer in plain.layers] == ["Linear", "Activation", "Linear"]


def test_mlp_residual_blocks_and_outputs():
    rng = np.random.RandomState(0)
    model = MLP([4, 6, 6, 6, 3], residual=True, rng=rng, dtype=np.float64)
    assert [skip for _, _, skip in model.blocks] == [False, True, True, False]
    x = rng.standard_normal((5, 4))
    logits = model.forward(x, training=True)
    # manual forward: h1 = relu(x W1 + b1); h2 = h1 + relu(h1 W2 + b2); ...
    lins = model.linears
    h = relu_np(x @ lins[0].params["W"] + lins[0].params["b"])
    outs = [h]
    for lin in lins[1:3]:
        h = h + relu_np(h @ lin.params["W"] + lin.params["b"])
        outs.append(h)
    np.testing.assert_allclose(logits, h @ lins[3].params["W"] + lins[3].params["b"], rtol=1e-12)
    assert len(model.block_outputs) == 3
    for ours, ref in zip(model.block_outputs, outs):
        np.testing.assert_allclose(ours, ref, rtol=1e-12)


def relu_np(z):
    return np.maximum(z, 0.0)


def test_mlp_dtype_state_and_predict():
    model = MLP([4, 8, 3], batch_norm=True, rng=np.random.RandomState(0))
    x = np.random.RandomState(1).standard_normal((10, 4))
    assert model.forward(x).dtype == np.float32
    saved = [a.copy() for a in model.state()]
    assert len(saved) == 7  # W1, gamma, beta, running mean, running var, W2, b2
    eval_before = model.forward(x, training=False).copy()
    for a in model.state():
        a += 1.0
    assert not np.allclose(model.forward(x, training=False), eval_before)
    model.load_state(saved)
    np.testing.assert_array_equal(model.forward(x, training=False), eval_before)
    np.testing.assert_array_equal(model.predict(x, batch_size=3), eval_before.argmax(1))


def test_mlp_rejects_bad_sizes():
    with pytest.raises(ValueError, match="sizes"):
        MLP([4])
    with pytest.raises(ValueError, match="sizes"):
        MLP([4, 0, 3])


@pytest.mark.parametrize("rate", [-0.1, 1.0, math.nan])
def test_mlp_rejects_bad_dropout(rate):
    with pytest.raises(ValueError, match="rate"):
        MLP([4, 5, 3], dropout=rate, rng=np.random.RandomState(0))


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


# ------------------------------------------------------------------------------------------
# optimisers: one hand-worked step each
# ------------------------------------------------------------------------------------------


class _P:
    """A one-parameter 'layer'."""

    def __init__(self, p, g):
        self.params = {"w": np.array(p, dtype=np.float64)}
        self.grads = {"w": np.array(g, dtype=np.float64)}


def test_sgd_momentum_weight_decay_steps():
    """p=1, g=0.5, wd=0.1 -> g' = 0.6; step 1: buf = 0.6, p = 1 - 0.1*0.6 = 0.94;
    step 2: g' = 0.5 + 0.094 = 0.594, buf = 0.9*0.6 + 0.594 = 1.134, p = 0.94 - 0.1134 = 0.8266."""
    layer = _P([1.0], [0.5])
    opt = SGD(0.1, momentum=0.9, weight_decay=0.1)
    opt.step([layer])
    np.testing.assert_allclose(layer.params["w"], [0.94], rtol=1e-14)
    opt.step([layer])
    np.testing.assert_allclose(layer.params["w"], [0.8266], rtol=1e-14)


def test_adam_first_step_is_lr_times_sign():
    """Bias correction makes the first step m^ = g, v^ = g^2: p -= lr * g / (|g| + eps) ~ lr * sign(g)."""
    g = np.array([3.0, -0.2, 1e-3])
    layer = _P([1.0, 1.0, 1.0], g)
    Adam(0.01).step([layer])
    np.testing.assert_allclose(layer.params["w"], 1 - 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-14)
    np.testing.assert_allclose(layer.params["w"], [0.99, 1.01, 0.99], rtol=2e-7)


def test_adamw_decays_before_the_step():
    """AdamW, g = 0: p = p * (1 - lr * wd) and no Adam move (m = 0)."""
    layer = _P([2.0], [0.0])
    AdamW(0.1, weight_decay=0.5).step([layer])
    np.testing.assert_allclose(layer.params["w"], [2.0 * (1 - 0.05)], rtol=1e-14)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(-1),
        lambda: SGD(0.1, momentum=1.0),
        lambda: Adam(float("nan")),
        lambda: Adam(0.1, betas=(1.0, 0.9)),
        lambda: AdamW(0.1, weight_decay=-1),
    ],
)
def test_optimizers_reject_bad_hyperparameters(make):
    with pytest.raises(ValueError):
        make()


# ------------------------------------------------------------------------------------------
# schedules
# ------------------------------------------------------------------------------------------


def test_schedule_formulas_hand_worked():
    assert step_decay(59, 1.0) == 0.5 and step_decay(60, 1.0) == 0.25
    assert exponential(2, 1.0) == pytest.approx(0.95**2)
    assert cosine(50, 100, 1.0, 0.0) == pytest.approx(0.5)  # halfway down a cosine
    assert cosine(100, 100, 1.0) == pytest.approx(1e-6)  # ends at min_lr
    assert warmup_cosine(5, 10, 100, 1.0) == pytest.approx(0.5)  # halfway up the warmup
    assert constant(7, 0.3) == 0.3


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_lr_at_every_schedule(name):
    e = np.arange(50)
    lrs = lr_at(name, e, 50, 0.1, warmup_epochs=5)
    assert isinstance(lrs, np.ndarray) and lrs.shape == (50,)
    assert np.all(np.isfinite(lrs)) and np.all(lrs > 0) and np.all(lrs <= 0.1 + 1e-15)
    assert isinstance(lr_at(name, 3, 50, 0.1, warmup_epochs=5), float)  # scalar in, float out
    np.testing.assert_allclose([lr_at(name, int(i), 50, 0.1, 5) for i in e], lrs, rtol=1e-15)


def test_lr_at_warmup_reaches_the_peak():
    lrs = lr_at("warmup_cosine", np.arange(20), 20, 0.1, warmup_epochs=4)
    np.testing.assert_allclose(lrs[:4], [0.025, 0.05, 0.075, 0.1], rtol=1e-14)  # never 0
    assert np.all(np.diff(lrs[3:]) <= 0)  # then decays
    with pytest.raises(ValueError, match="schedule"):
        lr_at("nope", 0, 10, 0.1)
