"""AppTest: the learning-rate schedules page."""

import pytest

from tests.apptest_helpers import BAD_VALUES, chart_frames, charts, errors_text, non_finite_values, run_page

PAGE = "pages/5_LR_schedules.py"
KEYS = ["lr0", "epochs", "warm", "step", "decay", "sched", "lr", "opt", "tepochs", "twarm"]
#: The article's table as its snippet prints it (6 decimals), rows of (epoch, step, cosine, warmup+cos).
ARTICLE_ROWS = [
    (0, "0.001000", "0.001000", "0.000000"),
    (5, "0.001000", "0.000994", "0.000500"),
    (10, "0.001000", "0.000976", "0.001000"),
    (20, "0.001000", "0.000905", "0.000970"),
    (30, "0.000500", "0.000794", "0.000883"),
    (50, "0.000500", "0.000501", "0.000587"),
    (70, "0.000250", "0.000207", "0.000251"),
    (90, "0.000125", "0.000025", "0.000031"),
    (99, "0.000125", "0.000001", "0.000001"),
]


def test_default_view_runs_with_finite_charts_and_the_article_table():
    at = run_page(PAGE)
    assert not at.exception, errors_text(at)
    assert not at.error, errors_text(at)
    assert len(charts(at)) >= 4
    assert non_finite_values(at) == []
    table = at.dataframe[0].value
    rows = [(int(r.epoch), f"{r.step:.6f}", f"{r.cosine:.6f}", f"{r.warmup_cosine:.6f}") for r in table.itertuples()]
    assert rows == ARTICLE_ROWS
    # one accuracy metric per schedule, all five trained by default, plus the epoch-0 pair
    labels = [m.label for m in at.metric]
    assert len([x for x in labels if not x.startswith(("Val. loss", "…"))]) == 5
    assert "Val. loss, first 3 epoch(s), with warmup" in labels
    # the first chart shows the three article schedules
    names = {row["schedule"] for rows in chart_frames(charts(at)[0]) for row in rows if "schedule" in row}
    assert names == {"step", "cosine", "warmup_cosine"}


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_url_values_for_every_key_are_survived(bad):
    at = run_page(PAGE, {k: bad for k in KEYS + ["seed"]})
    assert not at.exception, errors_text(at)
    # ?sched= (empty) is a valid empty selection: a warning instead of the training charts
    assert len(charts(at)) >= (1 if bad == "" else 4)
    assert non_finite_values(at) == []


def test_deep_link_sets_the_widgets():
    q = {
        "seed": "2",
        "lr0": "0.01",
        "epochs": "200",
        "warm": "5",
        "step": "20",
        "decay": "0.25",
        "sched": ["step", "warmup_cosine"],
        "lr": "0.3",
        "opt": "momentum",
        "tepochs": "10",
        "twarm": "2",
    }
    at = run_page(PAGE, q)
    assert not at.exception, errors_text(at)
    assert at.slider(key="seed").value == 2
    assert at.select_slider(key="lr0").value == 0.01
    assert at.slider(key="epochs").value == 200
    assert at.slider(key="warm").value == 5
    assert at.slider(key="step").value == 20
    assert at.select_slider(key="decay").value == 0.25
    assert at.multiselect(key="sched").value == ["step", "warmup_cosine"]
    assert at.select_slider(key="lr").value == 0.3
    assert at.selectbox(key="opt").value == "momentum"
    assert at.slider(key="tepochs").value == 10
    assert at.slider(key="twarm").value == 2
    assert len([m for m in at.metric if not m.label.startswith(("Val. loss", "…"))]) == 2
    assert non_finite_values(at) == []
    # the curves follow the sliders: 200 epochs of each article schedule
    frames = [row for rows in chart_frames(charts(at)[0]) for row in rows if "schedule" in row]
    assert len(frames) == 3 * 200


def test_empty_schedule_selection_is_a_message_not_an_error():
    at = run_page(PAGE, {"tepochs": "10"})
    at.multiselect(key="sched").set_value([]).run()
    assert not at.exception, errors_text(at)
    assert any("at least one schedule" in w.value for w in at.warning)
    assert len(charts(at)) >= 1


def _text(at) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


def _helps(at) -> str:
    return " ".join(str(w.help or "") for w in list(at.select_slider) + list(at.slider) + list(at.selectbox))


def test_the_step_is_lr_times_gradient_and_schedules_change_per_epoch():
    at = run_page(PAGE, {"run": None})
    assert not at.exception, errors_text(at)
    text = _text(at)
    assert "size of every step" not in text
    assert "learning rate × gradient" in text and "about the learning rate" in text
    assert "once per epoch" in text and "every mini-batch" in text
    assert "5–10 %" in text
    assert "wreck" not in text + _helps(at)
    links = [el for el in at.get("page_link")]
    assert any("Batch_normalization" in el.proto.page for el in links)


def _warmup_metrics(at) -> tuple[float, float]:
    m = {x.label: x.value for x in at.metric}
    with_w = next(v for k, v in m.items() if k.startswith("Val. loss, first") and k.endswith("with warmup"))
    without = next(v for k, v in m.items() if k.startswith("… without warmup"))
    return float(with_w), float(without)


def test_defaults_warmup_lowers_the_early_loss_and_the_words_say_so_with_the_noise():
    # Adam at the default 0.3: the first full-size steps throw the loss up; warmup's early loss is far
    # lower, beyond seed noise (tests/engine/test_exp_schedules.py checks the numbers by hand).
    at = run_page(PAGE)
    assert not at.exception, errors_text(at)
    with_w, without = _warmup_metrics(at)
    assert with_w < without / 3
    text = _text(at)
    assert "Over the first 3 epoch(s)" in text and "lower with warmup, **bigger than seed noise**" in text
    assert "warmup avoids that" in text
    assert "recovering from oversized steps" not in text
    # every other schedule against constant, in words computed from the flags
    assert "Final test accuracy against a **constant** rate" in text and "3 seeds (0, 1, 2)" in text
    assert "seed noise" in text.split("Final test accuracy against")[1]
    assert "1437" not in text and "359" not in text


def test_warmup_at_a_low_rate_is_not_sold_as_a_rescue():
    # Adam at 0.001 (non-default): the full-rate first epoch does no harm, and the page must not say otherwise.
    at = run_page(PAGE, {"lr": "0.001", "sched": ["constant", "warmup_cosine"], "tepochs": "10", "seed": "5"})
    assert not at.exception, errors_text(at)
    with_w, without = _warmup_metrics(at)
    text = _text(at)
    assert with_w > without  # the ramp's smaller first steps just learn less at first
    assert "warmup avoids that" not in text
    assert "higher with warmup" in text
    assert ("warmup only starts slower" in text) or ("no clear effect at this rate" in text)
    assert "3 seeds (5, 6, 7)" in text


def test_without_constant_there_is_no_comparison_sentence():
    at = run_page(PAGE, {"sched": ["cosine", "warmup_cosine"], "tepochs": "10"})
    assert not at.exception, errors_text(at)
    assert any("Add **constant**" in i.value for i in at.info)
    assert "Final test accuracy against" not in _text(at)
    with_w, without = _warmup_metrics(at)  # warmup is then compared with cosine
    assert any(m.label == "… without warmup (cosine)" for m in at.metric)
