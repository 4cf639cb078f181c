"""The dropout experiments against the article's printed samples and independent re-computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.datasets import load
from engine.experiments.dropout import INVERTED, RUNNING, UNSCALED, dropout, dropout_article, run_label
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


def test_real_run_matches_independent_training_per_seed():
    kw = dict(n_train=60, width=32, depth=1, epochs=3, lr=3e-3, batch_size=32, label_noise=0.2)
    res = dropout(rates=(0.5, 0.0), seed=1, seeds=2, **kw)
    runs = res.tables["runs"].set_index(["run", "seed"])
    assert list(res.tables["summary"]["run"]) == [run_label(0.0), run_label(0.5)]  # sorted by rate
    assert sorted(set(res.tables["runs"]["seed"])) == [1, 2]
    tests = {}
    for k in (1, 2):
        for rate in (0.0, 0.5):
            cfg = TrainConfig(
                n_train=60, width=32, depth=1, epochs=3, lr=3e-3, batch_size=32, seed=k, dropout=rate,
                label_noise=0.2, batch_norm=False, optimizer="adam", schedule="constant",
            )  # fmt: skip
            h = train(cfg)
            data = load("digits", k, 60, label_noise=0.2)
            # the train figures: an eval-mode pass (dropout off) over the noisy training labels
            loss, train_acc = evaluate(h.model, data.X_train.astype(np.float32), data.y_train)
            row = runs.loc[(run_label(rate), k)]
            assert row.final_val_acc == pytest.approx(h.val_acc[-1], abs=1e-9)
            assert row.final_test_acc == pytest.approx(h.final_test_acc, abs=1e-9)
            assert row.final_train_acc == pytest.approx(train_acc, abs=1e-9)
            assert row.gap == pytest.approx(train_acc - h.val_acc[-1], abs=1e-9)
            assert row.final_train_acc_running == pytest.approx(h.train_acc_running[-1], abs=1e-9)
            per = res.tables["per_seed"]
            per = per[(per.run == run_label(rate)) & (per.seed == k)]
            assert per.train_loss.iloc[-1] == pytest.approx(loss, rel=1e-6)
            tests.setdefault(rate, []).append(h.final_test_acc)
    cmp = res.summary["comparison"]
    assert cmp["baseline"] == "p=0" and cmp["seeds"] == [1, 2] and cmp["metric"] == "final_test_acc"
    a, b = np.array(tests[0.5]), np.array(tests[0.0])
    assert cmp["mean"]["p=0.5"] == pytest.approx(a.mean(), abs=1e-4)
    assert cmp["spread"]["p=0.5"] == pytest.approx(np.ptp(a), abs=1e-4)
    assert cmp["beyond_noise"] == {"p=0": None, "p=0.5": bool(abs(a.mean() - b.mean()) > max(np.ptp(a), np.ptp(b)))}
    # the curves: mean and min/max over the two seeds of each rate's per-seed curve
    band = res.tables["curves"]
    last = band[(band.run == "p=0.5") & (band.epoch == 2)].iloc[0]
    per = res.tables["per_seed"]
    vals = per[(per.run == "p=0.5") & (per.epoch == 2)].test_acc
    assert (last.test_acc, last.test_acc_min, last.test_acc_max) == pytest.approx((vals.mean(), vals.min(), vals.max()))
    assert last.n_seeds == 2
    long = res.tables["curves_long"]
    assert set(long.split) == {"train", "validation", "test", RUNNING}
    assert "train_acc_with_dropout" not in per.columns


def test_defaults_dropout_beats_no_dropout_on_test_beyond_seed_noise():
    # The page's lesson at its defaults: 30 % of 500 training labels flipped, one hidden layer of 512,
    # Adam 1e-3, batches of 64, 40 epochs, 3 seeds. Without dropout the net memorises the flipped labels
    # (train accuracy against them far above the 70 % a clean fit would give); p = 0.3 and 0.5 score
    # better on test by more than either spread over the seeds.
    res = dropout()
    s = res.summary
    cmp = s["comparison"]
    assert s["seeds"] == [0, 1, 2] and s["label_noise"] == 0.3
    assert cmp["baseline"] == "p=0" and cmp["metric"] == "final_test_acc"
    for v in ("p=0.3", "p=0.5"):
        assert cmp["diff"][v] > 0 and cmp["beyond_noise"][v] is True, cmp
    runs = res.tables["runs"]
    assert len(runs) == 9 and sorted(set(runs.seed)) == [0, 1, 2]
    t = res.tables["summary"].set_index("run")
    assert t.loc["p=0", "final_train_acc"] > 0.9  # memorised: a clean fit scores ~0.7 on the noisy labels
    assert t.loc["p=0", "gap"] > t.loc["p=0.5", "gap"]  # dropout narrows the train - validation gap
    # the comparison is an independent recomputation from the per-seed table
    for v in ("p=0", "p=0.3", "p=0.5"):
        vals = runs[runs.run == v].final_test_acc
        assert cmp["mean"][v] == pytest.approx(vals.mean(), abs=1e-4)
        assert cmp["spread"][v] == pytest.approx(vals.max() - vals.min(), abs=1e-4)


def test_without_label_noise_the_page_default_rates_are_within_noise_or_say_so():
    # Clean labels, one seed: no noise estimate, and the flags say so rather than a verdict.
    res = dropout(n_train=100, width=64, epochs=10, label_noise=0.0, seeds=1)
    cmp = res.summary["comparison"]
    assert cmp["beyond_noise"] == {"p=0": None, "p=0.3": None, "p=0.5": None}
    assert cmp["spread"]["p=0.3"] is None


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
        (dropout, {"label_noise": 0.6}, "label_noise"),
        (dropout, {"seeds": 0}, "seeds"),
        (dropout, {"seeds": 11}, "seeds"),
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
    # The article's ensemble view, as orderings in each of 3 seeds: one masked pass is worse than the eval
    # pass, and the 64-pass average agrees with the eval pass on more images than one pass does.
    res = dropout(rates=(0.5,), epochs=20, label_noise=0.0)
    er = res.tables["ensemble_runs"]
    assert sorted(set(er.seed)) == [0, 1, 2]
    for _, g in er.groupby("seed"):
        e = g.set_index("K")
        assert e.loc[1, "acc_mc"] < e.loc[1, "acc_eval"]
        assert e.loc[64, "agree_with_eval"] > e.loc[1, "agree_with_eval"]
        assert e.loc[64, "agree_with_eval"] > 0.95
    v = res.summary["rates"]["p=0.5"]
    assert v["ensemble_kmax"] == 64 and v["ensemble_closer_seeds"] == 3 and v["ensemble_k1_weaker_seeds"] == 3
    mean = res.tables["ensemble"].set_index("K")
    assert mean.loc[64, "acc_mc"] == pytest.approx(er[er.K == 64].acc_mc.mean())


def test_epochs_are_zero_based_like_history():
    res = dropout(rates=(0.0,), n_train=60, width=32, depth=1, epochs=3, seeds=1)
    assert res.tables["curves"].epoch.tolist() == [0, 1, 2]
    assert res.tables["runs"].best_val_loss_epoch.between(0, 2).all()
    assert len(res.tables["ensemble"]) == 0  # no masks at rate 0
    assert res.summary["comparison"]["beyond_noise"] == {"p=0": None}


def test_every_rate_and_seed_trains_in_one_stack(monkeypatch):
    import engine.experiments.common as common

    sizes = []
    real = common.train_stacked
    monkeypatch.setattr(common, "train_stacked", lambda group, **k: sizes.append(len(group)) or real(group, **k))
    dropout(n_train=60, width=32, epochs=2, seeds=3)
    assert sizes == [9]  # 3 rates x 3 seeds, one computation
