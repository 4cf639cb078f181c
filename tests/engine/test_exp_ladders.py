"""The ladders: the recipes they name, the noise rule by hand, and the orderings the lessons
rest on (checked over two seeds, beyond seed noise), not the accuracies themselves."""

import json

import numpy as np
import pandas as pd
import pytest

from engine.__main__ import main as cli
from engine.experiments import ladders as lx
from engine.experiments import run
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


def _runs(rows):
    return pd.DataFrame(
        [{"recipe": r, "label": lx.LADDER_RECIPES[r], "depth": d, "seed": s, "final_val_acc": a} for r, d, s, a in rows]
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
    assert lad.loc[("modern_skips", 50), "mean_val_acc"] == pytest.approx(0.94)
    assert lad.loc[("modern_skips", 50), "spread"] == pytest.approx(0.04)
    assert lad.loc[("modern_skips", 50), "diff_vs_modern"] == pytest.approx(0.82)
    assert lad.loc[("modern_skips", 50), "beyond_noise"] is True or lad.loc[("modern_skips", 50), "beyond_noise"]
    assert not lad.loc[("modern_skips", 10), "beyond_noise"]  # 0.01 apart, spreads 0.04
    comps = {(c["a"], c["depth"]): c for c in res.summary["comparisons"]}
    assert comps[("modern_skips", 10)]["beyond_noise"] is False
    assert res.summary["deepest_learned"] == {"modern": 10, "modern_skips": 50}  # learned: mean >= 55%
    text = " ".join(res.notes)
    assert "largest gap is at depth 50, 94% against 12% (+82%, bigger than seed noise)" in text
    assert "modern (article): up to depth 10" in text
    # one seed each: no noise verdict in the words
    one = lx.ladder_result(_runs([r for r in rows if r[2] == 0]), chance=0.1)
    assert "one seed: no noise estimate" in " ".join(one.notes)
    assert "bigger than seed noise" not in " ".join(one.notes)


# ------------------------------------------------------------------ real runs, two seeds
def test_skips_beat_plain_modern_at_depth_50_and_1990s_beats_modern_at_depth_20():
    res = run("depth_ladder", depths=(20, 50), recipes=("lecun1998", "modern", "modern_skips"), epochs=10)
    runs = res.tables["runs"]
    assert sorted(set(runs["seed"])) == [0, 1] and len(runs) == 3 * 2 * 2
    comps = {(c["a"], c["b"], c["depth"]): c for c in res.summary["comparisons"]}
    skip50 = comps[("modern_skips", "modern", 50)]
    assert skip50["diff"] > 0 and skip50["beyond_noise"] is True
    lecun20 = comps[("lecun1998", "modern", 20)]
    assert lecun20["diff"] > 0 and lecun20["beyond_noise"] is True
    # the summary's spread is max - min of the runs table, per recipe and depth
    lad = res.tables["ladder"].set_index(["recipe", "depth"])
    for (r, d), g in runs.groupby(["recipe", "depth"]):
        assert lad.loc[(r, d), "spread"] == pytest.approx(g["final_val_acc"].max() - g["final_val_acc"].min(), abs=1e-4)
    assert any("bigger than seed noise" in n for n in res.notes)


def test_1990s_beats_naive_at_depth_10_and_naive_guesses_one_class():
    res = run("depth_ladder", depths=(10,), recipes=("naive", "lecun1998"), epochs=5)
    comp = res.summary["comparisons"][0]
    assert (comp["a"], comp["b"], comp["depth"]) == ("lecun1998", "naive", 10)
    assert comp["diff"] > 0.5 and comp["beyond_noise"] is True
    assert res.summary["deepest_learned"]["naive"] is None


def test_ladder_in_parts_combines_to_the_joint_ladder():
    kw = dict(depths=(2, 3), width=8, dataset="moons", epochs=2)
    joint = run("depth_ladder", recipes=("naive", "modern"), **kw)
    parts = [run("depth_ladder", recipes=(r,), **kw) for r in ("naive", "modern")]
    assert parts[0].notes == [] and parts[1].notes == []  # one recipe compares nothing
    both = lx.combine_ladder(parts)
    assert both.notes
    cols = ["recipe", "depth", "seed", "final_val_acc"]
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


def test_relu_and_he_only_work_together():
    # depth 10 from the naive recipe: ReLU alone and He alone stay at chance, together they learn
    res = run("add_one_in", fixes=("ReLU", "He init"), epochs=15)
    t = res.tables["variants"].set_index("variant")
    assert not t.loc["ReLU", "beyond_noise"] and not t.loc["He init", "beyond_noise"]
    assert t.loc["ReLU + He init", "beyond_noise"]
    assert t.loc["ReLU + He init", "interaction_beyond_noise"] and t.loc["ReLU + He init", "interaction"] > 0.5
    # interaction = pair gain - both gains alone, recomputed from the runs table
    means = res.tables["runs"].groupby("variant")["final_val_acc"].mean()
    inter = means["ReLU + He init"] - means["ReLU"] - means["He init"] + means["naive"]
    assert t.loc["ReLU + He init", "interaction"] == pytest.approx(inter, abs=1e-4)
    assert res.summary["interacting_pairs"] == ["ReLU + He init"]
    text = " ".join(res.notes)
    assert text.startswith("Alone, from the naive recipe's") and "No single fix lifts it" in text
    assert "Fixes interact: ReLU alone gives" in text and "bigger than seed noise" in text


def test_add_one_in_words_when_nothing_interacts():
    runs = pd.DataFrame(
        [
            {"key": (v, s), "final_val_acc": a}
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
        ("depth_ladder", dict(seeds=9), "seeds"),
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
    assert isinstance(RECIPES["modern"], TrainConfig) and np.isfinite(res.tables["runs"]["final_val_acc"]).all()


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
            {"key": ("naive", 0), "final_val_acc": 0.1, "finished": True},
            {"key": ("naive", 1), "final_val_acc": 0.1, "finished": True},
            {"key": ("ReLU", 0), "final_val_acc": 0.3, "finished": False},
        ]
    )
    res = lx.add_one_in_result(runs, ("ReLU", "He init"), 0.1, planned=8)
    assert res.summary["complete"] is False and res.notes == [lx._cut_note(2, 8)]
    nothing = lx.add_one_in_result(runs.iloc[2:], ("ReLU",), 0.1, planned=8)
    assert nothing.notes == [lx._cut_note(0, 8)] and len(nothing.tables["variants"]) == 0
