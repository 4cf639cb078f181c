"""The schedules page's experiments against the article's printed table, hand-worked schedule
arithmetic, and an independent re-computation of the learning rate the trainer used."""

import math

import numpy as np
import pytest

from engine.experiments import common, run
from engine.experiments import schedules as exp
from engine.train import History, TrainConfig

# The article's snippet (step_decay / cosine_schedule / warmup_cosine, lr 0.001, 100 epochs,
# 10 warmup epochs), run as printed. Its output, verbatim:
ARTICLE_PRINTOUT = """\
 Epoch      Step    Cosine   Warmup+Cos
--------------------------------------
     0  0.001000  0.001000     0.000000
     5  0.001000  0.000994     0.000500
    10  0.001000  0.000976     0.001000
    20  0.001000  0.000905     0.000970
    30  0.000500  0.000794     0.000883
    50  0.000500  0.000501     0.000587
    70  0.000250  0.000207     0.000251
    90  0.000125  0.000025     0.000031
    99  0.000125  0.000001     0.000001"""

SMALL = dict(epochs=6, warmup_epochs=2, depth=2, width=16, n_train=120, lr=0.01)


def test_article_table_matches_the_printout_exactly():
    table = run("schedule_curves").tables["article_table"]
    lines = [f"{r.epoch:>6d}  {r.step:>8.6f}  {r.cosine:>8.6f}  {r.warmup_cosine:>11.6f}" for r in table.itertuples()]
    assert lines == ARTICLE_PRINTOUT.splitlines()[2:]


def test_article_table_ignores_the_sliders():
    a = run("schedule_curves").tables["article_table"]
    b = run("schedule_curves", initial_lr=0.1, epochs=40, warmup_epochs=3, step_size=7, decay=0.1)
    assert a.equals(b.tables["article_table"])


def test_curves_follow_the_formulas_by_hand():
    c = run("schedule_curves", initial_lr=0.01, epochs=40, warmup_epochs=4, step_size=7, decay=0.1).tables["curves"]
    lr = {(r.schedule, r.epoch): r.lr for r in c.itertuples()}
    assert len(c) == 3 * 40
    # step: 0.01 * 0.1 ** (epoch // 7): epochs 0-6 -> 0.01, 7-13 -> 0.001, 14 -> 0.0001
    assert lr["step", 6] == pytest.approx(0.01)
    assert lr["step", 13] == pytest.approx(0.001)
    assert lr["step", 14] == pytest.approx(0.0001)
    # cosine: halfway (epoch 20 of 40) is the midpoint of 0.01 and the 1e-6 floor
    assert lr["cosine", 0] == pytest.approx(0.01)
    assert lr["cosine", 20] == pytest.approx((0.01 + 1e-6) / 2)
    # warmup: 0.01 * epoch / 4, then a cosine over the remaining 36 epochs, restarted at 0
    assert [lr["warmup_cosine", e] for e in range(5)] == pytest.approx([0, 0.0025, 0.005, 0.0075, 0.01])
    assert lr["warmup_cosine", 4 + 18] == pytest.approx((0.01 + 1e-6) / 2)


def _lr_by_hand(name, e, total, lr0, warm):
    """The trainer's rate, written out from the formulas (independent of engine.schedules)."""
    if name == "constant":
        return lr0
    if name == "step":  # halve every round(0.3 * total) epochs
        return lr0 * 0.5 ** (e // max(1, round(0.3 * total)))
    if name == "exponential":
        return lr0 * 0.95**e
    if name == "cosine":
        return 1e-6 + 0.5 * (lr0 - 1e-6) * (1 + math.cos(math.pi * e / total))
    # warmup_cosine, evaluated one epoch ahead
    if e < warm:
        return lr0 * (e + 1) / warm
    return 1e-6 + 0.5 * (lr0 - 1e-6) * (1 + math.cos(math.pi * (e - warm + 1) / (total - warm + 1)))


def test_trained_runs_record_the_scheduled_learning_rate():
    res = run("schedules", **SMALL)
    c = res.tables["curves"]
    assert sorted(c["schedule"].unique()) == sorted(exp.SCHEDULES)
    for r in c.itertuples():
        assert r.lr == pytest.approx(_lr_by_hand(r.schedule, r.epoch, 6, 0.01, 2), rel=1e-9), (r.schedule, r.epoch)
    # hand-worked: step_size = round(1.8) = 2; warmup ramps 0.005, 0.01
    step = c[c.schedule == "step"]["lr"].tolist()
    assert step == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])
    assert c[c.schedule == "warmup_cosine"]["lr"].tolist()[:2] == pytest.approx([0.005, 0.01])


