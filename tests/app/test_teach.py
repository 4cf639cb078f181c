"""A class run from the app (AppTest, one SQLite store): start, join, guess, tally, reveal, close."""

from __future__ import annotations

import pytest

from classroom.store import Store
from tests.apptest_helpers import BAD_VALUES, errors_text, run_page

TEACH = "pages/8_Teach.py"
PAGE = "pages/4_Dropout.py"
QID = "dropout"
FORM_SUBMIT = f"FormSubmitter:guess_{QID}_form-Commit my guess"


def _texts(at) -> str:
    return " ".join(
        [m.value for m in at.markdown] + [str(m.value) for m in at.metric] + [a.value for a in [*at.info, *at.error]]
    )


@pytest.fixture()
def teacher():
    """The Teach page after "Start a class": (AppTest, room code, teacher key)."""
    at = run_page(TEACH, {"run": None})
    assert not at.exception, errors_text(at)
    at.button(key="start_class").click().run()
    assert not at.exception, errors_text(at)
    code = next(m.value for m in at.metric if m.label == "Room code")
    key = at.session_state["room_teacher_keys"][code]
    return at, code, key


def test_start_a_class_gives_a_code_a_qr_and_keeps_the_key_out_of_the_url(teacher):
    at, code, key = teacher
    assert len(code) == 6 and len(key) >= 22  # 128+ bits, url-safe
    assert at.query_params["room"] == code and "teacher" not in at.query_params
    qr = at.get("image")
    assert qr, "no QR code image"
    assert "0 joined" in _texts(at)


def test_a_student_guess_reaches_the_tally_and_the_reveal_reaches_the_student(teacher):
    _, code, key = teacher
    student = run_page(PAGE, {"room": code, "run": None})
    assert not student.exception, errors_text(student)
    token = student.query_params["student"]
    assert len(token) >= 16
    # the student never sees the tally or the teacher's buttons
    assert not [b for b in student.button if str(b.key).startswith(("reveal_", "follow_"))]
    student.radio(key=f"guess_{QID}").set_value("about double")
    student.button(key=FORM_SUBMIT).click().run()
    assert "recorded for the class ✓" in _texts(student)
    assert "Waiting for your teacher" in _texts(student)
    assert Store().tally(code, QID, key)["about double"] == 1  # committed before "recorded" showed

    # a reload (same URL, new session) keeps the same vote, and asks nothing again
    again = run_page(PAGE, {"room": code, "student": token, "run": None})
    assert "Your guess: **about double**" in _texts(again)
    assert Store().answered(code, QID, key) == 1

    # the teacher, on the same page, sees the live count and reveals
    t = run_page(PAGE, {"room": code, "teacher": key, "run": None})
    assert not t.exception, errors_text(t)
    assert "teacher" not in t.query_params
    assert "1 of 1 joined have answered" in _texts(t)
    t.button(key=f"reveal_{QID}").click().run()
    assert Store().revealed(code, QID)
    assert any("The answer: about the same" in i.value for i in t.info)

    # the student's next poll shows the answer, and a late answer is refused
    again.run()
    assert any("Not quite: the answer is about the same" in w.value for w in again.warning)
    with pytest.raises(ValueError):
        Store().answer(code, QID, token, "about the same")


def test_export_and_close(teacher):
    at, code, key = teacher
    Store().answer(code, QID, "s" * 22, "about half")
    at.run()
    csv = next(b for b in at.get("download_button") if "Answers" in b.proto.label)
    assert csv is not None
    at.button(key="close_room").click().run()
    assert Store().status(code, key).closed_at is not None
    assert "closed" in _texts(at)
    assert len(Store().export(code, key)) == 1  # export still works after closing


@pytest.mark.parametrize("bad", ["' OR 1=1 --", "x" * 10_000, "ÄÖ☃", "ZZZZZZ", *BAD_VALUES[:4]])
def test_a_garbage_room_code_gets_a_message_and_the_lesson_still_works(bad):
    at = run_page(PAGE, {"room": bad, "run": None})
    assert not at.exception, errors_text(at)
    if bad.strip():
        assert any("Can't join the class" in e.value for e in at.error), errors_text(at)
    assert "room" not in at.query_params
    assert at.radio(key=f"guess_{QID}").options  # the lone-student question is still there


def test_a_wrong_teacher_key_is_refused(teacher):
    _, code, _ = teacher
    at = run_page(PAGE, {"room": code, "teacher": "not-the-key", "run": None})
    assert not at.exception, errors_text(at)
    assert any("teacher key is wrong" in e.value for e in at.error)
    assert not [b for b in at.button if str(b.key).startswith("reveal_")]


def test_with_the_store_down_the_lesson_and_the_lone_guess_still_work(monkeypatch):
    from ui import room

    monkeypatch.setenv("TRAINING_EXPLORER_DB_URL", "sqlite:////proc/no-such-dir/classroom.db")
    room._store.clear()
    try:
        at = run_page(PAGE, {"room": "ABCDEF", "run": None})
        assert not at.exception, errors_text(at)
        assert any("class poll is offline" in w.value for w in at.warning), [w.value for w in at.warning]
        at.radio(key=f"guess_{QID}").set_value("about the same")
        at.button(key=FORM_SUBMIT).click().run()
        assert not at.exception, errors_text(at)
        assert any(s.value.startswith("**Right: about the same") for s in at.success)
    finally:
        room._store.clear()  # the next test reaches the real store again


def test_follow_me_moves_the_student_once_and_lets_them_go_back(teacher):
    _, code, key = teacher
    student = run_page(PAGE, {"room": code, "run": None})
    assert not student.exception, errors_text(student)
    token = student.query_params["student"]
    # the teacher, on another page, sends the class there
    t = run_page("pages/5_LR_schedules.py", {"room": code, "teacher": key, "run": None})
    t.button(key="follow_schedules").click().run()
    assert Store().following(code).page == "pages/5_LR_schedules.py"
    # the student's next poll switches their page, keeping the class parameters
    student.run()
    assert not student.exception, errors_text(student)
    assert student.radio(key="guess_schedules").options  # now on the schedules page
    assert student.query_params["room"] == code and student.query_params["student"] == token
    # back on the old page: not moved again by the same follow, the link stays as a way back
    student.switch_page(PAGE).run()
    student.run()
    assert student.radio(key=f"guess_{QID}").options
    links = [el.proto.label for el in student.get("page_link") if "Your teacher moved on" in el.proto.label]
    assert links == ["Your teacher moved on: go to **Learning-rate schedules** →"]
