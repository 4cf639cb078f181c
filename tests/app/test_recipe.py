"""AppTest: the Full recipe page (live run, lazy tabs, presets, URL keys)."""

import pytest

from tests.apptest_helpers import BAD_VALUES, charts, errors_text, non_finite_values, run_page

PAGE = "pages/7_Full_recipe.py"
#: URL keys of the main controls, the tab selector and the 50-layer tab's controls.
KEYS = [
    "depth",
    "width",
    "epochs",
    "data",
    "act",
    "init",
    "opt",
    "lr",
    "bn",
    "skips",
    "drop",
    "label_noise",
    "sched",
    "warm",
    "patience",
    "wd",
    "view",
    "aod",
    "abd",
    "abk",
    "d50w",
    "d50e",
    "d50",
]
SMALL = {"depth": "2", "width": "16", "epochs": "5", "data": "moons"}
TABS = ["Per-layer diagnostics", "Add one fix at a time", "Leave-one-out ablation", "The 50-layer test"]
#: Sentences once written for the default settings and shown at every setting.
STALE = [
    "The real curve is noisier",
    "steps far too big",
    "flattens out instead of decaying forever",
    "sits above the training loss from early on",
]


def run_recipe(query: dict | None = None):
    return run_page(PAGE, query)


def assert_ok(at):
    assert not at.exception, errors_text(at)
    assert non_finite_values(at) == []


def test_default_view_runs_with_finite_charts():
    at = run_recipe()
    assert_ok(at)
    assert not at.error, errors_text(at)
    # article curve + real-run loss + live loss/accuracy + 4 per-layer charts (default tab)
    assert len(charts(at)) >= 8
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Stops at epoch"] == "115" and metrics["Best val loss"] == "0.0419"
    # stopping at epoch 115 (0-based) ran 116 epochs: 84 of 200 never ran (the article prints 85)
    assert metrics["Epochs never run"] == "84 of 200" and "Epochs saved" not in metrics
    assert metrics["Epochs run"] == "20 of 20"
    acc = float(metrics["Final val accuracy"].rstrip("%")) / 100
    assert acc > 0.8  # modern recipe, depth 10 x 64, 20 epochs on digits
    test = float(metrics["Final test accuracy"].rstrip("%")) / 100
    assert test > 0.8
    labels = [m.label for m in at.metric]
    assert labels.index("Final test accuracy") + 1 == labels.index("Final val accuracy")  # side by side


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_url_values_for_every_key_are_survived(bad):
    at = run_recipe({k: bad for k in KEYS})
    assert_ok(at)
    assert len(charts(at)) >= 4


def test_deep_link_sets_the_widgets():
    q = {
        "seed": "3",
        "depth": "12",
        "width": "32",
        "epochs": "5",
        "data": "moons",
        "act": "tanh",
        "init": "xavier",
        "opt": "sgd",
        "lr": "0.01",
        "bn": "false",
        "skips": "true",
        "drop": "0.1",
        "label_noise": "0.2",
        "sched": "cosine",
        "patience": "3",
        "wd": "0.001",
        "view": "Add one fix at a time",
        "aod": "3",
        "warm": "2",
    }
    at = run_recipe(q)
    assert_ok(at)
    assert at.slider(key="seed").value == 3
    assert at.slider(key="depth").value == 12
    assert at.select_slider(key="width").value == 32
    assert at.select_slider(key="epochs").value == 5
    assert at.selectbox(key="data").value == "moons"
    assert at.selectbox(key="act").value == "tanh"
    assert at.selectbox(key="init").value == "xavier"
    assert at.selectbox(key="opt").value == "sgd"
    assert at.select_slider(key="lr").value == 0.01
    assert at.toggle(key="bn").value is False
    assert at.toggle(key="skips").value is True
    assert at.select_slider(key="drop").value == 0.1
    assert at.slider(key="label_noise").value == 0.2
    assert "label_noise=0.2" in " ".join(c.value for c in at.code)  # passed to the live run's config
    assert at.selectbox(key="sched").value == "cosine"
    assert at.slider(key="patience").value == 3
    assert at.select_slider(key="wd").value == 0.001
    assert at.select_slider(key="warm").value == "2"
    assert at.select_slider(key="aod").value == 3
    bars = [c for c in charts(at) if '"bar"' in c.proto.spec]
    assert bars, "the deep-linked tab did not run"
    assert [r for r in at.dataframe[0].value["variant"]][:3] == ["naive", "ReLU", "He init"]


def test_depth_over_50_without_skips_is_clamped_with_a_message():
    at = run_recipe({**SMALL, "depth": "80"})
    assert_ok(at)
    assert any("skip connections" in w.value and "depth 50" in w.value for w in at.warning)
    # with skips the same depth is kept
    at = run_recipe({**SMALL, "depth": "60", "skips": "true"})
    assert_ok(at)
    assert not any("skip connections" in w.value for w in at.warning)