def test_same_seed_same_start():
    # constant, step, exponential and cosine all use lr0 in epoch 0 from the same weights and
    # batch order, so their first epoch is identical; warmup (lr0 / 2 here) is not.
    c = run("schedules", **SMALL).tables["curves"]
    first = c[c.epoch == 0].set_index("schedule")
    for s in ("step", "exponential", "cosine"):
        assert first.loc[s, "train_loss"] == pytest.approx(first.loc["constant", "train_loss"], rel=1e-5)
    assert first.loc["warmup_cosine", "train_loss"] != pytest.approx(first.loc["constant", "train_loss"], rel=1e-5)


def test_final_table_matches_a_direct_training_run():
    from engine.train import train

    res = run("schedules", schedules=("cosine",), seed=3, seeds=1, **SMALL)
    cfg = TrainConfig(
        n_train=120,
        depth=2,
        width=16,
        batch_norm=True,
        init="he",
        optimizer="adam",
        lr=0.01,
        epochs=6,
        warmup_epochs=2,
        schedule="cosine",
        seed=3,
    )
    h = train(cfg)
    final = res.tables["final"].iloc[0]
    assert final["final_val_acc"] == pytest.approx(h.final_val_acc, abs=5e-5)
    assert final["final_test_acc"] == pytest.approx(h.final_test_acc, abs=5e-5)
    assert final["early_val_loss"] == pytest.approx(np.mean(h.val_loss[:2]), abs=5e-5)  # the 2 warmup epochs
    assert res.summary["best_schedule"] == "cosine"
    assert res.summary["comparison"] is None  # constant (the baseline) was not trained
    assert res.tables["runs"]["seed"].tolist() == [3]


def test_divergence_is_reported_as_a_marker(monkeypatch):
    def fake_train_many(configs, progress=None, **kw):
        out = {}
        for name, cfg in configs.items():
            h = History(
                config=cfg,
                epoch=[0, 1],
                lr=[cfg.lr] * 2,
                train_loss=[2.0, 1.5],
                val_loss=[2.0, 1.4],
                train_acc=[0.1, 0.3],
                val_acc=[0.1, 0.35],
                final_val_acc=0.35,
                final_test_acc=0.3,
            )
            if name.startswith("constant"):
                h.diverged_epoch = 2
            out[name] = h
        return out

    monkeypatch.setattr(common, "train_many", fake_train_many)  # what train_seeded calls
    res = run("schedules", schedules=("constant", "cosine"), **SMALL)
    assert res.tables["diverged"].to_dict("records") == [{"x": 2, "label": "constant diverged"}]
    assert res.summary["diverged"] == ["constant diverged"]
    assert [n.level for n in res.notes if "constant" in n] == ["warning"]


@pytest.mark.parametrize(
    "name, params, field",
    [
        ("schedules", {"schedules": ("bogus",)}, "schedules"),
        ("schedules", {"schedules": ()}, "schedules"),
        ("schedules", {"lr": -1.0}, "lr"),
        ("schedules", {"epochs": 0}, "epochs"),
        ("schedules", {"epochs": 5, "warmup_epochs": 5}, "warmup_epochs"),
        ("schedules", {"optimizer": "rmsprop"}, "optimizer"),
        ("schedules", {"depth": 100, "width": 1024, "epochs": 500, "n_train": 1000}, "FLOPs"),
        ("schedule_curves", {"initial_lr": 0.0}, "initial_lr"),
        ("schedule_curves", {"epochs": 0}, "epochs"),
        ("schedule_curves", {"epochs": 50, "warmup_epochs": 50}, "warmup_epochs"),
        ("schedule_curves", {"step_size": 0}, "step_size"),
        ("schedule_curves", {"decay": 0.0}, "decay"),
        ("schedule_curves", {"decay": float("nan")}, "decay"),
    ],
)
def test_bad_parameters_name_the_field(name, params, field):
    with pytest.raises(ValueError, match=field):
        run(name, **params)


