"""A class across two server processes sharing one store: a teacher and two students in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from classroom.store import Store
from tests.browser.test_pages import wait_idle

pytestmark = pytest.mark.browser
QID, PAGE = "dropout", "Dropout"


def _guess(page, option: str) -> None:
    page.get_by_text(option, exact=True).first.click()
    page.get_by_role("button", name="Commit my guess").click()
    expect(page.get_by_text("recorded for the class ✓")).to_be_visible(timeout=60_000)


def test_answers_on_server_a_reach_the_teacher_on_server_b_and_the_reveal_reaches_students(browser, two_servers):
    a, b, db = two_servers
    room = Store(f"sqlite:///{db}").create_room()
    teacher = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    students = [browser.new_context(viewport={"width": 390, "height": 844}).new_page() for _ in range(2)]

    # the teacher opens the page on server B with the key, which then leaves the address bar
    teacher.goto(f"{b}/{PAGE}?room={room.code}&teacher={room.teacher_key}")
    wait_idle(teacher)
    assert room.teacher_key not in teacher.url
    expect(teacher.get_by_text("0 of 0 joined have answered")).to_be_visible(timeout=30_000)

    # two students join on server A and commit different guesses
    for page, option in zip(students, ["about the same", "about double"], strict=True):
        page.goto(f"{a}/{PAGE}?room={room.code}")
        wait_idle(page)
        _guess(page, option)
        expect(page.get_by_text("Waiting for your teacher to reveal the answer")).to_be_visible()
        # a student's page never shows the tally or the teacher's buttons
        assert page.get_by_text("have answered").count() == 0
        assert page.get_by_role("button", name="Reveal the answer to the class").count() == 0

    # the teacher's polled tally (server B) shows both answers before anyone sees the answer
    expect(teacher.get_by_text("2 of 2 joined have answered")).to_be_visible(timeout=30_000)
    for page in students:
        assert page.locator(".st-key-quiz_dropout").get_by_text("Measured over").count() == 0

    # the reveal on B reaches both students on A within a few polls
    teacher.get_by_role("button", name="Reveal the answer to the class").click()
    wait_idle(teacher)
    expect(teacher.get_by_text("The answer: about the same")).to_be_visible(timeout=60_000)
    expect(students[0].get_by_text("Right: about the same.")).to_be_visible(timeout=60_000)
    expect(students[1].get_by_text("Not quite: the answer is about the same.")).to_be_visible(timeout=60_000)
    assert Store(f"sqlite:///{db}").tally(room.code, QID, room.teacher_key) == {
        "about half": 0,
        "about the same": 1,
        "about double": 1,
        "zero": 0,
    }


def test_follow_me_moves_a_students_page_by_itself(browser, two_servers):
    a, b, db = two_servers
    room = Store(f"sqlite:///{db}").create_room()
    teacher = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    student = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    student.goto(f"{a}/{PAGE}?room={room.code}")
    wait_idle(student)
    token = student.url.split("student=", 1)[1].split("&", 1)[0]
    # the teacher, on another page of the other server, sends the class there
    teacher.goto(f"{b}/LR_schedules?room={room.code}&teacher={room.teacher_key}")
    wait_idle(teacher)
    teacher.get_by_role("button", name="Send the class to this question").click()
    # the student's page changes by itself within a few polls (1 s here), keeping the class
    expect(student.locator("h1").first).to_contain_text("Learning-rate schedules", timeout=30_000)
    expect(student.locator(".st-key-quiz_schedules")).to_be_visible(timeout=30_000)
    assert "/LR_schedules" in student.url and f"room={room.code}" in student.url and token in student.url
    assert student.locator("[data-testid=stException]").count() == 0
