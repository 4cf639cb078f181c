"""The ladders: the recipes they name, the noise rule by hand, and the orderings the lessons
rest on at the defaults (three seeds, test accuracy, beyond seed noise), not the accuracies themselves."""

import json

import numpy as np
import pandas as pd
import pytest

from engine.__main__ import main as cli
from engine.experiments import common, run
from engine.experiments import ladders as lx
from engine.train import RECIPES, TrainConfig


# ------------------------------------------------------------------ recipes
def test_recipes_name_the_naive_the_1990s_and_the_modern_recipe():
    naive, lecun, modern, skips = (RECIPES[k] for k in ("naive", "lecun1998", "modern", "modern_skips"))
    assert RECIPES["classic"] is naive  # the deprecated name is the same object
    assert (naive.activation, naive.init, naive.batch_norm, naive.optimizer, naive.lr) == (
        "sigmoid",
        "small",
        False,
        "sgd",
        0.1,
    )
    # LeCun et al. 1998: tanh, std 1/sqrt(fan_in) (the engine's "xavier"), plain SGD, constant rate
    assert (lecun.activation, lecun.init, lecun.batch_norm, lecun.optimizer, lecun.lr, lecun.schedule) == (
        "tanh",
        "xavier",
        False,
        "sgd",
        0.1,
        "constant",
    )
    assert skips == modern.replace(residual=True) and not modern.residual


# ------------------------------------------------------------------ the noise rule
def test_beyond_noise_by_hand():
    # means 0.9 and 0.5, spreads 0.2 and 0.1: |0.4| > 0.2
    assert lx.beyond_noise([0.8, 1.0], [0.45, 0.55]) is True
    # means 0.9 and 0.8, spreads 0.2 and 0.0: |0.1| < 0.2
    assert lx.beyond_noise([0.8, 1.0], [0.8, 0.8]) is False
    assert lx.beyond_noise([0.9], [0.1]) is None  # one seed: no spread to compare with
    assert lx.noise_words(True) == "bigger than seed noise" and lx.noise_words(False) == "within seed noise"
    # one rule for the whole project: the ladders use common's helpers and seed count, no copies
    assert lx.beyond_noise is common.beyond_noise and lx.spread is common.spread
    assert lx.DEFAULT_SEEDS == common.DEFAULT_SEEDS == 3
    for fn in (lx.depth_ladder, lx.add_one_in):
        assert common.params_of(fn)["seeds"] == common.DEFAULT_SEEDS


def _runs(rows):
    return pd.DataFrame(
        [
            {"recipe": r, "label": lx.LADDER_RECIPES[r], "depth": d, "seed": s, "final_test_acc": a}
            for r, d, s, a in rows
        ]
    )


def test_ladder_summary_and_words_from_hand_made_runs():
    rows = [
        ("modern", 50, 0, 0.10),
        ("modern", 50, 1, 0.14),
        ("modern_skips", 50, 0, 0.92),
        ("modern_skips", 50, 1, 0.96),
        ("modern", 10, 0, 0.90),
        ("modern", 10, 1, 0.94),
        ("modern_skips", 10, 0, 0.91),
        ("modern_skips", 10, 1, 0.95),
    ]
    res = lx.ladder_result(_runs(rows), chance=0.1)
    lad = res.tables["ladder"].set_index(["recipe", "depth"])
    assert lad.loc[("modern_skips", 50), "mean_test_acc"] == pytest.approx(0.94)
    assert lad.loc[("modern_skips", 50), "min_test_acc"] == pytest.approx(0.92)
    assert lad.loc[("modern_skips", 50), "spread"] == pytest.approx(0.04)
    assert lad.loc[("modern_skips", 50), "diff_vs_modern"] == pytest.approx(0.82)
    assert lad.loc[("modern_skips", 50), "beyond_noise"]
    assert not lad.loc[("modern_skips", 10), "beyond_noise"]  # 0.01 apart, spreads 0.04
    comps = {(c["a"], c["depth"]): c for c in res.summary["comparisons"]}
    assert comps[("modern_skips", 10)]["beyond_noise"] is False
    assert comps[("modern_skips", 50)]["a_spread"] == pytest.approx(0.04)
    # common's block per depth, against the modern recipe (JSON-safe string keys)
    assert set(res.summary["comparison"]) == {"10", "50"} and res.summary["metric"] == "final_test_acc"
    c50 = res.summary["comparison"]["50"]
    assert c50["baseline"] == "modern" and c50["metric"] == "final_test_acc" and c50["seeds"] == [0, 1]
    assert c50["mean"] == {"modern": pytest.approx(0.12), "modern_skips": pytest.approx(0.94)}
    assert c50["spread"]["modern"] == pytest.approx(0.04) and c50["diff"]["modern_skips"] == pytest.approx(0.82)
    assert c50["beyond_noise"] == {"modern": None, "modern_skips": True}
    assert res.summary["comparison"]["10"]["beyond_noise"]["modern_skips"] is False
    assert res.summary["deepest_learned"] == {"modern": 10, "modern_skips": 50}  # learned: mean >= 55%
    text = " ".join(res.notes)
    assert "largest gap is at depth 50, 94% against 12% (+82 pts, bigger than seed noise)" in text
    assert "mean test accuracy at least 55%" in text and "modern (article): up to depth 10" in text
    # one seed each: no noise verdict in the words
    one = lx.ladder_result(_runs([r for r in rows if r[2] == 0]), chance=0.1)
    assert "one seed: no noise estimate" in " ".join(one.notes)
    assert "bigger than seed noise" not in " ".join(one.notes)
    assert one.tables["ladder"]["spread"].isna().all()  # no spread from one seed
    assert one.summary["comparison"]["50"]["beyond_noise"]["modern_skips"] is None


