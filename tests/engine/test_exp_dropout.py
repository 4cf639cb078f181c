"""The dropout experiments against the article's printed samples and independent re-computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.datasets import load
from engine.experiments.dropout import INVERTED, UNSCALED, dropout, dropout_article, run_label
from engine.train import TrainConfig, evaluate, train

# Printed by the article's dropout snippet (np.random.seed(42); a = [1..8]; rate 0.5; four calls):
#   Dropout sample 1:    [ 0.  4.  6.  8.  0.  0.  0. 16.]   Mean: 4.25  Active: 4/8
#   Dropout sample 2:    [ 2.  4.  0.  8. 10.  0.  0.  0.]   Mean: 3.00  Active: 4/8
#   Dropout sample 3:    [ 0.  4.  0.  0. 10.  0.  0.  0.]   Mean: 1.75  Active: 2/8
#   Dropout sample 4:    [ 0.  4.  0.  8. 10.  0. 14.  0.]   Mean: 4.50  Active: 4/8
ARTICLE_SAMPLES = [
    [0, 4, 6, 8, 0, 0, 0, 16],
    [2, 4, 0, 8, 10, 0, 0, 0],
    [0, 4, 0, 0, 10, 0, 0, 0],
    [0, 4, 0, 8, 10, 0, 14, 0],
]
ARTICLE_MEANS = [4.25, 3.00, 1.75, 4.50]
ARTICLE_ACTIVE = [4, 4, 2, 4]


def test_samples_match_article_exactly():
    res = dropout_article(rate=0.5)
    wide = res.tables["samples"]
    values = wide[[f"a{j}" for j in range(1, 9)]].to_numpy()
    np.testing.assert_array_equal(values, np.array(ARTICLE_SAMPLES, dtype=float))
    assert [round(m, 2) for m in wide["mean"]] == ARTICLE_MEANS
    assert wide["active"].tolist() == ARTICLE_ACTIVE
    assert res.summary["sample_means"] == ARTICLE_MEANS
    cells = res.tables["mask_cells"]
    assert (cells.kept == "kept").sum() == sum(ARTICLE_ACTIVE)


def test_monte_carlo_keeps_the_mean_and_unscaled_shrinks_it():
    p, n = 0.5, 100_000
    res = dropout_article(rate=p, mc_samples=n)
    s = res.summary
    # by hand: one dropped vector's mean has sd sqrt(sum(a^2) p/(1-p)) / 8 = sqrt(204) / 8 = 1.78536
    assert s["single_sample_mean_std"] == pytest.approx(math.sqrt(204) / 8)
    se = s["single_sample_mean_std"] / math.sqrt(n)
    assert abs(s["mc_mean_inverted"] - 4.5) < 4 * se
    assert abs(s["mc_mean_unscaled"] - 2.25) < 4 * se * (1 - p)
    assert s["expected_unscaled"] == pytest.approx(2.25)
    assert abs(s["mc_kept_fraction"] - 0.5) < 4 * math.sqrt(0.25 / (8 * n))
    mc = res.tables["monte_carlo"]
    inv = mc[mc.series == INVERTED].set_index("n_samples").running_mean
    # the first mask of the Monte-Carlo run is the article's first sample
    assert inv[1] == pytest.approx(ARTICLE_MEANS[0])
    assert inv[n] == pytest.approx(s["mc_mean_inverted"])
    unsc = mc[mc.series == UNSCALED].set_index("n_samples").running_mean
    np.testing.assert_allclose(unsc.to_numpy(), inv.to_numpy() * (1 - p))
    band = res.tables["mc_band"]
    assert (band.upper - band.lower).is_monotonic_decreasing


def test_eval_mode_is_identity_and_rate_zero_keeps_everything():
    assert dropout_article(rate=0.3).summary["eval_is_identity"]
    wide = dropout_article(rate=0.0).tables["samples"]
    np.testing.assert_array_equal(wide[[f"a{j}" for j in range(1, 9)]].to_numpy()[0], np.arange(1.0, 9.0))


def test_other_rates_scale_survivors_by_one_over_keep():
    p = 0.25
    cells = dropout_article(rate=p).tables["mask_cells"]
    kept = cells[cells.kept == "kept"]
    np.testing.assert_allclose(kept.output, kept.input / (1 - p))


def test_real_run_matches_independent_training():
    kw = dict(n_train=60, width=32, depth=1, epochs=3, lr=3e-3, batch_size=32, seed=1)
    res = dropout(rates=(0.5, 0.0), **kw)
    table = res.tables["summary"].set_index("run")
    assert list(table.index) == [run_label(0.0), run_label(0.5)]  # sorted by rate
    cfg = TrainConfig(
        n_train=60,
        width=32,
        depth=1,
        epochs=3,
        lr=3e-3,
        batch_size=32,
        seed=1,
        dropout=0.5,
        batch_norm=False,
        optimizer="adam",
        schedule="constant",
    )
    h = train(cfg)
    data = load("digits", 1, 60)
    _, train_acc = evaluate(h.model, data.X_train.astype(np.float32), data.y_train)
    row = table.loc[run_label(0.5)]
    assert row.final_val_acc == pytest.approx(h.val_acc[-1])
    assert row.final_train_acc == pytest.approx(train_acc)  # measured with dropout off
    assert row.gap == pytest.approx(train_acc - h.val_acc[-1])
    curves = res.tables["curves"]
    assert curves[curves.run == run_label(0.5)].train_acc_with_dropout.tolist() == pytest.approx(h.train_acc)
    long = res.tables["curves_long"]
    assert len(long) == 2 * len(curves) and set(long.split) == {"train", "validation"}


@pytest.mark.parametrize(
    "fn, kwargs, field",
    [
        (dropout_article, {"rate": 1.5}, "rate"),
        (dropout_article, {"rate": -0.1}, "rate"),
        (dropout_article, {"rate": float("nan")}, "rate"),
        (dropout_article, {"samples": 0}, "samples"),
        (dropout_article, {"mc_samples": 1}, "mc_samples"),
        (dropout, {"rates": (1.5,)}, "rates"),
        (dropout, {"rates": ()}, "rates"),
        (dropout, {"n_train": 5}, "n_train"),
        (dropout, {"width": 0}, "width"),
        (dropout, {"epochs": 0}, "epochs"),
        (dropout, {"lr": -1.0}, "lr"),
        (dropout, {"n_train": 1079, "width": 1024, "depth": 4, "epochs": 500}, "FLOPs"),
    ],
)
def test_bad_parameters_raise_value_error_naming_the_field(fn, kwargs, field):
    with pytest.raises(ValueError, match=field):
        fn(**kwargs)


def test_dropout_sits_after_every_hidden_activation_never_after_the_output_layer():
    # What the page says: the last hidden activation is dropped (the output layer's inputs), the logits never.
    from engine.layers import Activation, Dropout, Linear
    from engine.train import build_model

    model = build_model(TrainConfig(depth=3, width=16, dropout=0.3, batch_norm=False), 64, 10)
    kinds = [type(layer) for layer in model.layers]
    assert kinds == [Linear, Activation, Dropout] * 3 + [Linear]


def test_inverted_scaling_keeps_the_mean_but_not_the_variance():
    # Hand-worked at p = 0.5: Var(a) = 5.25, E[a^2] = 25.5, so Var(a~) = 25.5 / 0.5 - 4.5^2 = 30.75;
    # per unit Var(a~_i) = a_i^2 p / (1 - p) = a_i^2.
    s = dropout_article(rate=0.5, mc_samples=100_000).summary
    assert s["var_input"] == pytest.approx(5.25) and s["var_dropped_formula"] == pytest.approx(30.75)
    assert s["var_dropped"] == pytest.approx(30.75, rel=0.02)
    assert s["mc_mean_inverted"] == pytest.approx(4.5, abs=0.03)
    u = dropout_article(rate=0.5, mc_samples=100_000).tables["unit_stats"]
    np.testing.assert_allclose(u.var_over_masks, np.arange(1.0, 9.0) ** 2, rtol=0.03)
    np.testing.assert_allclose(u.mean_over_masks, np.arange(1.0, 9.0), rtol=0.03)
    s = dropout_article(rate=0.2, mc_samples=50_000).summary
    assert s["var_dropped"] == pytest.approx(25.5 / 0.8 - 20.25, rel=0.03)


def test_ensemble_view_against_an_independent_recomputation():
    from engine.experiments.dropout import ensemble_view

    cfg = TrainConfig(n_train=100, width=64, depth=2, epochs=5, lr=3e-3, batch_size=32, seed=2, dropout=0.5)
    cfg = cfg.replace(batch_norm=False, optimizer="adam", schedule="constant")
    h = train(cfg)
    data = load("digits", 2, 100)
    rngs = [layer.rng for layer in h.model.layers if hasattr(layer, "rate")]
    ens, info = ensemble_view(h.model, data.X_val, data.y_val, seed=2, ks=(1, 3))
    assert [layer.rng for layer in h.model.layers if hasattr(layer, "rate")] == rngs  # put back
    _, acc = evaluate(h.model, data.X_val.astype(np.float32), data.y_val)
    assert info["acc_eval"] == pytest.approx(acc) and (ens.acc_eval == info["acc_eval"]).all()
    # by hand: three masked passes with the documented generator, probabilities averaged
    X = data.X_val.astype(np.float32)
    drops = [layer for layer in h.model.layers if hasattr(layer, "rate")]
    shared = np.random.default_rng([2, 1])  # one generator for every Dropout layer, in layer order
    for d in drops:
        d.rng = shared
    logits = [h.model.forward(X, training=True).astype(np.float64) for _ in range(3)]
    probs = [
        np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True) for z in logits
    ]
    assert ens.acc_mc.iloc[0] == pytest.approx(np.mean(probs[0].argmax(1) == data.y_val))
    assert ens.acc_mc.iloc[1] == pytest.approx(np.mean(sum(probs).argmax(1) == data.y_val))


def test_ensemble_of_masked_passes_approaches_the_eval_pass():
    # The article's ensemble view, as orderings over 3 seeds: one masked pass is worse than the eval
    # pass, and the 64-pass average agrees with the eval pass on more images than one pass does.
    for seed in (0, 1, 2):
        res = dropout(rates=(0.5,), epochs=20, seed=seed)
        e = res.tables["ensemble"].set_index("K")
        assert e.loc[1, "acc_mc"] < e.loc[1, "acc_eval"]
        assert e.loc[64, "agree_with_eval"] > e.loc[1, "agree_with_eval"]
        assert e.loc[64, "agree_with_eval"] > 0.95
        assert res.summary["p=0.5"]["ensemble_kmax"] == 64


def test_epochs_are_zero_based_like_history():
    res = dropout(rates=(0.0,), n_train=60, width=32, depth=1, epochs=3)
    assert res.tables["curves"].epoch.tolist() == [0, 1, 2]
    assert res.tables["summary"].best_val_loss_epoch.between(0, 2).all()
    assert len(res.tables["ensemble"]) == 0  # no masks at rate 0
