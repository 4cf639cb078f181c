"""The syllabus article's printed numbers, reproduced with the engine's own functions.

The expected values below were printed by the article's snippets (reference/
article-training-challenges.txt), run unchanged in a scratch directory. Our numbers come from
``engine`` (init_weights, BatchNorm, Dropout, ACTIVATIONS, schedules) in the article's draw order
from ``np.random.RandomState(42)``, never from the article's code.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.early_stopping import EarlyStopping, stop_epoch
from engine.init import init_std, init_weights
from engine.layers import ACTIVATIONS, DERIVATIVES, MAX_DERIVATIVE, BatchNorm, Dropout
from engine.schedules import cosine, step_decay, warmup_cosine

relu = ACTIVATIONS["relu"]

# ------------------------------------------------------------------------------------------
# "Learning rate scheduling": the table printed by the "Compare schedules" snippet
#   step_decay(e, 0.001), cosine_schedule(e, 100, 0.001), warmup_cosine(e, 10, 100, 0.001)
# ------------------------------------------------------------------------------------------
SCHEDULE_TABLE = """
     0  0.001000  0.001000     0.000000
     5  0.001000  0.000994     0.000500
    10  0.001000  0.000976     0.001000
    20  0.001000  0.000905     0.000970
    30  0.000500  0.000794     0.000883
    50  0.000500  0.000501     0.000587
    70  0.000250  0.000207     0.000251
    90  0.000125  0.000025     0.000031
    99  0.000125  0.000001     0.000001
"""


def test_schedule_table():
    rows = [line.split() for line in SCHEDULE_TABLE.strip().splitlines()]
    assert len(rows) == 9
    for epoch, step, cos, warm in rows:
        e = int(epoch)
        assert f"{step_decay(e, 0.001):.6f}" == step, e
        assert f"{cosine(e, 100, 0.001):.6f}" == cos, e
        assert f"{warmup_cosine(e, 10, 100, 0.001):.6f}" == warm, e


def test_schedule_table_vectorised():
    """The same table from one vectorised call per schedule."""
    rows = np.array([line.split() for line in SCHEDULE_TABLE.strip().splitlines()], dtype=float)
    e = rows[:, 0].astype(int)
    np.testing.assert_allclose(step_decay(e, 0.001), rows[:, 1], atol=5e-7)
    np.testing.assert_allclose(cosine(e, 100, 0.001), rows[:, 2], atol=5e-7)
    np.testing.assert_allclose(warmup_cosine(e, 10, 100, 0.001), rows[:, 3], atol=5e-7)


# ------------------------------------------------------------------------------------------
# "Batch normalization": before/after (np.random.seed(42); z = randn(32, 64) * 5 + 3), printed
#   Before BN: mean=3.20, std=4.95
#   After BN:  mean=0.0000, std=1.0000
# ------------------------------------------------------------------------------------------


def test_batchnorm_before_after():
    rng = np.random.RandomState(42)
    z = rng.standard_normal((32, 64)) * 5 + 3
    assert f"{z.mean():.2f}" == "3.20"
    assert f"{z.std():.2f}" == "4.95"
    out = BatchNorm(64, dtype=np.float64).forward(z, training=True)
    assert round(float(out.mean()), 4) == 0.0  # printed 0.0000 (the sign of a 1e-17 is noise)
    assert f"{out.std():.4f}" == "1.0000"


# ------------------------------------------------------------------------------------------
# "Batch normalization": the 15-layer table. np.random.seed(42) once, then the run without BN
# (x = randn(64, 128), 15 x W = randn(128, 128) * sqrt(2/128), relu) and the run with BN continue
# the same stream. Printed (layer, no-BN mean, no-BN std, BN mean, BN std):
# ------------------------------------------------------------------------------------------
BN_TABLE = """
     0       0.5731      0.8382    0.3998   0.5849
     1       0.5567      0.8500    0.3985   0.5848
     2       0.5950      0.9025    0.3974   0.5775
     3       0.5846      0.8600    0.3950   0.5855
     4       0.5860      0.8833    0.3929   0.5825
     5       0.5093      0.8011    0.3951   0.5866
     6       0.5645      0.8891    0.3946   0.5868
     7       0.5393      0.8222    0.3918   0.5894
     8       0.5911      0.8976    0.3924   0.5820
     9       0.5908      0.9260    0.3892   0.5786
    10       0.5316      0.9263    0.3916   0.5836
    11       0.7066      1.0842    0.3940   0.5884
    12       0.7542      1.1596    0.3938   0.5828
    13       1.0894      1.6267    0.3926   0.5863
    14       0.8839      1.4145    0.3924   0.5823