def test_a_diverged_run_counts_as_zero_accuracy():
    rows = [("modern", 5, 0, 0.9), ("modern", 5, 1, 0.8), ("modern_skips", 5, 0, None), ("modern_skips", 5, 1, 0.9)]
    lad = lx.ladder_result(_runs(rows), chance=0.1).tables["ladder"].set_index("recipe")
    assert lad.loc["modern_skips", "mean_test_acc"] == pytest.approx(0.45)
    assert lad.loc["modern_skips", "spread"] == pytest.approx(0.9)


# ------------------------------------------------------------------ real runs: the defaults, three seeds
@pytest.fixture(scope="module")
def default_ladder():
    """The depth ladder at Home's defaults, three seeds, called per recipe as Home calls it."""
    home = dict(lx.HOME_LADDER, seeds=3, seed=0)
    return lx.combine_ladder([run("depth_ladder", recipes=(r,), **home) for r in lx.LADDER_RECIPES])


def test_default_ladder_skips_carry_the_modern_recipe_to_depth_50_beyond_noise(default_ladder):
    res = default_ladder
    runs = res.tables["runs"]
    assert sorted(set(runs["seed"])) == [0, 1, 2] and len(runs) == 4 * len(lx.DEFAULT_DEPTHS) * 3
    assert set(runs["epochs"]) == {lx.LADDER_EPOCHS} and runs["finished"].all()
    c50 = res.summary["comparison"]["50"]
    assert c50["diff"]["modern_skips"] > 0.5 and c50["beyond_noise"]["modern_skips"] is True
    # the 1990s recipe beats the article's plain modern one at depth 20, and the naive one at depth 10
    c20 = res.summary["comparison"]["20"]
    assert c20["diff"]["lecun1998"] > 0.3 and c20["beyond_noise"]["lecun1998"] is True
    comps = {(c["a"], c["b"], c["depth"]): c for c in res.summary["comparisons"]}
    assert comps[("lecun1998", "naive", 10)]["diff"] > 0.5 and comps[("lecun1998", "naive", 10)]["beyond_noise"]
    assert res.summary["deepest_learned"]["naive"] is None and res.summary["deepest_learned"]["modern_skips"] == 50
    # by hand from the runs table: means and spreads of the TEST accuracy, and the noise rule
    for d, block in res.summary["comparison"].items():
        part = runs[runs["depth"] == int(d)]
        for r, g in part.groupby("recipe"):
            acc = g["final_test_acc"].to_numpy(float)
            assert block["mean"][r] == pytest.approx(acc.mean(), abs=1e-4)
            assert block["spread"][r] == pytest.approx(acc.max() - acc.min(), abs=1e-4)
        base = part.loc[part["recipe"] == "modern", "final_test_acc"].to_numpy(float)
        skip = part.loc[part["recipe"] == "modern_skips", "final_test_acc"].to_numpy(float)
        by_hand = abs(skip.mean() - base.mean()) > max(np.ptp(skip), np.ptp(base))
        assert block["beyond_noise"]["modern_skips"] is bool(by_hand)
    lad = res.tables["ladder"].set_index(["recipe", "depth"])
    for (r, d), g in runs.groupby(["recipe", "depth"]):
        assert lad.loc[(r, d), "min_test_acc"] == pytest.approx(g["final_test_acc"].min(), abs=1e-4)
        assert lad.loc[(r, d), "max_test_acc"] == pytest.approx(g["final_test_acc"].max(), abs=1e-4)
    text = " ".join(res.notes)
    assert "Skip connections on the article's recipe: the largest gap is at depth 50" in text
    assert "bigger than seed noise" in text


