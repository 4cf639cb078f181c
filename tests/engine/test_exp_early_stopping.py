"""The early-stopping page's experiments against the article's printed numbers, hand-worked
replays, an independent re-implementation of the patience rule, and a real run with patience
set (restore_best) compared with the replay over a run trained to the end."""

import numpy as np
import pytest

from engine.datasets import load
from engine.experiments import early_stopping as exp_module
from engine.experiments import run
from engine.experiments.early_stopping import replay, simulated_curves
from engine.train import TrainConfig, evaluate, train

# The article's snippet (simulated curves over 200 epochs, patience 10), run as printed.
# Its output, verbatim:
ARTICLE_PRINTOUT = """\
Training loss at epoch 200: 0.0511 (still decreasing)
Validation loss at epoch 200: 0.5502 (INCREASING)

Best validation loss at epoch 82: 0.1045
Training loss at epoch 82: 0.1020

With patience=10, early stopping would trigger at epoch ~92
Saving you 108 epochs of wasted compute"""

# A small overfitting run for the real-training tests (a couple of seconds).
SMALL = dict(n_train=100, depth=3, width=64, lr=3e-3, epochs=30, batch_size=32, label_noise=0.0, seed=0, seeds=1)


def test_article_numbers_match_the_printout():
    s = run("early_stopping_article").summary
    lines = [
        f"Training loss at epoch 200: {s['last_train_loss']:.4f} (still decreasing)",
        f"Validation loss at epoch 200: {s['last_val_loss']:.4f} (INCREASING)",
        "",
        f"Best validation loss at epoch {s['best_epoch']}: {s['best_val_loss']:.4f}",
        f"Training loss at epoch {s['best_epoch']}: {s['train_loss_at_best']:.4f}",
        "",
        f"With patience=10, early stopping would trigger at epoch ~{s['article_stop_estimate']}",
        f"Saving you {s['article_epochs_saved']} epochs of wasted compute",
    ]
    assert lines == ARTICLE_PRINTOUT.splitlines()


def test_article_replay_stops_where_the_article_says():
    s = run("early_stopping_article").summary
    assert (s["stop_epoch"], s["best_epoch_at_stop"]) == (92, 82)
    # stopping at epoch 92 (0-based) means 93 epochs ran and 200 - 93 = 107 never did
    assert (s["epochs_run"], s["epochs_not_run"]) == (93, 107)


def test_article_curve_is_the_formula_and_every_patience_stops_at_best_plus_patience():
    train_loss, val = simulated_curves()
    t = 137
    assert train_loss[t] == pytest.approx(0.8 * np.exp(-t / 30) + 0.05)
    assert val[t] == pytest.approx(0.8 * np.exp(-t / 30) + 0.05 + 0.001 * (t - 80) ** 1.3)
    # The curve falls strictly up to epoch 82 and rises strictly after it, so a patience p
    # (min_delta 0) always stops at 82 + p, as long as that is inside the 200 epochs.
    d = np.diff(val)
    assert (d[:82] < 0).all() and (d[82:] > 0).all()
    rep = run("early_stopping_article").tables["replay"]
    r0 = rep[rep.min_delta == 0.0]
    for r in r0.itertuples():
        if 82 + r.patience < 200:
            assert (r.stop_epoch, r.best_epoch, r.epochs_saved) == (82 + r.patience, 82, 200 - (83 + r.patience))
        else:
            assert not r.stops and r.epochs_saved == 0


