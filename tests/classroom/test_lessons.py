"""The lesson registry agrees with the page files, with Streamlit's URLs and with the questions."""

from __future__ import annotations

from pathlib import Path

from streamlit.source_util import page_icon_and_name

from classroom import lessons
from classroom.questions import QUESTIONS, by_page

ROOT = Path(__file__).resolve().parents[2]


def test_every_page_file_is_registered_once_in_file_order():
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))
    paths = [p.path for p in lessons.SITE]
    assert paths == [lessons.HOME_PATH, *files]  # the sidebar order is the file order
    assert (ROOT / lessons.HOME_PATH).is_file()
    assert len({p.title for p in lessons.SITE}) == len(lessons.SITE)


def test_urls_are_the_ones_streamlit_derives():
    for page in lessons.SITE[1:]:
        assert page.url == page_icon_and_name(Path(page.path))[1]
    assert lessons.HOME.url == "" and lessons.by_path("pages/4_Dropout.py").url == "Dropout"


def test_each_lesson_has_its_question_and_the_question_points_back():
    assert sorted(q for lesson in lessons.LESSONS for q in [lesson.question]) == sorted(QUESTIONS)
    for lesson in lessons.LESSONS:
        assert QUESTIONS[lesson.question].page == lesson.path
    assert sorted(by_page()) == sorted(lesson.path for lesson in lessons.LESSONS)
    assert lessons.HOME.question is None and lessons.TEACH.question is None


def test_every_failure_mode_has_a_page_and_every_named_one_exists():
    named = {f for lesson in lessons.LESSONS for f in lesson.fixes}
    assert named == set(lessons.FAILURES)
    assert lessons.by_title("Learning-rate schedules").label == "LR schedules"
    assert lessons.by_title("Dropout").label == "Dropout"
