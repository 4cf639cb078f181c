"""Finite-difference gradient checks of every layer, the loss and whole MLPs, in float64.

The analytic gradients (each layer's ``backward``) are compared with central differences
``(f(x + h) - f(x - h)) / 2h`` of a scalar loss. Relative error ``|a - n| / (|a| + |n|)``
(vector norms) must be <= 1e-6. Dropout runs on a fixed mask: its rng is reset to
``RandomState(7)`` before every forward, so every forward draws the same mask.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.layers import ACTIVATIONS, DERIVATIVES, Activation, BatchNorm, Dropout, Linear
from engine.losses import softmax_cross_entropy
from engine.network import MLP

H = 1e-6
TOL = 1e-6


def numeric_grad(f, x, h=H):
    """Central differences of the scalar function ``f()`` with respect to the array ``x`` (in place)."""
    g = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f()
        x[idx] = old - h
        fm = f()
        x[idx] = old
        g[idx] = (fp - fm) / (2 * h)
    return g


def rel_error(analytic, numeric):
    """Relative error of two gradient arrays (0 when both are exactly zero)."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(n)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - n) / denom)


def away_from_zero(rng, shape, lo=0.2, hi=2.0):
    """Values with |x| in [lo, hi] and random sign: far from relu's kink at 0."""
    return rng.uniform(lo, hi, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _fix_dropout(layers):
    """Reset every Dropout's rng so the next forward draws the same mask as the last."""
    for layer in layers:
        if isinstance(layer, Dropout):
            layer.rng = np.random.RandomState(7)


# ------------------------------------------------------------------------------------------
# single layers: loss = sum(forward(x) * R), so d(loss)/d(out) = R
# ------------------------------------------------------------------------------------------


def _linear(bias):
    def make(rng):
        layer = Linear(4, 3, init="he", bias=bias, rng=rng, dtype=np.float64)
        if bias:
            layer.params["b"][...] = rng.standard_normal(3)  # zero-initialised: make it non-trivial
        return layer, rng.standard_normal((5, 4))

    return make


def _batchnorm(rng):
    layer = BatchNorm(3, dtype=np.float64)
    layer.params["gamma"][...] = 1 + 0.5 * rng.standard_normal(3)
    layer.params["beta"][...] = rng.standard_normal(3)
    return layer, rng.standard_normal((6, 3)) * 3 + 1


def _dropout(rng):
    return Dropout(0.4, rng=np.random.RandomState(7)), rng.standard_normal((6, 5))


def _activation(name):
    return lambda rng: (Activation(name), away_from_zero(rng, (5, 4)))


#: layer name -> factory(rng) -> (layer, input). Activations come from engine.layers.ACTIVATIONS.
LAYERS = {
    "linear": _linear(bias=True),
    "linear_no_bias": _linear(bias=False),
    "batchnorm": _batchnorm,
    "dropout": _dropout,
    **{f"activation_{name}": _activation(name) for name in ACTIVATIONS},
}


def check_layer(layer, x, seed=0):
    """Return {name: relative error} for d/dx and every parameter of ``layer``."""
    rng = np.random.RandomState(seed + 100)

    def run():
        _fix_dropout([layer])
        return layer.forward(x, training=True)

    R = rng.standard_normal(run().shape)
    run()
    dx = layer.backward(R).copy()
    grads = {k: g.copy() for k, g in layer.grads.items()}
    loss = lambda: float(np.sum(run() * R))
    errors = {"x": rel_error(dx, numeric_grad(loss, x))}
    for k, p in layer.params.items():
        errors[k] = rel_error(grads[k], numeric_grad(loss, p))
    return errors


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradients(name):
    layer, x = LAYERS[name](np.random.RandomState(0))
    errors = check_layer(layer, x)
    expected = {"x"} | set(layer.params)
    assert set(errors) == expected
    assert max(errors.values()) <= TOL, errors


def test_layer_table_covers_every_activation_and_parameter():
    assert {f"activation_{a}" for a in ACTIVATIONS} <= set(LAYERS)
    keys = {k for make in LAYERS.values() for k in make(np.random.RandomState(0))[0].params}
    assert keys == {"W", "b", "gamma", "beta"}


def test_dropout_gradient_is_zero_on_dropped_units():
    layer, x = _dropout(np.random.RandomState(0))
    _fix_dropout([layer])
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(x))
    dropped = y == 0
    assert dropped.any() and (~dropped).any()
    np.testing.assert_array_equal(dx[dropped], 0.0)
    np.testing.assert_allclose(dx[~dropped], 1 / (1 - 0.4), rtol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_table_matches_finite_differences(name):
    """DERIVATIVES[name](x, f(x)) equals d f / dx element-wise (away from relu's kink)."""
    x = away_from_zero(np.random.RandomState(1), (200,), lo=0.05, hi=6.0)
    f = ACTIVATIONS[name]
    numeric = (f(x + H) - f(x - H)) / (2 * H)
    np.testing.assert_allclose(DERIVATIVES[name](x, f(x)), numeric, rtol=1e-6, atol=1e-9)


def test_gradcheck_detects_a_wrong_derivative(monkeypatch):
    """The check can fail: a wrong tanh derivative (1 - y instead of 1 - y^2) is caught."""
    monkeypatch.setitem(DERIVATIVES, "tanh", lambda x, y: 1 - y)
    layer, x = _activation("tanh")(np.random.RandomState(0))
    assert check_layer(layer, x)["x"] > 1e-3


# ------------------------------------------------------------------------------------------
# the loss
# ------------------------------------------------------------------------------------------


def test_softmax_cross_entropy_gradient():
    rng = np.random.RandomState(3)
    logits = rng.standard_normal((6, 4)) * 3
    y = rng.randint(0, 4, size=6)
    _, dlogits = softmax_cross_entropy(logits, y)
    numeric = numeric_grad(lambda: softmax_cross_entropy(logits, y)[0], logits)
    assert rel_error(dlogits, numeric) <= TOL


# ------------------------------------------------------------------------------------------
# whole MLPs (float64): every parameter and the input
# ------------------------------------------------------------------------------------------

#: variant -> MLP keyword arguments. Sizes include same-width blocks so skips exist.
MLP_VARIANTS = {
    "plain": dict(),
    "batch_norm": dict(batch_norm=True),
    "residual": dict(residual=True),
    "dropout": dict(dropout=0.3),
    "bn_residual_dropout": dict(batch_norm=True, residual=True, dropout=0.3),
}


def check_mlp(model, x, y):
    """Return {param label: relative error} for every parameter of ``model`` and the input."""

    def loss():
        _fix_dropout(model.layers)
        return softmax_cross_entropy(model.forward(x, training=True), y)[0]

    _fix_dropout(model.layers)
    _, dlogits = softmax_cross_entropy(model.forward(x, training=True), y)
    dx = model.backward(dlogits).copy()
    analytic = [
        (f"{i}:{type(layer).__name__}.{k}", layer, k, layer.grads[k].copy())
        for i, layer in enumerate(model.layers)
        for k in layer.params
    ]
    errors = {"input": rel_error(dx, numeric_grad(loss, x))}
    for label, layer, k, g in analytic:
        errors[label] = rel_error(g, numeric_grad(loss, layer.params[k]))
    return errors


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("variant", sorted(MLP_VARIANTS))
def test_mlp_gradients(variant, activation):
    kwargs = MLP_VARIANTS[variant]
    rng = np.random.RandomState(11)
    model = MLP([4, 5, 5, 5, 3], activation=activation, init="he", rng=rng, dtype=np.float64, **kwargs)
    # Non-trivial biases, gammas and betas. Zero biases would put relu exactly on its kink whenever
    # dropout zeroes a whole input row (then z = b = 0 and the function is not differentiable).
    for layer in model.layers:
        for k, p in layer.params.items():
            if k in ("b", "beta"):
                p[...] = 0.1 * rng.standard_normal(p.shape)
            elif k == "gamma":
                p[...] = 1 + 0.2 * rng.standard_normal(p.shape)
    x = rng.standard_normal((7, 4))
    y = rng.randint(0, 3, size=7)
    if kwargs.get("residual"):
        assert sum(skip for _, _, skip in model.blocks) == 2
    if kwargs.get("dropout"):
        assert any(isinstance(layer, Dropout) for layer in model.layers)
    errors = check_mlp(model, x, y)
    assert len(errors) == 1 + sum(len(layer.params) for layer in model.layers)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOL, (worst, errors[worst])