def test_replay_by_hand():
    val = [1.0, 0.9, 0.95, 0.85, 0.86, 0.87, 0.88]
    # patience 2: best 0.9 (epoch 1); 0.95 -> 1 bad epoch; 0.85 new best (epoch 3);
    # 0.86, 0.87 -> 2 bad epochs: stop at epoch 5, keep epoch 3; 7 - 6 = 1 epoch saved.
    # min_delta 0.06: 0.85 is not below 0.9 - 0.06 = 0.84, so epochs 2 and 3 are both bad: stop at 3.
    rep = replay(val, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], patiences=[2], min_deltas=[0.0, 0.06])
    a, b = rep.iloc[0], rep.iloc[1]
    assert (a.stop_epoch, a.best_epoch, a.epochs_run, a.epochs_saved) == (5, 3, 6, 1)
    assert (a.val_acc_kept, a.val_acc_at_stop, a.val_loss_kept) == (0.4, 0.6, 0.85)
    assert (b.stop_epoch, b.best_epoch, b.epochs_saved) == (3, 1, 3)
    # patience 10 never runs out on 7 epochs
    never = replay(val, patiences=[10], min_deltas=[0.0]).iloc[0]
    assert not never.stops and np.isnan(never.stop_epoch) and never.epochs_saved == 0 and never.best_epoch == 3


def _patience_rule(val, patience, min_delta):
    """Independent re-implementation: first epoch where `patience` epochs in a row failed to beat
    the best by more than min_delta."""
    best, best_epoch, bad = float("inf"), None, 0
    for epoch, v in enumerate(val):
        if best - v > min_delta:
            best, best_epoch, bad = v, epoch, 0
        else:
            bad += 1
            if bad == patience:
                return epoch, best_epoch
    return None, best_epoch


def test_replay_matches_an_independent_patience_rule_on_noisy_curves():
    rng = np.random.default_rng(5)
    for _ in range(5):
        val = 1 / (1 + np.arange(80)) + 0.002 * np.arange(80) + rng.normal(0, 0.02, 80)
        rep = replay(val, patiences=range(1, 30), min_deltas=(0.0, 0.005, 0.02))
        for r in rep.itertuples():
            stop, best = _patience_rule(val, r.patience, r.min_delta)
            assert (None if np.isnan(r.stop_epoch) else int(r.stop_epoch), r.best_epoch) == (stop, best)


@pytest.fixture(scope="module")
def real():
    return run("early_stopping", **SMALL)


def _config(**changes):
    """The TrainConfig the experiment builds from SMALL."""
    p = dict(SMALL)
    return TrainConfig(
        dataset="digits",
        n_train=p["n_train"],
        depth=p["depth"],
        width=p["width"],
        batch_norm=False,
        init="he",
        optimizer="adam",
        lr=p["lr"],
        schedule="constant",
        batch_size=p["batch_size"],
        epochs=p["epochs"],
        label_noise=p["label_noise"],
        seed=p["seed"],
        **changes,
    )


def test_real_run_overfits_and_records_every_epoch(real):
    c, s = real.tables["per_seed"], real.summary["per_seed"][0]
    assert len(c) == SMALL["epochs"] == s["epochs_run"] == real.summary["epochs_run"]
    assert s["best_epoch"] < SMALL["epochs"] - 5, "the validation loss should turn up in this small run"
    assert s["last_val_loss"] > s["best_val_loss"]
    assert c["train_loss"].iloc[-1] < c["train_loss"].iloc[s["best_epoch"]]
    pt = real.tables["patience_table"]
    assert sorted(pt[pt.min_delta == 0.0]["patience"]) == [1, 2, 5, 10, 20, 50]
    assert sorted(pt["min_delta"].unique()) == sorted(exp_module.MIN_DELTAS)


