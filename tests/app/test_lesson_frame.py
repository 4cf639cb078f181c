"""The teaching frame on every page: predict-then-reveal, the projector view, the lesson path."""

from __future__ import annotations

import pytest

from classroom.questions import QUESTIONS
from classroom.store import Store
from tests.apptest_helpers import errors_text, run_page
from ui.controls import PAGES

PAGE = "pages/4_Dropout.py"
Q = QUESTIONS["dropout"]


def _find_block(node, suffix):
    for child in getattr(node, "children", {}).values():
        if type(child).__name__ == "Block" and str(getattr(child.proto, "id", "")).endswith(suffix):
            return child
        found = _find_block(child, suffix)
        if found is not None:
            return found
    return None


def _quiz_text(at) -> str:
    """Every text inside the question's box."""
    box = _find_block(at.main, f"-quiz_{Q.id}")
    alerts = [*box.success, *box.warning, *box.info, *box.markdown, *box.caption]
    return " ".join(a.value for a in alerts)


def test_the_answer_stays_hidden_until_the_guess_even_with_run_1():
    at = run_page(PAGE)  # ?run=1: every training section runs, the answer must not show
    assert not at.exception, errors_text(at)
    radio = at.radio(key="guess_dropout")
    assert radio.options == list(Q.options) and radio.value is None
    assert "Measured over" not in _quiz_text(at)
    assert "Takeaway:" not in _quiz_text(at)


@pytest.mark.parametrize("pick", [0, 1])
def test_a_committed_guess_reveals_the_computed_answer(pick):
    at = run_page(PAGE)
    at.radio(key="guess_dropout").set_value(Q.options[pick])
    at.button(key="FormSubmitter:guess_dropout_form-Commit my guess").click().run()
    assert not at.exception, errors_text(at)
    text = _quiz_text(at)
    assert "Measured over" in text
    # option 1 is what the engine computes (tests/classroom/test_questions.py checks the engine)
    if pick == 1:
        assert any(s.value.startswith("**Right") for s in at.success)
    else:
        assert any(w.value.startswith("**Not quite: the answer is about the same") for w in at.warning)
    assert "(your guess)" in text
    # the guess never carries over: the next page asks its own question afresh
    at.switch_page("pages/5_LR_schedules.py").run()
    assert at.radio(key="guess_schedules").value is None


def test_committing_nothing_asks_for_a_pick():
    at = run_page(PAGE)
    at.button(key="FormSubmitter:guess_dropout_form-Commit my guess").click().run()
    assert any("Pick one option" in w.value for w in at.warning)
    assert "Measured over" not in _quiz_text(at)


def _block_ids(node) -> list[str]:
    """The ids of every keyed block below ``node`` (a keyed container's id ends with its key)."""
    out = []
    for child in getattr(node, "children", {}).values():
        if type(child).__name__ == "Block" and getattr(child.proto, "id", ""):
            out.append(child.proto.id)
        out += _block_ids(child)
    return out


def test_presenter_mode_hides_the_controls_show_does_not_name():
    at = run_page(PAGE, {"present": "1", "show": "rate,seed", "run": None})
    assert not at.exception, errors_text(at)
    hidden = {i.rsplit("-presenter_hidden_", 1)[1] for i in _block_ids(at.main) if "-presenter_hidden_" in i}
    assert {"masks", "rates", "ntrain", "width", "depth", "epochs"} <= hidden
    assert "rate" not in hidden
    # the hidden controls still apply their URL values (they run, inside a hidden container)
    at = run_page(PAGE, {"present": "1", "show": "rate", "depth": "3", "run": None})
    assert at.slider(key="depth").value == 3
    # without present=1 nothing is hidden, and the intro shows
    plain = run_page(PAGE, {"show": "rate", "run": None})
    assert not [i for i in _block_ids(plain.main) if "-presenter_hidden_" in i]


def test_footer_links_to_the_next_page_and_carries_teaching_params():
    code = Store().create_room().code
    at = run_page(PAGE, {"present": "1", "room": code})
    student = at.query_params["student"]  # the anonymous token this browser got on joining
    carried = f"present=1&room={code}&student={student}"
    links = [el for el in at.get("page_link") if el.proto.label.startswith("Next →")]
    assert len(links) == 1
    titles = [t for _, t in PAGES]
    assert links[0].proto.label == f"Next → {titles[titles.index('Dropout') + 1]}"
    assert links[0].proto.query_string == carried
    # the sidebar links carry them too
    nav = [el for el in at.get("page_link") if not el.proto.label.startswith("Next")]
    assert nav and all(el.proto.query_string == carried for el in nav)


def test_reset_to_defaults_and_the_carried_settings_notice():
    at = run_page("pages/7_Full_recipe.py", {"depth": "3", "run": None})
    at.switch_page(PAGE).run()
    at.run()  # AppTest hands carried bound values to the widgets on the run after a switch
    # depth came along from the previous page (a shared URL key): the page says so
    assert any("carried over from the previous page" in i.value and "depth = 3" in i.value for i in at.info), [
        i.value for i in at.info
    ]
    at.button(key="reset_defaults").click().run()
    assert not at.exception, errors_text(at)
    assert at.slider(key="depth").value != 3


def test_only_chosen_settings_follow_to_the_next_page():
    """label_noise defaults to 0 on Full recipe and to a positive rate on Dropout: an untouched
    0 does not follow (Dropout opens at its own default), a moved value does."""
    dropout_default = run_page(PAGE).slider(key="label_noise").value
    assert dropout_default > 0
    at = run_page("pages/7_Full_recipe.py")
    assert at.slider(key="label_noise").value == 0
    at.switch_page(PAGE).run()
    at.run()
    assert at.slider(key="label_noise").value == pytest.approx(dropout_default)
    assert not any("label_noise" in i.value for i in at.info)

    at = run_page("pages/7_Full_recipe.py")
    at.slider(key="label_noise").set_value(0.1).run()
    at.switch_page(PAGE).run()
    at.run()
    assert at.slider(key="label_noise").value == pytest.approx(0.1)
    assert any("label_noise = 0.1" in i.value for i in at.info), [i.value for i in at.info]