def test_ladder_in_parts_combines_to_the_joint_ladder():
    kw = dict(depths=(2, 3), width=8, dataset="moons", epochs=2)
    joint = run("depth_ladder", recipes=("naive", "modern"), **kw)
    parts = [run("depth_ladder", recipes=(r,), **kw) for r in ("naive", "modern")]
    assert parts[0].notes == [] and parts[1].notes == []  # one recipe compares nothing
    both = lx.combine_ladder(parts)
    assert both.notes
    cols = ["recipe", "depth", "seed", "final_test_acc", "final_val_acc"]
    assert both.tables["runs"][cols].equals(joint.tables["runs"][cols])
    assert both.summary == joint.summary and both.notes == joint.notes


# ------------------------------------------------------------------ add-one-in
def test_add_one_in_variants_add_exactly_their_fixes():
    base = RECIPES["naive"].replace(depth=3)
    v = lx.add_one_in_variants(base)
    d0 = base.to_dict()

    def changed(cfg):
        return {k for k, x in cfg.to_dict().items() if x != d0[k]}

    assert changed(v["naive"]) == set()
    assert changed(v["ReLU"]) == {"activation"} and changed(v["Adam"]) == {"optimizer", "lr"}
    assert changed(v["ReLU + He init"]) == {"activation", "init"}
    assert changed(v["BN + skips"]) == {"batch_norm", "residual"}
    n = len(lx.FIXES)
    assert len(v) == 1 + n + n * (n - 1) // 2 + 1


def test_default_add_one_in_relu_and_he_only_work_together_beyond_noise():
    # the page's defaults (depth 10, width 64, 20 epochs), three seeds: ReLU alone and He alone stay
    # at chance, together they learn; the interaction is bigger than seed noise
    res = run("add_one_in", seeds=3)
    runs = res.tables["runs"]
    assert sorted(set(runs["seed"])) == [0, 1, 2] and set(runs["epochs"]) == {20}
    cmp = res.summary["comparison"]
    assert cmp["baseline"] == "naive" and cmp["metric"] == "final_test_acc"
    assert cmp["beyond_noise"]["ReLU"] is False and cmp["beyond_noise"]["He init"] is False
    assert cmp["beyond_noise"]["ReLU + He init"] is True and cmp["diff"]["ReLU + He init"] > 0.5
    t = res.tables["variants"].set_index("variant")
    assert t.loc["ReLU + He init", "interaction_beyond_noise"] and t.loc["ReLU + He init", "interaction"] > 0.5
    # interaction = pair gain - both gains alone, recomputed from the runs table's test accuracies
    means = runs.groupby("variant")["final_test_acc"].mean()
    inter = means["ReLU + He init"] - means["ReLU"] - means["He init"] + means["naive"]
    assert t.loc["ReLU + He init", "interaction"] == pytest.approx(inter, abs=1e-4)
    for v, m in means.items():
        assert cmp["mean"][v] == pytest.approx(m, abs=1e-4) and t.loc[v, "mean_test_acc"] == pytest.approx(m, abs=1e-4)
    assert "ReLU + He init" in res.summary["interacting_pairs"]
    text = " ".join(res.notes)
    assert text.startswith("Alone, from the naive recipe's") and "Fixes interact: " in text
    assert "bigger than seed noise" in text


def test_add_one_in_one_seed_draws_no_verdict():
    res = run("add_one_in", fixes=("ReLU", "He init"), epochs=3, depth=3, width=16, seeds=1, seed=4)
    assert res.summary["seeds"] == [4] and res.summary["comparison"]["beyond_noise"]["ReLU"] is None
    text = " ".join(res.notes)
    assert "one seed: no noise estimate" in text
    assert "bigger than seed noise" not in text and "within seed noise" not in text