def test_seeds_are_lone_runs_and_compared_with_constant_against_the_spread():
    from engine.train import train

    res = run("schedules", schedules=("constant", "cosine"), seed=2, seeds=2, **SMALL)
    alone = {
        s: [
            train(
                TrainConfig(
                    n_train=120, depth=2, width=16, batch_norm=True, init="he", optimizer="adam", lr=0.01,
                    epochs=6, warmup_epochs=2, schedule=s, seed=k,
                )
            )
            for k in (2, 3)
        ]
        for s in ("constant", "cosine")
    }  # fmt: skip
    runs = res.tables["runs"].set_index(["schedule", "seed"])
    cmp = res.summary["comparison"]
    assert cmp["baseline"] == "constant" and cmp["seeds"] == [2, 3] and cmp["metric"] == "final_test_acc"
    for s, hs in alone.items():
        tests = [h.final_test_acc for h in hs]
        assert [runs.loc[(s, k), "final_test_acc"] for k in (2, 3)] == pytest.approx(tests, abs=1e-12)
        assert cmp["mean"][s] == pytest.approx(np.mean(tests), abs=1e-4)
        assert cmp["spread"][s] == pytest.approx(max(tests) - min(tests), abs=1e-4)
    c, k = ([h.final_test_acc for h in alone[s]] for s in ("constant", "cosine"))
    by_hand = abs(np.mean(k) - np.mean(c)) > max(max(c) - min(c), max(k) - min(k))
    assert cmp["beyond_noise"] == {"constant": None, "cosine": by_hand}
    assert set(res.tables["per_seed"]["seed"]) == {2, 3}
    # one seed: no noise estimate
    one = run("schedules", schedules=("constant", "cosine"), seed=2, seeds=1, **SMALL).summary["comparison"]
    assert one["beyond_noise"] == {"constant": None, "cosine": None} and one["spread"]["cosine"] is None


def test_defaults_warmup_lowers_the_early_loss_beyond_seed_noise():
    # The page's lesson at its defaults (Adam at lr 0.3, 30 epochs, 3 warmup epochs, 3 seeds): the mean
    # validation loss over the 3 warmup epochs is lower with warmup, by more than either spread over seeds.
    assert (exp.DEFAULT_LR, exp.DEFAULT_EPOCHS, exp.DEFAULT_WARMUP) == (0.3, 30, 3)
    res = run("schedules")
    s = res.summary
    wc = s["warmup_comparison"]
    assert s["early_epochs"] == 3 and wc["baseline"] == "constant" and wc["seeds"] == [0, 1, 2]
    runs = res.tables["runs"]
    w, c = (runs.loc[runs["schedule"] == n, "early_val_loss"].to_numpy() for n in ("warmup_cosine", "constant"))
    assert len(w) == len(c) == 3
    assert wc["diff"]["warmup_cosine"] == pytest.approx(w.mean() - c.mean(), abs=1e-3) and w.mean() < c.mean()
    assert c.mean() - w.mean() > max(np.ptp(w), np.ptp(c))  # by hand: beyond noise
    assert wc["beyond_noise"]["warmup_cosine"] is True
    # every schedule is compared with constant, each flagged (the page's words come from these flags)
    cmp = s["comparison"]
    assert set(cmp["beyond_noise"]) == set(exp.SCHEDULES) and cmp["beyond_noise"]["constant"] is None
    assert all(isinstance(cmp["beyond_noise"][k], bool) for k in exp.SCHEDULES if k != "constant")


def test_warmup_at_a_low_rate_only_starts_slower():
    lo = run("schedules", schedules=("constant", "warmup_cosine"), lr=0.001, epochs=10).summary
    assert lo["warmup_comparison"]["diff"]["warmup_cosine"] > 0


def test_every_schedule_recovers_at_a_high_rate():
    # "wreck the network" overstated it: at Adam lr 0.3 every schedule still ends far above chance.
    f = run("schedules", lr=0.3, epochs=20, seeds=1).tables["final"]
    assert (f["final_test_acc"] > 0.7).all() and (f["diverged_seeds"] == 0).all()
