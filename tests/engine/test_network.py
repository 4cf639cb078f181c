"""The MLP: its layer order, skip connections, dtype and state."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.layers import Activation
from engine.losses import softmax_cross_entropy
from engine.network import MLP

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


def test_mlp_dtype_and_state():
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


def test_mlp_rejects_bad_sizes():
    with pytest.raises(ValueError, match="sizes"):
        MLP([4])
    with pytest.raises(ValueError, match="sizes"):
        MLP([4, 0, 3])


@pytest.mark.parametrize("rate", [-0.1, 1.0, math.nan])
def test_mlp_rejects_bad_dropout(rate):
    with pytest.raises(ValueError, match="rate"):
        MLP([4, 5, 3], dropout=rate, rng=np.random.RandomState(0))


@pytest.mark.parametrize("residual", [False, True])
def test_backward_without_the_input_gradient_fills_the_same_grads(residual):
    """Training skips the data's gradient (the first layer's dy @ W.T): every param grad is the same."""
    models = [MLP([6, 6, 6, 3], residual=residual, batch_norm=True, rng=np.random.RandomState(0)) for _ in range(2)]
    x, y = np.random.RandomState(1).standard_normal((8, 6)), np.arange(8) % 3
    outs = []
    for model, wanted in zip(models, (True, False)):
        _, d = softmax_cross_entropy(model.forward(x), y)
        outs.append(model.backward(d, input_grad=wanted))
    assert outs[0].shape == (8, 6) and outs[1] is None
    for a, b in zip(models[0].layers, models[1].layers):
        for k in a.grads:
            np.testing.assert_array_equal(a.grads[k], b.grads[k])