def test_add_one_in_words_when_nothing_interacts():
    runs = pd.DataFrame(
        [
            {"key": (v, s), "final_test_acc": a}
            for v, accs in {
                "naive": (0.5, 0.5),
                "ReLU": (0.7, 0.8),
                "He init": (0.6, 0.7),
                "ReLU + He init": (0.8, 0.9),
            }.items()
            for s, a in enumerate(accs)
        ]
    )
    res = lx.add_one_in_result(runs, ("ReLU", "He init"), 0.5)
    text = " ".join(res.notes)
    assert "No pair does more than its two fixes added" in text and "Fixes interact" not in text
    assert res.summary["alone_beyond_noise"] == ["ReLU", "He init"]
    # by hand: gains 0.25 and 0.15 alone, 0.35 together: interaction -0.05, spreads 0.1 -> within noise
    t = res.tables["variants"].set_index("variant")
    assert t.loc["ReLU + He init", "interaction"] == pytest.approx(-0.05)
    assert t.loc["ReLU + He init", "interaction_beyond_noise"] in (False,)  # measured, and within noise
    cmp = res.summary["comparison"]
    assert cmp["mean"]["ReLU"] == pytest.approx(0.75) and cmp["spread"]["ReLU"] == pytest.approx(0.1)
    assert cmp["diff"]["He init"] == pytest.approx(0.15) and cmp["beyond_noise"]["He init"] is True
    assert "(largest: ReLU + He init, -5 points, within seed noise)" in text


# ------------------------------------------------------------------ CLI and bad input
def test_cli_runs_both_ladders(capsys):
    args = ["--width", "8", "--dataset", "moons", "--epochs", "2", "--seeds", "1", "--format", "json"]
    assert cli(["run", "depth_ladder", "--depths", "2,3", "--recipes", "naive,modern", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["tables"]) == {"ladder", "runs"} and {r["seed"] for r in out["tables"]["runs"]} == {0}
    assert cli(["run", "add_one_in", "--depth", "2", "--fixes", "ReLU,BN", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["variant"] for r in out["tables"]["variants"]] == ["naive", "ReLU", "BN", "ReLU + BN"]


@pytest.mark.parametrize(
    "name, params, field",
    [
        ("depth_ladder", dict(depths=(0,)), "depths"),
        ("depth_ladder", dict(depths=(60,)), "depths"),
        ("depth_ladder", dict(depths=()), "depths"),
        ("depth_ladder", dict(recipes=("evil",)), "recipes"),
        ("depth_ladder", dict(seeds=0), "seeds"),
        ("depth_ladder", dict(seeds=11), "seeds"),
        ("add_one_in", dict(seeds=0), "seeds"),
        ("depth_ladder", dict(width=1024, epochs=500), "budget"),
        ("add_one_in", dict(fixes=("magic",)), "fixes"),
        ("add_one_in", dict(depth=51), "depth"),
        ("add_one_in", dict(width=0), "width"),
    ],
)
def test_bad_parameters_name_the_field(name, params, field):
    with pytest.raises(ValueError, match=field):
        run(name, **params)


def test_train_config_is_reused_unchanged():
    # the ladders train the registered recipes as they are, only the shape and seed replaced
    res = run("depth_ladder", depths=(2,), recipes=("modern",), width=8, dataset="moons", epochs=2, seeds=1)
    assert isinstance(RECIPES["modern"], TrainConfig) and np.isfinite(res.tables["runs"]["final_test_acc"]).all()


def test_an_unfinished_ladder_draws_no_verdict():
    rows = [
        ("modern", 50, 0, 0.10),
        ("modern", 50, 1, 0.14),
        ("modern_skips", 50, 0, 0.92),
        ("modern_skips", 50, 1, 0.5),
    ]
    runs = _runs(rows).assign(finished=[True, True, True, False])  # the time cap cut the last run
    res = lx.ladder_result(runs, chance=0.1, planned=6)
    assert res.summary["complete"] is False and res.summary["finished_runs"] == 3
    assert res.notes == [lx._cut_note(3, 6)] and "seed noise" not in " ".join(res.notes)
    lad = res.tables["ladder"].set_index(["recipe", "depth"])
    assert lad.loc[("modern_skips", 50), "n_seeds"] == 1  # the cut run is left out of the ladder
    # the same runs, all finished and all planned: verdicts again
    full = lx.ladder_result(_runs(rows).assign(finished=True), chance=0.1, planned=4)
    assert full.summary["complete"] is True and any("seed noise" in n for n in full.notes)


def test_an_unfinished_add_one_in_draws_no_verdict():
    runs = pd.DataFrame(
        [
            {"key": ("naive", 0), "final_test_acc": 0.1, "finished": True},
            {"key": ("naive", 1), "final_test_acc": 0.1, "finished": True},
            {"key": ("ReLU", 0), "final_test_acc": 0.3, "finished": False},
        ]
    )
    res = lx.add_one_in_result(runs, ("ReLU", "He init"), 0.1, planned=8)
    assert res.summary["complete"] is False and res.notes == [lx._cut_note(2, 8)]
    nothing = lx.add_one_in_result(runs.iloc[2:], ("ReLU",), 0.1, planned=8)
    assert nothing.notes == [lx._cut_note(0, 8)] and len(nothing.tables["variants"]) == 0