"""


def _layer_stats(rng, n_layers, use_bn):
    x = rng.standard_normal((64, 128))
    stats = []
    for _ in range(n_layers):
        z = x @ init_weights("he", 128, 128, rng)
        if use_bn:
            z = BatchNorm(128, dtype=np.float64).forward(z, training=True)
        x = relu(z)
        stats.append((x.mean(), x.std()))
    return stats


def test_fifteen_layer_table_with_and_without_batchnorm():
    rng = np.random.RandomState(42)
    no_bn = _layer_stats(rng, 15, use_bn=False)
    bn = _layer_stats(rng, 15, use_bn=True)  # continues the same stream, as in the article
    expected = [line.split() for line in BN_TABLE.strip().splitlines()]
    ours = [[str(i)] + [f"{v:.4f}" for v in (*no_bn[i], *bn[i])] for i in range(15)]
    assert ours == expected


# ------------------------------------------------------------------------------------------
# "Dropout": np.random.seed(42); four samples of dropout(a, 0.5) on a = [1..8]. Printed:
#   Dropout sample 1:    [ 0.  4.  6.  8.  0.  0.  0. 16.]   Mean: 4.25  Active: 4/8
#   Dropout sample 2:    [ 2.  4.  0.  8. 10.  0.  0.  0.]   Mean: 3.00  Active: 4/8
#   Dropout sample 3:    [ 0.  4.  0.  0. 10.  0.  0.  0.]   Mean: 1.75  Active: 2/8
#   Dropout sample 4:    [ 0.  4.  0.  8. 10.  0. 14.  0.]   Mean: 4.50  Active: 4/8
# ------------------------------------------------------------------------------------------
DROPOUT_SAMPLES = [
    ([0, 4, 6, 8, 0, 0, 0, 16], "4.25", 4),
    ([2, 4, 0, 8, 10, 0, 0, 0], "3.00", 4),
    ([0, 4, 0, 0, 10, 0, 0, 0], "1.75", 2),
    ([0, 4, 0, 8, 10, 0, 14, 0], "4.50", 4),
]


def test_dropout_samples():
    a = np.arange(1.0, 9.0)
    assert f"{a.mean():.2f}" == "4.50"
    layer = Dropout(0.5, rng=np.random.RandomState(42))
    for values, mean, active in DROPOUT_SAMPLES:
        out = layer.forward(a, training=True)
        np.testing.assert_array_equal(out.round(2), values)
        assert f"{out.mean():.2f}" == mean
        assert int((out != 0).sum()) == active
    np.testing.assert_array_equal(layer.forward(a, training=False), a)  # inference: no scaling


# ------------------------------------------------------------------------------------------
# "Weight initialization": 20 ReLU layers of width 64, no bias, weights re-drawn from seed 42 for
# each strategy. The article's X = randn(100, 64) is drawn unseeded, so its printed values vary
# run to run; with X from RandomState(0) its snippet prints
#   small: std=3.7626e-26   large: std=3.7626e+14   he: std=3.3419e-01   (dead 13/64 each)
# ------------------------------------------------------------------------------------------


def _deep_relu(X, strategy, depth=20):
    rng = np.random.RandomState(42)
    a = X
    for _ in range(depth):
        a = relu(a @ init_weights(strategy, a.shape[1], 64, rng))
    return a


@pytest.fixture(scope="module")
def depth20():
    X = np.random.RandomState(0).standard_normal((100, 64))
    return {s: _deep_relu(X, s) for s in ("small", "large", "he")}


def test_init_comparison_at_depth_20(depth20):
    assert depth20["small"].std() < 1e-20  # collapsed
    assert depth20["large"].std() > 1e10  # exploded
    assert 0.1 < depth20["he"].std() < 10  # order one
    # with the article's snippet on the same X (seeded above): printed std values
    assert f"{depth20['small'].std():.4e}" == "3.7626e-26"
    assert f"{depth20['large'].std():.4e}" == "3.7626e+14"
    assert f"{depth20['he'].std():.4e}" == "3.3419e-01"
    for s in depth20:
        assert int((depth20[s] == 0).all(axis=0).sum()) == 13


def test_init_strategies_differ_only_by_scale(depth20):
    """ReLU is positively homogeneous: 20 layers scale the output by (std_a / std_b) ** 20."""
    he = depth20["he"]
    for s in ("small", "large"):
        factor = (init_std(s, 64, 64) / init_std("he", 64, 64)) ** 20
        np.testing.assert_allclose(depth20[s], he * factor, rtol=1e-9, atol=0)


# ------------------------------------------------------------------------------------------
# "Initialization cheat sheet" (fan_in = 256), printed:
#   ReLU:    He    -> std = sqrt(2/256) = 0.0884
#   Sigmoid: Xavier -> std = sqrt(1/256) = 0.0625
# and "Vanishing gradients": After 50 layers (worst case): 0.25^50 = 7.89e-31
#   That's 1.27e+30x weaker than the output layer
# ------------------------------------------------------------------------------------------


def test_init_cheat_sheet():
    assert f"{init_std('he', 256, 256):.4f}" == "0.0884"
    assert f"{init_std('xavier', 256, 256):.4f}" == "0.0625"


def test_sigmoid_worst_case_bound():
    z = np.linspace(-10, 10, 20001)
    sig = ACTIVATIONS["sigmoid"]
    assert DERIVATIVES["sigmoid"](z, sig(z)).max() == pytest.approx(0.25, abs=1e-12)  # at z = 0
    assert MAX_DERIVATIVE["sigmoid"] == 0.25
    assert f"{MAX_DERIVATIVE['sigmoid'] ** 50:.2e}" == "7.89e-31"
    assert f"{1.0 / MAX_DERIVATIVE['sigmoid'] ** 50:.2e}" == "1.27e+30"


# ------------------------------------------------------------------------------------------
# "Early stopping": the article's *simulated* curves (its formulas are the data), stopped by our
# EarlyStopping. The overfitting snippet printed
#   Best validation loss at epoch 82: 0.1045 ... early stopping would trigger at epoch ~92
# and the full-recipe snippet (patience 15, warmup_cosine(e, 10, 200, 0.001)) printed
#   Epoch  40: lr=0.000940 ...  Epoch  80: lr=0.000701 ...
#   Early stopping triggered at epoch 115 / Best validation loss: 0.0419
# ------------------------------------------------------------------------------------------


def test_early_stopping_on_the_simulated_overfitting_curve():
    e = np.arange(200)
    val = 0.8 * np.exp(-e / 30) + 0.05 + 0.001 * np.maximum(0, e - 80) ** 1.3
    stop, best = stop_epoch(val, patience=10)
    assert (stop, best) == (92, 82)
    assert f"{val[best]:.4f}" == "0.1045"


def test_early_stopping_in_the_full_recipe_simulation():
    es = EarlyStopping(patience=15)
    stopped = None
    for epoch in range(200):
        val = 0.65 * np.exp(-epoch / 25) + 0.03 + 0.0005 * max(0, epoch - 100) ** 1.2
        if es.check(val, [np.array([epoch])]):
            stopped = epoch
            break
    assert stopped == 115
    assert f"{es.best_loss:.4f}" == "0.0419"
    assert es.best_epoch == 100 and es.best_weights[0][0] == 100
    assert f"{warmup_cosine(40, 10, 200, 0.001):.6f}" == "0.000940"
    assert f"{warmup_cosine(80, 10, 200, 0.001):.6f}" == "0.000701"
