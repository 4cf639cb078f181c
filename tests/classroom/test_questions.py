"""Every lesson's question: well formed, and its authored answer is what the engine computes."""

from __future__ import annotations

import copy

import pytest

from classroom.questions import QUESTIONS, by_page
from engine.experiments import run
from ui.controls import LESSON_PATH

LESSON_PAGES = [path for path, _ in LESSON_PATH[1:]]


@pytest.fixture(scope="module")
def results():
    """Each question's experiment, run once at its own fixed settings (as the class shares it)."""
    return {qid: run(q.experiment, **q.params) for qid, q in QUESTIONS.items()}


def test_every_lesson_page_has_one_question():
    assert sorted(by_page()) == sorted(LESSON_PAGES)
    assert len(by_page()) == len(QUESTIONS)


@pytest.mark.parametrize("qid", sorted(QUESTIONS))
def test_engine_result_agrees_with_the_authored_answer(qid, results):
    q = QUESTIONS[qid]
    assert q.correct(results[qid]) == q.authored, (
        f"{qid}: the engine now answers {q.options[q.correct(results[qid])]!r}, "
        f"the question says {q.options[q.authored]!r}: {q.measured(results[qid])}"
    )
    assert q.measured(results[qid]).startswith("Measured")


@pytest.mark.parametrize("qid", sorted(QUESTIONS))
def test_question_is_well_formed(qid):
    q = QUESTIONS[qid]
    assert q.id == qid and 3 <= len(q.options) <= 4 and len(q.why) == len(q.options)
    assert all(o.strip() and len(o) <= 80 for o in q.options)
    assert q.takeaway and q.minutes > 0


def test_the_answer_follows_the_result_not_the_text(results):
    """Change the numbers and the right option changes: nothing is typed in."""
    r = copy.deepcopy(results["gradients"])
    r.summary["product"] = 0.4
    assert QUESTIONS["gradients"].correct(r) == 0
    r = copy.deepcopy(results["recipe"])
    r.summary["plain_test_acc"] = 0.9
    assert QUESTIONS["recipe"].correct(r) == 0
    r = copy.deepcopy(results["batchnorm"])
    mean = r.tables["mean"]
    mean.loc[mean["run"] == "with BN", "n_diverged"] = 1
    assert QUESTIONS["batchnorm"].correct(r) == 3
    r = copy.deepcopy(results["early_stopping"])
    r.summary["epochs_not_run"] = 108
    assert QUESTIONS["early_stopping"].correct(r) == 2


def test_malformed_questions_are_refused():
    q = QUESTIONS["dropout"]
    with pytest.raises(ValueError, match="options"):
        type(q)(**{**q.__dict__, "options": ("a", "a", "b")})
    with pytest.raises(ValueError, match="why"):
        type(q)(**{**q.__dict__, "why": ("x",)})
