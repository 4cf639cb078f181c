"""Optimisers: one hand-worked step each, for the readable class (:data:`engine.optim.OPTIMIZERS`)
and its fused twin (:data:`engine.fused.FUSED`), on one parameter array of a stack of one."""

from __future__ import annotations

import numpy as np
import pytest

from engine.fused import FUSED, FusedAdam, FusedAdamW, FusedSGD
from engine.optim import OPTIMIZERS, SGD, Adam, AdamW

PATHS = pytest.mark.parametrize("registry", [OPTIMIZERS, FUSED], ids=["readable", "fused"])


def _one(p, g):
    """A single float64 parameter array and its gradient, with a member axis of one."""
    return [np.array(p, dtype=np.float64)[None]], [np.array(g, dtype=np.float64)[None]]


@PATHS
def test_sgd_momentum_weight_decay_steps(registry):
    """p=1, g=0.5, wd=0.1 -> g' = 0.6; step 1: buf = 0.6, p = 1 - 0.1*0.6 = 0.94;
    step 2: g' = 0.5 + 0.094 = 0.594, buf = 0.9*0.6 + 0.594 = 1.134, p = 0.94 - 0.1134 = 0.8266."""
    params, grads = _one([1.0], [0.5])
    opt = registry["momentum"](params, grads, lr=0.1, weight_decay=0.1)
    opt.step()
    np.testing.assert_allclose(params[0], [[0.94]], rtol=1e-14)
    opt.step()
    np.testing.assert_allclose(params[0], [[0.8266]], rtol=1e-14)


@PATHS
def test_adam_first_step_is_lr_times_sign(registry):
    """Bias correction makes the first step m^ = g, v^ = g^2: p -= lr * g / (|g| + eps) ~ lr * sign(g)."""
    g = np.array([3.0, -0.2, 1e-3])
    params, grads = _one([1.0, 1.0, 1.0], g)
    registry["adam"](params, grads, lr=0.01).step()
    np.testing.assert_allclose(params[0][0], 1 - 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-14)
    np.testing.assert_allclose(params[0][0], [0.99, 1.01, 0.99], rtol=2e-7)


@PATHS
def test_adamw_decays_before_the_step(registry):
    """AdamW, g = 0: p = p * (1 - lr * wd) and no Adam move (m = 0)."""
    params, grads = _one([2.0], [0.0])
    registry["adamw"](params, grads, lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(params[0], [[2.0 * (1 - 0.05)]], rtol=1e-14)


@PATHS
def test_per_member_rates_broadcast_over_each_members_row(registry):
    """Two members, plain SGD: member k moves by lr[k] * g."""
    params, grads = [np.ones((2, 3))], [np.full((2, 3), 0.5)]
    registry["sgd"](params, grads, lr=[0.1, 0.2]).step()
    np.testing.assert_allclose(params[0], [[0.95] * 3, [0.9] * 3], rtol=1e-14)


@pytest.mark.parametrize(
    "cls, args, kwargs",
    [
        (cls, args, kwargs)
        for pair in [(SGD, FusedSGD), (Adam, FusedAdam), (AdamW, FusedAdamW)]
        for cls in pair
        for args, kwargs in {
            SGD: [((-1,), {}), ((0.1,), {"momentum": 1.0})],
            Adam: [((float("nan"),), {}), ((0.1,), {"betas": (1.0, 0.9)}), ((0.1,), {"eps": 0.0})],
            AdamW: [((0.1,), {"weight_decay": -1})],
        }[pair[0]]
    ],
)
def test_optimizers_reject_bad_hyperparameters(cls, args, kwargs):
    with pytest.raises(ValueError):
        cls(*_one([1.0], [0.0]), *args, **kwargs)


def test_every_fused_name_is_a_readable_name():
    assert set(FUSED) <= set(OPTIMIZERS)