@pytest.mark.parametrize("patience", [3, 8])
def test_training_with_patience_stops_where_the_replay_says_and_restores_the_best(real, patience):
    rep = real.tables["replay"]
    row = rep[(rep.patience == patience) & (rep.min_delta == 0.0)].iloc[0]
    assert row.stops, "pick a patience that stops inside the run"
    h = train(_config(patience=patience, restore_best=True))
    assert h.stopped_epoch == int(row.stop_epoch)
    assert h.best_epoch == row.best_epoch
    assert len(h.epoch) == row.epochs_run
    # Evaluate the restored weights from scratch: their accuracy and loss are those recorded at
    # the best epoch of the run that never stopped (evaluation is deterministic).
    split = load("digits", SMALL["seed"], SMALL["n_train"])
    loss, acc = evaluate(h.model, split.X_val.astype(np.float32), split.y_val)
    assert acc == row.val_acc_kept == h.final_val_acc
    assert loss == pytest.approx(row.val_loss_kept, rel=1e-6)
    # without restore_best, the weights kept are those of the stopping epoch
    h2 = train(_config(patience=patience, restore_best=False))
    assert evaluate(h2.model, split.X_val.astype(np.float32), split.y_val)[1] == row.val_acc_at_stop


def test_real_run_curves_match_a_direct_training_run(real):
    h = train(_config())
    c = real.tables["per_seed"]
    np.testing.assert_allclose(c["val_loss"], h.val_loss, rtol=1e-6)
    assert c["val_acc"].tolist() == h.val_acc
    assert real.summary["per_seed"][0]["val_acc_last"] == h.val_acc[-1]
    assert real.summary["per_seed"][0]["test_acc_last"] == h.test_acc[-1]
    band = real.tables["curves"]  # one seed: the band is the run itself
    np.testing.assert_allclose(band["val_loss_min"], h.val_loss, rtol=1e-6)
    np.testing.assert_allclose(band["val_loss_max"], h.val_loss, rtol=1e-6)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"patiences": (0,)}, "patiences"),
        ({"patiences": ()}, "patiences"),
        ({"patiences": (1.5,)}, "patiences"),
        ({"min_deltas": (-0.1,)}, "min_deltas"),
        ({"min_deltas": (float("inf"),)}, "min_deltas"),
        ({"n_train": 5}, "n_train"),
        ({"lr": 0.0}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1}, "batch_size"),
        ({"label_noise": 0.7}, "label_noise"),
        ({"seeds": 0}, "seeds"),
        ({"depth": 100, "width": 1024, "epochs": 500}, "FLOPs"),
    ],
)
def test_bad_parameters_name_the_field(params, field):
    with pytest.raises(ValueError, match=field):
        run("early_stopping", **params)


def test_training_loss_rises_are_counted_by_hand(real):
    # The page's softened claim rests on this count: epochs whose training loss beat the previous one.
    c, s = real.tables["per_seed"], real.summary["per_seed"][0]
    by_hand = sum(b > a for a, b in zip(c.train_loss, c.train_loss[1:]))
    assert s["train_loss_rises"] == by_hand and s["train_loss_steps"] == len(c) - 1