@pytest.mark.parametrize("tab", TABS[1:3])
def test_tabs_run_small_configs(tab):
    at = run_recipe({**SMALL, "view": tab, "drop": "0.1", "patience": "3", "aod": "3", "abd": "3"})
    assert_ok(at)
    assert not at.error, errors_text(at)
    bars = [c for c in charts(at) if '"bar"' in c.proto.spec]
    assert bars, "no bar chart"
    table = at.dataframe[0].value
    if tab == "Leave-one-out ablation":
        assert (table["n_seeds"] == 3).all()
        # 5 removals + no dropout + no early stopping + no skips (the ablation's default has skips)
        assert len(table) == 9 and "no skips" in set(table["variant"])
        verdict = " ".join(i.value for i in at.info)
        assert "over 3 seeds" in verdict or "within seed noise of the full recipe" in verdict
        assert "one or two images" not in verdict
        words = " ".join(m.value for m in at.markdown if "calls essential" in m.value)
        assert "**no skips**" in words and "**no BN**" in words and "seed noise" in words
    else:
        assert len(table) == 1 + 5 + 10 + 1  # naive, each fix, each pair, all
        assert (table["n_seeds"] == 3).all() and {"mean_test_acc", "spread", "beyond_noise"} <= set(table.columns)
        assert "mean of seeds 0, 1, 2 (line: min to max)" in bars[0].proto.spec
        intro = " ".join(m.value for m in at.markdown if "every pair" in m.value)
        assert "from 3 seeds each" in intro and "two seeds" not in intro
        # the words are this run's: the alone-sentence quotes the table's own means
        words = " ".join(i.value for i in at.info)
        naive = table.set_index("variant").loc["naive", "mean_test_acc"]
        assert f"Alone, from the naive recipe's {naive:.0%} test accuracy" in words


def test_add_one_in_at_its_defaults_says_relu_and_he_interact_beyond_noise():
    # the tab's defaults (depth 10; the page's width 64, 20 epochs, digits): the lesson holds over 3 seeds
    at = run_recipe({"view": TABS[1]})
    assert_ok(at)
    table = at.dataframe[0].value.set_index("variant")
    assert (table["n_seeds"] == 3).all()
    pair, relu, he = (table.loc[v, "mean_test_acc"] for v in ("ReLU + He init", "ReLU", "He init"))
    words = " ".join(i.value for i in at.info)
    assert f"Fixes interact: ReLU alone gives {relu:.0%} and He init alone {he:.0%}; ReLU + He init together " in words
    assert f"together give {pair:.0%}" in words and "(bigger than seed noise)" in words


def test_fifty_layer_test_waits_for_its_toggle_then_runs():
    at = run_recipe({**SMALL, "view": TABS[3]})
    assert_ok(at)
    assert any("Run the 50-layer test" in i.value for i in at.info)
    at = run_recipe({**SMALL, "view": TABS[3], "d50": "true", "d50w": "32", "d50e": "5"})
    assert_ok(at)
    labels = {m.label for m in at.metric}
    assert {"Plain: final test accuracy", "With skips: final test accuracy"} <= labels
    text = " ".join(i.value for i in at.info)
    assert "mean of 3 seeds; the difference is" in text


def test_preset_links_carry_only_valid_url_values():
    from urllib.parse import parse_qsl

    at = run_recipe(SMALL)
    presets = [
        dict(parse_qsl(link.proto.query_string))
        for link in at.get("page_link")
        if link.proto.page == "Full_recipe" and link.proto.query_string
    ]
    assert len(presets) == 5
    epochs_opts = [str(o) for o in at.select_slider(key="epochs").options]
    width_opts = [str(o) for o in at.select_slider(key="width").options]
    for q in presets:
        assert q["epochs"] in epochs_opts and q["width"] in width_opts and 1 <= int(q["depth"]) <= 100
        small = {**q, **SMALL, "depth": "3" if q["skips"] == "false" else "60"}
        at = run_recipe(small)
        assert_ok(at)
        # Streamlit silently falls back to the default for a URL value it can't parse: check that
        # every widget shows exactly the preset's value
        for key, want in small.items():
            assert url_value(at, key) == want, key


def url_value(at, key):
    """The URL text of the widget bound to ``key`` (format_func g for the log-spaced sliders)."""
    for kind in ("slider", "select_slider", "selectbox", "toggle"):
        try:
            v = getattr(at, kind)(key=key).value
        except KeyError:
            continue
        if isinstance(v, bool):
            return str(v).lower()
        return f"{v:g}" if key in ("lr", "wd") else str(v)
    raise KeyError(key)


