"""Finite-difference gradient check of a stacked MLP (float64): every parameter of every member.

The loss is the sum of the members' losses, so the gradient with respect to member k's
parameters is member k's own gradient; a member whose numbers leaked into another's would show
up as a mismatch on the other member's entries.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.layers import Dropout
from engine.losses import softmax_cross_entropy
from engine.network import MLP
from tests.engine.test_gradcheck import TOL, numeric_grad, rel_error

K = 3

VARIANTS = {
    "plain": dict(),
    "batch_norm": dict(batch_norm=True),
    "bn_residual_dropout": dict(batch_norm=True, residual=True, dropout=[0.0, 0.3, 0.2]),
}


def _fix_dropout(model):
    """Reset every member's dropout rng so the next forward draws the same masks as the last."""
    for layer in model.layers:
        if isinstance(layer, Dropout):
            layer.rng = [np.random.RandomState(7 + k) for k in range(K)]


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_stacked_mlp_gradients(variant, activation):
    rng = np.random.RandomState(5)
    model = MLP(
        [4, 5, 5, 5, 3],
        activation=activation,
        init=["he", "xavier", "glorot"],
        rng=[np.random.RandomState(20 + k) for k in range(K)],
        dtype=np.float64,
        **VARIANTS[variant],
    )
    for layer in model.layers:  # non-trivial biases, gammas and betas, different per member
        for key, p in layer.params.items():
            if key in ("b", "beta"):
                p[...] = 0.1 * rng.standard_normal(p.shape)
            elif key == "gamma":
                p[...] = 1 + 0.2 * rng.standard_normal(p.shape)
    x = rng.standard_normal((K, 7, 4))
    y = rng.randint(0, 3, size=(K, 7))

    def loss():
        _fix_dropout(model)
        return float(softmax_cross_entropy(model.forward(x, training=True), y)[0].sum())

    _fix_dropout(model)
    _, dlogits = softmax_cross_entropy(model.forward(x, training=True), y)
    dx = model.backward(dlogits).copy()
    errors = {"input": rel_error(dx, numeric_grad(loss, x))}
    for i, layer in enumerate(model.layers):
        for key in layer.params:
            analytic = layer.grads[key].copy()
            assert analytic.shape[0] == K
            errors[f"{i}:{type(layer).__name__}.{key}"] = rel_error(analytic, numeric_grad(loss, layer.params[key]))
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOL, (worst, errors[worst])


def test_a_member_gradient_is_its_lone_network_gradient():
    """Member k of a stack gets exactly the gradient of the same network alone."""
    rngs = [np.random.RandomState(30 + k) for k in range(K)]
    stack = MLP([4, 6, 6, 3], batch_norm=True, rng=rngs, dtype=np.float64)
    lone = [MLP([4, 6, 6, 3], batch_norm=True, rng=np.random.RandomState(30 + k), dtype=np.float64) for k in range(K)]
    x = np.random.RandomState(1).standard_normal((K, 9, 4))
    y = np.random.RandomState(2).randint(0, 3, size=(K, 9))
    stack.backward(softmax_cross_entropy(stack.forward(x), y)[1])
    for k, net in enumerate(lone):
        net.backward(softmax_cross_entropy(net.forward(x[k]), y[k])[1])
        for ls, ll in zip(stack.layers, net.layers):
            for key in ll.params:
                np.testing.assert_allclose(
                    ls.params[key][k].reshape(ll.params[key].shape), ll.params[key], rtol=0, atol=0
                )
                np.testing.assert_allclose(
                    ls.grads[key][k].reshape(ll.grads[key].shape), ll.grads[key], rtol=1e-12, atol=1e-15
                )
