"""Training sections run on demand: a Train button or ?run=1, then the cache shows them at once.

Each test uses its own seed, so the settings never ran before in this process (the set of
finished runs, ``ui.runner._done``, is per process like the cache it mirrors).
"""

from __future__ import annotations

import time

import pytest

from tests.apptest_helpers import charts, run_page
from ui import runner

PAGE = "pages/2_Initialization.py"


def _infos(at) -> str:
    return " ".join(i.value for i in at.info)


def _train_button(at):
    (button,) = [b for b in at.button if b.key == "go_init_training"]
    return button


def test_button_trains_then_a_change_keeps_the_last_run_until_pressed_again():
    at = run_page(PAGE, {"run": None, "seed": "901"})
    assert not at.exception
    before = len(charts(at))
    assert "Press **▶ Train** to train one network per initialisation" in _infos(at)

    _train_button(at).click().run()
    assert not at.exception
    trained = len(charts(at))
    assert trained > before  # the training curves appeared
    assert "Press **▶ Train**" not in _infos(at)
    assert runner.known("init_training", at.session_state["shown_init_training"])

    at.slider(key="epochs").set_value(9).run()
    assert not at.exception
    assert "The settings changed" in _infos(at)
    assert len(charts(at)) == trained  # still the last run's curves
    assert at.session_state["shown_init_training"]["epochs"] == 8

    _train_button(at).click().run()
    assert at.session_state["shown_init_training"]["epochs"] == 9
    assert "The settings changed" not in _infos(at)


def test_a_link_with_run_1_trains_on_open_and_then_anyone_sees_it_at_once():
    first = run_page(PAGE, {"run": "1", "seed": "902"})
    assert not first.exception
    trained = len(charts(first))
    later = run_page(PAGE, {"run": None, "seed": "902"})  # same settings, no run=1, new session
    assert len(charts(later)) == trained
    assert "Press **▶ Train**" not in _infos(later)


def test_run_1_trains_the_opening_settings_only_and_changes_then_wait_for_the_button():
    at = run_page(PAGE, {"run": "1", "seed": "904"})
    assert "Press **▶ Train**" not in _infos(at)
    at.slider(key="epochs").set_value(9).run()  # the URL still says run=1
    assert not at.exception
    assert "The settings changed" in _infos(at)
    assert at.session_state["shown_init_training"]["epochs"] == 8


def test_gradients_at_initialisation_need_no_button_but_training_steps_do():
    page = "pages/1_Vanishing_gradients.py"
    at = run_page(page, {"run": None, "seed": "905"})
    assert not [b for b in at.button if b.key == "go_gradients"]  # steps 0: no button, measured at once
    assert "Press **▶ Train**" not in _infos(at)
    at = run_page(page, {"run": None, "seed": "905", "steps": "10"})
    assert "Press **▶ Train** to train the networks for the chosen number of steps" in _infos(at)
    assert "Press **▶ Train** above" in _infos(at)


@pytest.mark.parametrize("value", ["0", "evil", "", "<script>"])
def test_any_other_run_value_waits_for_the_button(value):
    at = run_page(PAGE, {"run": value, "seed": "903"})
    assert not at.exception
    assert "Press **▶ Train**" in _infos(at)


def test_finished_runs_are_forgotten_as_the_cache_would_forget_them(monkeypatch):
    monkeypatch.setattr(runner, "_done", type(runner._done)(runner._done.size))
    n = 2 * runner.CACHE_ENTRIES  # the two training caches: experiments and live runs
    for i in range(n + 1):
        runner.remember("kind", {"i": i})
    assert not runner.known("kind", {"i": 0})  # evicted first, like the caches' LRU
    assert runner.known("kind", {"i": n})
    assert not runner.known("other", {"i": n})  # kinds are separate
    key = runner._params_key("kind", {"i": 1})
    runner._done[key] = time.monotonic() - runner.CACHE_TTL - 1  # older than the cache's TTL
    assert not runner.known("kind", {"i": 1})
