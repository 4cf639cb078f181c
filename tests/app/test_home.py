"""AppTest: the home page (map of failure modes and fixes, the depth ladder)."""

import pytest

from classroom.lessons import LESSONS
from engine.experiments import ladders
from tests.apptest_helpers import BAD_VALUES, chart_frames, charts, errors_text, non_finite_values, run_page

PAGE = "streamlit_app.py"


def ladder_rows(at):
    return [r for frame in chart_frames(charts(at)[0]) for r in frame if "mean_test_acc" in r]


def test_home_headline_is_the_depth_ladder_with_seed_bands_on_test():
    at = run_page(PAGE)
    assert not at.exception, errors_text(at)
    assert not at.error, errors_text(at)
    assert at.title[0].value == "Training Explorer"
    assert len(charts(at)) == 1
    assert non_finite_values(at) == []
    rows = ladder_rows(at)
    assert {r["label"] for r in rows} == set(ladders.LADDER_RECIPES.values())
    assert {r["depth"] for r in rows} == set(ladders.DEFAULT_DEPTHS)
    assert all(r["min_test_acc"] <= r["mean_test_acc"] <= r["max_test_acc"] for r in rows)
    assert ladders.DEFAULT_SEEDS == 3 and all(r["n_seeds"] == 3 for r in rows)
    by = {(r["label"], r["depth"]): r for r in rows}
    # orderings the headline rests on (not its numbers): skips carry the article's recipe to depth 50
    assert by[("modern + skips", 50)]["min_test_acc"] > by[("modern (article)", 50)]["max_test_acc"]
    assert by[("1990s (LeCun 1998)", 10)]["min_test_acc"] > by[("naive", 10)]["max_test_acc"]
    words = " ".join(md.value for md in at.markdown)
    assert "naive: none;" in words and "modern + skips: up to depth 50." in words
    assert "Skip connections on the article's recipe: the largest gap is at depth 50" in words
    assert "bigger than seed noise" in words and "mean test accuracy at least" in words
    assert "Classic recipe" not in words and not at.metric  # the strawman's old name, its metrics
    caption = " ".join(c.value for c in at.caption)
    assert "mean test accuracy over seeds 0, 1, 2; bands: min to max" in caption
    assert "800 training images" in charts(at)[0].proto.spec


def test_words_follow_the_seed_not_the_defaults():
    # at another seed the verdicts are recomputed: every sentence quotes that run's own numbers
    at = run_page(PAGE, {"seed": "7"})
    assert not at.exception, errors_text(at)
    rows = ladder_rows(at)
    by = {(r["label"], r["depth"]): r for r in rows}
    words = " ".join(md.value for md in at.markdown)
    skip, plain = by[("modern + skips", 50)]["mean_test_acc"], by[("modern (article)", 50)]["mean_test_acc"]
    assert f"depth 50, {skip:.0%} against {plain:.0%}" in words
    assert "seeds 7, 8, 9;" in " ".join(c.value for c in at.caption)


def test_one_seed_draws_no_noise_verdict():
    # a non-default setting: one seed per network, so no band and no "bigger than seed noise"
    at = run_page(PAGE, {"seeds": "1", "seed": "3"})
    assert not at.exception, errors_text(at)
    assert at.select_slider(key="seeds").value == 1
    rows = ladder_rows(at)
    assert rows and all(r["n_seeds"] == 1 and r["min_test_acc"] == r["max_test_acc"] for r in rows)
    words = " ".join(md.value for md in at.markdown)
    assert "one seed: no noise estimate" in words
    assert "bigger than seed noise" not in words and "within seed noise" not in words
    assert "test accuracy of seed 3 (one seed: no band" in " ".join(c.value for c in at.caption)


def test_the_map_gives_batch_norms_caveat_for_exploding_gradients():
    at = run_page(PAGE, {"run": None})  # the map alone: nothing trains
    row = [md.value for md in at.markdown if md.value.startswith("**Vanishing or exploding gradients**")]
    assert row and "Batch norm" in row[0] and "explode" in row[0] and "Yang et al. 2019" in row[0]


def test_every_lesson_page_is_linked():
    at = run_page(PAGE, {"run": None})
    linked = {link.proto.page for link in at.get("page_link")}
    for lesson in LESSONS:
        assert lesson.url in linked, f"{lesson.path} is not linked from the home page"


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_seed_is_survived(bad):
    at = run_page(PAGE, {"seed": bad, "seeds": bad})
    assert not at.exception, errors_text(at)
    assert len(charts(at)) == 1
    assert at.select_slider(key="seeds").value in range(1, 6)


def test_a_ladder_cut_by_the_time_cap_draws_no_verdict(monkeypatch):
    monkeypatch.setenv("TRAINING_EXPLORER_MAX_SECONDS", "1")
    at = run_page(PAGE, {"seed": "31"})  # settings no other test has cached
    assert not at.exception, errors_text(at)
    assert any("time cap" in w.value for w in at.warning)
    words = " ".join(md.value for md in at.markdown)
    assert "The time cap stopped this experiment after" in words
    assert "seed noise" not in words and "Deepest network" not in words
    # a cut ladder is not cached: the next visitor gets the Train button, not another capped run
    again = run_page(PAGE, {"seed": "31", "run": None})
    assert any("Press **▶ Train**" in i.value for i in again.info)
    assert len(charts(again)) == 0
