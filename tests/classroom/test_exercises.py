"""The Teach page's exercises: well formed, and each answer is computed from the engine's result."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest
import torch

from classroom.exercises import EXERCISES, Exercise, by_page, spread_verdict
from engine.experiments import REGISTRY, run
from engine.experiments.common import compare_seeds
from ui.controls import LESSON_PATH

LESSON_PAGES = [path for path, _ in LESSON_PATH[1:]]


@pytest.fixture(scope="module")
def results():
    """Each exercise's experiment calls, run once at their fixed settings."""
    return {eid: [run(e.experiment, **c) for c in e.calls()] for eid, e in EXERCISES.items()}


def test_two_or_three_exercises_on_every_lesson_page():
    pages = by_page()
    assert sorted(pages) == sorted(LESSON_PAGES)
    assert all(2 <= len(v) <= 3 for v in pages.values()), {p: len(v) for p, v in pages.items()}


@pytest.mark.parametrize("eid", sorted(EXERCISES))
def test_exercise_is_well_formed(eid):
    e = EXERCISES[eid]
    assert e.id == eid and e.experiment in REGISTRY
    assert len(e.task) >= 40
    for call in e.calls():
        assert "seed" in call or e.experiment in {
            "init_rules",
            "schedule_curves",
            "early_stopping_article",
            "recipe_article",
        }
    if e.seeds:
        assert len(e.seeds) >= 3, "an exercise comparing trainings runs at least three seeds"


@pytest.mark.parametrize("eid", sorted(EXERCISES))
def test_engine_result_meets_the_authored_expectation(eid, results):
    e = EXERCISES[eid]
    text = e.solve(results[eid])
    assert e.holds(results[eid]), f"{eid}: the engine's result no longer matches the exercise: {text}"
    assert text.strip() and re.search(r"\d", text), text


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)


#: columns an answer looks rows up by: left alone, so the same rows are found
KEYS = {"input", "rate", "min_delta", "patience", "epoch", "batch_size", "seed", "unit", "layer", "K"}


def _mutate(rs):
    """A copy of the results with every measured number scaled, so a computed answer must change."""
    out = []
    for r in rs:
        r = copy.deepcopy(r)

        def scale(v):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                return v
            return type(v)(v * 3 + 1) if isinstance(v, (int, np.integer)) else v * 0.37 + 0.011

        for k, v in list(r.summary.items()):
            if isinstance(v, dict):
                r.summary[k] = {kk: scale(vv) for kk, vv in v.items()}
            else:
                r.summary[k] = scale(v)
        for name, t in r.tables.items():
            for col in t.columns:
                if col in KEYS:
                    continue
                if t[col].dtype.kind == "f":
                    t[col] = t[col] * 0.37 + 0.011
                elif t[col].dtype.kind in "iu" and col in {"stop_epoch", "best_epoch", "epochs_run", "epochs_saved"}:
                    t[col] = t[col] * 3 + 1
            r.tables[name] = t
        out.append(r)
    return out


@pytest.mark.parametrize("eid", sorted(EXERCISES))
def test_the_answer_follows_the_result_not_typed_text(eid, results):
    """Change the result's numbers and the answer's numbers change: nothing is typed in."""
    e = EXERCISES[eid]
    before = e.solve(results[eid])
    after = e.solve(_mutate(results[eid]))
    assert _numbers(after) != _numbers(before), f"{eid}: the answer did not change: {before}"


def test_targeted_mutations_flip_the_verdicts(results):
    """Where an answer gives a verdict, it comes from the numbers."""
    rs = copy.deepcopy(results["dropout_training"])
    t = rs[0].tables["runs"]  # dropout now wins by 5 points over the best seed of p = 0, in every seed
    t.loc[t["run"] == "p=0.5", "final_test_acc"] = t["final_test_acc"].max() + 0.05
    assert "bigger than seed noise" in EXERCISES["dropout_training"].solve(rs)
    assert not EXERCISES["dropout_training"].holds(rs)

    rs = copy.deepcopy(results["stop_real"])
    t = rs[0].tables["runs"]  # the restored weights set to the last ones' mean: within seed noise
    t.loc[t["weights"] == "restored", "final_test_acc"] = t.loc[t["weights"] == "last", "final_test_acc"].mean()
    rs[0].summary["comparison"] = compare_seeds(t, "last", by="weights")
    assert "within seed noise" in EXERCISES["stop_real"].solve(rs)
    assert not EXERCISES["stop_real"].holds(rs)

    r = copy.deepcopy(results["bn_lr"][0])
    sweep = r.tables["sweep"]  # no BN set to BN's own mean: inside BN's seed range
    sweep.loc[sweep["run"] == "no BN", "test_acc"] = sweep.loc[sweep["run"] == "with BN", "test_acc"].mean()
    assert "within seed noise" in EXERCISES["bn_lr"].solve([r])
    assert not EXERCISES["bn_lr"].holds([r])

    r = copy.deepcopy(results["init_he_depth100"][0])
    r.summary["he"] = dict(r.summary["he"], std=1.3)
    assert "inside the healthy range" in EXERCISES["init_he_depth100"].solve([r])
    assert not EXERCISES["init_he_depth100"].holds([r])

    r = copy.deepcopy(results["gradients_first_last"][0])
    r.summary["ratio_first_last"] = {"sigmoid": 0.5, "relu": 5e4}
    text = EXERCISES["gradients_first_last"].solve([r])
    assert "vanished" not in text and "exploded" in text