def test_live_run_stops_at_the_time_cap_and_is_not_cached(monkeypatch):
    monkeypatch.setenv("TRAINING_EXPLORER_MAX_SECONDS", "0.01")
    q = {**SMALL, "epochs": "20", "seed": "77"}  # a config no other test has cached
    for _ in range(2):  # a capped run is not cached: the second visit trains (and stops) again
        at = run_recipe(q)
        assert_ok(at)
        assert any("time cap" in w.value for w in at.warning), [w.value for w in at.warning]
        runs = {m.label: m.value for m in at.metric}["Epochs run"]
        assert int(runs.split(" of ")[0]) < 20


def test_articles_settings_preset_warms_up_for_ten_epochs():
    from urllib.parse import parse_qsl

    at = run_recipe({**SMALL, "run": None})
    link = [link for link in at.get("page_link") if "Article" in link.proto.label][0]
    q = dict(parse_qsl(link.proto.query_string))
    assert q["warm"] == "10" and q["epochs"] == "200"  # the article: 10 warmup epochs of 200
    at = run_recipe({**q, "width": "16", "data": "moons", "patience": "1"})
    assert_ok(at)
    code = " ".join(c.value for c in at.code)
    assert "warmup_epochs=10" in code
    # the app's own choices are marked as such
    assert any("this app's choice" in c.value for c in at.caption)


def test_no_verdict_written_for_the_defaults_at_other_settings():
    q = {**SMALL, "act": "tanh", "init": "xavier", "opt": "sgd", "lr": "0.1", "bn": "false", "sched": "constant"}
    at = run_recipe(q)
    assert_ok(at)
    text = " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info])
    for stale in STALE:
        assert stale not in text, stale
    # the real run's caption quotes this run's numbers
    best = {m.label: m.value for m in at.metric}["Best epoch"]
    assert any(f"lowest validation loss was at epoch {best}" in c.value for c in at.caption)
    # under SGD the 1e-3 line is not explained by Adam's step size
    assert any("rule of thumb for SGD" in m.value for m in at.markdown)
    assert not any("by construction" in m.value for m in at.markdown)


def test_update_ratio_guide_is_computed_under_adam():
    # width 16, He init: std sqrt(2/16) = 0.354; 5 epochs -> warmup round(0.5) = 0 -> lr 0.001 at epoch 0
    at = run_recipe(SMALL)
    assert_ok(at)
    guide = [m.value for m in at.markdown if m.value.startswith("**The 1e-3 line.**")]
    assert guide and "0.001 / 0.354 = 0.0028 for a 16-unit hidden layer at he init" in guide[0]
    assert any("**What Adam does**" in m.value for m in at.markdown)


def test_fifty_layer_test_plots_update_ratio_beside_gradient_norm():
    at = run_recipe({**SMALL, "view": TABS[3], "d50": "true", "d50w": "32", "d50e": "5"})
    assert_ok(at)
    fields = [c.proto.spec for c in charts(at)]
    assert any('"update_ratio"' in f and "first step" in f for f in fields)
    assert any('"grad_norm"' in f and "first step" in f for f in fields)
    text = " ".join([i.value for i in at.info] + [c.value for c in at.caption])
    assert "steps far too big" not in text
    assert "update:data ratio of the plain network is" in text


def test_ablation_chart_draws_means_with_a_seed_range():
    import pandas as pd

    from ui import charts as ch

    acc = pd.DataFrame(
        {
            "variant": ["full recipe", "no BN"],
            "final_test_acc": [0.9, 0.6],
            "min_test_acc": [0.88, 0.55],
            "max_test_acc": [0.92, 0.64],
            "change_vs_full": [0.0, -0.3],
        }
    )
    spec = ch.recipe_ablation_chart(acc, title="t").to_dict()
    bars, rule = spec["layer"]
    assert bars["mark"]["type"] == "bar" and bars["encoding"]["y"]["field"] == "final_test_acc"
    assert rule["encoding"]["y"]["field"] == "min_test_acc" and rule["encoding"]["y2"]["field"] == "max_test_acc"
    assert bars["encoding"]["x"]["sort"] == ["full recipe", "no BN"]
    # a variant without a finite accuracy (e.g. a diverged run's NaN) is not drawn: no NaN reaches Vega
    spec = ch.recipe_ablation_chart(acc.assign(max_test_acc=[0.92, float("nan")])).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert [r["variant"] for r in rows] == ["full recipe"]


def test_one_seed_ablation_and_deep_test_say_there_is_no_noise_estimate():
    from engine.experiments import run

    abl = run("ablation", depth=2, width=16, dataset="moons", epochs=2, seeds=1)
    assert any(n.startswith("One seed: no noise estimate") for n in abl.notes)
    deep = run("deep50", depth=3, width=8, dataset="moons", epochs=2, seeds=1)
    assert any("one seed: no noise estimate" in n for n in deep.notes)
