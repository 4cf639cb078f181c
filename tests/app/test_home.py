"""AppTest: the home page (map of failure modes and fixes, one headline chart)."""

import pytest

from tests.apptest_helpers import BAD_VALUES, chart_frames, charts, errors_text, non_finite_values, run_page
from ui.controls import PAGES

PAGE = "streamlit_app.py"


def test_home_shows_the_map_and_one_headline_chart():
    at = run_page(PAGE)
    assert not at.exception, errors_text(at)
    assert not at.error, errors_text(at)
    assert at.title[0].value == "Training Explorer"
    assert len(charts(at)) == 1
    assert non_finite_values(at) == []
    rows = [r for frame in chart_frames(charts(at)[0]) for r in frame]
    assert {r["run"] for r in rows} == {"classic", "modern"}
    m = {x.label: x.value for x in at.metric}
    # classic sigmoid + small init at depth 10: stuck at guessing; modern: learns
    assert m["Classic recipe"] == "10%" and m["Random guessing"] == "10%"
    assert int(m["Modern recipe"].rstrip("%")) >= 85


def test_every_lesson_page_is_linked():
    at = run_page(PAGE)
    linked = {link.proto.page for link in at.get("page_link")}
    for path, _title in PAGES[1:]:
        url = path.split("/", 1)[1].split("_", 1)[1].removesuffix(".py")  # pages/4_Dropout.py -> Dropout
        assert url in linked, f"{path} is not linked from the home page"


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_seed_is_survived(bad):
    at = run_page(PAGE, {"seed": bad})
    assert not at.exception, errors_text(at)
    assert len(charts(at)) == 1