def test_spread_verdict_by_hand():
    assert "within seed noise" in spread_verdict("a", [0.90, 0.95], "b", [0.92, 0.93])
    assert "a is higher in every seed" in spread_verdict("a", [0.96, 0.97], "b", [0.92, 0.95])
    assert "b is higher in every seed" in spread_verdict("a", [0.5, 0.6], "b", [0.7, 0.8])
    assert "a 92.5% (seeds 90.0% to 95.0%)" in spread_verdict("a", [0.90, 0.95], "b", [0.1, 0.2])


def test_schedule_answers_match_torch(results):
    """The step and cosine rates the exercises quote, against torch's lr_scheduler."""
    r = results["schedule_step"][0]
    curves = r.tables["curves"]
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.001)
    step = torch.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.5)
    ours = curves[curves["schedule"] == "step"].set_index("epoch")["lr"]
    for epoch in range(100):
        assert math.isclose(ours[epoch], opt.param_groups[0]["lr"], rel_tol=1e-9), epoch
        opt.step()
        step.step()
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.001)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100, eta_min=1e-6)
    ours = curves[curves["schedule"] == "cosine"].set_index("epoch")["lr"]
    for epoch in range(100):
        assert math.isclose(ours[epoch], opt.param_groups[0]["lr"], rel_tol=1e-6), epoch
        opt.step()
        cos.step()


def test_malformed_exercises_are_refused():
    e = EXERCISES["init_rules"]
    with pytest.raises(ValueError, match="task"):
        Exercise(**{**e.__dict__, "task": " "})
    with pytest.raises(ValueError, match="seed"):
        Exercise(**{**e.__dict__, "params": {"seed": 0}, "seeds": (0, 1, 2)})
    with pytest.raises(ValueError, match="result"):
        EXERCISES["dropout_training"].solve([])


def _answer_texts(at) -> list[str]:
    return [m.value for ex in at.expander for m in ex.markdown]


@pytest.mark.parametrize("query", [{"run": None}, {"run": "1", "depth": "3", "rate": "0.9", "seed": "7"}])
def test_teach_page_lists_the_exercises_and_computes_the_answers_on_demand(query, results):
    """Opening the page trains nothing (even with ?run=1); the button shows the engine's answers,
    the same whatever settings the URL carries (each exercise fixes its own)."""
    from tests.apptest_helpers import errors_text, run_page

    at = run_page("pages/8_Teach.py", query)
    assert not at.exception, errors_text(at)
    page_text = " ".join(m.value for m in at.markdown)
    assert all(e.task in page_text for e in EXERCISES.values())
    assert not any(re.match(r"\d+\. ", t) for t in _answer_texts(at)), "answers shown before the button"
    assert sum("Compute the answers" in c.value for c in at.caption) == len(by_page())

    at.button(key="make_answers").click().run()
    assert not at.exception, errors_text(at)
    shown = "\n".join(_answer_texts(at))
    for eid, e in EXERCISES.items():
        assert e.solve(results[eid]) in shown, eid


def test_add_one_in_exercise_verdict_follows_the_numbers(results):
    """The ReLU / He init answer reads its verdicts from the result: flip them and the words flip."""
    e = EXERCISES["add_one_in_relu_he"]
    assert "bigger than seed noise." in e.solve(results[e.id]) and "Each fix needs the other" in e.solve(results[e.id])
    r = copy.deepcopy(results[e.id][0])
    t = r.tables["variants"]
    t.loc[t["variant"] == "ReLU + He init", "interaction_beyond_noise"] = False
    text = e.solve([r])
    assert "gains alone, within seed noise." in text and "Each fix needs the other" not in text
    assert not e.holds([r])
    r = copy.deepcopy(results[e.id][0])
    r.summary["comparison"]["beyond_noise"]["ReLU"] = True  # ReLU alone now helps: not the lesson
    assert not e.holds([r])