def test_seeds_are_lone_runs_and_restored_is_compared_with_last_on_test():
    # Two seeds in one stack, each equal to training it alone; the restored weights are those of the
    # lowest validation loss, scored on test; the comparison recomputed by hand from the lone runs.
    kw = dict(n_train=120, depth=2, width=32, lr=3e-3, epochs=12, batch_size=32, label_noise=0.3)
    res = run("early_stopping", seed=4, seeds=2, **kw)
    runs = res.tables["runs"].set_index(["weights", "seed"])
    restored, last = [], []
    for k in (4, 5):
        cfg = TrainConfig(
            dataset="digits", n_train=120, depth=2, width=32, batch_norm=False, init="he", optimizer="adam",
            lr=3e-3, schedule="constant", batch_size=32, epochs=12, label_noise=0.3, seed=k,
        )  # fmt: skip
        h = train(cfg)
        best = int(np.argmin(h.val_loss))
        assert runs.loc[("restored", k), "epoch"] == best
        assert runs.loc[("restored", k), "final_test_acc"] == pytest.approx(h.test_acc[best], abs=1e-12)
        assert runs.loc[("last", k), "final_test_acc"] == pytest.approx(h.test_acc[-1], abs=1e-12)
        # restore_best with a patience that outlasts the run keeps exactly those weights
        hr = train(cfg.replace(patience=12, restore_best=True))
        assert hr.final_test_acc == pytest.approx(h.test_acc[best], abs=1e-12)
        restored.append(h.test_acc[best])
        last.append(h.test_acc[-1])
    cmp = res.summary["comparison"]
    assert cmp["baseline"] == "last" and cmp["seeds"] == [4, 5] and cmp["metric"] == "final_test_acc"
    r, la = np.array(restored), np.array(last)
    assert cmp["mean"] == pytest.approx({"restored": r.mean(), "last": la.mean()}, abs=1e-4)
    assert cmp["spread"] == pytest.approx({"restored": np.ptp(r), "last": np.ptp(la)}, abs=1e-4)
    by_hand = bool(abs(r.mean() - la.mean()) > max(np.ptp(r), np.ptp(la)))
    assert cmp["beyond_noise"] == {"restored": by_hand, "last": None}
    assert sorted(set(res.tables["replay"]["seed"])) == [4, 5]
    assert sorted(set(res.tables["per_seed"]["seed"])) == [4, 5]
    # compare_at: the weights a given patience keeps, seed by seed, against the last ones
    rep = res.tables["replay"]
    at = exp_module.compare_at(rep, res.tables["runs"], 3)
    kept = rep[(rep.patience == 3) & (rep.min_delta == 0.0)].sort_values("seed").test_acc_kept.to_numpy()
    assert at["mean"]["kept at patience 3"] == pytest.approx(kept.mean(), abs=1e-4)
    assert at["baseline"] == "last" and at["mean"]["last"] == cmp["mean"]["last"]
    with pytest.raises(ValueError, match="patience"):
        exp_module.compare_at(rep, res.tables["runs"], 1000)
    # one seed: no noise estimate
    one = run("early_stopping", seed=4, seeds=1, **kw).summary["comparison"]
    assert one["beyond_noise"] == {"restored": None, "last": None}


def test_defaults_restored_weights_beat_the_last_ones_on_test_beyond_seed_noise():
    # The page's lesson at its defaults: all 1079 training images with 30 % of their labels flipped,
    # 3 layers of 128, Adam 1e-3 constant, batches of 64, 30 epochs, 3 seeds. The validation loss bottoms
    # out early and climbs as the net memorises the flipped labels; the restored weights score better on
    # test than the last ones by more than either spread over the seeds.
    res = run("early_stopping")
    s = res.summary
    cmp = s["comparison"]
    assert s["seeds"] == [0, 1, 2] and s["label_noise"] == 0.3 and s["n_train"] == 1079
    assert cmp["diff"]["restored"] > 0 and cmp["beyond_noise"]["restored"] is True, cmp
    for p in s["per_seed"]:
        assert p["best_epoch"] < p["epochs_run"] - 5 and p["last_val_loss"] > p["best_val_loss"]
        assert p["train_acc_last"] > 0.9  # memorised: a fit of the true classes scores ~0.7 on these labels
    runs = res.tables["runs"]
    for w in ("restored", "last"):
        vals = runs[runs.weights == w].final_test_acc
        assert len(vals) == 3 and cmp["mean"][w] == pytest.approx(vals.mean(), abs=1e-4)
    # at the page's default patience (10) the kept weights win too
    at = exp_module.compare_at(res.tables["replay"], runs, 10)
    assert at["diff"]["kept at patience 10"] > 0 and at["beyond_noise"]["kept at patience 10"] is True


def test_every_seed_trains_in_one_stack(monkeypatch):
    import engine.experiments.common as common

    sizes = []
    real = common.train_stacked
    monkeypatch.setattr(common, "train_stacked", lambda group, **k: sizes.append(len(group)) or real(group, **k))
    run("early_stopping", n_train=100, width=32, depth=2, epochs=2, seeds=3)
    assert sizes == [3]
